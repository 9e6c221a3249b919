"""A minimal CSR bus: word-wide registers behind a Wishbone bridge, fanned out to peripherals by a decoder.

amaranth-soc is not installable here, so this is the small subset the SoC needs, in the same spirit: a bus signature
with checked parameters, peripherals that declare their registers once (:class:`Register`), and everything else
(address decoding, the C header, documentation) derived from those declarations.

Bus protocol (initiator view, one register access per strobe)
-------------------------------------------------------------
``addr`` selects a 32-bit register (word address). ``w_stb`` writes ``w_data`` in that cycle. ``r_stb`` requests a read;
the peripheral presents ``r_data`` in the *next* cycle (so reads may have side effects, such as latching the high
half of a counter) and drives zero when not answering a read.
"""

from dataclasses import dataclass

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from . import wishbone

__all__ = ["Register", "Signature", "WishboneBridge", "Decoder"]

_ACCESS = ("r", "w", "rw")


@dataclass(frozen=True)
class Register:
    """One 32-bit register of a peripheral, as software sees it.

    Parameters
    ----------
    name : str
        C identifier suffix (upper case), e.g. ``"TXDATA"``.
    offset : int
        Word offset inside the peripheral.
    access : {"r", "w", "rw"}
        What software may do.
    doc : str
        One line for the generated header.
    """
    name: str
    offset: int
    access: str
    doc: str

    def __post_init__(self):
        if not self.name.isidentifier() or self.name.upper() != self.name:
            raise ValueError(f"register name must be an upper-case C identifier, not {self.name!r}")
        if isinstance(self.offset, bool) or not isinstance(self.offset, int) or self.offset < 0:
            raise ValueError(f"register {self.name}: offset must be a non-negative int, not {self.offset!r}")
        if self.access not in _ACCESS:
            raise ValueError(f"register {self.name}: access must be one of {_ACCESS}, not {self.access!r}")


class Signature(wiring.Signature):
    """CSR bus, initiator view: ``addr: Out(addr_width)``, ``r_stb``, ``w_stb``, ``w_data: Out(32)``,
    ``r_data: In(32)``.

    Parameters
    ----------
    addr_width : int
        Width of the word address, ``>= 0``.
    """

    def __init__(self, *, addr_width):
        if isinstance(addr_width, bool) or not isinstance(addr_width, int) or addr_width < 0:
            raise ValueError(f"addr_width must be a non-negative int, not {addr_width!r}")
        self.addr_width = addr_width
        super().__init__({"addr": Out(addr_width), "r_stb": Out(1), "w_stb": Out(1),
                          "w_data": Out(32), "r_data": In(32)})

    def __eq__(self, other):
        return isinstance(other, Signature) and self.addr_width == other.addr_width

    def __hash__(self):
        return hash(self.addr_width)

    def __repr__(self):
        return f"csr.Signature(addr_width={self.addr_width})"


class WishboneBridge(wiring.Component):
    """Wishbone target that turns each access into one CSR strobe.

    Parameters
    ----------
    addr_width : int
        Word-address width of both buses.

    Attributes
    ----------
    wb : In(wishbone.bus_signature(addr_width))
    csr : Out(Signature(addr_width))

    Latency: an access is acknowledged 2 cycles after ``stb`` (strobe, then capture the read data). Byte-lane writes
    write the whole register: firmware must use 32-bit accesses (the generated header does).
    """

    def __init__(self, addr_width):
        super().__init__({"wb": In(wishbone.bus_signature(addr_width)),
                          "csr": Out(Signature(addr_width=addr_width))})

    def elaborate(self, platform):
        m = Module()
        busy = Signal()
        m.d.comb += [self.csr.addr.eq(self.wb.adr), self.csr.w_data.eq(self.wb.dat_w)]
        with m.If(self.wb.cyc & self.wb.stb & ~busy & ~self.wb.ack):
            m.d.comb += [self.csr.w_stb.eq(self.wb.we), self.csr.r_stb.eq(~self.wb.we)]
            m.d.sync += busy.eq(1)
        with m.If(busy):
            m.d.sync += [busy.eq(0), self.wb.ack.eq(1), self.wb.dat_r.eq(self.csr.r_data)]
        with m.Else():
            m.d.sync += self.wb.ack.eq(0)
        return m


class Decoder(wiring.Component):
    """Fan one CSR bus out to peripherals, each owning ``2**window_bits`` registers.

    Parameters
    ----------
    addr_width : int
        Word-address width of the upstream bus.
    window_bits : int
        Word-address bits of each peripheral window.
    count : int
        Number of peripherals; peripheral ``i`` sits at word address ``i << window_bits``.

    Attributes
    ----------
    bus : In(Signature(addr_width))
    targets : list of Out(Signature(window_bits))

    Latency: combinational strobes; ``r_data`` is OR-ed (peripherals drive zero when not read). Accesses to an empty
    window read as zero and ignore writes.
    """

    def __init__(self, addr_width, window_bits, count):
        for name, v in (("addr_width", addr_width), ("window_bits", window_bits), ("count", count)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be a non-negative int, not {v!r}")
        if count << window_bits > 1 << addr_width:
            raise ValueError(f"{count} windows of 2**{window_bits} registers do not fit addr_width={addr_width}")
        self._count, self._window_bits = count, window_bits
        super().__init__({"bus": In(Signature(addr_width=addr_width))} |
                         {f"target{i}": Out(Signature(addr_width=window_bits)) for i in range(count)})

    @property
    def targets(self):
        return [getattr(self, f"target{i}") for i in range(self._count)]

    def elaborate(self, platform):
        m = Module()
        r_data = 0
        for i, target in enumerate(self.targets):
            sel = (self.bus.addr >> self._window_bits) == i
            m.d.comb += [target.addr.eq(self.bus.addr[:self._window_bits]), target.w_data.eq(self.bus.w_data),
                         target.r_stb.eq(self.bus.r_stb & sel), target.w_stb.eq(self.bus.w_stb & sel)]
            r_data = r_data | target.r_data
        m.d.comb += self.bus.r_data.eq(r_data)
        return m
