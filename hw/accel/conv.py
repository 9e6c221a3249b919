"""Conv2D engine (and the dense engine, its 1 x 1 special case): channel-reduction on P Sum-Together MAC units."""

from amaranth import Array, Module, Mux, Signal, signed
from amaranth.lib.memory import Memory

from ..arith import SumTogetherMultiplier
from .common import refuse
from .regs import EngineKind, ErrorCode
from .requant import Requantizer
from .shell import EngineShell, log2, mode_cases

__all__ = ["Conv2dEngine"]

_AW = 20                               # width of buffer address arithmetic (signed: padded taps go negative)


class Conv2dEngine(EngineShell):
    """2-D convolution engine: ``(H, W, Cin)`` input, ``(KH, KW, Cin, Cout)`` kernel, stride, zero padding.

    Dataflow: **output-stationary, input-broadcast over output channels**. For each output pixel, output channels are
    processed in groups of P (channel ``co`` is MAC unit ``co % P``'s, in group ``co // P``). Every cycle one
    multiplier word (``lanes`` input channels of one tap, channels innermost as in ``hw.layout``) is broadcast to the
    P units, and each unit takes the matching word of its channel's weight row ``(cout, kh, kw)``: every cycle does
    ``P * lanes`` useful products, over ``KH * KW * ceil(Cin / lanes)`` cycles a group. Because the ST lanes reduce
    over input channels, they are fully used whenever ``Cin`` is a multiple of ``lanes`` (a ``Cin = 1`` first layer
    uses one lane in ``lanes``). Padded taps feed a zero activation word. Completed groups are copied to shadow
    registers and requantized (bias, :class:`~hw.accel.requant.Requantizer`) while the next group accumulates; groups
    shorter than ``P + 2`` words wait for the requantizer. Each output pixel's row is packed into the output buffer.

    Phases: check the configuration (error: no bus access at all), DMA biases, requantization words, the whole input
    and all weights into the buffers, compute, DMA the whole output out. Limits (else ``BUFFER_OVERFLOW``):
    ``H * W * ceil(Cin*bits/bus)`` bus words <= ``act_words``; ``ceil(Cout/P) * KH * KW * ceil(Cin*bits/bus)`` <=
    ``weight_words / P``; ``Cout <= out_channels``; the output <= ``out_words``. ``BAD_GEOMETRY`` unless
    ``pad_top < KH``, ``pad_left < KW`` and every window starts inside the padded input
    (``(OH-1)*SH < H + pad_top``, same for columns).

    Parameters
    ----------
    params : EngineParams
    mul_pipeline : int
        Register stages inside each ST multiplier (0..2).

    Attributes
    ----------
    See :class:`~hw.accel.shell.EngineShell` (``csr``, ``bus``, ``irq``).
    """

    KIND = EngineKind.CONV2D
    SPATIAL = True

    def __init__(self, params, mul_pipeline=1):
        if mul_pipeline not in (0, 1, 2):
            raise refuse(self, ValueError(f"mul_pipeline must be 0, 1 or 2, not {mul_pipeline!r}"))
        self.mul_pipeline = mul_pipeline
        super().__init__(params)

    def _geometry(self, cfg):
        """``(H, W, KH, KW, SH, SW, OH, OW, pad_top, pad_left)``: configuration fields, or constants when 1 x 1."""
        if self.SPATIAL:
            return (cfg.in_h, cfg.in_w, cfg.kh, cfg.kw, cfg.stride_h, cfg.stride_w, cfg.out_h, cfg.out_w,
                    cfg.pad_top, cfg.pad_left)
        return (1,) * 8 + (0, 0)

    def elaborate(self, platform):
        p = self.params
        m = Module()
        sh = self.build_shell(m)
        cfg, dma = sh.cfg, sh.dma
        P, S = p.macs, p.subwords
        b32 = p.bus_width // 32                                  # 32-bit values (bias, requant words) a bus word
        bank_depth = p.weight_words // P
        H, W, KH, KW, SH, SW, OH, OW, PT, PL = self._geometry(cfg)
        n_out = cfg.cout

        # -- buffers ---------------------------------------------------------------------------------------------------
        m.submodules.act = act = Memory(shape=p.bus_width, depth=p.act_words, init=[])
        m.submodules.bias = bias = Memory(shape=p.bus_width, depth=max(1, p.out_channels // b32), init=[])
        m.submodules.rq = rq = Memory(shape=p.bus_width, depth=max(1, p.out_channels // b32), init=[])
        m.submodules.out = outm = Memory(shape=p.bus_width, depth=p.out_words, init=[])
        banks = []
        for j in range(P):
            m.submodules[f"wbank{j}"] = bank = Memory(shape=p.bus_width, depth=bank_depth, init=[])
            banks.append(bank)
        act_w, bias_w, rq_w, out_w = act.write_port(), bias.write_port(), rq.write_port(), outm.write_port()
        act_r, bias_r, rq_r, out_r = act.read_port(), bias.read_port(), rq.read_port(), outm.read_port()
        bank_w = [b.write_port() for b in banks]
        bank_r = [b.read_port() for b in banks]

        # -- derived layer quantities (combinational from the registers; latched in CHECK where used later) ----------
        kc_c = Signal(17)              # multiplier words a channel row: ceil(Cin / lanes)
        rc_c = Signal(17)              # bus words a channel row
        ro_c = Signal(17)              # bus words an output pixel row
        m.d.comb += [kc_c.eq((cfg.cin + (1 << cfg.a_mode) - 1) >> cfg.a_mode), rc_c.eq((kc_c + S - 1) >> log2(S))]
        with m.Switch(cfg.o_mode):
            for md, case in mode_cases(m, cfg.o_mode, p):
                epw = p.bus_width // (p.mul_width >> md)         # output elements a bus word
                with case:
                    m.d.comb += ro_c.eq((n_out + epw - 1) >> log2(epw))
        groups_c = (n_out + P - 1) >> log2(P)
        taps_rc_c = KH * KW * rc_c                               # weight row (one output channel), bus words
        in_words_c = H * W * rc_c
        npix_c = OH * OW
        bias_words = Signal(17)
        m.d.comb += bias_words.eq((n_out + b32 - 1) >> log2(b32))

        # -- configuration check ---------------------------------------------------------------------------------------
        code = self.common_error(m, sh, [cfg.cin, cfg.cout, cfg.in_h, cfg.in_w, cfg.kh, cfg.kw, cfg.stride_h,
                                         cfg.stride_w, cfg.out_h, cfg.out_w])
        if self.SPATIAL:
            geometry_bad = ((PT >= KH) | (PL >= KW) | ((OH - 1) * SH >= H + PT) | ((OW - 1) * SW >= W + PL))
        else:
            geometry_bad = (cfg.pad_top != 0) | (cfg.pad_left != 0)
            for f in (cfg.in_h, cfg.in_w, cfg.kh, cfg.kw, cfg.stride_h, cfg.stride_w, cfg.out_h, cfg.out_w):
                geometry_bad = geometry_bad | (f != 1)
        overflow = ((in_words_c > p.act_words) | (groups_c * taps_rc_c > bank_depth) | (n_out > p.out_channels)
                    | (npix_c * ro_c > p.out_words))
        err = Signal(4)
        with m.If(code != 0):
            m.d.comb += err.eq(code)
        with m.Elif(geometry_bad):
            m.d.comb += err.eq(ErrorCode.BAD_GEOMETRY)
        with m.Elif(overflow):
            m.d.comb += err.eq(ErrorCode.BUFFER_OVERFLOW)

        # latched quantities
        mode = Signal(2)
        kc, rc, ro, groups = Signal(17), Signal(17), Signal(17), Signal(17)
        taps_rc, in_words, npix = Signal(17), Signal(17), Signal(17)
        k_group = Signal(17)           # multiplier words a group: KH * KW * kc
        row_stride, row_jump = Signal(signed(_AW)), Signal(signed(_AW))
        step_x, step_y = Signal(signed(_AW)), Signal(signed(_AW))
        latch = [mode.eq(cfg.a_mode), kc.eq(kc_c), rc.eq(rc_c), ro.eq(ro_c), groups.eq(groups_c),
                 taps_rc.eq(taps_rc_c), in_words.eq(in_words_c), npix.eq(npix_c), k_group.eq(KH * KW * kc_c),
                 row_stride.eq(W * rc_c), row_jump.eq(W * rc_c - (KW - 1) * rc_c), step_x.eq(SW * rc_c),
                 step_y.eq(SH * W * rc_c)]

        # -- DMA loader: bus words to buffers -------------------------------------------------------------------------
        load_r = Signal(17)            # weight load: bus word within the row
        load_j = Signal(range(P))      # weight load: bank (output channel % P)
        load_base = Signal(17)         # weight load: group * row
        target = Signal(range(5))      # 0 bias, 1 rq, 2 act, 3 weights, 4 none
        for port in (act_w, bias_w, rq_w):
            m.d.comb += [port.addr.eq(dma.index), port.data.eq(dma.rd_data)]
        m.d.comb += [bias_w.en.eq(dma.rd_valid & (target == 0)), rq_w.en.eq(dma.rd_valid & (target == 1)),
                     act_w.en.eq(dma.rd_valid & (target == 2))]
        for j, port in enumerate(bank_w):
            m.d.comb += [port.addr.eq(load_base + load_r), port.data.eq(dma.rd_data),
                         port.en.eq(dma.rd_valid & (target == 3) & (load_j == j))]
        with m.If(dma.rd_valid & (target == 3)):
            with m.If(load_r == taps_rc - 1):
                m.d.sync += [load_r.eq(0), load_j.eq(load_j + 1)]
                with m.If(load_j == P - 1):
                    m.d.sync += load_base.eq(load_base + taps_rc)
            with m.Else():
                m.d.sync += load_r.eq(load_r + 1)

        def dma_run(addr_field, length, write=0):
            m.d.comb += [dma.start.eq(1), dma.addr.eq(self.word_address(addr_field)), dma.length.eq(length),
                         dma.write.eq(write)]

        # -- compute: issue -> buffer read -> multiply -> accumulate ---------------------------------------------------
        issue = Signal()
        c, kw, kh, g, ox, oy = (Signal(17, name=n) for n in ("c", "kw_i", "kh_i", "g", "ox", "oy"))
        x0, y0 = Signal(signed(18)), Signal(signed(18))           # window origin in input coordinates
        tap_addr, pix_addr, line_addr = (Signal(signed(_AW), name=n) for n in ("tap_addr", "pix_addr", "line_addr"))
        w_tap, g_base = Signal(17), Signal(17)
        iy, ix = Signal(signed(19)), Signal(signed(19))
        pad = Signal()
        m.d.comb += [iy.eq(y0 + kh), ix.eq(x0 + kw), pad.eq((iy < 0) | (iy >= H) | (ix < 0) | (ix >= W))]
        m.d.comb += act_r.addr.eq(tap_addr + (c >> log2(S)))
        for port in bank_r:
            m.d.comb += port.addr.eq(g_base + w_tap + (c >> log2(S)))
        sub = Signal(range(S))
        m.d.comb += sub.eq(c[:log2(S)] if S > 1 else 0)
        last_c, last_kw, last_kh = c == kc - 1, kw == KW - 1, kh == KH - 1
        last_g, last_ox, last_oy = g == groups - 1, ox == OW - 1, oy == OH - 1
        group_end = last_c & last_kw & last_kh

        lat = 1 + self.mul_pipeline                              # issue to product
        names = ("valid", "first", "last", "lastg")
        flags = [tuple(Signal(name=f"{n}_d{i}") for n in names) for i in range(lat + 1)]
        m.d.comb += [flags[0][0].eq(issue), flags[0][1].eq(issue & (c == 0) & (kw == 0) & (kh == 0)),
                     flags[0][2].eq(issue & group_end), flags[0][3].eq(issue & group_end & last_g)]
        for i in range(lat):
            m.d.sync += [a.eq(b) for a, b in zip(flags[i + 1], flags[i])]
        valid_p, first_p, last_p, lastg_p = flags[lat]
        in_flight = Signal()
        m.d.comb += in_flight.eq(sum(f[0] for f in flags[1:]) != 0)
        sub_d, pad_d = Signal.like(sub), Signal()
        m.d.sync += [sub_d.eq(sub), pad_d.eq(pad)]

        def subword(word):
            return Array(word[i * p.mul_width:(i + 1) * p.mul_width] for i in range(S))[sub_d]

        accs = [Signal(signed(p.acc_bits), name=f"acc{j}") for j in range(P)]
        shadow = Array(Signal(signed(p.acc_bits), name=f"shadow{j}") for j in range(P))
        act_word = Signal(p.mul_width)
        m.d.comb += act_word.eq(Mux(pad_d, 0, subword(act_r.data)))
        for j in range(P):
            mul = SumTogetherMultiplier(p.mul_width, p.lanes, self.mul_pipeline)
            m.submodules[f"mul{j}"] = mul
            m.d.comb += [mul.a.eq(act_word), mul.w.eq(subword(bank_r[j].data)), mul.mode.eq(mode),
                         mul.a_signed.eq(cfg.a_signed), mul.w_signed.eq(cfg.w_signed)]
            nxt = Signal(signed(p.acc_bits), name=f"acc_next{j}")
            m.d.comb += nxt.eq(Mux(first_p, mul.p, accs[j] + mul.p))
            with m.If(valid_p):
                m.d.sync += accs[j].eq(nxt)
                with m.If(last_p):
                    m.d.sync += shadow[j].eq(nxt)

        # -- requantization sequencer: shadow[j] + bias[o] -> Requantizer -> packer ------------------------------------
        m.submodules.requant = rqu = Requantizer(p)
        seq_busy = Signal()
        seq_j = Signal(range(P + 1))
        seq_o = Signal(16)             # output channel of seq_j
        next_base = Signal(17)         # first output channel of the next group to complete
        s1_valid, s1_j, s1_o = Signal(), Signal(range(P)), Signal(16)
        m.d.comb += [bias_r.addr.eq(seq_o >> log2(b32)), rq_r.addr.eq(seq_o >> log2(b32))]
        with m.If(valid_p & last_p):
            m.d.sync += [seq_busy.eq(1), seq_j.eq(0), seq_o.eq(next_base),
                         next_base.eq(Mux(lastg_p, 0, next_base + P))]
        with m.Elif(seq_busy):
            with m.If((seq_j == P - 1) | (seq_o + 1 >= n_out)):
                m.d.sync += seq_busy.eq(0)
            m.d.sync += [seq_j.eq(seq_j + 1), seq_o.eq(seq_o + 1)]
        m.d.sync += [s1_valid.eq(seq_busy), s1_j.eq(seq_j), s1_o.eq(seq_o)]

        def slice32(word, o):
            if b32 == 1:
                return word[:32]
            return Array(word[i * 32:(i + 1) * 32] for i in range(b32))[o[:log2(b32)]]

        bias_v, rq_v = slice32(bias_r.data, s1_o), slice32(rq_r.data, s1_o)
        m.d.comb += [
            rqu.valid.eq(s1_valid),
            rqu.acc.eq(shadow[s1_j] + bias_v.as_signed()),
            rqu.multiplier.eq(rq_v[:p.requant_mul_bits]),
            rqu.shift.eq(rq_v[16:16 + p.requant_shift_bits]),
            rqu.mode.eq(cfg.o_mode), rqu.out_signed.eq(cfg.o_signed), rqu.relu.eq(cfg.relu),
        ]

        # -- packer: requantized values into output pixel rows ---------------------------------------------------------
        pk_o = Signal(17)              # output channel of the next value
        pk_pix = Signal(17)            # its pixel
        pk_base = Signal(17)           # output buffer address of that pixel's row
        pk_word = Signal(p.bus_width)
        packed_all = Signal()
        word_next = Signal(p.bus_width)
        full = Signal()
        m.d.comb += out_w.data.eq(word_next)
        with m.Switch(cfg.o_mode):
            for md, case in mode_cases(m, cfg.o_mode, p):
                ob = p.mul_width >> md
                epw = p.bus_width // ob
                with case:
                    pos = pk_o[:log2(epw)]
                    m.d.comb += [word_next.eq(pk_word | (rqu.out[:ob] << (pos * ob))), full.eq(pos == epw - 1),
                                 out_w.addr.eq(pk_base + (pk_o >> log2(epw)))]
        with m.If(rqu.out_valid):
            row_end = pk_o == n_out - 1
            m.d.comb += out_w.en.eq(full | row_end)
            m.d.sync += [pk_o.eq(pk_o + 1), pk_word.eq(word_next)]
            with m.If(full | row_end):
                m.d.sync += pk_word.eq(0)
            with m.If(row_end):
                m.d.sync += [pk_o.eq(0), pk_pix.eq(pk_pix + 1), pk_base.eq(pk_base + ro)]
                with m.If(pk_pix == npix - 1):
                    m.d.sync += packed_all.eq(1)
        m.d.comb += [out_r.addr.eq(dma.index), dma.wr_data.eq(out_r.data)]

        # -- control FSM -----------------------------------------------------------------------------------------------
        back_to_back = Signal()
        m.d.comb += back_to_back.eq(k_group >= P + 2)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(sh.start):
                    m.next = "CHECK"
            with m.State("CHECK"):
                with m.If(err != 0):
                    m.d.comb += [sh.fail.eq(1), sh.code.eq(err)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += latch + [target.eq(0)]
                    dma_run(cfg.addr_bias, bias_words)
                    m.next = "LOAD_BIAS"
            for state, nxt_state, tgt, addr, length in (
                    ("LOAD_BIAS", "LOAD_RQ", 1, cfg.addr_rq, bias_words),
                    ("LOAD_RQ", "LOAD_IN", 2, cfg.addr_in, in_words),
                    ("LOAD_IN", "LOAD_W", 3, cfg.addr_w, (n_out * taps_rc)[:17])):
                with m.State(state):
                    with m.If(dma.done):
                        with m.If(dma.error):
                            m.d.comb += [sh.fail.eq(1), sh.code.eq(ErrorCode.BUS_ERROR)]
                            m.next = "IDLE"
                        with m.Else():
                            m.d.sync += [target.eq(tgt), load_r.eq(0), load_j.eq(0), load_base.eq(0)]
                            dma_run(addr, length)
                            m.next = nxt_state
            with m.State("LOAD_W"):
                with m.If(dma.done):
                    m.d.sync += target.eq(4)
                    with m.If(dma.error):
                        m.d.comb += [sh.fail.eq(1), sh.code.eq(ErrorCode.BUS_ERROR)]
                        m.next = "IDLE"
                    with m.Else():
                        origin = -(PT * row_stride) - PL * rc
                        m.d.sync += [c.eq(0), kw.eq(0), kh.eq(0), g.eq(0), ox.eq(0), oy.eq(0), w_tap.eq(0),
                                     g_base.eq(0), x0.eq(-PL), y0.eq(-PT), tap_addr.eq(origin), pix_addr.eq(origin),
                                     line_addr.eq(origin), next_base.eq(0), pk_o.eq(0), pk_pix.eq(0),
                                     pk_base.eq(0), pk_word.eq(0), packed_all.eq(0)]
                        m.next = "ISSUE"
            with m.State("ISSUE"):
                m.d.comb += [issue.eq(1), sh.computing.eq(1)]
                self._advance(m, c, kw, kh, g, ox, oy, x0, y0, tap_addr, pix_addr, line_addr, w_tap, g_base,
                              last_c, last_kw, last_kh, last_g, last_ox, last_oy, rc, taps_rc, row_jump, step_x,
                              step_y, SW, SH, PL, back_to_back)
            with m.State("WAIT_SEQ"):                            # short groups: let the shadow registers drain
                m.d.comb += sh.computing.eq(1)
                with m.If(~in_flight & ~seq_busy & ~s1_valid):
                    m.next = "ISSUE"
            with m.State("DRAIN"):
                m.d.comb += sh.computing.eq(1)
                with m.If(packed_all):
                    dma_run(cfg.addr_out, (npix * ro)[:17], write=1)
                    m.next = "STORE"
            with m.State("STORE"):
                with m.If(dma.done):
                    with m.If(dma.error):
                        m.d.comb += [sh.fail.eq(1), sh.code.eq(ErrorCode.BUS_ERROR)]
                    with m.Else():
                        m.d.comb += sh.finish.eq(1)
                    m.next = "IDLE"
        return m

    @staticmethod
    def _advance(m, c, kw, kh, g, ox, oy, x0, y0, tap_addr, pix_addr, line_addr, w_tap, g_base, last_c, last_kw,
                 last_kh, last_g, last_ox, last_oy, rc, taps_rc, row_jump, step_x, step_y, SW, SH, PL, back_to_back):
        """Issue-counter step: channel word, then kernel column, kernel row, group, output column, output row."""
        with m.If(~last_c):
            m.d.sync += c.eq(c + 1)
        with m.Elif(~last_kw):
            m.d.sync += [c.eq(0), kw.eq(kw + 1), tap_addr.eq(tap_addr + rc), w_tap.eq(w_tap + rc)]
        with m.Elif(~last_kh):
            m.d.sync += [c.eq(0), kw.eq(0), kh.eq(kh + 1), tap_addr.eq(tap_addr + row_jump), w_tap.eq(w_tap + rc)]
        with m.Else():                                           # a group is complete
            m.d.sync += [c.eq(0), kw.eq(0), kh.eq(0), w_tap.eq(0)]
            with m.If(~back_to_back):
                m.next = "WAIT_SEQ"
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
