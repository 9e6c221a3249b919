"""stacc's engines: Conv2D, depthwise Conv2D and fully-connected layers on Sum-Together MAC units.

Shared pieces: the register map (:mod:`.regs`) and its CSR block (:mod:`.csr`), the requantization unit
(:mod:`.requant`), the Wishbone DMA master (:mod:`.dma`) and the engine shell (:mod:`.shell`). The functions below
build components from flat keyword parameters (the :class:`~hw.params.EngineParams` fields), for ``hw.tops``.
"""

from ..params import EngineParams

__all__ = ["fully_connected", "conv2d", "depthwise_conv2d", "requantizer"]


def fully_connected(mul_pipeline=1, **params):
    """``FullyConnectedEngine(EngineParams(**params), mul_pipeline)``."""
    from .fc import FullyConnectedEngine
    return FullyConnectedEngine(EngineParams(**params), mul_pipeline)


def conv2d(mul_pipeline=1, **params):
    """``Conv2dEngine(EngineParams(**params), mul_pipeline)``."""
    from .conv import Conv2dEngine
    return Conv2dEngine(EngineParams(**params), mul_pipeline)


def depthwise_conv2d(mul_pipeline=1, **params):
    """``DepthwiseConv2dEngine(EngineParams(**params), mul_pipeline)``."""
    from .dwconv import DepthwiseConv2dEngine
    return DepthwiseConv2dEngine(EngineParams(**params), mul_pipeline)


def requantizer(**params):
    """``Requantizer(EngineParams(**params))``."""
    from .requant import Requantizer
    return Requantizer(EngineParams(**params))
