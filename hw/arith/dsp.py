"""Sum-Together multiplier on FPGA DSP blocks: sub-word lanes packed with guard bits into 18x18 multipliers.

The Baugh-Wooley array of :class:`~hw.arith.SumTogetherMultiplier` cannot use a DSP block, so on ECP5 it costs about
a thousand LUTs where a fixed multiplier costs one MULT18X18D. This variant keeps the sub-word modes on DSP blocks.
It uses two signed 18x18 products ``M0 = A0 * W0`` and ``M1 = A1 * W1`` (yosys maps each ``*`` to one MULT18X18D):

* 1 lane: ``A0 = a``, ``W0 = w`` (sign- or zero-extended to 18 bits), ``A1 = W1 = 0``; ``p = M0``.
* 2 lanes: ``Ak = a_k``, ``Wk = w_k``; ``p = M0 + M1``.
* 4 lanes, two lanes per product, guard-bit packing with lane reversal: ``A0 = a_0 + a_1 * 2**s`` and
  ``W0 = w_1 + w_0 * 2**s`` (the lanes sign- or zero-extended before the shift-add), so
  ``M0 = a_0*w_1 + (a_0*w_0 + a_1*w_1) * 2**s + a_1*w_0 * 2**(2*s)``. The wanted sum sits in bits ``[s, s+t)``
  (``t`` = its signed width): the low cross term is smaller than ``2**(s-1)`` in magnitude, so adding bit ``s-1``
  of ``M0`` (round half up) cancels its borrow, and the high cross term starts at bit ``2*s >= s + t``. ``M1``
  does the same for lanes 2 and 3; ``p`` = the sum of the two fields, sign-extended from ``t`` bits.

Everything around the DSP blocks (operand packing and muxing by mode, the field rounding, the final adder and the
output mux) is LUT logic; ``python -m hw.area`` reports both counts.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring

from ..golden import value_range
from .multiplier import _ModeDecoder, _pipe, check_lanes, check_pipeline, check_width, multiplier_ports, validating

__all__ = ["DspSumTogetherMultiplier", "DSP_BITS"]

#: Signed operand width of one DSP multiplier (ECP5 MULT18X18D).
DSP_BITS = 18


def _signed_bits(values):
    """Bits of the narrowest two's complement type holding every value in ``values``."""
    return max(v.bit_length() if v >= 0 else (-v - 1).bit_length() for v in values) + 1


def guard_shift(width):
    """``(s, t)`` of the 4-lane packing for ``width``-bit words: field offset ``s`` and field width ``t``."""
    b = width // 4
    extremes = [x * y for sa in (0, 1) for sw in (0, 1) for x in value_range(b, sa) for y in value_range(b, sw)]
    t = _signed_bits([2 * v for v in extremes])                 # a_0*w_0 + a_1*w_1
    cross = max(abs(v) for v in extremes)                      # |a_0*w_1| < 2**(s-1)
    return max(t, cross.bit_length() + 1), t


class DspSumTogetherMultiplier(wiring.Component):
    """Sum-Together multiplier built on two DSP multipliers (ports and result as :class:`SumTogetherMultiplier`).

    Parameters
    ----------
    width : int
        Word width; at most 17 (a 1-lane product must fit one signed 18x18 DSP multiplier).
    lanes : tuple of int
        A subset of ``(1, 2, 4)``; with 4 lanes the guard-bit packing (see the module docstring) must fit 18 bits,
        which holds for every ``width`` up to 16.
    pipeline : int
        Register stages on ``p`` (for retiming into the DSP registers); latency in cycles.

    Attributes
    ----------
    a, w, mode, a_signed, w_signed : In
        As :class:`SumTogetherMultiplier` (natural lane order in ``w``; a ``mode`` naming no configured lane count
        acts as ``min(lanes)``).
    p : Out(signed(2*width + 1))
        The exact ``hw.golden.st_product(a, w, 2**mode, a_signed, w_signed, width)``.
    """

    def __init__(self, width=16, lanes=(1, 2, 4), pipeline=0):
        with validating(self):
            self.width = check_width(width)
            self.lanes = check_lanes(width, lanes)
            self.pipeline = check_pipeline(pipeline)
            if width > DSP_BITS - 1:
                raise ValueError(f"width must be at most {DSP_BITS - 1} for a {DSP_BITS}x{DSP_BITS} DSP multiplier, "
                                 f"not {width}; use SumTogetherMultiplier for wider words")
            if not set(self.lanes) <= {1, 2, 4}:
                raise ValueError(f"lanes must be a subset of (1, 2, 4) for the DSP variant, not {self.lanes}; use "
                                 "SumTogetherMultiplier for more lanes")
            if 4 in self.lanes:
                s, _ = guard_shift(width)
                if s + width // 4 + 1 > DSP_BITS:
                    raise ValueError(f"4-lane packing of width {width} needs {s + width // 4 + 1}-bit DSP operands "
                                     f"(more than {DSP_BITS}); use at most 16 bits or drop 4 from lanes")
        super().__init__(multiplier_ports(width, self.lanes))

    @property
    def latency(self):
        """Cycles from operands to ``p`` (equal to ``pipeline``)."""
        return self.pipeline

    @property
    def dsp_blocks(self):
        """DSP multipliers used: 1 for ``lanes=(1,)``, else 2."""
        return 1 if self.lanes == (1,) else 2

    def elaborate(self, platform):
        m = Module()
        width, lanes = self.width, self.lanes
        dec = _ModeDecoder(m, self.mode, lanes)

        def lane(word, flag, n, i):                           # lane i of n, sign/zero-extended (signed value)
            b = width // n
            bits = word[i * b:(i + 1) * b]
            return Cat(bits, bits[-1] & flag).as_signed()

        def packed(word, flag, low, high, s):                 # lane `low` + lane `high` * 2**s, 18-bit signed
            lo, hi = lane(word, flag, 4, low), lane(word, flag, 4, high)
            value = Signal(signed(DSP_BITS), name=f"pack{low}{high}")
            m.d.comb += value.eq(lo + (hi << s))
            return value

        s, t = guard_shift(width) if 4 in lanes else (None, None)
        sources = {k: {} for k in range(self.dsp_blocks)}     # dsp -> {lane count: (A, W)}
        for n in lanes:
            for k in range(self.dsp_blocks):
                if n == 1:
                    pair = (lane(self.a, self.a_signed, 1, 0), lane(self.w, self.w_signed, 1, 0)) if k == 0 else None
                elif n == 2:
                    pair = (lane(self.a, self.a_signed, 2, k), lane(self.w, self.w_signed, 2, k))
                else:                                          # lanes 2k, 2k+1; w lanes reversed
                    pair = (packed(self.a, self.a_signed, 2 * k, 2 * k + 1, s),
                            packed(self.w, self.w_signed, 2 * k + 1, 2 * k, s))
                if pair is not None:
                    sources[k][n] = pair

        products = []
        for k in range(self.dsp_blocks):
            ops = []
            for j in range(2):                                 # operand A, then W
                value = Const(0, signed(DSP_BITS))
                for n, pair in sources[k].items():
                    value = Mux(dec.any_of({n}), pair[j], value)
                op = Signal(signed(DSP_BITS), name=f"dsp{k}_{'aw'[j]}")
                m.d.comb += op.eq(value)
                ops.append(op)
            product = Signal(signed(2 * DSP_BITS), name=f"dsp{k}_p")
            m.d.comb += product.eq(ops[0] * ops[1])
            products.append(product)

        total = 2 * width + 1
        terms = []
        for k, product in enumerate(products):
            term = product
            if 4 in lanes:                                     # 4 lanes: the rounded middle field, t bits signed
                field = Signal(signed(t), name=f"dsp{k}_field")
                m.d.comb += field.eq((product[s:s + t] + product[s - 1])[:t])
                term = Mux(dec.any_of({4}), field, product)
            terms.append(term)
        result = Signal(signed(total))
        m.d.comb += result.eq(sum(terms[1:], terms[0]))
        m.d.comb += self.p.eq(_pipe(m, result, self.pipeline, "p"))
        return m
