"""stacc's quantization flow: QKeras nets, precision configs, and the bit-exact integer export read by ``hw.golden``.

TensorFlow must run with the legacy (tf-keras 2) API that QKeras is written for, so ``TF_USE_LEGACY_KERAS=1`` is set
here before anything imports TensorFlow.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
