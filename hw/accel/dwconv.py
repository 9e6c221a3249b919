"""Depthwise Conv2D engine (depth multiplier 1, or any from one input channel): tap-reduction on P Sum-Together MAC
units, two channels a unit in the multipliers' split mode, with a tap gather."""

from amaranth import Array, Cat, Module, Mux, Signal, signed

from .regs import EngineKind
from .shell import log2, mode_cases
from .stages import (AW, MacArrayEngine, RequantPacker, activation_banks, configure, control_fsm, dma_loader,
                     mac_array, weight_banks)

__all__ = ["DepthwiseConv2dEngine"]


class DepthwiseConv2dEngine(MacArrayEngine):
    """Depthwise 2-D convolution engine: ``(H, W, C)`` input, ``(KH, KW, C, 1)`` kernel, stride, zero padding.

    Dataflow: **output-stationary, kernel taps along the ST lanes, one or two channels per MAC unit**. The
    Sum-Together product adds its lanes, so the lanes of a multiplier word that end in one sum must hold taps of the
    *same* channel. For each output pixel the channels are processed in groups:

    * unsplit precisions (16 bit, and any lane count not in ``split``): groups of P channels, channel ``c0 + j`` on
      unit ``j``; lane ``l`` of word ``k`` is tap ``t = k * lanes + l`` (taps row-major, ``(kh, kw) = divmod(t, KW)``).
      ``K = ceil(KH*KW / lanes)`` words a group: a 3 x 3 kernel fills 9 of 10 lane slots at 8 bit and 9 of 12 at 4 bit.
    * split precisions (lane counts in ``split``, by default 8 and 4 bit): the multipliers run their split mode
      (``hw.arith.SumTogetherMultiplier``, ``split``), which returns the sums of the lower and the upper half of the
      lanes separately. Groups of 2P channels: unit ``j`` takes channel ``c0 + j`` in its lower lanes and channel
      ``c0 + j + P`` in its upper lanes, ``lanes / 2`` taps of each a word, into two accumulators.
      ``K = ceil(KH*KW / (lanes / 2))`` words a group of 2P: a 3 x 3 kernel fills 9 of 9 lane slots at 8 bit and 9
      of 10 at 4 bit (the ceiling of any mapping with two sums a word).

    Weights stay in the memory layout of ``hw.layout`` (one row of ``KH*KW`` taps per channel, rows of channels
    ``j mod P`` in bank ``j``); with split modes each bank is two half-depth memories holding its even and its odd
    rows, so a unit reads the rows of its two channels (rows ``2i`` and ``2i + 1`` of its bank) in one cycle, half a
    multiplier word from each. Activations stay in memory layout (channels innermost); the **gather** happens on the
    read side: each tap position of a word (``lanes``, or ``lanes / 2`` split; 2 for lanes 1/2/4 with the default
    split) has its own read port on the activation buffer, addressed at the pixel of its tap, and the group's
    channels (consecutive bits of that pixel row) are split among the units. The activation buffer is banked by
    bus-word address modulo ``n = max(1, P * mul_width / bus_width)`` so that a group's elements are one read even
    when they span several bus words. Tap positions are a chain of incrementers (next tap: column + 1, or next kernel
    row); padded taps and taps past ``KH*KW`` feed zeros.

    **One input channel** (``cin = 1``, any ``cout``): a conv2d with a single input channel (DS-CNN's first layer),
    equivalently a depthwise layer with depth multiplier ``cout``. Every output channel's lanes read channel 0 of
    the tap pixels, and its weight row holds its ``KH*KW`` taps (the driver lays ``w[:, :, 0, c]`` out as depthwise
    channel ``c``), so the layer fills the lanes as a depthwise one does, where the Conv2D engine (input channels on
    the lanes) uses one lane in ``lanes`` (``hw.perf.conv2d_engine``).

    Completed groups go to shadow registers and are requantized while the next group accumulates, in beats of
    ``E = min(requantizers, bus_width / o_bits)`` channels a cycle (:class:`~hw.accel.stages.RequantPacker`); a
    group's last word issues no earlier than ``G / E`` cycles after the previous group's (``G`` = P or 2P channels),
    so a group takes ``max(K, G / E)`` cycles. The default number of requantizers
    (``hw.perf.default_requantizers``: 2 for P = 4) keeps 3 x 3 kernels compute-bound at every precision (see
    ``hw.perf.depthwise_conv2d_cycles``).

    Phases (latency): check the configuration (error: no bus access at all), DMA biases, requantization words, the
    whole input and all weights into the buffers (``2 + wait`` cycles a bus word), compute (``OH * OW * ceil(C/G)``
    groups of ``max(K, G / E)`` cycles, plus the pipeline drain), DMA the whole output out. Configuration:
    ``cin`` = ``cout`` = C, or ``cin`` = 1 (else ``BAD_GEOMETRY``), geometry fields as for Conv2D. Limits (else ``BUFFER_OVERFLOW``):
    ``H * W * ceil(cin*bits/bus)`` bus words <= ``act_words``; ``ceil(C/P) * ceil(KH*KW*bits/bus)`` <=
    ``weight_words / P`` (with split modes: ``ceil(ceil(C/P) / 2) * ceil(KH*KW*bits/bus)`` <= ``weight_words / 2P``);
    ``C <= out_channels``; the output <= ``out_words``. ``BAD_GEOMETRY`` unless ``pad_top < KH``, ``pad_left < KW``
    and every window starts inside the padded input.

    Parameters and attributes: see :class:`~hw.accel.stages.MacArrayEngine` (``params``, ``mul_pipeline``,
    ``requantizers``, ``split``; ports ``csr``, ``bus``, ``irq``).
    """

    KIND = EngineKind.DEPTHWISE
    SPLITS = True

    def elaborate(self, platform):
        p = self.params
        m = Module()
        sh = self.build_shell(m)
        cfg, dma = sh.cfg, sh.dma
        P, S, B = p.macs, p.subwords, p.bus_width
        split_md = self.split_modes()
        halves = 2 if split_md else 1

        def taps_a_word(md):                                    # taps of one channel in a multiplier word
            return (1 << md) // 2 if md in split_md else 1 << md
        TMAX = max(taps_a_word(md) for md in p.modes)           # tap positions read a cycle
        nb = max(1, P * p.mul_width // B)                       # activation banks
        geometry = H, W, KH, KW, SH, SW, OH, OW, PT, PL = self._geometry(cfg)
        n_out = cfg.cout

        # -- layer quantities and the configuration check -------------------------------------------------------------
        taps_c = Signal(17)
        k_c = Signal(17)               # multiplier words a group: ceil(KH*KW / taps a word)
        kr_c = Signal(17)              # multiplier words a weight row: ceil(KH*KW / lanes)
        kc_in = Signal(17)             # multiplier words an input pixel row
        rc_c = Signal(17)              # bus words an input pixel row
        rw_c = Signal(17)              # bus words a weight row
        wide_c = Signal()              # the precision runs split
        m.d.comb += [taps_c.eq(KH * KW), kr_c.eq((taps_c + (1 << cfg.a_mode) - 1) >> cfg.a_mode),
                     kc_in.eq((cfg.cin + (1 << cfg.a_mode) - 1) >> cfg.a_mode),
                     rc_c.eq((kc_in + S - 1) >> log2(S)), rw_c.eq((kr_c + S - 1) >> log2(S))]
        with m.Switch(cfg.a_mode):
            for md, case in mode_cases(m, cfg.a_mode, p):
                t = taps_a_word(md)
                with case:
                    m.d.comb += [k_c.eq((taps_c + t - 1) >> log2(t)), wide_c.eq(md in split_md)]
        geometry_bad = (((cfg.cout != cfg.cin) & (cfg.cin != 1)) | (PT >= KH) | (PL >= KW) | ((OH - 1) * SH >= H + PT)
                        | ((OW - 1) * SW >= W + PL))
        lay = configure(m, self, sh, n_out, geometry, rc_c, rw_c, geometry_bad, wide_c if split_md else 0, halves)
        kk = Signal(17)
        single = Signal()              # one input channel: every output channel reads channel 0 of the taps
        lay.latch += [kk.eq(k_c), single.eq(cfg.cin == 1)]
        mode, rc, rw, wide = lay.mode, lay.rc, lay.w_row, lay.wide

        # -- buffers ---------------------------------------------------------------------------------------------------
        act_w, act_r = activation_banks(m, p, nb, TMAX)          # act_r[tap][bank]
        bank_w, bank_r = weight_banks(m, p, halves)              # bank_r[unit] or bank_r[unit][half]

        # -- compute: tap chain -> gathered buffer reads -> multiply -> accumulate ------------------------------------
        issue = Signal()
        k, g, ox, oy = (Signal(17, name=n) for n in ("k", "g", "ox", "oy"))
        c0 = Signal(17)                # first channel of the group: g * P (g * 2P split)
        x0, y0 = Signal(signed(18)), Signal(signed(18))
        kh0, kw0 = Signal(17), Signal(17)                       # tap 0's position in the kernel
        addr0 = Signal(signed(AW))                              # pixel row address of tap 0
        pix_addr, line_addr = Signal(signed(AW)), Signal(signed(AW))
        g_base = Signal(17)                                     # weight row address of the group (in its half)
        g_odd = Signal()                                        # halved banks, not split: the group's row is odd

        def adv(tap):
            khv, kwv, av = tap
            wrap = kwv == KW - 1
            return (Mux(wrap, khv + 1, khv)[:17], Mux(wrap, 0, kwv + 1)[:17],
                    Mux(wrap, av + lay.row_jump, av + rc)[:AW].as_signed())

        chain = [(kh0, kw0, addr0)]
        for t in range(1, TMAX):
            chain.append(tuple(Signal.like(s, name=f"{n}{t}") for s, n in zip(chain[0], ("kh", "kw", "taddr"))))
            m.d.comb += [a.eq(b) for a, b in zip(chain[t], adv(chain[t - 1]))]
        nxt0 = [Signal.like(s, name=f"{n}_next") for s, n in zip(chain[0], ("kh", "kw", "taddr"))]
        with m.Switch(mode):
            for md, case in mode_cases(m, mode, p):
                with case:
                    m.d.comb += [a.eq(b) for a, b in zip(nxt0, adv(chain[taps_a_word(md) - 1]))]

        # word / bit offset of the group inside a pixel row
        word_off, bit_off = Signal(17), Signal(range(B))
        with m.Switch(mode):
            for md, case in mode_cases(m, mode, p):
                pos = Mux(single, 0, c0) << log2(p.mul_width >> md)
                with case:
                    m.d.comb += [word_off.eq(pos >> log2(B)), bit_off.eq(pos[:log2(B)] if B > 1 else 0)]
        pads, rots = [], []
        for t, (kht, kwt, at) in enumerate(chain):
            iy, ix = Signal(signed(19), name=f"iy{t}"), Signal(signed(19), name=f"ix{t}")
            pad = Signal(name=f"pad{t}")
            m.d.comb += [iy.eq(y0 + kht), ix.eq(x0 + kwt),
                         pad.eq((kht >= KH) | (iy < 0) | (iy >= H) | (ix < 0) | (ix >= W))]
            a = Signal(AW, name=f"aaddr{t}")
            m.d.comb += a.eq(at + word_off)
            for i, port in enumerate(act_r[t]):
                if nb == 1:
                    m.d.comb += port.addr.eq(a)
                elif i == nb - 1:                                # the last bank is never one line ahead
                    m.d.comb += port.addr.eq(a >> log2(nb))
                else:
                    m.d.comb += port.addr.eq((a >> log2(nb)) + (a[:log2(nb)] > i))
            pad_d = Signal(name=f"pad{t}_d")
            m.d.sync += pad_d.eq(pad)
            pads.append(pad_d)
            if nb > 1:
                rot_d = Signal(range(nb), name=f"rot{t}_d")
                m.d.sync += rot_d.eq(a[:log2(nb)])
                rots.append(rot_d)
        bit_off_d = Signal.like(bit_off)
        m.d.sync += bit_off_d.eq(bit_off)

        taps_data = []                 # per tap: the n consecutive bus words from the group's offset, shifted
        for t in range(TMAX):
            words = [port.data for port in act_r[t]]
            if nb == 1:
                wide_word = words[0]
            else:
                wide_word = Array(Cat(*(words[(r + q) % nb] for q in range(nb))) for r in range(nb))[rots[t]]
            shifted = Signal(nb * B, name=f"gather{t}")
            m.d.comb += shifted.eq(wide_word >> bit_off_d)
            taps_data.append(shifted)

        sub = Signal(range(S))
        m.d.comb += sub.eq(k[:log2(S)] if S > 1 else 0)
        w_addr = Signal(17)
        m.d.comb += w_addr.eq(g_base + (k >> log2(S)))
        if split_md:
            with m.If(wide):                                      # a split group reads half words of two rows
                m.d.comb += w_addr.eq(g_base + (k >> log2(2 * S)))
        for ports in bank_r:
            for port in (ports if halves > 1 else [ports]):
                m.d.comb += port.addr.eq(w_addr)
        last_k, last_g, last_ox, last_oy = k == kk - 1, g == lay.groups - 1, ox == OW - 1, oy == OH - 1

        def operand(j, subword):       # unit j's activation word: its channel(s)' elements at the taps of the word
            act_word = Signal(p.mul_width, name=f"act_word{j}")
            with m.Switch(mode):
                for md, case in mode_cases(m, mode, p):
                    bits = p.mul_width >> md
                    units = (j, j + P) if md in split_md else (j,)   # split: lower lanes channel j, upper j + P
                    elems = [Mux(pads[t], 0, Mux(single, taps_data[t][:bits], taps_data[t][u * bits:(u + 1) * bits]))
                             for u in units for t in range(taps_a_word(md))]
                    with case:
                        m.d.comb += act_word.eq(Cat(*elems))
            return act_word

        if split_md:
            half = p.mul_width // 2
            g_odd_d, half_sub_d = Signal(), Signal(range(2 * S))
            m.d.sync += [g_odd_d.eq(g_odd), half_sub_d.eq(k[:log2(2 * S)])]

        def weight(j, subword):        # unit j's weight word: a word of its row, or half words of its two rows
            if halves == 1:
                return subword(bank_r[j].data)
            even, odd = (port.data for port in bank_r[j])

            def half_word(word):
                return Array(word[i * half:(i + 1) * half] for i in range(2 * S))[half_sub_d]
            return Mux(wide, Cat(half_word(even), half_word(odd)), subword(Mux(g_odd_d, odd, even)))

        macs = mac_array(m, self, cfg, mode, issue, k == 0, last_k, last_g, sub, operand, weight, split_on=wide)

        # -- requantization (a beat of channels a cycle) and packing, loader, control --------------------------------
        rqp = RequantPacker(m, self, cfg, lay, macs, width=self.requantizers)
        target, restart = dma_loader(m, p, dma, lay, act_w, bank_w, rqp)
        stall = rqp.pace(m, issue, last_k)
        origin = -(PT * W * rc) - PL * rc
        begin = [k.eq(0), g.eq(0), c0.eq(0), ox.eq(0), oy.eq(0), g_base.eq(0), g_odd.eq(0), x0.eq(-PL), y0.eq(-PT),
                 kh0.eq(0), kw0.eq(0), addr0.eq(origin), pix_addr.eq(origin), line_addr.eq(origin)] + rqp.restart

        def next_group():
            m.d.sync += [g.eq(g + 1), c0.eq(c0 + (Mux(wide, 2 * P, P) if split_md else P)), addr0.eq(pix_addr)]
            if halves == 1:
                m.d.sync += g_base.eq(g_base + rw)
                return
            with m.If(wide | g_odd):                             # both rows of the pair used: next pair
                m.d.sync += g_base.eq(g_base + rw)
            m.d.sync += g_odd.eq(~wide & ~g_odd)

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
                        next_group()
                    with m.Else():
                        m.d.sync += [g.eq(0), c0.eq(0), g_base.eq(0), g_odd.eq(0)]
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
