"""RISC-V CPUs for the SoC, wrapped from the Verilog in the ``pythondata-cpu-*`` packages.

Each CPU is a :class:`wiring.Component` with one or more Wishbone initiator ports (``buses``) and a ``trap`` output,
and names the Verilog files a simulator or FPGA build must add (``verilog_files``). Both run RV32IM from reset
address 0.
"""

import os

from amaranth import Module, Instance, ResetSignal, ClockSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from . import wishbone

__all__ = ["CPUS", "PicoRV32", "VexRiscv", "make_cpu"]

BUS = wishbone.bus_signature(30)


class PicoRV32(wiring.Component):
    """picorv32 (``picorv32_wb``), RV32IM with the single-cycle multiplier and the divider enabled.

    Parameters
    ----------
    compact : bool
        For small FPGAs (iCE40UP5K): the sequential multiplier, a two-stage shifter and no cycle CSRs.

    Attributes
    ----------
    bus : Out(wishbone.bus_signature(30))
        The one instruction + data initiator.
    trap : Out(1)
        High once the core traps (illegal instruction, misaligned access, ``ebreak``); the core then stops.
    buses : list
        ``[bus]``.

    A Wishbone ``err`` is answered to the core as ``ack`` (picorv32 has no error input); the SoC reports it separately.
    """

    name = "picorv32"

    def __init__(self, compact=False):
        if not isinstance(compact, bool):
            raise TypeError(f"compact must be a bool, not {compact!r}")
        self.compact = compact
        super().__init__({"bus": Out(BUS), "trap": Out(1)})

    @property
    def buses(self):
        return [self.bus]

    @staticmethod
    def verilog_files():
        import pythondata_cpu_picorv32
        return [os.path.join(pythondata_cpu_picorv32.data_location, "picorv32.v")]

    def elaborate(self, platform):
        m = Module()
        adr = Signal(32)
        m.submodules.core = Instance(
            "picorv32_wb",
            p_ENABLE_MUL=int(self.compact), p_ENABLE_FAST_MUL=int(not self.compact), p_ENABLE_DIV=1,
            p_BARREL_SHIFTER=int(not self.compact), p_ENABLE_COUNTERS=int(not self.compact),
            p_COMPRESSED_ISA=0, p_ENABLE_IRQ=0, p_PROGADDR_RESET=0,
            i_wb_clk_i=ClockSignal(), i_wb_rst_i=ResetSignal(),
            o_wbm_adr_o=adr, o_wbm_dat_o=self.bus.dat_w, i_wbm_dat_i=self.bus.dat_r, o_wbm_we_o=self.bus.we,
            o_wbm_sel_o=self.bus.sel, o_wbm_stb_o=self.bus.stb, i_wbm_ack_i=self.bus.ack | self.bus.err,
            o_wbm_cyc_o=self.bus.cyc, o_trap=self.trap,
            i_pcpi_wr=0, i_pcpi_rd=0, i_pcpi_wait=0, i_pcpi_ready=0, i_irq=0,
        )
        m.d.comb += self.bus.adr.eq(adr[2:])
        return m


class VexRiscv(wiring.Component):
    """VexRiscv, the LiteX "standard" configuration (RV32IM, 4 KiB instruction and data caches).

    Attributes
    ----------
    ibus, dbus : Out(wishbone.bus_signature(30))
        Instruction and data initiators (cache refills are bursts of classic cycles).
    trap : Out(1)
        Always 0: VexRiscv handles traps in software (``mtvec``).
    buses : list
        ``[ibus, dbus]``.
    """

    name = "vexriscv"

    def __init__(self):
        super().__init__({"ibus": Out(BUS), "dbus": Out(BUS), "trap": Out(1)})

    @property
    def buses(self):
        return [self.ibus, self.dbus]

    @staticmethod
    def verilog_files():
        import pythondata_cpu_vexriscv
        return [os.path.join(pythondata_cpu_vexriscv.data_location, "VexRiscv.v")]

    def elaborate(self, platform):
        m = Module()
        ports = {}
        for prefix, bus in (("iBusWishbone", self.ibus), ("dBusWishbone", self.dbus)):
            ports |= {
                f"o_{prefix}_CYC": bus.cyc, f"o_{prefix}_STB": bus.stb, f"i_{prefix}_ACK": bus.ack,
                f"o_{prefix}_WE": bus.we, f"o_{prefix}_ADR": bus.adr, f"i_{prefix}_DAT_MISO": bus.dat_r,
                f"o_{prefix}_DAT_MOSI": bus.dat_w, f"o_{prefix}_SEL": bus.sel, f"i_{prefix}_ERR": bus.err,
                f"o_{prefix}_CTI": Signal(3, name=f"{prefix}_cti"), f"o_{prefix}_BTE": Signal(2, name=f"{prefix}_bte"),
            }
        m.submodules.core = Instance(
            "VexRiscv", i_clk=ClockSignal(), i_reset=ResetSignal(), i_externalResetVector=0,
            i_timerInterrupt=0, i_softwareInterrupt=0, i_externalInterruptArray=0, **ports)
        return m


CPUS = {"picorv32": PicoRV32, "vexriscv": VexRiscv}


def make_cpu(name, compact=False):
    """The CPU component called ``name`` (``compact``: the small picorv32 configuration); ``ValueError`` otherwise."""
    if name not in CPUS:
        raise ValueError(f"unknown CPU {name!r}; choose one of {', '.join(CPUS)} (CPU=... on the make command line)")
    if compact and name != "picorv32":
        raise ValueError(f"only picorv32 has a compact configuration, not {name!r}")
    return PicoRV32(compact=True) if compact else CPUS[name]()
