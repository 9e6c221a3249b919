"""Wishbone bus-master DMA: moves runs of consecutive bus words between system memory and an engine's buffers."""

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .. import wishbone
from .common import require_params

__all__ = ["WishboneDma", "LEN_BITS"]

LEN_BITS = 17


class WishboneDma(wiring.Component):
    """Classic-cycle Wishbone initiator that reads or writes ``length`` consecutive bus words.

    **Classic, not pipelined**: every transfer is one ``cyc``/``stb`` handshake held until ``ack`` or ``err``; one
    transfer is outstanding at a time, and the next read is presented in the cycle after ``ack`` (back-to-back classic
    cycles, ``cyc`` kept high); a write first spends one cycle fetching its word from the engine's buffer. With the
    memory model of ``hw.accel.sim`` (``ack`` one cycle after a new request, ``wait`` extra cycles) a run of ``n``
    words takes ``(2 + wait) * n`` cycles from the ``start`` pulse to the ``done`` pulse for reads and one more for
    writes; ``hw.perf`` uses these costs. A pipelined target accepts these cycles too (``stall`` is not used).

    Parameters
    ----------
    params : EngineParams
        ``bus_width`` is the data width, ``wb_addr_width`` the word-address width.

    Attributes
    ----------
    bus : Out(wishbone.Signature(addr_width=params.wb_addr_width, data_width=params.bus_width, granularity=8,
              features={"err"}))
        The master port. Writes set every ``sel`` bit.
    start : In(1)
        Pulse (while ``busy`` is 0) to begin a run with the ``write``, ``addr`` and ``length`` present in that cycle.
        Ignored while busy. ``length`` 0 finishes at once.
    write : In(1)
        0: memory to engine, 1: engine to memory.
    addr : In(wb_addr_width)
        First bus-word address.
    length : In(LEN_BITS)
        Number of bus words.
    busy : Out(1)
    done : Out(1)
        One-cycle pulse when the run ends (also after an error).
    error : Out(1)
        One-cycle pulse with ``done`` if the target answered ``err``; the run stops at that word.
    index : Out(LEN_BITS)
        Word index within the run: of ``rd_data`` while ``rd_valid``; of the word to supply on ``wr_data`` in writes.
    rd_valid : Out(1)
        ``rd_data`` holds word ``index`` (one cycle; the engine must take it).
    rd_data : Out(bus_width)
    wr_data : In(bus_width)
        Word ``index`` of a write run, valid one cycle after ``index`` changes (a synchronous buffer read port
        addressed by ``index`` satisfies this) and held while ``index`` is unchanged.
    """

    def __init__(self, params):
        self.params = p = require_params(self, params)
        super().__init__({
            "bus": Out(wishbone.Signature(addr_width=p.wb_addr_width, data_width=p.bus_width, granularity=8,
                                          features={"err"})),
            "start": In(1),
            "write": In(1),
            "addr": In(p.wb_addr_width),
            "length": In(LEN_BITS),
            "busy": Out(1),
            "done": Out(1),
            "error": Out(1),
            "index": Out(LEN_BITS),
            "rd_valid": Out(1),
            "rd_data": Out(p.bus_width),
            "wr_data": In(p.bus_width),
        })

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        addr = Signal.like(self.addr)
        left = Signal(LEN_BITS)
        write = Signal()
        m.d.comb += [bus.sel.eq(-1), bus.dat_w.eq(self.wr_data), self.rd_data.eq(bus.dat_r)]
        m.d.sync += [self.done.eq(0), self.error.eq(0)]
        finished = bus.ack & (left == 1)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [addr.eq(self.addr), left.eq(self.length), write.eq(self.write),
                                 self.index.eq(0)]
                    with m.If(self.length == 0):
                        m.d.sync += self.done.eq(1)
                    with m.Elif(self.write):
                        m.d.sync += self.busy.eq(1)
                        m.next = "FETCH"
                    with m.Else():
                        m.d.sync += self.busy.eq(1)
                        m.next = "BUS"
            with m.State("FETCH"):                           # wait for wr_data to follow index
                m.next = "BUS"
            with m.State("BUS"):
                m.d.comb += [bus.cyc.eq(1), bus.stb.eq(1), bus.adr.eq(addr), bus.we.eq(write),
                             self.rd_valid.eq(bus.ack & ~write)]
                with m.If(bus.err):
                    m.d.sync += [self.busy.eq(0), self.done.eq(1), self.error.eq(1)]
                    m.next = "IDLE"
                with m.Elif(bus.ack):
                    m.d.sync += [addr.eq(addr + 1), left.eq(left - 1), self.index.eq(self.index + 1)]
                    with m.If(finished):
                        m.d.sync += [self.busy.eq(0), self.done.eq(1)]
                        m.next = "IDLE"
                    with m.Elif(write):
                        m.next = "FETCH"
        return m
