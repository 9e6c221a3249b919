"""What every engine shares: ports, CSR block, DMA master, configuration checks, status and cycle counters.

An engine subclasses :class:`EngineShell`, and in ``elaborate`` calls :meth:`EngineShell.build_shell` to get the CSR
configuration, the DMA master and a :class:`Shell` record, then drives ``shell.fail``/``shell.finish`` from its own
FSM. The shell owns ``STATUS``, ``CYCLES`` and ``COMPUTE_CYCLES``.
"""

from dataclasses import dataclass

from amaranth import Signal, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .. import wishbone
from .common import require_params
from .csr import CSR_ADDR_WIDTH, CsrBlock
from .dma import WishboneDma
from .regs import ErrorCode

__all__ = ["EngineShell", "Shell", "log2", "mode_cases"]


def log2(n):
    """Exact base-2 logarithm of a power of two."""
    assert n > 0 and n & (n - 1) == 0, n
    return n.bit_length() - 1


def mode_cases(m, mode, params):
    """Iterate ``(md, case)`` over the supported precision modes of a ``m.Switch(mode)``: use ``with case:``.

    Mode 0 comes last as the ``Default`` (so unsupported codes behave as the widest precision and the emitted case
    statement is complete); engines refuse unsupported codes before computing.
    """
    for md in sorted(params.modes, reverse=True):
        yield md, (m.Case(md) if md else m.Default())


@dataclass
class Shell:
    """Handles an engine's FSM uses: configuration fields, DMA, and the status strobes."""
    cfg: object           # CsrBlock.cfg view
    dma: WishboneDma
    start: Signal         # one-cycle start pulse (only while idle)
    fail: Signal          # drive 1 for one cycle with ``code`` to end the layer with an error
    code: Signal
    finish: Signal        # drive 1 for one cycle to end the layer successfully
    computing: Signal     # drive 1 while the compute phase runs (counted in COMPUTE_CYCLES)
    mode_ok: object       # function: mode value -> 1 if the precision mode is supported
    addr_error: Signal    # some address is misaligned or out of range


class EngineShell(wiring.Component):
    """Base class of the engines: the common ports.

    Attributes
    ----------
    csr : In(wishbone.Signature(addr_width=CSR_ADDR_WIDTH, data_width=32, granularity=8))
        Register access (target port); the map is ``hw.accel.regs``.
    bus : Out(wishbone.Signature(addr_width=params.wb_addr_width, data_width=params.bus_width, granularity=8,
              features={"err"}))
        DMA master port (classic cycles, see ``hw.accel.dma``).
    irq : Out(1)
        ``STATUS.done | STATUS.error`` (level; cleared by the next start).
    """

    KIND = None

    def __init__(self, params):
        self.params = p = require_params(self, params)
        super().__init__({
            "csr": In(wishbone.Signature(addr_width=CSR_ADDR_WIDTH, data_width=32, granularity=8)),
            "bus": Out(wishbone.Signature(addr_width=p.wb_addr_width, data_width=p.bus_width, granularity=8,
                                          features={"err"})),
            "irq": Out(1),
        })

    def build_shell(self, m):
        p = self.params
        m.submodules.csr = csr = CsrBlock({
            "kind": int(self.KIND), "macs": p.macs, "modes": sum(1 << md for md in p.modes),
            "bus_bytes": p.bus_bytes, "acc_bits": p.acc_bits,
        })
        m.submodules.dma = dma = WishboneDma(p)
        wiring.connect(m, wiring.flipped(self.csr), csr.bus)
        wiring.connect(m, dma.bus, wiring.flipped(self.bus))
        st = csr.status
        sh = Shell(cfg=csr.cfg, dma=dma, start=Signal(), fail=Signal(), code=Signal(4), finish=Signal(),
                   computing=Signal(), mode_ok=lambda mode: _mode_ok(p, mode), addr_error=Signal())
        m.d.comb += [sh.start.eq(csr.start & ~st.busy), self.irq.eq(st.done | st.error)]
        with m.If(sh.start):
            m.d.sync += [st.busy.eq(1), st.done.eq(0), st.error.eq(0), st.err_code.eq(0), st.cycles.eq(0),
                         st.compute_cycles.eq(0)]
        with m.Elif(st.busy):
            m.d.sync += st.cycles.eq(_saturating_inc(st.cycles))
            with m.If(sh.computing):
                m.d.sync += st.compute_cycles.eq(_saturating_inc(st.compute_cycles))
        with m.If(sh.fail):
            m.d.sync += [st.busy.eq(0), st.error.eq(1), st.err_code.eq(sh.code)]
        with m.Elif(sh.finish):
            m.d.sync += [st.busy.eq(0), st.done.eq(1)]
        low = log2(p.bus_bytes)
        cfg = csr.cfg
        bad = 0
        for addr in (cfg.addr_in, cfg.addr_w, cfg.addr_bias, cfg.addr_rq, cfg.addr_out):
            bad = bad | (addr[:low] != 0)
            if p.addr_width < 32:
                bad = bad | (addr[p.addr_width:] != 0)
        m.d.comb += sh.addr_error.eq(bad)
        return sh

    def common_error(self, m, sh, nonzero):
        """Error code of the checks every engine makes (0 if none): precision, zero dimension, addresses.

        ``nonzero`` lists the configuration fields that must not be 0 for this engine kind.
        """
        cfg = sh.cfg
        code = Signal(4)
        zero = 0
        for f in nonzero:
            zero = zero | (f == 0)
        with m.If(~(sh.mode_ok(cfg.a_mode) & sh.mode_ok(cfg.w_mode) & sh.mode_ok(cfg.o_mode))):
            m.d.comb += code.eq(ErrorCode.BAD_PRECISION)
        with m.Elif(cfg.a_mode != cfg.w_mode):
            m.d.comb += code.eq(ErrorCode.PRECISION_MISMATCH)
        with m.Elif(zero):
            m.d.comb += code.eq(ErrorCode.ZERO_DIM)
        with m.Elif(sh.addr_error):
            m.d.comb += code.eq(ErrorCode.MISALIGNED)
        return code

    def word_address(self, addr):
        """Wishbone word address of a byte address register."""
        return addr[log2(self.params.bus_bytes):self.params.addr_width]


def _mode_ok(params, mode):
    ok = 0
    for md in params.modes:
        ok = ok | (mode == md)
    return ok


def _saturating_inc(counter):
    return Mux(counter == (1 << len(counter)) - 1, counter, counter + 1)
