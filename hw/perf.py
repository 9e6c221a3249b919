"""Analytic cycle model of the stacc engines, so design-space sweeps need no RTL simulation.

The model follows the engines' control FSMs phase by phase (the engine tests check it against the RTL within 5 % on
every measured layer, and exactly for the dense engine and the requantizer-paced cases). DMA costs are those of
``hw.accel.dma`` with a target that acknowledges one cycle after a new request plus ``wait`` wait states (the memory
model of ``hw.accel.sim``). ``*_cycles`` model one engine run (the input rows its windows read, all output rows);
``*_layer_cycles`` a whole layer as the driver runs it (dense: output tiles, :func:`fc_tiles`; conv2d / depthwise:
bands of output rows, :func:`row_bands`).

Utilization is ``useful MACs / (cycles * P * lanes)`` where ``lanes = mul_width // bits``: the fraction of the ST
lanes doing useful products, over the compute phase and end to end (including DMA).
"""

from dataclasses import asdict, dataclass

from .golden.layers import axis_geometry
from .layout import row_words
from .params import EngineParams

__all__ = ["LayerCycles", "Band", "default_requantizers", "default_split", "conv2d_engine", "row_bands",
           "conv2d_cycles", "conv2d_fits", "conv2d_runs", "conv2d_layer_cycles", "depthwise_conv2d_cycles",
           "depthwise_conv2d_fits", "depthwise_conv2d_runs", "depthwise_conv2d_layer_cycles", "depthwise_weight_need",
           "fc_cycles",
           "fc_layer_cycles", "fc_max_outputs", "fc_tiles"]


@dataclass(frozen=True)
class LayerCycles:
    """Predicted (or measured) cycles of one layer run."""
    total: int
    compute: int
    macs: int                 # useful multiply-accumulates
    peak_macs_per_cycle: int  # P * lanes

    @property
    def util_compute(self):
        return self.macs / (self.compute * self.peak_macs_per_cycle)

    @property
    def util_total(self):
        return self.macs / (self.total * self.peak_macs_per_cycle)

    def as_dict(self):
        return {**asdict(self), "util_compute": self.util_compute, "util_total": self.util_total}


#: Cycles of ``hw.accel.requant.Requantizer`` (its ``LATENCY``; a test keeps them equal).
REQUANT_LATENCY = 3


def _bus_words(n, bits, params):
    return row_words(n, bits, params.bus_width) // (params.bus_width // 32)


def default_split(params, kind):
    """Lane counts an engine of ``kind`` runs in the multipliers' split mode unless told otherwise.

    Depthwise: every lane count >= 2. A Sum-Together word adds its lanes into one sum, so without the split mode all
    lanes of a word must hold taps of one channel and a 3 x 3 kernel fills at most 9 of 10 (8 bit) or 12 (4 bit)
    lane slots; split, a word holds ``lanes / 2`` taps of each of two channels: 9 of 9 and 9 of 10. Conv2D / dense:
    none (their lanes reduce over input channels of one output already).
    """
    if kind != "depthwise":
        return ()
    return tuple(n for n in params.lanes if n >= 2)


def conv2d_engine(in_shape):
    """The engine a conv2d layer with input ``(H, W, Cin)`` runs on: ``"conv2d"``, or ``"depthwise"`` when
    ``Cin = 1``.

    The Conv2D engine puts input channels on the ST lanes, so one input channel uses one lane in ``lanes``
    (DS-CNN's first conv: 25 % at 4 bit). The depthwise engine puts kernel taps on the lanes and, given one input
    channel and ``Cout`` output channels (``cin = 1``), feeds that channel to every output channel: the layer fills
    the lanes like a depthwise layer with ``KH*KW`` taps.
    """
    return "depthwise" if in_shape[2] == 1 else "conv2d"


def _depthwise_group(params, lanes, split):
    """``(channels a group, taps a multiplier word per channel)`` of the depthwise engine at ``lanes`` lanes."""
    if lanes in split:
        return 2 * params.macs, lanes // 2
    return params.macs, lanes


def default_requantizers(params, kind, split=None):
    """Requantizers an engine of ``kind`` (``"dense"``, ``"conv2d"`` or ``"depthwise"``) has unless told otherwise.

    Conv2D / dense: 1 (their groups are ``KH*KW*ceil(Cin/lanes)`` words, rarely shorter than P). Depthwise (with
    ``split`` lane counts, default :func:`default_split`): the fewest (a power of two) that keep a 3 x 3 kernel
    compute-bound at every precision, i.e. ``G / R <= ceil(9 / taps a word)`` for groups of ``G`` channels: 2 for
    P = 4, 4 for P = 8.
    """
    if kind != "depthwise":
        return 1
    split = default_split(params, kind) if split is None else split
    r = 1
    for n in params.lanes:
        group, taps = _depthwise_group(params, n, split)
        r = max(r, -(-group // -(-9 // taps)))
    return min(params.macs, 1 << (r - 1).bit_length())


def _compute_cycles(p, *, groups, k, last, o_bits, requantizers, mul_pipeline, group=None):
    """Compute phase of ``groups`` channel groups of ``k`` multiplier words (``last`` channels in the final one).

    Requantization takes a group of ``G`` channels (``group``, default P) in beats of
    ``E = min(requantizers, bus_width / o_bits, P)`` channels, and a group's last word issues at least ``G / E``
    cycles after the previous group's (``RequantPacker.pace``), so groups follow each other every ``max(k, G / E)``
    cycles; then the multiplier pipeline and the last group's beats drain.
    """
    beat = min(requantizers, p.bus_width // o_bits, p.macs)
    return (k + (groups - 1) * max(k, (group or p.macs) // beat) + (1 + mul_pipeline) + -(-last // beat)
            + 2 + REQUANT_LATENCY)


def _engine_cycles(p, *, pixels, in_words, k_group, row_words_w, n_out, out_row, o_bits, mul_pipeline, wait,
                   requantizers):
    """Cycles of one run of the channel-reduction datapath shared by the conv2d and dense engines."""
    per_word = 2 + wait
    bias = _bus_words(n_out, 32, p)
    dma = per_word * (2 * bias + in_words + n_out * row_words_w) + per_word * pixels * out_row + 1
    groups = -(-n_out // p.macs)
    compute = _compute_cycles(p, groups=pixels * groups, k=k_group, last=n_out - (groups - 1) * p.macs,
                              o_bits=o_bits, requantizers=requantizers, mul_pipeline=mul_pipeline)
    return 2 + dma + compute, compute              # + CHECK and CHECKED


def conv2d_cycles(params, in_shape, kernel, n_out, bits, o_bits=None, *, strides=(1, 1), padding="valid",
                  mul_pipeline=1, wait=0, requantizers=None):
    """Cycles of one ``Conv2dEngine`` run: ``in_shape = (H, W, Cin)``, ``kernel = (KH, KW)``, ``n_out`` channels.

    Counted like the ``CYCLES`` register: from the cycle after the start pulse to the done flag. ``requantizers``
    is the engine's (default :func:`default_requantizers`).
    """
    o_bits = o_bits or bits
    (run,) = _band_pixels(params, in_shape, kernel, n_out, bits, o_bits, strides, padding, fit=False)
    return _conv2d_run(params, *run, in_shape[2], kernel, n_out, bits, o_bits, mul_pipeline, wait, requantizers)


def _band_pixels(p, in_shape, kernel, n_out, bits, o_bits, strides, padding, fit):
    """``(input pixels, output pixels)`` of each engine run of a conv2d / depthwise layer (its :func:`row_bands`;
    one run with ``fit=False``)."""
    p.mode_of(bits), p.mode_of(o_bits)
    w = in_shape[1]
    ow = _output_size(w, kernel[1], strides[1], padding)
    return [(b.in_rows * w, b.rows * ow)
            for b in row_bands(p, in_shape, kernel, n_out, bits, o_bits, strides=strides, padding=padding, fit=fit)]


def _conv2d_run(p, in_pixels, pixels, cin, kernel, n_out, bits, o_bits, mul_pipeline, wait, requantizers):
    kh, kw = kernel
    lanes = p.mul_width // bits
    rc = _bus_words(cin, bits, p)
    total, compute = _engine_cycles(p, pixels=pixels, in_words=in_pixels * rc, k_group=kh * kw * -(-cin // lanes),
                                    row_words_w=kh * kw * rc, n_out=n_out, out_row=_bus_words(n_out, o_bits, p),
                                    o_bits=o_bits, mul_pipeline=mul_pipeline, wait=wait,
                                    requantizers=requantizers or default_requantizers(p, "conv2d"))
    return LayerCycles(total=total, compute=compute, macs=pixels * kh * kw * cin * n_out,
                       peak_macs_per_cycle=p.macs * lanes)


def conv2d_fits(params, in_shape, kernel, n_out, bits, o_bits=None, *, strides=(1, 1), padding="valid"):
    """Whether one ``Conv2dEngine`` run holds the layer (input, weights, output and channels within the buffers)."""
    return conv2d_runs(params, in_shape, kernel, n_out, bits, o_bits, strides=strides, padding=padding) == 1


def _depthwise_out(in_shape, n_out):
    """Output channels of a depthwise engine run: ``C``, or ``n_out`` for a single-channel conv2d (``C = 1``)."""
    c = in_shape[2]
    if n_out is None or n_out == c:
        return c
    if c != 1:
        raise ValueError(f"the depthwise engine writes C = {c} output channels, or any number from one input channel "
                         f"(a conv2d with Cin = 1); not {n_out} from {c}")
    return n_out


def depthwise_conv2d_cycles(params, in_shape, kernel, bits, o_bits=None, *, strides=(1, 1), padding="valid",
                            mul_pipeline=1, wait=0, requantizers=None, split=None, n_out=None):
    """Cycles of one ``DepthwiseConv2dEngine`` run: ``in_shape = (H, W, C)``, ``kernel = (KH, KW)``; with ``C = 1``
    and ``n_out`` channels, a conv2d with one input channel (see :func:`conv2d_engine`).

    The reduction runs over the ``KH*KW`` taps: ``K = ceil(KH*KW / lanes)`` multiplier words a group of P channels,
    or, at a lane count in ``split`` (default :func:`default_split`), ``K = ceil(KH*KW / (lanes/2))`` words a group
    of 2P; groups follow each other every ``max(K, G / E)`` cycles (``E`` channels requantized a cycle, see
    :func:`default_requantizers`).
    """
    o_bits = o_bits or bits
    c = _depthwise_out(in_shape, n_out)
    (run,) = _band_pixels(params, in_shape, kernel, c, bits, o_bits, strides, padding, fit=False)
    return _depthwise_run(params, *run, in_shape[2], c, kernel, bits, o_bits, mul_pipeline, wait, requantizers, split)


def _depthwise_run(p, in_pixels, pixels, cin, c, kernel, bits, o_bits, mul_pipeline, wait, requantizers, split):
    kh, kw = kernel
    lanes = p.mul_width // bits
    split = default_split(p, "depthwise") if split is None else split
    group, taps = _depthwise_group(p, lanes, split)
    per_word = 2 + wait
    groups = -(-c // group)
    dma = per_word * (2 * _bus_words(c, 32, p) + in_pixels * _bus_words(cin, bits, p)
                      + c * _bus_words(kh * kw, bits, p) + pixels * _bus_words(c, o_bits, p)) + 1
    compute = _compute_cycles(p, groups=pixels * groups, k=-(-(kh * kw) // taps), last=c - (groups - 1) * group,
                              o_bits=o_bits, mul_pipeline=mul_pipeline, group=group,
                              requantizers=requantizers or default_requantizers(p, "depthwise", split))
    return LayerCycles(total=2 + dma + compute, compute=compute, macs=pixels * kh * kw * c,
                       peak_macs_per_cycle=p.macs * lanes)


def depthwise_conv2d_fits(params, in_shape, kernel, bits, o_bits=None, *, strides=(1, 1), padding="valid",
                          split=None, n_out=None):
    """Whether one ``DepthwiseConv2dEngine`` run holds the layer (input, weights, output, channels)."""
    return depthwise_conv2d_runs(params, in_shape, kernel, bits, o_bits, strides=strides, padding=padding,
                                 split=split, n_out=n_out) == 1


@dataclass(frozen=True)
class Band:
    """Output rows ``[row, row + rows)`` of a conv2d / depthwise layer run as one engine job: the input rows
    ``[in_row, in_row + in_rows)`` they read and the zero rows above them (``pad_top``; rows past the input's end are
    padding too)."""
    row: int
    rows: int
    in_row: int
    in_rows: int
    pad_top: int


def row_bands(params, in_shape, kernel, n_out, bits, o_bits=None, *, strides=(1, 1), padding="valid", what="layer",
              fit=True):
    """Split a conv2d / depthwise layer into bands of output rows whose input rows (with the halo of ``KH - SH``
    rows their windows share) fit ``act_words`` and whose output rows fit ``out_words``: a list of :class:`Band`.

    One band (one engine run) when the layer fits, or always with ``fit=False``; otherwise bands as tall as fit, top
    to bottom. A band reads only the input rows its windows touch (a ``"valid"`` layer may leave the last rows
    unread). Raises ``ValueError`` naming the buffer if not even one output row fits. Weights and channel counts are
    not split.
    """
    p = params
    o_bits = o_bits or bits
    (h, w, cin), (kh, kw) = in_shape, kernel
    sh = strides[0]
    oh, pt, _ = axis_geometry(h, kh, sh, padding, "height")
    ow = axis_geometry(w, kw, strides[1], padding, "width")[0]
    rc, ro = _bus_words(cin, bits, p), _bus_words(n_out, o_bits, p)

    def band(row, rows):
        first, end = max(0, row * sh - pt), min(h, (row + rows - 1) * sh - pt + kh)
        return Band(row, rows, first, end - first, max(0, pt - row * sh))

    if not fit:
        return [band(0, oh)]
    bands, rows = [], oh
    while sum(b.rows for b in bands) < oh:
        row = sum(b.rows for b in bands)
        rows = min(rows, oh - row)
        while rows and (band(row, rows).in_rows * w * rc > p.act_words or rows * ow * ro > p.out_words):
            rows -= 1
        if not rows:
            one = band(row, 1)
            for buf, need, have in (("input", one.in_rows * w * rc, p.act_words), ("output", ow * ro, p.out_words)):
                if need > have:
                    raise ValueError(f"{what}: the {buf} need {need} bus words for one output row "
                                     f"({one.in_rows} input rows) but the engine holds {have}; enlarge the buffer")
        bands.append(band(row, rows))
    return bands


def conv2d_layer_cycles(params, in_shape, kernel, n_out, bits, o_bits=None, *, strides=(1, 1), padding="valid",
                        mul_pipeline=1, wait=0, requantizers=None):
    """Cycles of a whole conv2d layer: the sum over its :func:`row_bands`, one ``Conv2dEngine`` run each."""
    o_bits = o_bits or bits
    return _sum([_conv2d_run(params, *run, in_shape[2], kernel, n_out, bits, o_bits, mul_pipeline, wait, requantizers)
                 for run in _band_pixels(params, in_shape, kernel, n_out, bits, o_bits, strides, padding, fit=True)])


def depthwise_conv2d_layer_cycles(params, in_shape, kernel, bits, o_bits=None, *, strides=(1, 1), padding="valid",
                                  mul_pipeline=1, wait=0, requantizers=None, split=None, n_out=None):
    """Cycles of a whole depthwise layer: the sum over its :func:`row_bands`, one ``DepthwiseConv2dEngine`` run
    each."""
    o_bits = o_bits or bits
    c = _depthwise_out(in_shape, n_out)
    return _sum([_depthwise_run(params, *run, in_shape[2], c, kernel, bits, o_bits, mul_pipeline, wait, requantizers,
                                split)
                 for run in _band_pixels(params, in_shape, kernel, c, bits, o_bits, strides, padding, fit=True)])


def conv2d_runs(params, in_shape, kernel, n_out, bits, o_bits=None, *, strides=(1, 1), padding="valid"):
    """Engine runs ``hw.accel.driver.conv2d_job`` splits a conv2d layer into (its :func:`row_bands`), or 0 if the
    weights or output channels exceed the engine or not even one output row fits."""
    p = params
    rc = _bus_words(in_shape[2], bits, p)
    if -(-n_out // p.macs) * kernel[0] * kernel[1] * rc > p.weight_words // p.macs or n_out > p.out_channels:
        return 0
    return _band_count(p, in_shape, kernel, n_out, bits, o_bits, strides, padding)


def depthwise_conv2d_runs(params, in_shape, kernel, bits, o_bits=None, *, strides=(1, 1), padding="valid",
                          split=None, n_out=None):
    """Engine runs ``hw.accel.driver.depthwise_conv2d_job`` splits a depthwise layer into, or 0 if it cannot.

    With split lane counts (default :func:`default_split`) a weight bank is two memories of half the depth holding
    the even and the odd rows (``hw.accel.stages.weight_banks``), so the fuller half must hold ``ceil(rows / 2)``.
    """
    p = params
    c = _depthwise_out(in_shape, n_out)
    _, need, have = depthwise_weight_need(p, c, kernel, bits, split)
    if need > have or c > p.out_channels:
        return 0
    return _band_count(p, in_shape, kernel, c, bits, o_bits, strides, padding)


def depthwise_weight_need(params, channels, kernel, bits, split=None):
    """``(what, bus words needed, bus words held)`` of the fullest weight memory of a ``DepthwiseConv2dEngine`` with
    split lane counts ``split`` (default :func:`default_split`) running ``channels`` output channels of ``kernel``
    at ``bits``: a bank holds ``ceil(channels / P)`` rows, or with split modes each half (even / odd rows) holds
    ``ceil(rows / 2)`` of them."""
    p = params
    split = default_split(p, "depthwise") if split is None else split
    halves = 2 if split else 1
    rows = -(-channels // p.macs)                     # weight rows a bank
    fullest = -(-rows // halves)                      # ... in its fuller half
    return ("weights per MAC bank" + " half" * (halves > 1), fullest * _bus_words(kernel[0] * kernel[1], bits, p),
            p.weight_words // p.macs // halves)


def _band_count(p, in_shape, kernel, n_out, bits, o_bits, strides, padding):
    try:
        return len(row_bands(p, in_shape, kernel, n_out, bits, o_bits, strides=strides, padding=padding))
    except ValueError:
        return 0


def _sum(runs):
    return LayerCycles(total=sum(r.total for r in runs), compute=sum(r.compute for r in runs),
                       macs=sum(r.macs for r in runs), peak_macs_per_cycle=runs[0].peak_macs_per_cycle)


def _output_size(size, k, stride, padding):
    """TensorFlow's output size (``hw.golden.axis_geometry``)."""
    return axis_geometry(size, k, stride, padding)[0]


def fc_cycles(params, n_in, n_out, bits, o_bits=None, *, mul_pipeline=1, wait=0, requantizers=None):
    """Cycles of one ``FullyConnectedEngine`` run (``n_in`` inputs, ``n_out`` outputs): a 1 x 1 conv2d."""
    p = params if isinstance(params, EngineParams) else EngineParams(**params)
    return conv2d_cycles(p, (1, 1, n_in), (1, 1), n_out, bits, o_bits, mul_pipeline=mul_pipeline, wait=wait,
                         requantizers=requantizers)


def fc_max_outputs(params, n_in, bits):
    """Largest output count one ``FullyConnectedEngine`` run can take (0 if one input row does not fit)."""
    p = params
    row = _bus_words(n_in, bits, p)
    if row > p.act_words:
        return 0
    groups = (p.weight_words // p.macs) // row
    return min(groups * p.macs, p.out_channels)


def fc_tiles(params, n_in, n_out, bits):
    """Output tile sizes a driver splits a large dense layer into (each a multiple of a bus word of outputs)."""
    p = params
    limit = fc_max_outputs(p, n_in, bits)
    limit -= limit % (p.bus_width // min(p.precisions))    # every tile starts on a bus word of outputs and biases
    if limit <= 0:
        raise ValueError(f"a dense layer with {n_in} {bits}-bit inputs does not fit act_words={p.act_words} / "
                         f"weight_words={p.weight_words}; enlarge the buffers")
    return [min(limit, n_out - s) for s in range(0, n_out, limit)]


def fc_layer_cycles(params, n_in, n_out, bits, o_bits=None, *, mul_pipeline=1, wait=0, requantizers=None):
    """Cycles of a whole dense layer: the sum over its output tiles (:func:`fc_tiles`), one engine run each."""
    return _sum([fc_cycles(params, n_in, n, bits, o_bits, mul_pipeline=mul_pipeline, wait=wait,
                           requantizers=requantizers)
                 for n in fc_tiles(params, n_in, n_out, bits)])
