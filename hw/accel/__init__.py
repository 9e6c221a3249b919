"""stacc's engines: Conv2D, depthwise Conv2D and fully-connected layers on Sum-Together MAC units.

Shared pieces: the register map (:mod:`.regs`) and its CSR block (:mod:`.csr`), the requantization unit
(:mod:`.requant`), the Wishbone DMA master (:mod:`.dma`), the engine shell (:mod:`.shell`) and the stages the
Conv2D and depthwise engines are built from (:mod:`.stages`: buffers, loader, MAC array, requantize-and-pack, FSM).
The functions below build components from flat keyword parameters (the :class:`~hw.params.EngineParams` fields), for
``hw.tops``.
"""

from ..params import EngineParams

__all__ = ["fully_connected", "conv2d", "depthwise_conv2d", "requantizer"]


def fully_connected(mul_pipeline=1, requantizers=None, **params):
    """``FullyConnectedEngine(EngineParams(**params), mul_pipeline, requantizers)`` (0: default)."""
    from .fc import FullyConnectedEngine
    return FullyConnectedEngine(EngineParams(**params), mul_pipeline, requantizers or None)


def conv2d(mul_pipeline=1, requantizers=None, **params):
    """``Conv2dEngine(EngineParams(**params), mul_pipeline, requantizers)`` (0: default)."""
    from .conv import Conv2dEngine
    return Conv2dEngine(EngineParams(**params), mul_pipeline, requantizers or None)


def depthwise_conv2d(mul_pipeline=1, requantizers=None, split=None, **params):
    """``DepthwiseConv2dEngine(EngineParams(**params), mul_pipeline, requantizers, split)`` (requantizers 0,
    split ``None``: default)."""
    from .dwconv import DepthwiseConv2dEngine
    return DepthwiseConv2dEngine(EngineParams(**params), mul_pipeline, requantizers or None, split)


def requantizer(**params):
    """``Requantizer(EngineParams(**params))``."""
    from .requant import Requantizer
    return Requantizer(EngineParams(**params))
