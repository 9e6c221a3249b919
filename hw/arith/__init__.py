"""Sum-Together (ST) multiplier, MAC unit and the fixed-precision baselines they are measured against."""

from .multiplier import SumTogetherMultiplier, FixedMultiplier     # noqa: F401
from .mac import MacUnit, FixedMac                                 # noqa: F401
from .dsp import DspSumTogetherMultiplier                          # noqa: F401

__all__ = ["SumTogetherMultiplier", "FixedMultiplier", "MacUnit", "FixedMac", "DspSumTogetherMultiplier"]
