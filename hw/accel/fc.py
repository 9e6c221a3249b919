"""Fully connected (dense) engine: the Conv2D engine's datapath with the geometry fixed to 1 x 1."""

from .conv import Conv2dEngine
from .regs import EngineKind

__all__ = ["FullyConnectedEngine"]


class FullyConnectedEngine(Conv2dEngine):
    """Dense layer engine: ``In`` inputs, ``Out`` outputs, packed 16/8/4-bit operands, per-output requantization.

    A dense layer is a 1 x 1 convolution of a 1 x 1 image (``hw.layout`` stores dense weights as the conv2d rows
    ``(cout, 0, 0)``), so this is :class:`~hw.accel.conv.Conv2dEngine` with the spatial loops and their address
    arithmetic elaborated away. Dataflow: **output-stationary, input-broadcast** — output neurons in groups of P, one
    input multiplier word (``lanes`` activations) broadcast to the P MAC units a cycle, each taking the word of its
    neuron's weight row: ``P * lanes`` useful products every cycle except on row padding and a partial last group.

    Configuration: ``cin`` = In, ``cout`` = Out; ``in_h``/``in_w``/``out_h``/``out_w``/``kh``/``kw``/``stride_*`` must
    be 1 and the pads 0 (else ``BAD_GEOMETRY``). Layers whose weights exceed the buffers are split by the driver into
    output tiles (``hw.perf.fc_tiles``, ``hw.accel.driver.dense_job``).

    Parameters and attributes: see :class:`~hw.accel.stages.MacArrayEngine` (``params``, ``mul_pipeline``,
    ``requantizers``; ports ``csr``, ``bus``, ``irq``).
    """

    KIND = EngineKind.DENSE
    SPATIAL = False
