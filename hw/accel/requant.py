"""Requantization unit: accumulator to output activation, bit-exactly ``hw.golden.requantize``."""

from amaranth import Const, Module, Signal, Mux, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .common import require_params
from .shell import mode_cases

__all__ = ["Requantizer"]


class Requantizer(wiring.Component):
    """``saturate(relu?(round_half_even(acc * multiplier / 2**shift)), out_bits, out_signed)``, pipelined.

    Equal to ``hw.golden.requantize(wrap(acc, acc_bits), multiplier, shift, mul_width >> mode, out_signed, relu)``
    for every input (the multiplier is unsigned, the shift a non-negative right shift).

    Parameters
    ----------
    params : EngineParams
        Uses ``acc_bits``, ``requant_mul_bits`` (M), ``requant_shift_bits`` and ``mul_width``/``lanes`` (output modes).

    Attributes
    ----------
    valid : In(1)
        The inputs below hold a value to requantize; ``out_valid`` follows ``LATENCY`` cycles later.
    acc : In(signed(acc_bits))
    multiplier : In(requant_mul_bits)
    shift : In(requant_shift_bits)
    mode : In(2)
        Output precision mode (element width ``mul_width >> mode``). A mode outside ``params.modes`` saturates to
        the widest output (the engines refuse such a configuration before it reaches this unit).
    out_signed, relu : In(1)
    out_valid : Out(1)
    out : Out(signed(mul_width + 1))
        The requantized value, inside the output range (so the low ``out_bits`` bits are the packed lane value).

    Latency is ``LATENCY`` = 3 cycles (product register; shifted value and rounding decision; rounded, ReLU'd and
    saturated output register); fully pipelined, one value per cycle. Inputs need only be held while ``valid`` is
    asserted.
    """

    LATENCY = 3

    def __init__(self, params):
        self.params = p = require_params(self, params)
        super().__init__({
            "valid": In(1),
            "acc": In(signed(p.acc_bits)),
            "multiplier": In(p.requant_mul_bits),
            "shift": In(p.requant_shift_bits),
            "mode": In(2),
            "out_signed": In(1),
            "relu": In(1),
            "out_valid": Out(1),
            "out": Out(signed(p.mul_width + 1)),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        pw = p.acc_bits + p.requant_mul_bits + 1                  # product width (signed)

        # stage 1: product; the controls travel alongside
        prod = Signal(signed(pw))
        shift, mode, out_signed, relu, valid1 = (Signal.like(self.shift), Signal.like(self.mode), Signal(), Signal(),
                                                 Signal())
        m.d.sync += [prod.eq(self.acc * self.multiplier), shift.eq(self.shift), mode.eq(self.mode),
                     out_signed.eq(self.out_signed), relu.eq(self.relu), valid1.eq(self.valid)]

        # stage 2: the shift and the rounding decision (round half to even). A shift >= pw rounds every product
        # (|prod| <= 2**(pw-1)) to 0.
        floor = Signal(signed(pw))
        rem = Signal(unsigned(pw))
        half = Signal(unsigned(pw + 1))
        m.d.comb += [
            floor.eq(prod >> shift),
            rem.eq(prod & ((Const(1, pw + 1) << shift) - 1)[:pw]),
            half.eq((Const(1, pw + 1) << shift)[:pw + 1] >> 1),
        ]
        floor2, round_up, zero = Signal.like(floor), Signal(), Signal()
        mode2, out_signed2, relu2, valid2 = Signal.like(mode), Signal(), Signal(), Signal()
        m.d.sync += [floor2.eq(floor), round_up.eq((shift != 0) & ((rem > half) | ((rem == half) & floor[0]))),
                     zero.eq(shift >= pw), mode2.eq(mode), out_signed2.eq(out_signed), relu2.eq(relu),
                     valid2.eq(valid1)]
        floor, mode, out_signed, relu = floor2, mode2, out_signed2, relu2

        # stage 3: round, ReLU, saturate
        rounded = Signal(signed(pw + 1))
        m.d.comb += rounded.eq(Mux(zero, 0, floor + round_up))
        relued = Signal(signed(pw + 1))
        m.d.comb += relued.eq(Mux(relu & (rounded < 0), 0, rounded))

        lo, hi = Signal(signed(p.mul_width + 1)), Signal(signed(p.mul_width + 1))
        with m.Switch(mode):
            for md, case in mode_cases(m, mode, p):
                bits = p.mul_width >> md
                with case:
                    m.d.comb += [lo.eq(Mux(out_signed, -(1 << (bits - 1)), 0)),
                                 hi.eq(Mux(out_signed, (1 << (bits - 1)) - 1, (1 << bits) - 1))]
        m.d.sync += [
            self.out.eq(Mux(relued < lo, lo, Mux(relued > hi, hi, relued))),
            self.out_valid.eq(valid2),
        ]
        return m
