"""Multiply-accumulate units: the Sum-Together multiplier (or a fixed baseline) followed by a wrapping accumulator."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .multiplier import (FixedMultiplier, SumTogetherMultiplier, check_arrangement, check_int, check_lanes,
                         check_pipeline, check_reduction, check_weight_order, check_width, mode_width, validating)

__all__ = ["MacUnit", "FixedMac"]


def _check_acc_width(acc_width):
    return check_int("acc_width", acc_width, 1, "a positive number of bits")


def _accumulate(m, mul, valid, clear, acc, acc_valid):
    """Delay ``valid``/``clear`` by the multiplier latency, then update the wrapping accumulator register."""
    for _ in range(mul.latency):
        valid_q, clear_q = Signal(), Signal()
        m.d.sync += [valid_q.eq(valid), clear_q.eq(clear)]
        valid, clear = valid_q, clear_q
    product = Signal(signed(len(acc)))
    m.d.comb += product.eq(mul.p)                       # truncation = wrap to acc_width bits
    with m.If(clear):
        m.d.sync += acc.eq(Mux(valid, product, 0))
    with m.Elif(valid):
        m.d.sync += acc.eq(acc + product)
    m.d.sync += acc_valid.eq(valid | clear)


class _MacBase(wiring.Component):
    def __init__(self, width, acc_width, ports):
        with validating(self):
            self.acc_width = _check_acc_width(2 * width + 8 if acc_width is None else acc_width)
        super().__init__({
            **ports, "a_signed": In(1), "w_signed": In(1), "valid": In(1), "clear": In(1),
            "acc": Out(signed(self.acc_width)), "acc_valid": Out(1),
        })

    @property
    def latency(self):
        """Cycles from operands (with ``valid``) to the first cycle ``acc`` includes them: ``pipeline + 1``."""
        return self.pipeline + 1

    def _elaborate(self, mul, extra_ports):
        m = Module()
        m.submodules.mul = mul
        m.d.comb += [mul.a.eq(self.a), mul.w.eq(self.w), mul.a_signed.eq(self.a_signed),
                     mul.w_signed.eq(self.w_signed)]
        m.d.comb += [getattr(mul, name).eq(getattr(self, name)) for name in extra_ports]
        _accumulate(m, mul, self.valid, self.clear, self.acc, self.acc_valid)
        return m


class MacUnit(_MacBase):
    """Sum-Together MAC: ``acc <- wrap(acc + st_product(a, w, 2**mode, a_signed, w_signed), acc_width)``.

    Parameters
    ----------
    width, lanes, pipeline :
        As :class:`SumTogetherMultiplier` (``pipeline`` register stages inside the multiplier).
    acc_width : int or None
        Accumulator bits (two's complement, wraps around on overflow exactly like ``hw.golden.wrap``); default
        ``2*width + 8``.
    reduction, weight_order : str
        Multiplier tree arrangement and lane order of ``w`` (see :class:`SumTogetherMultiplier`).

    Attributes
    ----------
    a, w, mode, a_signed, w_signed : In
        Operands of this cycle, as :class:`SumTogetherMultiplier`.
    valid : In(1)
        The operands are present this cycle: their ST product is added to the accumulator.
    clear : In(1)
        Start a new sum with this cycle: the accumulator becomes this cycle's product if ``valid``, else 0.
        ``clear`` travels with the operands, so it takes effect at the same point of the pipeline.
    acc : Out(signed(acc_width))
        The accumulator register.
    acc_valid : Out(1)
        1 for one cycle after the accumulator took a new value (a ``valid`` or ``clear`` cycle reached it).

    Latency: operands presented with ``valid`` in cycle ``t`` are included in ``acc`` from cycle
    ``t + pipeline + 1`` on, when ``acc_valid`` is 1. A new operand can be presented every cycle. Without ``valid``
    and ``clear`` the accumulator holds its value; after reset it is 0.
    """

    def __init__(self, width=16, lanes=(1, 2, 4), acc_width=None, pipeline=0, *, reduction="dadda",
                 weight_order="natural"):
        with validating(self):
            self.width = check_width(width)
            self.lanes = check_lanes(width, lanes)
            self.pipeline = check_pipeline(pipeline)
            self.reduction = check_reduction(reduction)
            self.weight_order = check_weight_order(weight_order)
        super().__init__(width, acc_width, {"a": In(width), "w": In(width), "mode": In(mode_width(self.lanes))})

    def elaborate(self, platform):
        mul = SumTogetherMultiplier(self.width, self.lanes, self.pipeline, reduction=self.reduction,
                                    weight_order=self.weight_order)
        return self._elaborate(mul, ["mode"])


class FixedMac(_MacBase):
    """Fixed-precision MAC for area comparison: :class:`FixedMultiplier` + the same accumulator as :class:`MacUnit`.

    Parameters
    ----------
    width, arrangement, pipeline :
        As :class:`FixedMultiplier`.
    acc_width : int or None
        As :class:`MacUnit`.

    Attributes and latency as :class:`MacUnit`, without ``mode``: ``acc <- wrap(acc + a * w, acc_width)``.
    """

    def __init__(self, width=16, arrangement="array", acc_width=None, pipeline=0):
        with validating(self):
            self.width = check_width(width)
            self.arrangement = check_arrangement(arrangement)
            self.pipeline = check_pipeline(pipeline)
        super().__init__(width, acc_width, {"a": In(width), "w": In(width)})

    def elaborate(self, platform):
        return self._elaborate(FixedMultiplier(self.width, self.arrangement, self.pipeline), [])
