"""The SoC's small CSR peripherals: simulation control, cycle timer, UART (simulation and serial flavours).

Each peripheral declares its registers once in ``registers`` (a tuple of :class:`soc.csr.Register`); the memory map,
the C header and the address decoding are derived from that. Every peripheral has ``csr: In(csr.Signature(WINDOW))``
and follows the CSR protocol of :mod:`soc.csr` (read data one cycle after ``r_stb``, zero otherwise).
"""

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from . import csr
from .csr import Register

__all__ = ["WINDOW", "SimControl", "Timer", "SimUart", "SerialUart"]

#: Word-address bits of every peripheral window (256 registers, 1 KiB).
WINDOW = 8


def _read_mux(m, bus, values):
    """Drive ``bus.r_data`` one cycle after ``r_stb`` with ``values[offset]`` (zero for unknown offsets)."""
    with m.If(bus.r_stb):
        with m.Switch(bus.addr):
            for offset, value in values.items():
                with m.Case(offset):
                    m.d.sync += bus.r_data.eq(value)
            with m.Default():
                m.d.sync += bus.r_data.eq(0)
    with m.Else():
        m.d.sync += bus.r_data.eq(0)


class SimControl(wiring.Component):
    """Ends a simulation: a write to ``EXIT`` pulses ``exit_stb`` with ``exit_code`` = the written value.

    Attributes
    ----------
    csr : In(csr.Signature(WINDOW))
    exit_stb : Out(1)
        One-cycle pulse; the Verilator harness stops and returns ``exit_code`` (0 = pass). Unconnected on an FPGA.
    exit_code : Out(32)
        Held until the next write.
    """

    registers = (
        Register("EXIT", 0, "w", "write the exit code: ends the simulation (0 = success)"),
        Register("SCRATCH", 1, "rw", "free read/write word (bus test)"),
    )

    def __init__(self):
        super().__init__({"csr": In(csr.Signature(addr_width=WINDOW)), "exit_stb": Out(1), "exit_code": Out(32)})

    def elaborate(self, platform):
        m = Module()
        scratch = Signal(32)
        m.d.sync += self.exit_stb.eq(0)
        with m.If(self.csr.w_stb):
            with m.Switch(self.csr.addr):
                with m.Case(0):
                    m.d.sync += [self.exit_stb.eq(1), self.exit_code.eq(self.csr.w_data)]
                with m.Case(1):
                    m.d.sync += scratch.eq(self.csr.w_data)
        _read_mux(m, self.csr, {1: scratch})
        return m


class Timer(wiring.Component):
    """Free-running 64-bit cycle counter, reset to zero with the SoC.

    Reading ``CYCLE_LO`` latches the high word, so ``LO`` then ``HI`` is a consistent 64-bit sample.

    Attributes
    ----------
    csr : In(csr.Signature(WINDOW))
    """

    registers = (
        Register("CYCLE_LO", 0, "r", "cycle counter bits 31..0 (reading it latches CYCLE_HI)"),
        Register("CYCLE_HI", 1, "r", "cycle counter bits 63..32 as of the last CYCLE_LO read"),
    )

    def __init__(self):
        super().__init__({"csr": In(csr.Signature(addr_width=WINDOW))})

    def elaborate(self, platform):
        m = Module()
        count = Signal(64)
        high = Signal(32)
        m.d.sync += count.eq(count + 1)
        with m.If(self.csr.r_stb & (self.csr.addr == 0)):
            m.d.sync += high.eq(count[32:])
        _read_mux(m, self.csr, {0: count[:32], 1: high})
        return m


_UART_REGISTERS = (
    Register("TXDATA", 0, "w", "write a byte to send (bits 7..0); only when STATUS.TX_READY"),
    Register("STATUS", 1, "r", "bit 0 TX_READY: TXDATA can take a byte"),
)


class SimUart(wiring.Component):
    """Simulation UART: every ``TXDATA`` write appears at once on ``tx_stb``/``tx_data`` (the harness prints it).

    Always ready; no baud rate, so printing costs only the bus access.

    Attributes
    ----------
    csr : In(csr.Signature(WINDOW))
    tx_stb : Out(1)
        One-cycle pulse per byte.
    tx_data : Out(8)
    """

    registers = _UART_REGISTERS

    def __init__(self):
        super().__init__({"csr": In(csr.Signature(addr_width=WINDOW)), "tx_stb": Out(1), "tx_data": Out(8)})

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.tx_stb.eq(self.csr.w_stb & (self.csr.addr == 0))
        with m.If(self.csr.w_stb & (self.csr.addr == 0)):
            m.d.sync += self.tx_data.eq(self.csr.w_data[:8])
        _read_mux(m, self.csr, {1: 1})
        return m


class SerialUart(wiring.Component):
    """8N1 serial transmitter for boards.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (``clk_freq // baud``), ``>= 2``.

    Attributes
    ----------
    csr : In(csr.Signature(WINDOW))
    tx : Out(1, init=1)
        Serial line, idle high. A ``TXDATA`` write while busy is dropped (firmware polls ``STATUS``).
    """

    registers = _UART_REGISTERS

    def __init__(self, divisor):
        if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < 2:
            raise ValueError(f"divisor must be an int >= 2 (clock frequency // baud rate), not {divisor!r}")
        self._divisor = divisor
        super().__init__({"csr": In(csr.Signature(addr_width=WINDOW)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        shift = Signal(10)                 # stop bit, 8 data bits (LSB first), start bit
        bits_left = Signal(range(11))
        timer = Signal(range(self._divisor))
        ready = Signal()
        m.d.comb += ready.eq(bits_left == 0)
        with m.If(self.csr.w_stb & (self.csr.addr == 0) & ready):
            m.d.sync += [shift.eq((1 << 9) | (self.csr.w_data[:8] << 1)), bits_left.eq(10), timer.eq(0)]
        with m.Elif(~ready):
            with m.If(timer == 0):
                m.d.sync += [self.tx.eq(shift[0]), shift.eq(shift >> 1), timer.eq(self._divisor - 1)]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 1):
                    m.d.sync += bits_left.eq(bits_left - 1)
        _read_mux(m, self.csr, {1: ready})
        return m
