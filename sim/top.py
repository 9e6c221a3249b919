"""The whole-net replay's simulated design: one engine whose DMA port is served by an on-chip memory model.

The top (:class:`EngineWithMemory`) is an engine from ``hw.tops`` whose Wishbone DMA port is served by an Amaranth
memory inside the simulated design (classic cycles, ``ack`` registered one cycle after the request, i.e. the timing
``hw.perf`` models), so the engine runs free on Verilator with no Python per bus cycle. The testbench driving it is
``cocotb_tests.sim_net``. This module holds only the design: the cocotb runner hashes it (with ``hw/``) to decide
when the cached Verilog must be emitted again, so testbench edits never cost an elaboration.
"""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["EngineWithMemory", "engine_with_memory", "MEM_WORDS"]

#: Default depth of the memory model in bus words (256 KiB at 32 bit): the largest layer image must fit below it.
MEM_WORDS = 1 << 16


class EngineWithMemory(wiring.Component):
    """An engine (a ``hw.tops`` top with ``csr``/``bus``/``irq`` ports) whose DMA port is served by a memory.

    Parameters
    ----------
    engine : wiring.Component
        The engine; its ``bus`` is a classic Wishbone initiator with ``err`` (``hw.accel.shell``).
    mem_words : int
        Memory depth in bus words (a power of two); bus addresses wrap modulo the depth.

    Attributes
    ----------
    csr : In(engine.csr signature)
        The engine's register port, passed through.
    irq : Out(1)
        The engine's interrupt (done or error).
    host_adr, host_dat_w, host_we : In
        Host port: write ``host_dat_w`` at ``host_adr`` in a cycle with ``host_we``.
    host_dat_r : Out(bus width)
        The word at the ``host_adr`` of the previous cycle.
    """

    def __init__(self, engine, mem_words=MEM_WORDS):
        if mem_words < 1 or mem_words & (mem_words - 1):
            raise ValueError(f"mem_words must be a power of two, not {mem_words!r}")
        self.engine, self.mem_words = engine, mem_words
        width = len(engine.bus.dat_w)
        super().__init__({
            "csr": engine.signature.members["csr"],
            "irq": Out(1),
            "host_adr": In(mem_words.bit_length() - 1),
            "host_dat_w": In(width),
            "host_we": In(1),
            "host_dat_r": Out(width),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = engine = self.engine
        bus = engine.bus
        width, gran = len(bus.dat_w), len(bus.dat_w) // len(bus.sel)
        m.submodules.mem = mem = Memory(shape=width, depth=self.mem_words, init=[])
        abits = self.mem_words.bit_length() - 1
        wr = mem.write_port(granularity=gran)
        rd, host_rd = mem.read_port(), mem.read_port()
        wiring.connect(m, wiring.flipped(self.csr), engine.csr)
        m.d.comb += self.irq.eq(engine.irq)

        request = bus.cyc & bus.stb & ~bus.ack
        m.d.comb += [rd.addr.eq(bus.adr[:abits]), bus.dat_r.eq(rd.data)]
        m.d.sync += bus.ack.eq(request)
        m.d.comb += [host_rd.addr.eq(self.host_adr), self.host_dat_r.eq(host_rd.data)]
        with m.If(self.host_we):
            m.d.comb += [wr.addr.eq(self.host_adr), wr.data.eq(self.host_dat_w), wr.en.eq(-1)]
        with m.Elif(request & bus.we):
            m.d.comb += [wr.addr.eq(bus.adr[:abits]), wr.data.eq(bus.dat_w), wr.en.eq(bus.sel)]
        return m


def engine_with_memory(engine_top, mem_words=MEM_WORDS, **params):
    """Factory for ``cocotb_tests.runner.run``: ``hw.tops.build(engine_top, **params)`` behind a memory."""
    from hw import tops
    return EngineWithMemory(tops.build(engine_top, **params), mem_words)
