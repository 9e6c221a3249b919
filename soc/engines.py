"""The accelerator engines the SoC can be built with, by name (``python -m soc sim --engines conv fc``).

Each entry makes a fresh :class:`soc.soc.Accelerator` from ``hw.accel`` with default ``EngineParams`` (32-bit bus,
as the SoC's); engine ``k`` of the list is mapped at ``memory_map.accel_base(k)``.
"""

from .soc import Accelerator

__all__ = ["ENGINES", "make_engines"]


def _fc():
    from hw import accel
    return Accelerator(accel.fully_connected(), csr="csr", dma="bus")


def _conv():
    from hw import accel
    return Accelerator(accel.conv2d(), csr="csr", dma="bus")


#: Engine name -> factory of its Accelerator attachment (hw.accel has no depthwise engine yet).
ENGINES = {"conv": _conv, "fc": _fc}


def make_engines(names):
    """Accelerators for ``names`` (in slot order); ``ValueError`` naming the available engines otherwise."""
    names = list(names)
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        raise ValueError(f"unknown engine(s) {', '.join(map(repr, unknown))}; available: {', '.join(ENGINES)}")
    return [ENGINES[n]() for n in names]
