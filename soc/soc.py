"""The stacc SoC: a RISC-V CPU, on-chip RAM, CSR peripherals and slots for accelerator engines on one Wishbone bus.

::

    CPU bus(es) ─┐                          ┌─ RAM                           0x0000_0000
    engine DMA ──┼─ wishbone.Arbiter ─ wishbone.Decoder ─ csr.WishboneBridge ─ csr.Decoder ─ SIM, TIMER, UART
    engine DMA ──┘                          │                                0x8000_0000
                                            └─ engine k register block       0x9000_0000 + k * ACCEL_WINDOW

Addresses come from :mod:`soc.memory_map`.
"""

from dataclasses import dataclass

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from hw.wishbone import Signature as WishboneSignature

from . import csr, memory_map, wishbone
from .cpu import make_cpu
from .peripherals import WINDOW, SimControl, Timer, SimUart, SerialUart
from .ram import Ram

__all__ = ["Accelerator", "Soc", "initiator_bus"]


def initiator_bus():
    """Bus signature every initiator (CPU, engine DMA) must have: 32-bit data, byte lanes, ``err``, 30-bit adr."""
    return wishbone.bus_signature(30)


@dataclass(frozen=True)
class Accelerator:
    """How an engine attaches to the SoC.

    Parameters
    ----------
    component : wiring.Component
        The engine.
    csr : str
        Name of its register port (``hw.accel`` engines: ``"csr"``), a Wishbone *target*
        ``In(hw.wishbone.Signature(addr_width <= 10, data_width=32, granularity=8))`` (``err`` optional). It is
        mapped at ``memory_map.accel_base(k)``; its word address is the low bits of the offset inside the
        ACCEL_WINDOW (the window aliases if the port decodes fewer bits).
    dma : str or None
        Name of its bus-master port, ``Out(initiator_bus())`` (``hw.accel`` engines: ``"bus"``), or ``None`` for a
        register-only engine.
    """
    component: wiring.Component
    csr: str = "csr"
    dma: str | None = "bus"

    def __post_init__(self):
        members = getattr(getattr(self.component, "signature", None), "members", None)
        if members is None:
            raise TypeError(f"accelerator must be a wiring.Component, not {self.component!r}")
        port = members.get(self.csr) if self.csr in members else None
        if (port is None or not port.is_signature or not port.flow == wiring.In
                or not isinstance(port.signature, WishboneSignature) or port.signature.data_width != 32
                or port.signature.granularity != 8 or port.signature.addr_width > 10):
            raise TypeError(f"accelerator {self.component!r}: {self.csr!r} must be a member In(hw.wishbone.Signature("
                            f"addr_width<=10, data_width=32, granularity=8)), got {port!r}")
        if self.dma is not None and (self.dma not in members or members[self.dma] != Out(initiator_bus())):
            raise TypeError(f"accelerator {self.component!r}: {self.dma!r} must be a member Out({initiator_bus()!r})"
                            f" (or pass dma=None), got {members.get(self.dma) if self.dma in members else None!r}")


class Soc(wiring.Component):
    """The whole system.

    Parameters
    ----------
    cpu : {"picorv32", "vexriscv"}
    compact_cpu : bool
        The small picorv32 configuration (see :class:`soc.cpu.PicoRV32`), for the iCE40UP5K.
    firmware : bytes
        Image loaded into RAM at address 0 (``b""`` leaves the RAM zeroed, e.g. for a simulator that loads it).
    ram_size : int
        RAM bytes, a power of two; the memory map's ``RAM_SIZE`` unless a small FPGA needs less (link the firmware
        with ``firmware.build(..., ram_size=...)`` then).
    uart_divisor : int or None
        ``None`` builds the simulation UART (``uart_stb``/``uart_data`` ports); an int builds the serial UART with
        that many clock cycles per bit (``uart_tx`` port).
    accelerators : sequence of Accelerator
        Engines to attach; engine ``k`` gets register window ``memory_map.accel_base(k)`` and its DMA port, if any,
        shares the RAM with the CPU through the round-robin arbiter.

    Attributes
    ----------
    exit_stb : Out(1), exit_code : Out(32)
        From the SIM peripheral.
    trap : Out(1)
        The CPU trapped.
    bus_error : Out(1)
        Pulses when any initiator accesses an unmapped address (the access is answered with ``err``).
    uart_stb, uart_data / uart_tx
        UART output (see ``uart_divisor``).
    """

    def __init__(self, cpu="picorv32", *, compact_cpu=False, firmware=b"", ram_size=memory_map.RAM_SIZE,
                 uart_divisor=None, accelerators=()):
        if isinstance(ram_size, bool) or not isinstance(ram_size, int) or not 4 <= ram_size <= memory_map.RAM_SIZE:
            raise ValueError(f"ram_size must be an int of at most memory_map.RAM_SIZE={memory_map.RAM_SIZE}, "
                             f"not {ram_size!r}")
        self.cpu = make_cpu(cpu, compact_cpu)
        self.ram = Ram(ram_size, firmware)
        self.accelerators = list(accelerators)
        for k, acc in enumerate(self.accelerators):
            if not isinstance(acc, Accelerator):
                raise TypeError(f"accelerators[{k}] must be a soc.soc.Accelerator(component, csr=..., dma=...), "
                                f"not {acc!r}")
        if len(self.accelerators) > memory_map.MAX_ACCELS:
            raise ValueError(f"at most {memory_map.MAX_ACCELS} accelerators fit the memory map, not "
                             f"{len(self.accelerators)}")
        if uart_divisor is None:
            self.uart = SimUart()
            uart_ports = {"uart_stb": Out(1), "uart_data": Out(8)}
        else:
            self.uart = SerialUart(uart_divisor)
            uart_ports = {"uart_tx": Out(1, init=1)}
        super().__init__({"exit_stb": Out(1), "exit_code": Out(32), "trap": Out(1), "bus_error": Out(1)}
                         | uart_ports)

    def verilog_files(self):
        """Extra Verilog sources (the CPU core) to add next to the generated SoC."""
        return self.cpu.verilog_files()

    def elaborate(self, platform):
        m = Module()
        m.submodules.cpu = self.cpu
        m.submodules.ram = self.ram
        m.submodules.sim = sim = SimControl()
        m.submodules.timer = timer = Timer()
        m.submodules.uart = self.uart
        for k, acc in enumerate(self.accelerators):
            m.submodules[f"accel{k}"] = acc.component

        initiators = list(self.cpu.buses) + [getattr(a.component, a.dma) for a in self.accelerators if a.dma]
        m.submodules.arbiter = arbiter = wishbone.Arbiter(initiator_bus(), len(initiators))
        for port, initiator in zip(arbiter.initiators, initiators):
            wiring.connect(m, initiator, port)

        windows = [(memory_map.RAM_BASE, self.ram.size), (memory_map.CSR_BASE, memory_map.CSR_SIZE)]
        windows += [(memory_map.accel_base(k), memory_map.ACCEL_WINDOW) for k in range(len(self.accelerators))]
        m.submodules.decoder = decoder = wishbone.Decoder(initiator_bus(), windows)
        wiring.connect(m, arbiter.bus, decoder.bus)
        wiring.connect(m, decoder.targets[0], self.ram.bus)

        csr_addr_bits = memory_map.CSR_SIZE.bit_length() - 3
        m.submodules.bridge = bridge = csr.WishboneBridge(csr_addr_bits)
        wiring.connect(m, decoder.targets[1], bridge.wb)
        m.submodules.csr_decoder = csr_decoder = csr.Decoder(
            csr_addr_bits, WINDOW, memory_map.CSR_SIZE // memory_map.WINDOW_BYTES)
        wiring.connect(m, bridge.csr, csr_decoder.bus)
        slots = {memory_map.SLOTS["SIM"]: sim, memory_map.SLOTS["TIMER"]: timer, memory_map.SLOTS["UART"]: self.uart}
        for slot, target in enumerate(csr_decoder.targets):
            if slot in slots:
                wiring.connect(m, target, slots[slot].csr)

        for acc, window in zip(self.accelerators, decoder.targets[2:]):
            _connect_target(m, window, getattr(acc.component, acc.csr))

        m.d.comb += [self.exit_stb.eq(sim.exit_stb), self.exit_code.eq(sim.exit_code), self.trap.eq(self.cpu.trap),
                     self.bus_error.eq(arbiter.bus.err)]
        if isinstance(self.uart, SimUart):
            m.d.comb += [self.uart_stb.eq(self.uart.tx_stb), self.uart_data.eq(self.uart.tx_data)]
        else:
            m.d.comb += self.uart_tx.eq(self.uart.tx)
        return m


def _connect_target(m, window, target):
    """Drive a Wishbone target that decodes ``len(target.adr)`` bits from a wider decoder window."""
    m.d.comb += [target.adr.eq(window.adr), target.dat_w.eq(window.dat_w), target.sel.eq(window.sel),
                 target.we.eq(window.we), target.cyc.eq(window.cyc), target.stb.eq(window.stb),
                 window.dat_r.eq(target.dat_r), window.ack.eq(target.ack)]
    if "err" in target.signature.members:
        m.d.comb += window.err.eq(target.err)
