"""The stages the Conv2D (and dense) and depthwise engines share, elaborated into the engine's module.

An engine's ``elaborate`` builds, in order:

* :func:`configure` — the layer quantities both engines derive from the registers (row sizes, buffer needs, the
  error code of the configuration check) and the registers they are latched into when the layer starts;
* :func:`weight_banks`, :func:`activation_banks` — the buffers (weights banked by output channel modulo P,
  activations banked by bus-word address so that one read may span several bus words);
* :class:`RequantPacker` — bias / requantization-word buffers, requantizers (``width`` values a cycle) and the packer
  that writes requantized values into output pixel rows in the output buffer;
* :func:`dma_loader` — the DMA write side: bus words into the bias, requantization, activation and weight buffers;
* :func:`mac_array` — P Sum-Together multipliers with accumulators and the shadow registers a completed channel
  group is copied to;
* :func:`control_fsm` — IDLE, CHECK, the four loads, the engine's own compute states, DRAIN and STORE.

What is left to an engine is how it walks the layer (its issue counters) and how it forms the multiplier operands.
"""

from dataclasses import dataclass

from amaranth import Array, Cat, Const, Mux, Signal, Value, signed
from amaranth.lib.memory import Memory

from ..arith import SumTogetherMultiplier
from ..arith.multiplier import check_split
from ..perf import default_requantizers, default_split
from .common import refuse
from .regs import ErrorCode
from .requant import Requantizer
from .shell import EngineShell, log2, mode_cases

__all__ = ["AW", "MacArrayEngine", "Layer", "configure", "weight_banks", "activation_banks", "dma_loader", "Macs",
           "mac_array", "RequantPacker", "control_fsm", "by_mode"]

AW = 20                                # width of buffer address arithmetic (signed: padded taps go negative)

# DMA targets of the loader
_BIAS, _RQ, _ACT, _WEIGHTS, _NONE = range(5)


class MacArrayEngine(EngineShell):
    """Base of the engines built from these stages: the shell, the ST multipliers' pipeline depth and the number of
    requantizers.

    Parameters
    ----------
    params : EngineParams
    mul_pipeline : int
        Register stages inside each ST multiplier (0..2).
    requantizers : int or None
        Channels requantized a cycle at most (a power of two, 1..P; see :class:`RequantPacker`). ``None``: the
        engine kind's default, ``hw.perf.default_requantizers(params, kind)``.
    split : tuple of int or None
        Lane counts whose precision runs in the ST multipliers' *split* mode (two sums a word, two channels a MAC
        unit; only engines with ``SPLITS``, i.e. the depthwise engine). ``None``: the kind's default,
        ``hw.perf.default_split(params, kind)``; ``()``: never.
    multiplier : callable or None
        Builds each MAC unit's multiplier: ``multiplier(width, lanes, pipeline)`` (plus ``split=`` when the engine
        splits) returning a component with the ports of :class:`~hw.arith.SumTogetherMultiplier` and its
        ``latency``. ``None``: ``SumTogetherMultiplier``. For area studies (``hw.area``: yosys ``*``, DSP blocks).

    Attributes
    ----------
    See :class:`~hw.accel.shell.EngineShell` (``csr``, ``bus``, ``irq``).
    """

    SPATIAL = True
    SPLITS = False                     # the engine can run a precision in the multipliers' split mode

    def __init__(self, params, mul_pipeline=1, requantizers=None, split=None, multiplier=None):
        if mul_pipeline not in (0, 1, 2):
            raise refuse(self, ValueError(f"mul_pipeline must be 0, 1 or 2, not {mul_pipeline!r}"))
        super().__init__(params)
        self.mul_pipeline = mul_pipeline
        p = self.params
        if split is None:
            split = default_split(p, self.KIND.name.lower())
        try:
            split = check_split(p.lanes, split)          # the multiplier's own check of the lane counts
        except (TypeError, ValueError) as error:
            raise refuse(self, error) from None
        if split and not self.SPLITS:
            raise refuse(self, ValueError(f"split={split!r}: the {self.KIND.name.lower()} engine has no split mode "
                                          f"(its lanes reduce over one output already); use split=()"))
        self.split = split
        if multiplier is not None and not callable(multiplier):
            raise refuse(self, TypeError(f"multiplier must be a callable building a multiplier (e.g. "
                                         f"hw.arith.SumTogetherMultiplier) or None, not {multiplier!r}"))
        self.multiplier = multiplier or SumTogetherMultiplier
        if requantizers is None:
            requantizers = default_requantizers(p, self.KIND.name.lower(), self.split)
        if (isinstance(requantizers, bool) or not isinstance(requantizers, int) or not 1 <= requantizers <= p.macs
                or requantizers & (requantizers - 1)):
            raise refuse(self, ValueError(f"requantizers must be a power of two between 1 and macs={p.macs}, not "
                                          f"{requantizers!r}"))
        self.requantizers = requantizers

    def split_modes(self):
        """Precision-mode codes that run split (``log2`` of the :attr:`split` lane counts)."""
        return tuple(n.bit_length() - 1 for n in self.split)

    def _geometry(self, cfg):
        """``(H, W, KH, KW, SH, SW, OH, OW, pad_top, pad_left)``: configuration fields, or constants when 1 x 1."""
        if self.SPATIAL:
            return (cfg.in_h, cfg.in_w, cfg.kh, cfg.kw, cfg.stride_h, cfg.stride_w, cfg.out_h, cfg.out_w,
                    cfg.pad_top, cfg.pad_left)
        return (1,) * 8 + (0, 0)


def by_mode(m, mode, params, value, *, name, shape=17):
    """``value(md)`` for the precision mode ``mode``: a Python int if every mode gives the same, else a Signal."""
    values = {md: value(md) for md in params.modes}
    if len(set(values.values())) == 1:
        return next(iter(values.values()))
    sig = Signal(shape, name=name)
    with m.Switch(mode):
        for md, case in mode_cases(m, mode, params):
            with case:
                m.d.comb += sig.eq(values[md])
    return sig


@dataclass
class Layer:
    """Quantities of the running layer, latched when it starts (all ``Signal``), and the configuration check."""
    n_out: object          # output channels (a configuration field)
    geometry: tuple        # (H, W, KH, KW, SH, SW, OH, OW, pad_top, pad_left): fields, or constants
    mode: Signal           # operand precision mode
    rc: Signal             # bus words an input pixel row
    ro: Signal             # bus words an output pixel row
    w_row: Signal          # bus words a weight row (one output channel)
    groups: Signal         # channel groups a pixel (of P channels, 2P when ``wide``)
    wide: object           # the running precision is split: groups of 2P channels (0 when the engine never splits)
    in_words: Signal       # bus words of the whole input
    npix: Signal           # output pixels
    row_jump: Signal       # input address step from the last tap of a kernel row to the first of the next
    step_x: Signal         # input address step between output columns
    step_y: Signal         # input address step between output rows
    bias_words: Signal     # bus words of the biases (and of the requantization words); not latched
    err: Signal            # error code of the configuration (0: run the layer); not latched
    latch: list            # statements that latch the above (add the engine's own)


def configure(m, engine, sh, n_out, geometry, in_row_c, w_row_c, geometry_bad, wide_c=0, halves=1):
    """Derive and check the layer quantities the engines share.

    ``in_row_c`` / ``w_row_c`` are the engine's (combinational) bus words of an input pixel row and of a weight row;
    ``geometry_bad`` is its geometry check (``BAD_GEOMETRY``). ``wide_c`` (combinational, from the configuration) is 1
    when the layer runs split: channel groups of 2P. ``halves`` is that of :func:`weight_banks`. The error priority
    is: the shell's common checks (precision, zero dimension, addresses), geometry, then buffer overflow.

    Timing: the quantities derived from the configuration registers (row sizes, ``H * W``, ``OH * OW``, the common
    and geometry checks) are registered every cycle, and ``lay.err`` and the latched values are computed from those
    registers, so no path runs from a configuration field through two multiplications. The configuration is written
    before the start pulse, so the registers hold the layer's values from the cycle after it (``CHECK``).
    """
    p, cfg = engine.params, sh.cfg
    P = p.macs
    b32 = p.bus_width // 32
    H, W, KH, KW, SH, SW, OH, OW, PT, PL = geometry

    def stage(value, name):
        """``value`` registered every cycle (ints pass through)."""
        if isinstance(value, int):
            return value
        value = Value.cast(value)
        reg = Signal(value.shape(), name=name)
        m.d.sync += reg.eq(value)
        return reg

    ro_c = Signal(17, name="ro_c")
    with m.Switch(cfg.o_mode):
        for md, case in mode_cases(m, cfg.o_mode, p):
            epw = p.bus_width // (p.mul_width >> md)                     # output elements a bus word
            with case:
                m.d.comb += ro_c.eq((n_out + epw - 1) >> log2(epw))
    rows_c = (n_out + P - 1) >> log2(P)                                  # weight rows a bank
    groups_c = rows_c if isinstance(wide_c, int) and not wide_c else (rows_c + wide_c) >> wide_c
    half_rows_c = rows_c if halves == 1 else (rows_c + 1) >> 1           # ... of its fuller half
    bias_words = Signal(17)
    m.d.comb += bias_words.eq((n_out + b32 - 1) >> log2(b32))
    code = engine.common_error(m, sh, [cfg.cin, cfg.cout, cfg.in_h, cfg.in_w, cfg.kh, cfg.kw, cfg.stride_h,
                                       cfg.stride_w, cfg.out_h, cfg.out_w])

    rc, ro, w_row = stage(in_row_c, "rc_q"), stage(ro_c, "ro_q"), stage(w_row_c, "w_row_q")
    groups, half_rows, wide = stage(groups_c, "groups_q"), stage(half_rows_c, "half_rows_q"), stage(wide_c, "wide_q")
    hw, npix, w_rc = stage(H * W, "hw_q"), stage(OH * OW, "npix_q"), stage(W * in_row_c, "w_rc_q")
    code, bad, many = stage(code, "code_q"), stage(geometry_bad, "geometry_bad_q"), stage(n_out > p.out_channels,
                                                                                          "too_many_q")
    overflow = ((hw * rc > p.act_words) | (half_rows * w_row > p.weight_words // P // halves) | many
                | (npix * ro > p.out_words))
    err = Signal(4)
    with m.If(code != 0):
        m.d.comb += err.eq(code)
    with m.Elif(bad):
        m.d.comb += err.eq(ErrorCode.BAD_GEOMETRY)
    with m.Elif(overflow):
        m.d.comb += err.eq(ErrorCode.BUFFER_OVERFLOW)

    lay = Layer(n_out=n_out, geometry=geometry, mode=Signal(2, name="mode"),
                **{n: Signal(17, name=n) for n in ("rc", "ro", "w_row", "groups", "in_words", "npix")},
                **{n: Signal(signed(AW), name=n) for n in ("row_jump", "step_x", "step_y")},
                wide=Signal(name="wide") if halves == 2 else 0, bias_words=bias_words, err=err, latch=[])
    lay.latch += [lay.mode.eq(cfg.a_mode), lay.rc.eq(rc), lay.ro.eq(ro), lay.w_row.eq(w_row),
                  lay.groups.eq(groups), lay.in_words.eq(hw * rc), lay.npix.eq(npix),
                  lay.row_jump.eq(w_rc - (KW - 1) * rc), lay.step_x.eq(SW * rc), lay.step_y.eq(SH * w_rc)]
    if halves == 2:
        lay.latch.append(lay.wide.eq(wide))
    return lay


def weight_banks(m, p, halves=1):
    """P weight buffers of ``weight_words / P`` bus words (bank j holds the rows of output channels ``j mod P``, row
    ``r`` for channel ``r * P + j``); returns ``(write ports, read ports)``, one of each a bank.

    ``halves=2``: each bank is two memories of half the depth, even rows in the first, odd rows in the second (row
    ``r`` at ``(r // 2) * row``), so that rows ``2i`` and ``2i + 1`` (channels ``2iP + j`` and ``(2i+1)P + j``, the two
    channels of a split MAC unit) are read in the same cycle. Then the ports are ``[bank][half]``.
    """
    depth = max(1, p.weight_words // p.macs // halves)
    writes, reads = [], []
    for j in range(p.macs):
        mems = []
        for h in range(halves):
            name = f"wbank{j}" if halves == 1 else f"wbank{j}_{h}"
            m.submodules[name] = mem = Memory(shape=p.bus_width, depth=depth, init=[])
            mems.append(mem)
        ws, rs = [mem.write_port() for mem in mems], [mem.read_port() for mem in mems]
        writes.append(ws[0] if halves == 1 else ws)
        reads.append(rs[0] if halves == 1 else rs)
    return writes, reads


def activation_banks(m, p, nb, readers):
    """The input buffer, banked by bus-word address modulo ``nb``; returns ``(write ports, read ports)``, the read
    ports as ``[reader][bank]`` (``readers`` independent readers)."""
    banks = []
    for i in range(nb):
        name = "act" if nb == 1 else f"act{i}"
        m.submodules[name] = mem = Memory(shape=p.bus_width, depth=max(1, p.act_words // nb), init=[])
        banks.append(mem)
    return [a.write_port() for a in banks], [[a.read_port() for a in banks] for _ in range(readers)]


def dma_loader(m, p, dma, lay, act_w, bank_w, rqp):
    """Route DMA read data into the buffers by ``target``; returns ``(target, restart statements)``.

    Activation bus word ``i`` goes to bank ``i mod nb`` (``nb = len(act_w)``) at ``i // nb``; weight words fill bank
    0 with one ``w_row``-word row, then bank 1, ..., bank P-1, then the next row of each bank behind them (with
    halved banks, :func:`weight_banks`, alternately into the first and the second half).
    """
    P, nb = p.macs, len(act_w)
    halves = len(bank_w[0]) if isinstance(bank_w[0], list) else 1
    load_r = Signal(17)                    # weight load: bus word within the row
    load_j = Signal(range(max(P, 2)))      # weight load: bank (output channel % P); unused when P == 1
    load_h = Signal(range(2))              # weight load: half of the bank (row parity); unused unless halves == 2
    load_base = Signal(17)                 # weight load: address of the row in its bank (half)
    target = Signal(range(5))
    rqp.connect_loader(m, dma, target == _BIAS, target == _RQ)
    for i, port in enumerate(act_w):
        m.d.comb += [port.addr.eq(dma.index >> log2(nb)), port.data.eq(dma.rd_data),
                     port.en.eq(dma.rd_valid & (target == _ACT) & ((dma.index[:log2(nb)] == i) if nb > 1 else 1))]
    for j, ports in enumerate(bank_w):
        for h, port in enumerate(ports if halves > 1 else [ports]):
            sel = ((load_j == j) if P > 1 else 1) & ((load_h == h) if halves > 1 else 1)
            m.d.comb += [port.addr.eq(load_base + load_r), port.data.eq(dma.rd_data),
                         port.en.eq(dma.rd_valid & (target == _WEIGHTS) & sel)]
    with m.If(dma.rd_valid & (target == _WEIGHTS)):
        with m.If(load_r == lay.w_row - 1):
            m.d.sync += [load_r.eq(0), load_j.eq(Mux(load_j == P - 1, 0, load_j + 1))]
            with m.If(load_j == P - 1):
                if halves > 1:
                    m.d.sync += load_h.eq(~load_h)
                    with m.If(load_h):
                        m.d.sync += load_base.eq(load_base + lay.w_row)
                else:
                    m.d.sync += load_base.eq(load_base + lay.w_row)
        with m.Else():
            m.d.sync += load_r.eq(load_r + 1)
    return target, [load_r.eq(0), load_j.eq(0), load_h.eq(0), load_base.eq(0)]


@dataclass
class Macs:
    """Outputs of :func:`mac_array`."""
    valid: Signal          # a product is accumulated this cycle
    last: Signal           # ... and it completes a channel group (the shadow registers take the sums)
    last_g: Signal         # ... of a pixel's last group
    shadow: list           # P (2P with split multipliers) completed sums (signed acc_bits), channel order
    in_flight: Signal      # products between issue and accumulation


def mac_array(m, engine, cfg, mode, issue, first, last, last_g, sub, act_word, w_word, split_on=0):
    """P ST multipliers and accumulators fed ``lat = 1 + mul_pipeline`` cycles after ``issue``.

    ``first``/``last``/``last_g`` qualify the issued word (first of a group, last of a group, last of the pixel's last
    group); ``sub`` selects the multiplier word within the bus word the buffers return a cycle later; ``act_word(j,
    subword)`` / ``w_word(j, subword)`` are unit j's activation / weight operand from the buffer data of that cycle
    (``subword(word)`` picks the ``sub``-th multiplier word of a bus word).

    With ``engine.split`` the multipliers have those split modes and every unit a second accumulator: while
    ``split_on`` (the layer's, constant during the compute phase) unit j accumulates channel ``j`` of the group from
    the multiplier's lower lane sum ``p`` and channel ``j + P`` from the upper sum ``q``; ``Macs.shadow`` then lists
    2P sums, channel order.
    """
    p = engine.params
    lat = 1 + engine.mul_pipeline                                 # issue to product
    names = ("valid", "first", "last", "lastg")
    flags = [tuple(Signal(name=f"{n}_d{i}") for n in names) for i in range(lat + 1)]
    m.d.comb += [flags[0][0].eq(issue), flags[0][1].eq(issue & first), flags[0][2].eq(issue & last),
                 flags[0][3].eq(issue & last & last_g)]
    for i in range(lat):
        m.d.sync += [a.eq(b) for a, b in zip(flags[i + 1], flags[i])]
    valid_p, first_p, last_p, lastg_p = flags[lat]
    in_flight = Signal()
    m.d.comb += in_flight.eq(sum(f[0] for f in flags[1:]) != 0)
    sub_d = Signal.like(sub)
    m.d.sync += sub_d.eq(sub)

    def subword(word):
        return Array(word[i * p.mul_width:(i + 1) * p.mul_width] for i in range(p.subwords))[sub_d]

    split = engine.split
    sums = 2 if split else 1
    accs = [[Signal(signed(p.acc_bits), name=f"acc{j}" + "_hi" * s) for j in range(p.macs)] for s in range(sums)]
    shadow = [[Signal(signed(p.acc_bits), name=f"shadow{j}" + "_hi" * s) for j in range(p.macs)] for s in range(sums)]
    for j in range(p.macs):
        mul = engine.multiplier(p.mul_width, p.lanes, engine.mul_pipeline, **({"split": split} if split else {}))
        m.submodules[f"mul{j}"] = mul
        m.d.comb += [mul.a.eq(act_word(j, subword)), mul.w.eq(w_word(j, subword)), mul.mode.eq(mode),
                     mul.a_signed.eq(cfg.a_signed), mul.w_signed.eq(cfg.w_signed)]
        products = [mul.p]
        if split:
            m.d.comb += mul.split.eq(split_on)
            products.append(mul.q)
        for s, product in enumerate(products):
            nxt = Signal(signed(p.acc_bits), name=f"acc_next{j}" + "_hi" * s)
            m.d.comb += nxt.eq(Mux(first_p, product, accs[s][j] + product))
            with m.If(valid_p):
                m.d.sync += accs[s][j].eq(nxt)
                with m.If(last_p):
                    m.d.sync += shadow[s][j].eq(nxt)
    return Macs(valid=valid_p, last=last_p, last_g=lastg_p, shadow=[v for s in shadow for v in s],
                in_flight=in_flight)


class RequantPacker:
    """Requantize completed channel groups and pack them into output pixel rows (elaborated into the engine).

    When a group completes (``Macs.last``), a sequencer reads the P shadow registers (2P while ``lay.wide``: split
    MAC units) in *beats* of ``E = min(width, elements an output bus word holds, P)`` consecutive channels, one beat
    a cycle: ``ceil(G / E)`` beats a full group of ``G`` channels. A beat's biases and requantization words are read
    from their buffers (one read: the buffers are ``max(bus, 32 * width)`` bits wide), ``E``
    :class:`~hw.accel.requant.Requantizer` units requantize the beat, and the packer ORs the ``E`` values into the
    output bus word being built (a beat never straddles a bus word), writing it to the output buffer when it is full
    or the pixel row ends.

    Latency from the group's completion to its first beat leaving the requantizers is ``2 + Requantizer.LATENCY``
    cycles. The shadow registers may be overwritten from the cycle after the group's last beat was sequenced: a
    group may complete every ``beats`` cycles (``beats`` is that number for the current output precision), which
    :meth:`pace` enforces.

    Parameters
    ----------
    m : Module
    engine : EngineShell
        Uses ``params``.
    cfg : CsrBlock.cfg view
    lay : Layer
    macs : Macs
    width : int
        The most values requantized a cycle: a power of two, 1 .. P (``min(width, bus_width // narrowest output)``
        :class:`~hw.accel.requant.Requantizer` units are instantiated).
    """

    def __init__(self, m, engine, cfg, lay, macs, width):
        p = self.params = engine.params
        P, B = p.macs, p.bus_width
        G = len(macs.shadow)                          # the most channels a group (P, or 2P with split units)
        self.cfg, self.lay = cfg, lay
        # values a beat, for each output precision mode; R requantizers cover the widest beat
        self._e = {md: min(width, B // (p.mul_width >> md), P) for md in p.modes}
        R = max(self._e.values())
        e = by_mode(m, cfg.o_mode, p, lambda md: self._e[md], name="beat_values")
        beats = by_mode(m, cfg.o_mode, p, lambda md: P // self._e[md], name="group_beats")
        group = P
        if G > P:                                     # groups of 2P channels while the layer runs split
            group, self.beats = Signal(range(G + 1), name="group_size"), Signal(range(G + 1), name="wide_beats")
            m.d.comb += [group.eq(Mux(lay.wide, G, P)), self.beats.eq(Mux(lay.wide, beats * 2, beats))]
        else:
            self.beats = beats
        vpr = max(B, 32 * R) // 32                    # 32-bit values a row of the bias / requant buffers
        depth = max(1, p.out_channels // vpr)
        m.submodules.bias = bias = Memory(shape=32 * vpr, depth=depth, init=[])
        m.submodules.rq = rq = Memory(shape=32 * vpr, depth=depth, init=[])
        m.submodules.out = outm = Memory(shape=B, depth=p.out_words, init=[])
        gran = B if 32 * vpr > B else None
        self._bias_w, self._rq_w = bias.write_port(granularity=gran), rq.write_port(granularity=gran)
        bias_r, rq_r = bias.read_port(), rq.read_port()
        self.out_r = outm.read_port()
        out_w = outm.write_port()

        # -- sequencer: shadow[j .. j+E) + bias[o .. o+E) -> requantizers -------------------------------------------
        self.busy = seq_busy = Signal()
        seq_j = Signal(range(G + 1))               # first shadow register of the beat
        seq_o = Signal(16)                         # its output channel
        next_base = Signal(17)                     # first output channel of the next group to complete
        self.s1_valid = s1_valid = Signal()
        s1_o = Signal(16)
        s1_acc = [Signal(signed(p.acc_bits), name=f"s1_acc{r}") for r in range(R)]   # taken at the sequencer stage
        s1_ok = [Signal(name=f"s1_ok{r}") for r in range(R)]                          # value r of the beat exists
        m.d.comb += [bias_r.addr.eq(seq_o >> log2(vpr)), rq_r.addr.eq(seq_o >> log2(vpr))]
        with m.If(macs.valid & macs.last):
            m.d.sync += [seq_busy.eq(1), seq_j.eq(0), seq_o.eq(next_base),
                         next_base.eq(Mux(macs.last_g, 0, next_base + group))]
        with m.Elif(seq_busy):
            with m.If((seq_j + e >= group) | (seq_o + e >= lay.n_out)):
                m.d.sync += seq_busy.eq(0)
            m.d.sync += [seq_j.eq(seq_j + e), seq_o.eq(seq_o + e)]
        shadow = Array(macs.shadow)
        m.d.sync += [s1_valid.eq(seq_busy), s1_o.eq(seq_o)]
        for r in range(R):
            ok = seq_busy
            if r:                                  # value 0 of a beat always exists
                ok = ok & (seq_o + r < lay.n_out)
                if not isinstance(e, int):
                    ok = ok & (r < e)
            m.d.sync += [s1_acc[r].eq(shadow[(seq_j + r)[:log2(G)] if G > 1 else 0]), s1_ok[r].eq(ok)]

        rqus = []
        for r in range(R):
            rqu = Requantizer(p)
            m.submodules["requant" if R == 1 else f"requant{r}"] = rqu
            rqus.append(rqu)
            bias_v, rq_v = self._value(bias_r.data, s1_o, r, vpr), self._value(rq_r.data, s1_o, r, vpr)
            m.d.comb += [
                rqu.valid.eq(s1_ok[r]),
                rqu.acc.eq(s1_acc[r] + bias_v.as_signed()),
                rqu.multiplier.eq(rq_v[:p.requant_mul_bits]),
                rqu.shift.eq(rq_v[16:16 + p.requant_shift_bits]),
                rqu.mode.eq(cfg.o_mode), rqu.out_signed.eq(cfg.o_signed), rqu.relu.eq(cfg.relu),
            ]

        # -- packer: requantized values into output pixel rows -----------------------------------------------------
        pk_o = Signal(17)              # output channel of the next beat's first value
        pk_pix = Signal(17)            # its pixel
        pk_base = Signal(17)           # output buffer address of that pixel's row
        pk_word = Signal(B)
        self.packed_all = packed_all = Signal()
        word_next = Signal(B)
        full, row_end = Signal(), Signal()
        m.d.comb += out_w.data.eq(word_next)
        with m.Switch(cfg.o_mode):
            for md, case in mode_cases(m, cfg.o_mode, p):
                ob = p.mul_width >> md
                epw, E = B // ob, self._e[md]
                with case:
                    pos = pk_o[:log2(epw)]
                    new = 0
                    for r in range(E):
                        val = rqus[r].out[:ob] if E == 1 else Mux(rqus[r].out_valid, rqus[r].out[:ob], 0)
                        new = new | (val << ((pos + r) * ob))
                    m.d.comb += [word_next.eq(pk_word | new), full.eq(pos == epw - E),
                                 row_end.eq(pk_o + E >= lay.n_out), out_w.addr.eq(pk_base + (pk_o >> log2(epw)))]
        with m.If(rqus[0].out_valid):
            m.d.comb += out_w.en.eq(full | row_end)
            m.d.sync += [pk_o.eq(pk_o + e), pk_word.eq(word_next)]
            with m.If(full | row_end):
                m.d.sync += pk_word.eq(0)
            with m.If(row_end):
                m.d.sync += [pk_o.eq(0), pk_pix.eq(pk_pix + 1), pk_base.eq(pk_base + lay.ro)]
                with m.If(pk_pix == lay.npix - 1):
                    m.d.sync += packed_all.eq(1)
        self.restart = [next_base.eq(0), pk_o.eq(0), pk_pix.eq(0), pk_base.eq(0), pk_word.eq(0), packed_all.eq(0)]

    def pace(self, m, issue, last):
        """Hold a group's last word (``last``) until ``beats`` cycles after the previous group's last word issued:
        by the time its product replaces the shadow registers, the sequencer has taken all of the previous group's
        beats. Returns the stall signal (issue nothing while it is 1); ``restart`` clears the pacing."""
        cool = Signal(range(2 * self.params.macs + 1))
        stall = Signal()
        m.d.comb += stall.eq(last & (cool != 0))
        with m.If(issue & last):
            m.d.sync += cool.eq(self.beats - 1)
        with m.Elif(cool != 0):
            m.d.sync += cool.eq(cool - 1)
        self.restart.append(cool.eq(0))
        return stall

    @staticmethod
    def _value(word, o, r, vpr):
        """32-bit value ``(o + r) mod vpr`` of a bias / requantization buffer row."""
        if vpr == 1:
            return word[:32]
        return Array(word[i * 32:(i + 1) * 32] for i in range(vpr))[(o + r)[:log2(vpr)]]

    def connect_loader(self, m, dma, to_bias, to_rq):
        """Write DMA read data into the bias / requantization buffers (bus word ``i`` of the run at ``i``)."""
        B = self.params.bus_width
        for port, sel in ((self._bias_w, to_bias), (self._rq_w, to_rq)):
            n = len(port.data) // B                    # bus words a buffer row
            m.d.comb += [port.addr.eq(dma.index >> log2(n)), port.data.eq(Cat(*([dma.rd_data] * n)))]
            if n == 1:
                m.d.comb += port.en.eq(dma.rd_valid & sel)
            else:
                m.d.comb += port.en.eq(Mux(dma.rd_valid & sel, Const(1, n) << dma.index[:log2(n)], 0))

    def connect_store(self, m, dma):
        """Serve the output buffer to the DMA's write run."""
        m.d.comb += [self.out_r.addr.eq(dma.index), dma.wr_data.eq(self.out_r.data)]


def control_fsm(m, engine, sh, lay, rqp, target, restart, begin, compute):
    """The engine's control FSM: IDLE -> CHECK -> CHECKED -> LOAD_BIAS -> LOAD_RQ -> LOAD_IN -> LOAD_W -> ISSUE ...
    -> DRAIN -> STORE -> IDLE.

    CHECK registers the configuration check ``lay.err`` (products of the registered shape quantities compared with
    the buffer sizes, see :func:`configure`: kept off the FSM's and the DMA's paths); CHECKED ends the layer with it
    (no bus access) or latches ``lay.latch`` and starts the loads; a bus error
    ends it with ``BUS_ERROR``. ``restart`` resets the loader's weight counters before each load; ``begin`` (statements)
    starts the compute phase in ``ISSUE``; ``compute()`` adds the engine's compute states (called inside the FSM; they
    go to ``DRAIN`` after the last issue). DRAIN waits for the :class:`RequantPacker` ``rqp`` to have packed every
    output pixel, then stores the output rows.
    """
    cfg, dma = sh.cfg, sh.dma
    rqp.connect_store(m, dma)
    err_q = Signal(4)

    def dma_run(addr_field, length, write=0):
        m.d.comb += [dma.start.eq(1), dma.addr.eq(engine.word_address(addr_field)), dma.length.eq(length),
                     dma.write.eq(write)]

    def bus_error():
        m.d.comb += [sh.fail.eq(1), sh.code.eq(ErrorCode.BUS_ERROR)]
        m.next = "IDLE"

    with m.FSM():
        with m.State("IDLE"):
            with m.If(sh.start):
                m.next = "CHECK"
        with m.State("CHECK"):                               # register the check: it is a long path
            m.d.sync += err_q.eq(lay.err)
            m.next = "CHECKED"
        with m.State("CHECKED"):
            with m.If(err_q != 0):
                m.d.comb += [sh.fail.eq(1), sh.code.eq(err_q)]
                m.next = "IDLE"
            with m.Else():
                m.d.sync += lay.latch + [target.eq(_BIAS)]
                dma_run(cfg.addr_bias, lay.bias_words)
                m.next = "LOAD_BIAS"
        for state, nxt_state, tgt, addr, length in (
                ("LOAD_BIAS", "LOAD_RQ", _RQ, cfg.addr_rq, lay.bias_words),
                ("LOAD_RQ", "LOAD_IN", _ACT, cfg.addr_in, lay.in_words),
                ("LOAD_IN", "LOAD_W", _WEIGHTS, cfg.addr_w, (lay.n_out * lay.w_row)[:17])):
            with m.State(state):
                with m.If(dma.done):
                    with m.If(dma.error):
                        bus_error()
                    with m.Else():
                        m.d.sync += [target.eq(tgt)] + restart
                        dma_run(addr, length)
                        m.next = nxt_state
        with m.State("LOAD_W"):
            with m.If(dma.done):
                m.d.sync += target.eq(_NONE)
                with m.If(dma.error):
                    bus_error()
                with m.Else():
                    m.d.sync += begin
                    m.next = "ISSUE"
        compute()
        with m.State("DRAIN"):
            m.d.comb += sh.computing.eq(1)
            with m.If(rqp.packed_all):
                dma_run(cfg.addr_out, (lay.npix * lay.ro)[:17], write=1)
                m.next = "STORE"
        with m.State("STORE"):
            with m.If(dma.done):
                with m.If(dma.error):
                    m.d.comb += [sh.fail.eq(1), sh.code.eq(ErrorCode.BUS_ERROR)]
                with m.Else():
                    m.d.comb += sh.finish.eq(1)
                m.next = "IDLE"
