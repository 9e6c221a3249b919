"""Generator parameters of the stacc engines: one validated, immutable dataclass.

Every engine (``hw.accel``), the memory layout (``hw.layout``), the register map and the cycle model (``hw.perf``)
take an :class:`EngineParams`; nothing else carries a width or a buffer size. A bad value is refused when the object is
built, with a ``ValueError``/``TypeError`` naming the field, the value and what is allowed.

Precision modes
---------------
An operand of a ``mul_width``-bit Sum-Together multiplier in mode ``m`` holds ``2**m`` lanes of
``mul_width >> m`` bits (``mode = log2(lanes)``, the ``mode`` port of ``hw.arith.SumTogetherMultiplier``). With the
default ``mul_width=16`` and ``lanes=(1, 2, 4)`` the modes 0, 1, 2 are 16, 8 and 4 bit. The same code is written into
the precision fields of the register map (``hw.accel.regs``).
"""

from dataclasses import dataclass, fields

__all__ = ["EngineParams", "BUS_WIDTHS", "MIN_REQUANT_MUL_BITS", "MAX_REQUANT_MUL_BITS", "FIELD_HELP", "top_params"]

BUS_WIDTHS = (32, 64, 128)
MIN_REQUANT_MUL_BITS = 4
MAX_REQUANT_MUL_BITS = 16


def _int_field(name, value, lo, hi=None):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"EngineParams.{name} must be an int, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f"at least {lo}" if hi is None else f"between {lo} and {hi}"
        raise ValueError(f"EngineParams.{name} must be {rng}, not {value}")


def _power_of_two(name, value):
    if value & (value - 1):
        raise ValueError(f"EngineParams.{name} must be a power of two, not {value}")


@dataclass(frozen=True)
class EngineParams:
    """Parameters of one engine instance (all three engine kinds use the same set).

    Parameters
    ----------
    macs : int
        P, the number of parallel Sum-Together MAC units (a power of two, 1..64: engines bank weights by output
        index modulo P).
    mul_width : int
        Width of the ST multiplier operands in bits (8, 16 or 32).
    lanes : tuple of int
        Lane counts the multipliers support; a subset of ``(1, 2, 4)`` containing 1, each leaving at least 4 bits a
        lane. Precision ``mul_width // lanes`` is available for activations, weights and outputs.
    acc_bits : int
        Accumulator width (8..48). Accumulators wrap like ``hw.golden.wrap``; the bias is a 32-bit word sign-extended
        into the accumulator, so widths above 32 only add headroom.
    weight_words, act_words, out_words : int
        Depth of the weight, input-activation and output-activation buffers, in bus words (powers of two,
        4..65536).
    out_channels : int
        Depth of the per-channel bias / requantization-parameter / accumulator buffers, i.e. the largest number of
        output channels (or FC outputs) one layer may have (power of two, 1..65536).
    bus_width : int
        Data width of the Wishbone bus-master port: 32, 64 or 128.
    addr_width : int
        Byte-address width seen by the engine (registers hold byte addresses; 16..32).
    requant_mul_bits : int
        M, the width of the unsigned per-channel requantization multiplier (4..16).
    requant_shift_bits : int
        Width of the unsigned requantization right shift (1..6; the largest shift is ``2**requant_shift_bits - 1``).
    """

    macs: int = 4
    mul_width: int = 16
    lanes: tuple = (1, 2, 4)
    acc_bits: int = 32
    weight_words: int = 4096
    act_words: int = 4096
    out_words: int = 4096
    out_channels: int = 256
    bus_width: int = 32
    addr_width: int = 32
    requant_mul_bits: int = 16
    requant_shift_bits: int = 6

    def __post_init__(self):
        _int_field("macs", self.macs, 1, 64)
        _power_of_two("macs", self.macs)
        _int_field("mul_width", self.mul_width, 8, 32)
        if self.mul_width not in (8, 16, 32):
            raise ValueError(f"EngineParams.mul_width must be one of (8, 16, 32), not {self.mul_width}")
        lanes = self.lanes
        if isinstance(lanes, list):
            lanes = tuple(lanes)
            object.__setattr__(self, "lanes", lanes)
        if not isinstance(lanes, tuple) or not lanes:
            raise TypeError(f"EngineParams.lanes must be a non-empty tuple of lane counts, not {self.lanes!r}")
        if any(n not in (1, 2, 4) for n in lanes) or len(set(lanes)) != len(lanes) or 1 not in lanes:
            raise ValueError(f"EngineParams.lanes must be distinct values from (1, 2, 4) including 1, not {lanes!r}")
        if self.mul_width // max(lanes) < 4:
            raise ValueError(f"EngineParams.lanes={lanes!r} leaves fewer than 4 bits a lane at "
                             f"mul_width={self.mul_width}; drop lane count {max(lanes)} or widen the multiplier")
        object.__setattr__(self, "lanes", tuple(sorted(lanes)))
        _int_field("acc_bits", self.acc_bits, 8, 48)
        for name in ("weight_words", "act_words", "out_words"):
            _int_field(name, getattr(self, name), 4, 1 << 16)
            _power_of_two(name, getattr(self, name))
        _int_field("out_channels", self.out_channels, 1, 1 << 16)
        _power_of_two("out_channels", self.out_channels)
        _int_field("bus_width", self.bus_width, 32, 128)
        if self.bus_width not in BUS_WIDTHS:
            raise ValueError(f"EngineParams.bus_width must be one of {BUS_WIDTHS}, not {self.bus_width}")
        if self.bus_width % self.mul_width:
            raise ValueError(f"EngineParams.bus_width={self.bus_width} must be a multiple of "
                             f"mul_width={self.mul_width}")
        _int_field("addr_width", self.addr_width, 16, 32)
        _int_field("requant_mul_bits", self.requant_mul_bits, MIN_REQUANT_MUL_BITS, MAX_REQUANT_MUL_BITS)
        _int_field("requant_shift_bits", self.requant_shift_bits, 1, 6)

    # -- derived quantities -------------------------------------------------------------------------------------------
    @property
    def modes(self):
        """Supported precision-mode codes (``log2(lanes)``), ascending."""
        return tuple(n.bit_length() - 1 for n in self.lanes)

    @property
    def precisions(self):
        """Supported element widths in bits, widest first (e.g. ``(16, 8, 4)``)."""
        return tuple(self.mul_width // n for n in self.lanes)

    def mode_of(self, bits):
        """Precision-mode code for an element width; ``ValueError`` listing the supported widths otherwise."""
        if bits not in self.precisions:
            raise ValueError(f"precision must be one of {self.precisions} bits for this engine, not {bits!r}")
        return (self.mul_width // bits).bit_length() - 1

    def bits_of(self, mode):
        """Element width in bits of a precision-mode code."""
        if mode not in self.modes:
            raise ValueError(f"precision mode must be one of {self.modes}, not {mode!r}")
        return self.mul_width >> mode

    @property
    def bus_bytes(self):
        """Bytes per bus word (the address alignment every DMA address must have)."""
        return self.bus_width // 8

    @property
    def subwords(self):
        """Multiplier words per bus word."""
        return self.bus_width // self.mul_width

    @property
    def wb_addr_width(self):
        """Width of the Wishbone word address (``addr_width`` minus the byte offset inside a bus word)."""
        return self.addr_width - (self.bus_bytes.bit_length() - 1)

    def as_dict(self):
        """The fields as a dict (the keyword arguments that rebuild this object, and a ``hw.tops`` parameter set)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def replace(self, **changes):
        """A copy with some fields changed (validated again)."""
        values = self.as_dict()
        unknown = set(changes) - set(values)
        if unknown:
            raise TypeError(f"EngineParams has no field(s) {sorted(unknown)}; fields are {sorted(values)}")
        values.update(changes)
        return EngineParams(**values)


FIELD_HELP = {
    "macs": "parallel ST MAC units P (power of two)",
    "mul_width": "ST multiplier operand width in bits",
    "lanes": "supported lane counts (precisions mul_width/lanes)",
    "acc_bits": "accumulator width in bits",
    "weight_words": "weight buffer depth in bus words",
    "act_words": "input activation buffer depth in bus words",
    "out_words": "output activation buffer depth in bus words",
    "out_channels": "largest number of output channels",
    "bus_width": "Wishbone DMA data width (32, 64, 128)",
    "addr_width": "byte-address width",
    "requant_mul_bits": "requantization multiplier width M (4..16)",
    "requant_shift_bits": "requantization shift width",
}


def top_params():
    """``{field: (default, help)}`` for registering a generator top that takes the EngineParams fields."""
    return {f.name: (f.default, FIELD_HELP[f.name]) for f in fields(EngineParams)}
