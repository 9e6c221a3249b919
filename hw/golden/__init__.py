"""stacc's integer reference model: pure numpy, int64, the definition every RTL result is compared with."""

from .arith import *      # noqa: F401,F403
from .packing import *    # noqa: F401,F403
from .layers import *     # noqa: F401,F403
