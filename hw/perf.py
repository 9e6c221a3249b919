"""Analytic cycle model of the stacc engines, so design-space sweeps need no RTL simulation.

The model follows the engines' control FSMs phase by phase (``tests/test_perf.py`` checks it against the RTL within
5 % on every measured layer; for the dense engine it is exact). DMA costs are those of ``hw.accel.dma`` with a target
that acknowledges one cycle after a new request plus ``wait`` wait states (the memory model of ``hw.accel.sim``).

Utilization is ``useful MACs / (cycles * P * lanes)`` where ``lanes = mul_width // bits``: the fraction of the ST
lanes doing useful products, over the compute phase and end to end (including DMA).
"""

from dataclasses import asdict, dataclass

from .layout import row_words
from .params import EngineParams

__all__ = ["LayerCycles", "conv2d_cycles", "conv2d_fits", "depthwise_conv2d_cycles", "depthwise_conv2d_fits",
           "fc_cycles", "fc_layer_cycles", "fc_max_outputs", "fc_tiles"]


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


def _bus_words(n, bits, params):
    return row_words(n, bits, params.bus_width) // (params.bus_width // 32)


def _engine_cycles(p, *, pixels, in_words, k_group, row_words_w, n_out, out_row, bits, mul_pipeline, wait):
    """Cycles of one run of the channel-reduction datapath shared by the conv2d and dense engines."""
    per_word = 2 + wait
    bias = _bus_words(n_out, 32, p)
    dma = per_word * (2 * bias + in_words + n_out * row_words_w) + per_word * pixels * out_row + 1
    lat = 1 + mul_pipeline
    groups = -(-n_out // p.macs)
    compute = 0
    for g in range(groups):
        cnt = min(p.macs, n_out - g * p.macs)
        wait_cycles = lat + cnt + 2 if k_group < p.macs + 2 else 0      # short groups wait for the requantizer
        compute += pixels * (k_group + wait_cycles)
        if g == groups - 1:
            compute += (lat + cnt + 4) - wait_cycles                    # the very last group drains instead
    return 1 + dma + compute, compute


def conv2d_cycles(params, in_shape, kernel, n_out, bits, o_bits=None, *, strides=(1, 1), padding="valid",
                  mul_pipeline=1, wait=0):
    """Cycles of one ``Conv2dEngine`` run: ``in_shape = (H, W, Cin)``, ``kernel = (KH, KW)``, ``n_out`` channels.

    Counted like the ``CYCLES`` register: from the cycle after the start pulse to the done flag.
    """
    p = params
    o_bits = o_bits or bits
    p.mode_of(bits), p.mode_of(o_bits)
    (h, w, cin), (kh, kw) = in_shape, kernel
    oh, ow = _output_size(h, kh, strides[0], padding), _output_size(w, kw, strides[1], padding)
    lanes = p.mul_width // bits
    rc = _bus_words(cin, bits, p)
    total, compute = _engine_cycles(p, pixels=oh * ow, in_words=h * w * rc, k_group=kh * kw * -(-cin // lanes),
                                    row_words_w=kh * kw * rc, n_out=n_out, out_row=_bus_words(n_out, o_bits, p),
                                    bits=bits, mul_pipeline=mul_pipeline, wait=wait)
    return LayerCycles(total=total, compute=compute, macs=oh * ow * kh * kw * cin * n_out,
                       peak_macs_per_cycle=p.macs * lanes)


def conv2d_fits(params, in_shape, kernel, n_out, bits, o_bits=None, *, strides=(1, 1), padding="valid"):
    """Whether one ``Conv2dEngine`` run holds the layer (input, weights, output and channels within the buffers)."""
    p = params
    o_bits = o_bits or bits
    (h, w, cin), (kh, kw) = in_shape, kernel
    oh, ow = _output_size(h, kh, strides[0], padding), _output_size(w, kw, strides[1], padding)
    rc = _bus_words(cin, bits, p)
    return (h * w * rc <= p.act_words and -(-n_out // p.macs) * kh * kw * rc <= p.weight_words // p.macs
            and oh * ow * _bus_words(n_out, o_bits, p) <= p.out_words and n_out <= p.out_channels)


def depthwise_conv2d_cycles(params, in_shape, kernel, bits, o_bits=None, *, strides=(1, 1), padding="valid",
                            mul_pipeline=1, wait=0):
    """Cycles of one ``DepthwiseConv2dEngine`` run: ``in_shape = (H, W, C)``, ``kernel = (KH, KW)``.

    The reduction runs over the ``KH*KW`` taps: ``K = ceil(KH*KW / lanes)`` multiplier words a group of P channels,
    and a group's last word issues at least P cycles after the previous group's (the requantizer takes one value a
    cycle), so groups follow each other every ``max(K, P)`` cycles; then the pipeline and requantizer drain.
    """
    p = params
    o_bits = o_bits or bits
    p.mode_of(bits), p.mode_of(o_bits)
    (h, w, c), (kh, kw) = in_shape, kernel
    oh, ow = _output_size(h, kh, strides[0], padding), _output_size(w, kw, strides[1], padding)
    lanes = p.mul_width // bits
    per_word = 2 + wait
    k = -(-(kh * kw) // lanes)                                  # multiplier words a group
    groups = oh * ow * -(-c // p.macs)
    last = c - (-(-c // p.macs) - 1) * p.macs                   # channels in a pixel's last group
    dma = per_word * (2 * _bus_words(c, 32, p) + h * w * _bus_words(c, bits, p) + c * _bus_words(kh * kw, bits, p)
                      + oh * ow * _bus_words(c, o_bits, p)) + 1
    compute = k + (groups - 1) * max(k, p.macs) + (1 + mul_pipeline) + last + 4
    total = 1 + dma + compute
    return LayerCycles(total=total, compute=compute, macs=oh * ow * kh * kw * c, peak_macs_per_cycle=p.macs * lanes)


def depthwise_conv2d_fits(params, in_shape, kernel, bits, o_bits=None, *, strides=(1, 1), padding="valid"):
    """Whether one ``DepthwiseConv2dEngine`` run holds the layer (input, weights, output, channels)."""
    p = params
    o_bits = o_bits or bits
    (h, w, c), (kh, kw) = in_shape, kernel
    oh, ow = _output_size(h, kh, strides[0], padding), _output_size(w, kw, strides[1], padding)
    return (h * w * _bus_words(c, bits, p) <= p.act_words
            and -(-c // p.macs) * _bus_words(kh * kw, bits, p) <= p.weight_words // p.macs
            and oh * ow * _bus_words(c, o_bits, p) <= p.out_words and c <= p.out_channels)


def _output_size(size, k, stride, padding):
    """TensorFlow's output size (``hw.golden.layers`` semantics)."""
    if padding == "same":
        return -(-size // stride)
    return (size - k) // stride + 1


def fc_cycles(params, n_in, n_out, bits, o_bits=None, *, mul_pipeline=1, wait=0):
    """Cycles of one ``FullyConnectedEngine`` run (``n_in`` inputs, ``n_out`` outputs): a 1 x 1 conv2d."""
    p = params if isinstance(params, EngineParams) else EngineParams(**params)
    return conv2d_cycles(p, (1, 1, n_in), (1, 1), n_out, bits, o_bits, mul_pipeline=mul_pipeline, wait=wait)


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


def fc_layer_cycles(params, n_in, n_out, bits, o_bits=None, *, mul_pipeline=1, wait=0):
    """Cycles of a whole dense layer: the sum over its output tiles (:func:`fc_tiles`), one engine run each."""
    runs = [fc_cycles(params, n_in, n, bits, o_bits, mul_pipeline=mul_pipeline, wait=wait)
            for n in fc_tiles(params, n_in, n_out, bits)]
    return LayerCycles(total=sum(r.total for r in runs), compute=sum(r.compute for r in runs),
                       macs=sum(r.macs for r in runs), peak_macs_per_cycle=runs[0].peak_macs_per_cycle)
