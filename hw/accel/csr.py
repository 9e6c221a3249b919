"""The engines' CSR block: a Wishbone target generated from the register map in :mod:`hw.accel.regs`."""

from amaranth import Cat, Const, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .. import wishbone
from .common import refuse
from .regs import REGISTERS

__all__ = ["CsrBlock", "CSR_ADDR_WIDTH", "config_layout", "status_layout"]

CSR_ADDR_WIDTH = (len(REGISTERS) - 1).bit_length()


def config_layout():
    """``StructLayout`` of every ``rw`` field (what the engine reads)."""
    return data.StructLayout({f.name: f.width for r in REGISTERS for f in r.fields if f.access == "rw"})


def status_layout(constants=()):
    """``StructLayout`` of every ``ro`` field not given as a constant (what the engine drives)."""
    return data.StructLayout({f.name: f.width for r in REGISTERS for f in r.fields
                              if f.access == "ro" and f.name not in constants})


class CsrBlock(wiring.Component):
    """Register file of one engine, on a 32-bit classic Wishbone target port.

    Parameters
    ----------
    constants : dict of str to int
        Values of read-only fields that are generator constants (the ``INFO`` fields); every other ``ro`` field is an
        input in ``status``.

    Attributes
    ----------
    bus : In(wishbone.Signature(addr_width=CSR_ADDR_WIDTH, data_width=32, granularity=8))
        Register access; word address = byte offset / 4. ``ack`` follows ``stb`` by one cycle (read data registered).
        Writes honour ``sel`` per byte. Accesses to unmapped addresses read 0 and are acknowledged.
    cfg : Out(config_layout())
        The ``rw`` fields, reset to their reset values.
    start : Out(1)
        One-cycle pulse when 1 is written to ``CTRL.start``.
    status : In(status_layout(constants))
        Current values of the non-constant ``ro`` fields.
    """

    def __init__(self, constants):
        ro = {f.name: f for r in REGISTERS for f in r.fields if f.access == "ro"}
        for name, value in constants.items():
            if name not in ro:
                raise refuse(self, ValueError(f"{name!r} is not a read-only register field; read-only fields are "
                                              f"{sorted(ro)}"))
            if not 0 <= value < 1 << ro[name].width:
                raise refuse(self, ValueError(f"constant {name}={value} does not fit its {ro[name].width}-bit field"))
        self._constants = dict(constants)
        super().__init__({
            "bus": In(wishbone.Signature(addr_width=CSR_ADDR_WIDTH, data_width=32, granularity=8)),
            "cfg": Out(config_layout(), init={f.name: f.reset for r in REGISTERS for f in r.fields
                                              if f.access == "rw"}),
            "start": Out(1),
            "status": In(status_layout(self._constants)),
        })

    def _field_value(self, f):
        if f.access == "rw":
            return getattr(self.cfg, f.name)
        if f.access == "ro":
            if f.name in self._constants:
                return Const(self._constants[f.name], f.width)
            return getattr(self.status, f.name)
        return Const(0, f.width)                              # w1p reads as 0

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        access = Signal()
        m.d.comb += access.eq(bus.cyc & bus.stb & ~bus.ack)
        m.d.sync += [bus.ack.eq(access), self.start.eq(0)]
        with m.Switch(bus.adr):
            for r in REGISTERS:
                with m.Case(r.address // 4):
                    word = Signal(32, name=f"{r.name.lower()}_word")
                    m.d.comb += word.eq(self._word(r))
                    with m.If(access & ~bus.we):
                        m.d.sync += bus.dat_r.eq(word)
                    with m.If(access & bus.we):
                        self._write(m, r)
            with m.Default():
                with m.If(access):
                    m.d.sync += bus.dat_r.eq(0)
        return m

    def _word(self, r):
        """The register's 32 bits: its fields with zeros in between (every bit driven)."""
        parts, pos = [], 0
        for f in sorted(r.fields, key=lambda f: f.offset):
            if f.offset > pos:
                parts.append(Const(0, f.offset - pos))
            parts.append(self._field_value(f))
            pos = f.offset + f.width
        if pos < 32:
            parts.append(Const(0, 32 - pos))
        return Cat(*parts)

    def _write(self, m, r):
        bus = self.bus
        for f in r.fields:
            if f.access == "ro":
                continue
            if f.access == "w1p":                               # the map has one: CTRL.start
                with m.If(bus.sel[f.offset // 8] & bus.dat_w[f.offset]):
                    m.d.sync += self.start.eq(1)
                continue
            target = getattr(self.cfg, f.name)
            for byte in range(f.offset // 8, (f.offset + f.width - 1) // 8 + 1):   # the field's bits in each byte
                lo, hi = max(f.offset, 8 * byte), min(f.offset + f.width, 8 * byte + 8)
                with m.If(bus.sel[byte]):
                    m.d.sync += target[lo - f.offset:hi - f.offset].eq(bus.dat_w[lo:hi])
