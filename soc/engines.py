"""The accelerator engines the SoC can be built with, by name (``python -m soc sim --engines conv fc``).

Each entry makes a fresh :class:`soc.soc.Accelerator` from ``hw.accel`` with default ``EngineParams`` (32-bit bus,
as the SoC's); engine ``k`` of the list is mapped at ``memory_map.accel_base(k)``.
"""

from .soc import Accelerator

__all__ = ["ENGINES", "LAYER_KINDS", "make_engines"]


def _attach(factory):
    """A factory of the ``hw.accel`` engine ``factory`` (name in ``hw.accel``) with default parameters, attached
    by its register port ``csr`` and DMA master ``bus``."""
    def make():
        from hw import accel
        return Accelerator(getattr(accel, factory)(), csr="csr", dma="bus")
    make.__name__ = factory
    return make


#: Engine name -> factory of its Accelerator attachment.
ENGINES = {"conv": _attach("conv2d"), "fc": _attach("fully_connected"), "dw": _attach("depthwise_conv2d")}
#: Engine name -> the layer kind (``soc.vectors.KINDS``) it runs.
LAYER_KINDS = {"conv": "conv2d", "fc": "dense", "dw": "depthwise"}


def make_engines(names):
    """Accelerators for ``names`` (in slot order); ``ValueError`` naming the available engines otherwise."""
    names = list(names)
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        raise ValueError(f"unknown engine(s) {', '.join(map(repr, unknown))}; available: {', '.join(ENGINES)}")
    return [ENGINES[n]() for n in names]
