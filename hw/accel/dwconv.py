"""Depthwise Conv2D engine (depth multiplier 1): tap-reduction on P Sum-Together MAC units with a lane gather."""

from amaranth import Array, Cat, Module, Mux, Signal, signed

from .regs import EngineKind
from .shell import log2, mode_cases
from .stages import (AW, MacArrayEngine, RequantPacker, activation_banks, configure, control_fsm, dma_loader,
                     mac_array, weight_banks)

__all__ = ["DepthwiseConv2dEngine"]


class DepthwiseConv2dEngine(MacArrayEngine):
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
    lane slots. Because the ST lanes of a word are summed into one accumulator, all of a word's products must belong
    to one output, so this is also the ceiling of any mapping onto ST multipliers: 3 x 3 is 100 % at 16 bit, 90 % at 8
    bit (9 of 10 slots), 75 % at 4 bit (9 of 12). Completed groups go to shadow registers and are requantized while the
    next group accumulates, in beats of ``E = min(requantizers, bus_width / o_bits)`` channels a cycle
    (:class:`~hw.accel.stages.RequantPacker`); a group's last word issues no earlier than ``P / E`` cycles after the
    previous group's, so a group takes ``max(K, P / E)`` cycles. The default number of requantizers
    (``hw.perf.default_requantizers``: 2 for P = 4) keeps 3 x 3 kernels compute-bound at every precision
    (``P / E`` = 2 <= K; see ``hw.perf.depthwise_conv2d_cycles``).

    Phases (latency): check the configuration (error: no bus access at all), DMA biases, requantization words, the
    whole input and all weights into the buffers (``2 + wait`` cycles a bus word), compute (``OH * OW * ceil(C/P)``
    groups of ``max(K, P / E)`` cycles, plus the pipeline drain), DMA the whole output out. Configuration:
    ``cin`` = ``cout`` = C (else ``BAD_GEOMETRY``), geometry fields as for Conv2D. Limits (else ``BUFFER_OVERFLOW``):
    ``H * W * ceil(C*bits/bus)`` bus words <= ``act_words``; ``ceil(C/P) * ceil(KH*KW*bits/bus)`` <=
    ``weight_words / P``; ``C <= out_channels``; the output <= ``out_words``. ``BAD_GEOMETRY`` unless
    ``pad_top < KH``, ``pad_left < KW`` and every window starts inside the padded input.

    Parameters and attributes: see :class:`~hw.accel.stages.MacArrayEngine` (``params``, ``mul_pipeline``,
    ``requantizers``; ports ``csr``, ``bus``, ``irq``).
    """

    KIND = EngineKind.DEPTHWISE

    def elaborate(self, platform):
        p = self.params
        m = Module()
        sh = self.build_shell(m)
        cfg, dma = sh.cfg, sh.dma
        P, S, B = p.macs, p.subwords, p.bus_width
        LMAX = max(p.lanes)
        nb = max(1, P * p.mul_width // B)                       # activation banks
        geometry = H, W, KH, KW, SH, SW, OH, OW, PT, PL = self._geometry(cfg)
        n_out = cfg.cin

        # -- layer quantities and the configuration check -------------------------------------------------------------
        taps_c = Signal(17)
        k_c = Signal(17)               # multiplier words a weight row: ceil(KH*KW / lanes)
        kc_in = Signal(17)             # multiplier words an input pixel row
        rc_c = Signal(17)              # bus words an input pixel row
        rw_c = Signal(17)              # bus words a weight row
        m.d.comb += [taps_c.eq(KH * KW), k_c.eq((taps_c + (1 << cfg.a_mode) - 1) >> cfg.a_mode),
                     kc_in.eq((n_out + (1 << cfg.a_mode) - 1) >> cfg.a_mode),
                     rc_c.eq((kc_in + S - 1) >> log2(S)), rw_c.eq((k_c + S - 1) >> log2(S))]
        geometry_bad = ((cfg.cout != cfg.cin) | (PT >= KH) | (PL >= KW) | ((OH - 1) * SH >= H + PT)
                        | ((OW - 1) * SW >= W + PL))
        lay = configure(m, self, sh, n_out, geometry, rc_c, rw_c, geometry_bad)
        kk = Signal(17)
        lay.latch.append(kk.eq(k_c))
        mode, rc, rw = lay.mode, lay.rc, lay.w_row

        # -- buffers ---------------------------------------------------------------------------------------------------
        act_w, act_r = activation_banks(m, p, nb, LMAX)          # act_r[lane][bank]
        bank_w, bank_r = weight_banks(m, p)

        # -- compute: lane tap chain -> gathered buffer reads -> multiply -> accumulate --------------------------------
        issue = Signal()
        k, g, ox, oy = (Signal(17, name=n) for n in ("k", "g", "ox", "oy"))
        c0 = Signal(17)                # first channel of the group: g * P
        x0, y0 = Signal(signed(18)), Signal(signed(18))
        kh0, kw0 = Signal(17), Signal(17)                       # lane 0's tap
        addr0 = Signal(signed(AW))                              # pixel row address of lane 0's tap
        pix_addr, line_addr = Signal(signed(AW)), Signal(signed(AW))
        g_base = Signal(17)

        def adv(tap):
            khv, kwv, av = tap
            wrap = kwv == KW - 1
            return (Mux(wrap, khv + 1, khv)[:17], Mux(wrap, 0, kwv + 1)[:17],
                    Mux(wrap, av + lay.row_jump, av + rc)[:AW].as_signed())

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
            a = Signal(AW, name=f"aaddr{l}")
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
        last_k, last_g, last_ox, last_oy = k == kk - 1, g == lay.groups - 1, ox == OW - 1, oy == OH - 1

        def operand(j, subword):                                  # unit j: its channel's element of each lane's tap
            act_word = Signal(p.mul_width, name=f"act_word{j}")
            with m.Switch(mode):
                for md, case in mode_cases(m, mode, p):
                    bits = p.mul_width >> md
                    elems = [Mux(pads[l], 0, lanes_data[l][j * bits:(j + 1) * bits]) for l in range(1 << md)]
                    with case:
                        m.d.comb += act_word.eq(Cat(*elems))
            return act_word

        macs = mac_array(m, self, cfg, mode, issue, k == 0, last_k, last_g, sub, operand,
                         [port.data for port in bank_r])

        # -- requantization (a beat of channels a cycle) and packing, loader, control --------------------------------
        rqp = RequantPacker(m, self, cfg, lay, macs, width=self.requantizers)
        target, restart = dma_loader(m, p, dma, lay, act_w, bank_w, rqp)
        stall = rqp.pace(m, issue, last_k)
        origin = -(PT * W * rc) - PL * rc
        begin = [k.eq(0), g.eq(0), c0.eq(0), ox.eq(0), oy.eq(0), g_base.eq(0), x0.eq(-PL), y0.eq(-PT),
                 kh0.eq(0), kw0.eq(0), addr0.eq(origin), pix_addr.eq(origin), line_addr.eq(origin)] + rqp.restart

        def compute():
            with m.State("ISSUE"):
                m.d.comb += [issue.eq(~stall), sh.computing.eq(1)]
                with m.If(stall):                                # the sequencer still holds the previous group
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
                            m.d.sync += [ox.eq(ox + 1), x0.eq(x0 + SW), pix_addr.eq(pix_addr + lay.step_x),
                                         addr0.eq(pix_addr + lay.step_x)]
                        with m.Elif(~last_oy):
                            m.d.sync += [ox.eq(0), x0.eq(-PL), oy.eq(oy + 1), y0.eq(y0 + SH),
                                         line_addr.eq(line_addr + lay.step_y), pix_addr.eq(line_addr + lay.step_y),
                                         addr0.eq(line_addr + lay.step_y)]
                        with m.Else():
                            m.next = "DRAIN"

        control_fsm(m, self, sh, lay, rqp, target, restart, begin, compute)
        return m
