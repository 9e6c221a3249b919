"""Depthwise Conv2D engine (depth multiplier 1): tap-reduction on P Sum-Together MAC units with a lane gather."""

from amaranth import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib.memory import Memory

from ..arith import SumTogetherMultiplier
from .common import refuse
from .regs import EngineKind, ErrorCode
from .requant import Requantizer
from .shell import EngineShell, log2, mode_cases

__all__ = ["DepthwiseConv2dEngine"]

_AW = 20                               # width of buffer address arithmetic (signed: padded taps go negative)


class DepthwiseConv2dEngine(EngineShell):
    """Depthwise 2-D convolution engine: ``(H, W, C)`` input, ``(KH, KW, C, 1)`` kernel, stride, zero padding.

    Dataflow: **output-stationary, one channel per MAC unit, kernel taps along the ST lanes**. The Sum-Together
    product adds its lanes, so a multiplier word must hold several taps of the *same* channel. For each output pixel
    the channels are processed in groups of P (channel ``c`` is MAC unit ``c % P``'s, in group ``c // P``); lane ``l``
    of multiplier word ``k`` is tap ``t = k * lanes + l`` (taps row-major, ``(kh, kw) = divmod(t, KW)``), exactly the
    packing of the depthwise weight rows in ``hw.layout`` (one row of ``KH*KW`` taps per channel), so weight words are
    read straight from bank ``c % P`` as in the Conv2D engine. Activations stay in memory layout (channels innermost);
    the **gather** happens on the read side: lane ``l`` has its own read port on the activation buffer, addressed
    at the pixel of its tap, and the P channels of the group (``P * bits`` consecutive bits of that pixel row) are
    split among the units. The activation buffer is banked by bus-word address modulo
    ``n = max(1, P * mul_width / bus_width)`` so that a group's ``P`` elements are one read even when they span
    several bus words. Tap positions of the lanes are a chain of incrementers (next tap: column + 1, or next kernel
    row), padded taps and taps past ``KH*KW`` feed a zero lane.

    One group takes ``K = ceil(KH*KW / lanes)`` cycles: ``P * KH*KW`` useful products out of ``P * lanes * K``
    lane slots (3 x 3: 100 % at 16 bit, 90 % at 8 bit, 75 % at 4 bit). Completed groups go to shadow registers and
    are requantized (one per cycle) while the next group accumulates; a group's last word issues no earlier than P
    cycles after the previous group's, so a group takes ``max(K, P)`` cycles (the requantizer bounds groups shorter
    than P words: 3 x 3 at 4 bit with P = 4 runs 4 cycles a group, 56 %; see ``hw.perf.depthwise_conv2d_cycles``).

    Phases (latency): check the configuration (error: no bus access at all), DMA biases, requantization words, the
    whole input and all weights into the buffers (``2 + wait`` cycles a bus word), compute (``OH * OW * ceil(C/P)``
    groups of ``max(K, P)`` cycles, plus the pipeline drain), DMA the whole output out. Configuration:
    ``cin`` = ``cout`` = C (else ``BAD_GEOMETRY``), geometry fields as for Conv2D. Limits (else ``BUFFER_OVERFLOW``):
    ``H * W * ceil(C*bits/bus)`` bus words <= ``act_words``; ``ceil(C/P) * ceil(KH*KW*bits/bus)`` <=
    ``weight_words / P``; ``C <= out_channels``; the output <= ``out_words``. ``BAD_GEOMETRY`` unless
    ``pad_top < KH``, ``pad_left < KW`` and every window starts inside the padded input.

    Parameters
    ----------
    params : EngineParams
    mul_pipeline : int
        Register stages inside each ST multiplier (0..2).

    Attributes
    ----------
    See :class:`~hw.accel.shell.EngineShell` (``csr``, ``bus``, ``irq``).
    """

    KIND = EngineKind.DEPTHWISE

    def __init__(self, params, mul_pipeline=1):
        if mul_pipeline not in (0, 1, 2):
            raise refuse(self, ValueError(f"mul_pipeline must be 0, 1 or 2, not {mul_pipeline!r}"))
        self.mul_pipeline = mul_pipeline
        super().__init__(params)

    def elaborate(self, platform):
        p = self.params
        m = Module()
        sh = self.build_shell(m)
        cfg, dma = sh.cfg, sh.dma
        P, S, B = p.macs, p.subwords, p.bus_width
        LMAX = max(p.lanes)
        b32 = B // 32
        nb = max(1, P * p.mul_width // B)                       # activation banks
        bank_depth = p.weight_words // P
        H, W, KH, KW, SH, SW, OH, OW, PT, PL = (cfg.in_h, cfg.in_w, cfg.kh, cfg.kw, cfg.stride_h, cfg.stride_w,
                                                cfg.out_h, cfg.out_w, cfg.pad_top, cfg.pad_left)
        n_out = cfg.cin

        # -- buffers ---------------------------------------------------------------------------------------------------
        abanks = []
        for i in range(nb):
            m.submodules[f"act{i}"] = mem = Memory(shape=B, depth=max(1, p.act_words // nb), init=[])
            abanks.append(mem)
        m.submodules.bias = bias = Memory(shape=B, depth=max(1, p.out_channels // b32), init=[])
        m.submodules.rq = rq = Memory(shape=B, depth=max(1, p.out_channels // b32), init=[])
        m.submodules.out = outm = Memory(shape=B, depth=p.out_words, init=[])
        banks = []
        for j in range(P):
            m.submodules[f"wbank{j}"] = bank = Memory(shape=B, depth=bank_depth, init=[])
            banks.append(bank)
        act_w = [a.write_port() for a in abanks]
        act_r = [[a.read_port() for a in abanks] for _ in range(LMAX)]          # [lane][bank]
        bias_w, rq_w, out_w = bias.write_port(), rq.write_port(), outm.write_port()
        bias_r, rq_r, out_r = bias.read_port(), rq.read_port(), outm.read_port()
        bank_w = [b.write_port() for b in banks]
        bank_r = [b.read_port() for b in banks]

        # -- derived layer quantities ----------------------------------------------------------------------------------
        taps_c = Signal(17)
        k_c = Signal(17)               # multiplier words a weight row: ceil(KH*KW / lanes)
        rc_c = Signal(17)              # bus words an input pixel row
        rw_c = Signal(17)              # bus words a weight row
        ro_c = Signal(17)              # bus words an output pixel row
        kc_in = Signal(17)
        m.d.comb += [taps_c.eq(KH * KW), k_c.eq((taps_c + (1 << cfg.a_mode) - 1) >> cfg.a_mode),
                     kc_in.eq((n_out + (1 << cfg.a_mode) - 1) >> cfg.a_mode),
                     rc_c.eq((kc_in + S - 1) >> log2(S)), rw_c.eq((k_c + S - 1) >> log2(S))]
        with m.Switch(cfg.o_mode):
            for md, case in mode_cases(m, cfg.o_mode, p):
                epw = B // (p.mul_width >> md)
                with case:
                    m.d.comb += ro_c.eq((n_out + epw - 1) >> log2(epw))
        groups_c = (n_out + P - 1) >> log2(P)
        in_words_c = H * W * rc_c
        npix_c = OH * OW
        bias_words = Signal(17)
        m.d.comb += bias_words.eq((n_out + b32 - 1) >> log2(b32))

        # -- configuration check ---------------------------------------------------------------------------------------
        code = self.common_error(m, sh, [cfg.cin, cfg.cout, cfg.in_h, cfg.in_w, cfg.kh, cfg.kw, cfg.stride_h,
                                         cfg.stride_w, cfg.out_h, cfg.out_w])
        geometry_bad = ((cfg.cout != cfg.cin) | (PT >= KH) | (PL >= KW) | ((OH - 1) * SH >= H + PT)
                        | ((OW - 1) * SW >= W + PL))
        overflow = ((in_words_c > p.act_words) | (groups_c * rw_c > bank_depth) | (n_out > p.out_channels)
                    | (npix_c * ro_c > p.out_words))
        err = Signal(4)
        with m.If(code != 0):
            m.d.comb += err.eq(code)
        with m.Elif(geometry_bad):
            m.d.comb += err.eq(ErrorCode.BAD_GEOMETRY)
        with m.Elif(overflow):
            m.d.comb += err.eq(ErrorCode.BUFFER_OVERFLOW)

        mode = Signal(2)
        kk, rc, rw, ro, groups, in_words, npix = (Signal(17, name=n) for n in
                                                  ("kk", "rc", "rw", "ro", "groups", "in_words", "npix"))
        row_jump, step_x, step_y = Signal(signed(_AW)), Signal(signed(_AW)), Signal(signed(_AW))
        latch = [mode.eq(cfg.a_mode), kk.eq(k_c), rc.eq(rc_c), rw.eq(rw_c), ro.eq(ro_c), groups.eq(groups_c),
                 in_words.eq(in_words_c), npix.eq(npix_c), row_jump.eq(W * rc_c - (KW - 1) * rc_c),
                 step_x.eq(SW * rc_c), step_y.eq(SH * W * rc_c)]

        # -- DMA loader ------------------------------------------------------------------------------------------------
        load_r = Signal(17)
        load_j = Signal(range(max(P, 2)))  # weight load: bank (channel % P); unused when P == 1
        load_base = Signal(17)
        target = Signal(range(5))      # 0 bias, 1 rq, 2 act, 3 weights, 4 none
        for port in (bias_w, rq_w):
            m.d.comb += [port.addr.eq(dma.index), port.data.eq(dma.rd_data)]
        for i, port in enumerate(act_w):
            m.d.comb += [port.addr.eq(dma.index >> log2(nb)), port.data.eq(dma.rd_data),
                         port.en.eq(dma.rd_valid & (target == 2) & ((dma.index % nb) == i))]
        m.d.comb += [bias_w.en.eq(dma.rd_valid & (target == 0)), rq_w.en.eq(dma.rd_valid & (target == 1))]
        for j, port in enumerate(bank_w):
            m.d.comb += [port.addr.eq(load_base + load_r), port.data.eq(dma.rd_data),
                         port.en.eq(dma.rd_valid & (target == 3) & ((load_j == j) if P > 1 else 1))]
        with m.If(dma.rd_valid & (target == 3)):
            with m.If(load_r == rw - 1):
                m.d.sync += [load_r.eq(0), load_j.eq(Mux(load_j == P - 1, 0, load_j + 1))]
                with m.If(load_j == P - 1):
                    m.d.sync += load_base.eq(load_base + rw)
            with m.Else():
                m.d.sync += load_r.eq(load_r + 1)

        def dma_run(addr_field, length, write=0):
            m.d.comb += [dma.start.eq(1), dma.addr.eq(self.word_address(addr_field)), dma.length.eq(length),
                         dma.write.eq(write)]

        # -- compute: lane tap chain -> gathered buffer reads -> multiply -> accumulate --------------------------------
        issue = Signal()
        k, g, ox, oy = (Signal(17, name=n) for n in ("k", "g", "ox", "oy"))
        c0 = Signal(17)                # first channel of the group: g * P
        x0, y0 = Signal(signed(18)), Signal(signed(18))
        kh0, kw0 = Signal(17), Signal(17)                       # lane 0's tap
        addr0 = Signal(signed(_AW))                             # pixel row address of lane 0's tap
        pix_addr, line_addr = Signal(signed(_AW)), Signal(signed(_AW))
        g_base = Signal(17)

        def adv(tap):
            khv, kwv, av = tap
            wrap = kwv == KW - 1
            return (Mux(wrap, khv + 1, khv)[:17], Mux(wrap, 0, kwv + 1)[:17],
                    Mux(wrap, av + row_jump, av + rc)[:_AW].as_signed())

        chain = [(kh0, kw0, addr0)]
        for l in range(1, LMAX):
            chain.append(tuple(Signal.like(s, name=f"{n}{l}") for s, n in zip(chain[0], ("kh", "kw", "taddr"))))
            m.d.comb += [a.eq(b) for a, b in zip(chain[l], adv(chain[l - 1]))]
        nxt0 = [Signal.like(s, name=f"{n}_next") for s, n in zip(chain[0], ("kh", "kw", "taddr"))]
        with m.Switch(mode):
            for md, case in mode_cases(m, mode, p):
                with case:
                    m.d.comb += [a.eq(b) for a, b in zip(nxt0, adv(chain[(1 << md) - 1]))]

        # word / bit offset of the group inside a pixel row
        word_off, bit_off = Signal(17), Signal(range(B))
        with m.Switch(mode):
            for md, case in mode_cases(m, mode, p):
                pos = c0 << log2(p.mul_width >> md)
                with case:
                    m.d.comb += [word_off.eq(pos >> log2(B)), bit_off.eq(pos[:log2(B)] if B > 1 else 0)]
        pads, rots = [], []
        for l, (khl, kwl, al) in enumerate(chain):
            iy, ix = Signal(signed(19), name=f"iy{l}"), Signal(signed(19), name=f"ix{l}")
            pad = Signal(name=f"pad{l}")
            m.d.comb += [iy.eq(y0 + khl), ix.eq(x0 + kwl),
                         pad.eq((khl >= KH) | (iy < 0) | (iy >= H) | (ix < 0) | (ix >= W))]
            a = Signal(_AW, name=f"aaddr{l}")
            m.d.comb += a.eq(al + word_off)
            for i, port in enumerate(act_r[l]):
                if nb == 1:
                    m.d.comb += port.addr.eq(a)
                elif i == nb - 1:                                # the last bank is never one line ahead
                    m.d.comb += port.addr.eq(a >> log2(nb))
                else:
                    m.d.comb += port.addr.eq((a >> log2(nb)) + (a[:log2(nb)] > i))
            pad_d = Signal(name=f"pad{l}_d")
            m.d.sync += pad_d.eq(pad)
            pads.append(pad_d)
            if nb > 1:
                rot_d = Signal(range(nb), name=f"rot{l}_d")
                m.d.sync += rot_d.eq(a[:log2(nb)])
                rots.append(rot_d)
        bit_off_d = Signal.like(bit_off)
        m.d.sync += bit_off_d.eq(bit_off)

        lanes_data = []                # per lane: the n consecutive bus words from the tap's group offset, shifted
        for l in range(LMAX):
            words = [port.data for port in act_r[l]]
            if nb == 1:
                wide = words[0]
            else:
                wide = Array(Cat(*(words[(r + q) % nb] for q in range(nb))) for r in range(nb))[rots[l]]
            shifted = Signal(nb * B, name=f"gather{l}")
            m.d.comb += shifted.eq(wide >> bit_off_d)
            lanes_data.append(shifted)

        sub = Signal(range(S))
        m.d.comb += sub.eq(k[:log2(S)] if S > 1 else 0)
        for port in bank_r:
            m.d.comb += port.addr.eq(g_base + (k >> log2(S)))
        last_k, last_g, last_ox, last_oy = k == kk - 1, g == groups - 1, ox == OW - 1, oy == OH - 1

        lat = 1 + self.mul_pipeline
        names = ("valid", "first", "last", "lastg")
        flags = [tuple(Signal(name=f"{n}_d{i}") for n in names) for i in range(lat + 1)]
        m.d.comb += [flags[0][0].eq(issue), flags[0][1].eq(issue & (k == 0)),
                     flags[0][2].eq(issue & last_k), flags[0][3].eq(issue & last_k & last_g)]
        for i in range(lat):
            m.d.sync += [a.eq(b) for a, b in zip(flags[i + 1], flags[i])]
        valid_p, first_p, last_p, lastg_p = flags[lat]
        sub_d = Signal.like(sub)
        m.d.sync += sub_d.eq(sub)

        def subword(word):
            return Array(word[i * p.mul_width:(i + 1) * p.mul_width] for i in range(S))[sub_d]

        accs = [Signal(signed(p.acc_bits), name=f"acc{j}") for j in range(P)]
        shadow = Array(Signal(signed(p.acc_bits), name=f"shadow{j}") for j in range(P))
        for j in range(P):
            act_word = Signal(p.mul_width, name=f"act_word{j}")
            with m.Switch(mode):
                for md, case in mode_cases(m, mode, p):
                    bits = p.mul_width >> md
                    elems = [Mux(pads[l], 0, lanes_data[l][j * bits:(j + 1) * bits]) for l in range(1 << md)]
                    with case:
                        m.d.comb += act_word.eq(Cat(*elems))
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

        # -- requantization sequencer and packer (as the Conv2D engine) -----------------------------------------------
        m.submodules.requant = rqu = Requantizer(p)
        seq_busy = Signal()
        seq_j = Signal(range(P + 1))
        seq_o = Signal(16)
        next_base = Signal(17)
        s1_valid, s1_o = Signal(), Signal(16)
        s1_acc = Signal(signed(p.acc_bits))    # shadow value taken at the sequencer stage
        m.d.comb += [bias_r.addr.eq(seq_o >> log2(b32)), rq_r.addr.eq(seq_o >> log2(b32))]
        with m.If(valid_p & last_p):
            m.d.sync += [seq_busy.eq(1), seq_j.eq(0), seq_o.eq(next_base),
                         next_base.eq(Mux(lastg_p, 0, next_base + P))]
        with m.Elif(seq_busy):
            with m.If((seq_j == P - 1) | (seq_o + 1 >= n_out)):
                m.d.sync += seq_busy.eq(0)
            m.d.sync += [seq_j.eq(seq_j + 1), seq_o.eq(seq_o + 1)]
        m.d.sync += [s1_valid.eq(seq_busy), s1_acc.eq(shadow[seq_j[:log2(P)] if P > 1 else 0]), s1_o.eq(seq_o)]

        def slice32(word, o):
            if b32 == 1:
                return word[:32]
            return Array(word[i * 32:(i + 1) * 32] for i in range(b32))[o[:log2(b32)]]

        bias_v, rq_v = slice32(bias_r.data, s1_o), slice32(rq_r.data, s1_o)
        m.d.comb += [
            rqu.valid.eq(s1_valid),
            rqu.acc.eq(s1_acc + bias_v.as_signed()),
            rqu.multiplier.eq(rq_v[:p.requant_mul_bits]),
            rqu.shift.eq(rq_v[16:16 + p.requant_shift_bits]),
            rqu.mode.eq(cfg.o_mode), rqu.out_signed.eq(cfg.o_signed), rqu.relu.eq(cfg.relu),
        ]

        pk_o, pk_pix, pk_base = Signal(17), Signal(17), Signal(17)
        pk_word, word_next = Signal(B), Signal(B)
        packed_all, full = Signal(), Signal()
        m.d.comb += out_w.data.eq(word_next)
        with m.Switch(cfg.o_mode):
            for md, case in mode_cases(m, cfg.o_mode, p):
                ob = p.mul_width >> md
                epw = B // ob
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
        # A group's last word may issue only P cycles after the previous group's: by the time its product replaces the
        # shadow registers, the sequencer has taken all P of the previous group's values.
        cool = Signal(range(P + 1))
        stall = Signal()
        m.d.comb += stall.eq(last_k & (cool != 0))
        with m.If(issue & last_k):
            m.d.sync += cool.eq(P - 1)
        with m.Elif(cool != 0):
            m.d.sync += cool.eq(cool - 1)
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
                    ("LOAD_IN", "LOAD_W", 3, cfg.addr_w, (n_out * rw)[:17])):
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
                        origin = -(PT * W * rc) - PL * rc
                        m.d.sync += [cool.eq(0), k.eq(0), g.eq(0), c0.eq(0), ox.eq(0), oy.eq(0), g_base.eq(0),
                                     x0.eq(-PL), y0.eq(-PT), kh0.eq(0), kw0.eq(0), addr0.eq(origin),
                                     pix_addr.eq(origin), line_addr.eq(origin), next_base.eq(0), pk_o.eq(0),
                                     pk_pix.eq(0), pk_base.eq(0), pk_word.eq(0), packed_all.eq(0)]
                        m.next = "ISSUE"
            with m.State("ISSUE"):
                m.d.comb += [issue.eq(~stall), sh.computing.eq(1)]
                with m.If(stall):                                # requantizer still busy with the last group
                    pass
                with m.Elif(~last_k):
                    m.d.sync += [k.eq(k + 1), kh0.eq(nxt0[0]), kw0.eq(nxt0[1]), addr0.eq(nxt0[2])]
                with m.Else():                                   # a group is complete
                    m.d.sync += [k.eq(0), kh0.eq(0), kw0.eq(0)]
                    with m.If(~last_g):
                        m.d.sync += [g.eq(g + 1), c0.eq(c0 + P), g_base.eq(g_base + rw), addr0.eq(pix_addr)]
                    with m.Else():
                        m.d.sync += [g.eq(0), c0.eq(0), g_base.eq(0)]
                        with m.If(~last_ox):
                            m.d.sync += [ox.eq(ox + 1), x0.eq(x0 + SW), pix_addr.eq(pix_addr + step_x),
                                         addr0.eq(pix_addr + step_x)]
                        with m.Elif(~last_oy):
                            m.d.sync += [ox.eq(0), x0.eq(-PL), oy.eq(oy + 1), y0.eq(y0 + SH),
                                         line_addr.eq(line_addr + step_y), pix_addr.eq(line_addr + step_y),
                                         addr0.eq(line_addr + step_y)]
                        with m.Else():
                            m.next = "DRAIN"
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
