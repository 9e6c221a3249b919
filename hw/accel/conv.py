"""Conv2D engine (and the dense engine, its 1 x 1 special case): channel-reduction on P Sum-Together MAC units."""

from amaranth import Module, Mux, Signal, signed

from .regs import EngineKind
from .shell import log2
from .stages import (AW, MacArrayEngine, RequantPacker, activation_banks, configure, control_fsm, dma_loader,
                     mac_array, weight_banks)

__all__ = ["Conv2dEngine"]


class Conv2dEngine(MacArrayEngine):
    """2-D convolution engine: ``(H, W, Cin)`` input, ``(KH, KW, Cin, Cout)`` kernel, stride, zero padding.

    Dataflow: **output-stationary, input-broadcast over output channels**. For each output pixel, output channels are
    processed in groups of P (channel ``co`` is MAC unit ``co % P``'s, in group ``co // P``). Every cycle one
    multiplier word (``lanes`` input channels of one tap, channels innermost as in ``hw.layout``) is broadcast to the
    P units, and each unit takes the matching word of its channel's weight row ``(cout, kh, kw)``: every cycle does
    ``P * lanes`` useful products, over ``KH * KW * ceil(Cin / lanes)`` cycles a group. Because the ST lanes reduce
    over input channels, they are fully used whenever ``Cin`` is a multiple of ``lanes`` (a ``Cin = 1`` first layer
    uses one lane in ``lanes``). Padded taps feed a zero activation word. Completed groups are copied to shadow
    registers and requantized (bias, :class:`~hw.accel.requant.Requantizer`) while the next group accumulates, in
    beats of ``E = min(requantizers, bus_width / o_bits)`` channels a cycle (:class:`~hw.accel.stages.RequantPacker`;
    one requantizer by default); a group's last word issues no earlier than ``P / E`` cycles after the previous
    group's, so a group of ``K = KH * KW * ceil(Cin / lanes)`` words takes ``max(K, P / E)`` cycles. Each output
    pixel's row is packed into the output buffer.

    Phases: check the configuration (error: no bus access at all), DMA biases, requantization words, the whole input
    and all weights into the buffers, compute, DMA the whole output out. Limits (else ``BUFFER_OVERFLOW``):
    ``H * W * ceil(Cin*bits/bus)`` bus words <= ``act_words``; ``ceil(Cout/P) * KH * KW * ceil(Cin*bits/bus)`` <=
    ``weight_words / P``; ``Cout <= out_channels``; the output <= ``out_words``. ``BAD_GEOMETRY`` unless
    ``pad_top < KH``, ``pad_left < KW`` and every window starts inside the padded input
    (``(OH-1)*SH < H + pad_top``, same for columns).

    Parameters and attributes: see :class:`~hw.accel.stages.MacArrayEngine` (``params``, ``mul_pipeline``,
    ``requantizers``; ports ``csr``, ``bus``, ``irq``).
    """

    KIND = EngineKind.CONV2D
    SPATIAL = True

    def elaborate(self, platform):
        p = self.params
        m = Module()
        sh = self.build_shell(m)
        cfg, dma = sh.cfg, sh.dma
        S = p.subwords
        geometry = H, W, KH, KW, SH, SW, OH, OW, PT, PL = self._geometry(cfg)

        # -- layer quantities and the configuration check -------------------------------------------------------------
        kc_c = Signal(17)              # multiplier words a channel row: ceil(Cin / lanes)
        rc_c = Signal(17)              # bus words a channel row
        m.d.comb += [kc_c.eq((cfg.cin + (1 << cfg.a_mode) - 1) >> cfg.a_mode), rc_c.eq((kc_c + S - 1) >> log2(S))]
        if self.SPATIAL:
            geometry_bad = ((PT >= KH) | (PL >= KW) | ((OH - 1) * SH >= H + PT) | ((OW - 1) * SW >= W + PL))
        else:
            geometry_bad = (cfg.pad_top != 0) | (cfg.pad_left != 0)
            for f in (cfg.in_h, cfg.in_w, cfg.kh, cfg.kw, cfg.stride_h, cfg.stride_w, cfg.out_h, cfg.out_w):
                geometry_bad = geometry_bad | (f != 1)
        lay = configure(m, self, sh, cfg.cout, geometry, rc_c, KH * KW * rc_c, geometry_bad)
        kc = Signal(17)
        row_stride = Signal(signed(AW))
        lay.latch += [kc.eq(kc_c), row_stride.eq(W * rc_c)]
        rc, taps_rc = lay.rc, lay.w_row

        # -- buffers, loader ------------------------------------------------------------------------------------------
        act_w, (act_r,) = activation_banks(m, p, 1, 1)
        bank_w, bank_r = weight_banks(m, p)

        # -- compute: issue -> buffer read -> multiply -> accumulate ---------------------------------------------------
        issue = Signal()
        c, kw, kh, g, ox, oy = (Signal(17, name=n) for n in ("c", "kw_i", "kh_i", "g", "ox", "oy"))
        x0, y0 = Signal(signed(18)), Signal(signed(18))           # window origin in input coordinates
        tap_addr, pix_addr, line_addr = (Signal(signed(AW), name=n) for n in ("tap_addr", "pix_addr", "line_addr"))
        w_tap, g_base = Signal(17), Signal(17)
        iy, ix = Signal(signed(19)), Signal(signed(19))
        pad = Signal()
        m.d.comb += [iy.eq(y0 + kh), ix.eq(x0 + kw), pad.eq((iy < 0) | (iy >= H) | (ix < 0) | (ix >= W))]
        m.d.comb += act_r[0].addr.eq(tap_addr + (c >> log2(S)))
        for port in bank_r:
            m.d.comb += port.addr.eq(g_base + w_tap + (c >> log2(S)))
        sub = Signal(range(S))
        m.d.comb += sub.eq(c[:log2(S)] if S > 1 else 0)
        last_c, last_kw, last_kh = c == kc - 1, kw == KW - 1, kh == KH - 1
        last_g, last_ox, last_oy = g == lay.groups - 1, ox == OW - 1, oy == OH - 1
        group_end = last_c & last_kw & last_kh
        pad_d = Signal()
        m.d.sync += pad_d.eq(pad)
        act_word = Signal(p.mul_width)

        def operand(j, subword):                                  # one activation word broadcast to the P units
            if j == 0:
                m.d.comb += act_word.eq(Mux(pad_d, 0, subword(act_r[0].data)))
            return act_word

        macs = mac_array(m, self, cfg, lay.mode, issue, (c == 0) & (kw == 0) & (kh == 0), group_end, last_g, sub,
                         operand, lambda j, subword: subword(bank_r[j].data))

        # -- requantization and packing, loader, control --------------------------------------------------------------
        rqp = RequantPacker(m, self, cfg, lay, macs, width=self.requantizers)
        target, restart = dma_loader(m, p, dma, lay, act_w, bank_w, rqp)
        stall = rqp.pace(m, issue, group_end)
        origin = -(PT * row_stride) - PL * rc
        begin = [c.eq(0), kw.eq(0), kh.eq(0), g.eq(0), ox.eq(0), oy.eq(0), w_tap.eq(0), g_base.eq(0), x0.eq(-PL),
                 y0.eq(-PT), tap_addr.eq(origin), pix_addr.eq(origin), line_addr.eq(origin)] + rqp.restart

        def compute():
            with m.State("ISSUE"):
                m.d.comb += [issue.eq(~stall), sh.computing.eq(1)]
                with m.If(~stall):                               # else the sequencer holds the previous group
                    self._advance(m, c, kw, kh, g, ox, oy, x0, y0, tap_addr, pix_addr, line_addr, w_tap, g_base,
                                  last_c, last_kw, last_kh, last_g, last_ox, last_oy, rc, taps_rc, lay.row_jump,
                                  lay.step_x, lay.step_y, SW, SH, PL)

        control_fsm(m, self, sh, lay, rqp, target, restart, begin, compute)
        return m

    @staticmethod
    def _advance(m, c, kw, kh, g, ox, oy, x0, y0, tap_addr, pix_addr, line_addr, w_tap, g_base, last_c, last_kw,
                 last_kh, last_g, last_ox, last_oy, rc, taps_rc, row_jump, step_x, step_y, SW, SH, PL):
        """Issue-counter step: channel word, then kernel column, kernel row, group, output column, output row."""
        with m.If(~last_c):
            m.d.sync += c.eq(c + 1)
        with m.Elif(~last_kw):
            m.d.sync += [c.eq(0), kw.eq(kw + 1), tap_addr.eq(tap_addr + rc), w_tap.eq(w_tap + rc)]
        with m.Elif(~last_kh):
            m.d.sync += [c.eq(0), kw.eq(0), kh.eq(kh + 1), tap_addr.eq(tap_addr + row_jump), w_tap.eq(w_tap + rc)]
        with m.Else():                                           # a group is complete
            m.d.sync += [c.eq(0), kw.eq(0), kh.eq(0), w_tap.eq(0)]
            with m.If(~last_g):
                m.d.sync += [g.eq(g + 1), g_base.eq(g_base + taps_rc), tap_addr.eq(pix_addr)]
            with m.Else():
                m.d.sync += [g.eq(0), g_base.eq(0)]
                with m.If(~last_ox):
                    m.d.sync += [ox.eq(ox + 1), x0.eq(x0 + SW), pix_addr.eq(pix_addr + step_x),
                                 tap_addr.eq(pix_addr + step_x)]
                with m.Elif(~last_oy):
                    m.d.sync += [ox.eq(0), x0.eq(-PL), oy.eq(oy + 1), y0.eq(y0 + SH),
                                 line_addr.eq(line_addr + step_y), pix_addr.eq(line_addr + step_y),
                                 tap_addr.eq(line_addr + step_y)]
                with m.Else():
                    m.next = "DRAIN"
