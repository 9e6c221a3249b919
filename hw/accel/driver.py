"""Host-side driver model: turn a layer into register values and a memory image (``hw.layout``), and read results.

The same steps the C driver performs; used by the amaranth.sim and cocotb tests and by the benchmark. Every check the
engine makes in hardware is made here first, so a bad layer raises ``ValueError`` (naming the value and the limit)
before anything is started; tests that want to see the hardware error bit edit a job's register values.
"""

from dataclasses import dataclass, field

import numpy as np

from .. import layout
from ..golden import axis_geometry, check_range
from ..params import EngineParams
from ..perf import depthwise_weight_need, fc_tiles, row_bands

__all__ = ["Job", "dense_job", "conv2d_job", "depthwise_conv2d_job", "read_output"]


@dataclass
class Job:
    """One layer: the engine runs (register field values, one dict per run: large layers are split into output
    tiles), the memory image (bus-word address -> bus word) and where the output is."""
    runs: list
    memory: dict
    out_addr: int                  # byte address
    out_shape: tuple
    out_bits: int
    out_signed: bool
    params: EngineParams = field(repr=False)


class _Allocator:
    def __init__(self, params, base):
        self.params, self.next, self.memory = params, base, {}

    def place(self, words32):
        """Put a flat 32-bit-word image at the next bus-aligned address; return its byte address."""
        p = self.params
        addr = self.next
        bus = layout.to_bus_words(words32, p.bus_width) if len(words32) else []
        for i, w in enumerate(bus):
            self.memory[addr // p.bus_bytes + i] = w
        self.next = addr + max(len(bus), 1) * p.bus_bytes
        return addr

    def reserve(self, n32):
        return self.place(np.zeros(layout.row_words(n32, 32, self.params.bus_width), np.int64))


def _precision(params, bits, what):
    if bits not in params.precisions:
        raise ValueError(f"{what} precision must be one of {params.precisions} bits for this engine, not {bits!r}")
    return params.mode_of(bits)


def dense_job(params, x, w, bias, multiplier, shift, *, a_bits, a_signed, w_bits, w_signed, o_bits, o_signed,
              relu=False, base=0x1000):
    """A :class:`Job` for a dense layer ``x (In,)``, ``w (In, Out)`` on a ``FullyConnectedEngine``.

    ``bias`` is on the accumulator grid (32-bit), ``multiplier``/``shift`` per output (or scalars). Layers whose
    weights exceed the buffers are split into output tiles (``hw.perf.fc_tiles``): one run per tile, all reading the
    same input and writing consecutive parts of the one output row. Raises ``ValueError`` if a value does not fit its
    precision or not even one group of P outputs fits the buffers.
    """
    p = params
    modes = (_precision(p, a_bits, "activation"), _precision(p, w_bits, "weight"), _precision(p, o_bits, "output"))
    if a_bits != w_bits:
        raise ValueError(f"activation ({a_bits} bit) and weight ({w_bits} bit) precisions must be equal: the ST "
                         f"multiplier pairs lane i of both operands")
    x = check_range(x, a_bits, a_signed, "activations x")
    w = check_range(w, w_bits, w_signed, "weights w")
    if x.ndim != 1 or w.ndim != 2 or w.shape[0] != x.shape[0] or 0 in w.shape:
        raise ValueError(f"dense needs x of shape (In,) and w of shape (In, Out) with In, Out >= 1; got x {x.shape}, "
                         f"w {w.shape}")
    n_in, n_out = w.shape
    tiles = fc_tiles(p, n_in, n_out, a_bits)
    bias = np.broadcast_to(np.asarray(0 if bias is None else bias), (n_out,))
    mem = _Allocator(p, base)
    addr = dict(
        addr_in=mem.place(layout.activation_words(x, a_bits, a_signed, p.bus_width)),
        addr_w=mem.place(layout.dense_weight_words(w, w_bits, w_signed, p.bus_width)),
        addr_bias=mem.place(layout.bias_words(bias, p.bus_width)),
        addr_rq=mem.place(layout.requant_words(multiplier, shift, n_out, p.requant_mul_bits, p.requant_shift_bits,
                                               p.bus_width)),
        addr_out=mem.reserve(layout.row_words(n_out, o_bits, p.bus_width)),
    )
    row_bytes = layout.row_words(n_in, a_bits, p.bus_width) * 4
    runs, start = [], 0
    for n in tiles:
        runs.append(dict(
            a_mode=modes[0], a_signed=int(a_signed), w_mode=modes[1], w_signed=int(w_signed), o_mode=modes[2],
            o_signed=int(o_signed), relu=int(relu), in_h=1, in_w=1, cin=n_in, cout=n, kh=1, kw=1, stride_h=1,
            stride_w=1, out_h=1, out_w=1, pad_top=0, pad_left=0, addr_in=addr["addr_in"],
            addr_w=addr["addr_w"] + start * row_bytes, addr_bias=addr["addr_bias"] + 4 * start,
            addr_rq=addr["addr_rq"] + 4 * start, addr_out=addr["addr_out"] + start * o_bits // 8))
        start += n
    return Job(runs, mem.memory, addr["addr_out"], (n_out,), o_bits, bool(o_signed), p)


def _operands(p, x, w, a_bits, a_signed, w_bits, w_signed, o_bits):
    """Precision mode codes and range-checked ``x``, ``w`` of a layer (``ValueError`` naming what does not fit)."""
    modes = (_precision(p, a_bits, "activation"), _precision(p, w_bits, "weight"), _precision(p, o_bits, "output"))
    if a_bits != w_bits:
        raise ValueError(f"activation ({a_bits} bit) and weight ({w_bits} bit) precisions must be equal: the ST "
                         f"multiplier pairs lane i of both operands")
    return modes, check_range(x, a_bits, a_signed, "activations x"), check_range(w, w_bits, w_signed, "weights w")


def _spatial_job(p, kind, x, w, weight_words, weight_need, cout, bias, multiplier, shift, strides, padding, modes, *,
                 a_bits, a_signed, w_signed, o_bits, o_signed, relu, base):
    """The :class:`Job` of a conv2d-like layer: TensorFlow geometry, buffer checks, memory image, register values.

    ``weight_words`` is the layer's weight image (``hw.layout``), ``weight_need`` ``(what, words needed, words
    held)`` of the fullest weight memory.
    A layer whose input or output exceeds the buffers runs as bands of output rows (``hw.perf.row_bands``), one run
    each, reading its rows of the one input image (with the halo rows its windows need) and writing its rows of the
    one output.
    """
    (h, wd, cin), (kh, kw) = x.shape, w.shape[:2]
    sh_, sw_ = strides
    oh, pt, _ = axis_geometry(h, kh, sh_, padding, "height")     # TensorFlow's geometry, defined once
    ow, pl, _ = axis_geometry(wd, kw, sw_, padding, "width")
    k32 = p.bus_width // 32
    rc = layout.row_words(cin, a_bits, p.bus_width) // k32
    ro = layout.row_words(cout, o_bits, p.bus_width) // k32
    what = f"{kind} {x.shape} * {w.shape}"
    for buf, need, have in (weight_need, ("output channels", cout, p.out_channels)):
        if need > have:
            raise ValueError(f"{what}: the {buf} need {need} but the engine holds {have}; split the layer or enlarge "
                             f"the buffer")
    bands = row_bands(p, x.shape, (kh, kw), cout, a_bits, o_bits, strides=strides, padding=padding, what=what)
    bias = np.broadcast_to(np.asarray(0 if bias is None else bias), (cout,))
    mem = _Allocator(p, base)
    addr = dict(
        addr_in=mem.place(layout.activation_words(x, a_bits, a_signed, p.bus_width)),
        addr_w=mem.place(weight_words),
        addr_bias=mem.place(layout.bias_words(bias, p.bus_width)),
        addr_rq=mem.place(layout.requant_words(multiplier, shift, cout, p.requant_mul_bits, p.requant_shift_bits,
                                               p.bus_width)),
        addr_out=mem.reserve(oh * ow * layout.row_words(cout, o_bits, p.bus_width)),
    )
    runs = [dict(
        a_mode=modes[0], a_signed=int(a_signed), w_mode=modes[1], w_signed=int(w_signed), o_mode=modes[2],
        o_signed=int(o_signed), relu=int(relu), in_h=b.in_rows, in_w=wd, cin=cin, cout=cout, kh=kh, kw=kw,
        stride_h=sh_, stride_w=sw_, out_h=b.rows, out_w=ow, pad_top=b.pad_top, pad_left=pl,
        addr_in=addr["addr_in"] + b.in_row * wd * rc * p.bus_bytes, addr_w=addr["addr_w"],
        addr_bias=addr["addr_bias"], addr_rq=addr["addr_rq"], addr_out=addr["addr_out"] + b.row * ow * ro * p.bus_bytes)
        for b in bands]
    return Job(runs, mem.memory, addr["addr_out"], (oh, ow, cout), o_bits, bool(o_signed), p)


def conv2d_job(params, x, w, bias, multiplier, shift, *, strides=(1, 1), padding="valid", a_bits, a_signed, w_bits,
               w_signed, o_bits, o_signed, relu=False, base=0x1000):
    """A :class:`Job` for a conv2d layer ``x (H, W, Cin)``, ``w (KH, KW, Cin, Cout)`` on a ``Conv2dEngine``.

    Padding follows TensorFlow (``hw.golden.layers``). A layer whose input or output exceeds the buffers is split into
    bands of output rows, one run each (``hw.perf.row_bands``). Raises ``ValueError`` before anything runs if a value
    does not fit its precision, the weights or channels exceed the engine, or not even one output row fits (the
    message names the buffer).
    """
    p = params
    modes, x, w = _operands(p, x, w, a_bits, a_signed, w_bits, w_signed, o_bits)
    if x.ndim != 3 or w.ndim != 4 or w.shape[2] != x.shape[2]:
        raise ValueError(f"conv2d needs x (H, W, Cin) and w (KH, KW, Cin, Cout); got x {x.shape}, w {w.shape}")
    kh, kw, cin, cout = w.shape
    rc = layout.row_words(cin, a_bits, p.bus_width) // (p.bus_width // 32)
    return _spatial_job(p, "conv2d", x, w, layout.conv2d_weight_words(w, w_bits, w_signed, p.bus_width),
                        ("weights per MAC bank", -(-cout // p.macs) * kh * kw * rc, p.weight_words // p.macs), cout,
                        bias, multiplier, shift, strides, padding, modes,
                        a_bits=a_bits, a_signed=a_signed, w_signed=w_signed, o_bits=o_bits, o_signed=o_signed,
                        relu=relu, base=base)


def depthwise_conv2d_job(params, x, w, bias, multiplier, shift, *, strides=(1, 1), padding="valid", a_bits, a_signed,
                         w_bits, w_signed, o_bits, o_signed, relu=False, base=0x1000, split=None):
    """A :class:`Job` for a depthwise conv2d layer ``x (H, W, C)``, ``w (KH, KW, C, 1)`` (or ``(KH, KW, C)``) on a
    ``DepthwiseConv2dEngine`` (depth multiplier 1; ``cin = cout = C``) with split lane counts ``split`` (default
    ``hw.perf.default_split``: then a weight bank is two half-depth memories, even and odd rows).

    A single input channel may have any depth multiplier ``M``: ``x (H, W, 1)``, ``w (KH, KW, 1, M)`` is a conv2d
    with ``Cin = 1`` and ``M`` output channels (``cin = 1``, ``cout = M``; ``hw.perf.conv2d_engine``), with the
    weights of output channel ``m`` laid out as a depthwise channel's row.

    Padding follows TensorFlow (``hw.golden.layers``); weights are laid out by ``hw.layout.depthwise_weight_words``.
    Large inputs / outputs are split into bands of output rows as for :func:`conv2d_job`. Raises ``ValueError`` before
    anything runs if a value does not fit its precision, the weights or channels exceed the engine, or not even one
    output row fits (the message names the buffer).
    """
    p = params
    modes, x, w = _operands(p, x, w, a_bits, a_signed, w_bits, w_signed, o_bits)
    if w.ndim == 3:
        w = w[..., None]
    if x.ndim != 3 or w.ndim != 4 or w.shape[2] != x.shape[2] or (w.shape[3] != 1 and x.shape[2] != 1):
        raise ValueError(f"depthwise conv2d needs x (H, W, C) and w (KH, KW, C, 1), or x (H, W, 1) and w (KH, KW, 1, "
                         f"M); got x {x.shape}, w {w.shape}")
    if x.shape[2] == 1:                               # one input channel, M outputs: each a depthwise channel's row
        w = w.transpose(0, 1, 3, 2)
    kh, kw, c, _ = w.shape
    return _spatial_job(p, "depthwise conv2d", x, w, layout.depthwise_weight_words(w, w_bits, w_signed, p.bus_width),
                        depthwise_weight_need(p, c, (kh, kw), w_bits, split), c, bias, multiplier, shift, strides,
                        padding, modes,
                        a_bits=a_bits, a_signed=a_signed, w_signed=w_signed, o_bits=o_bits, o_signed=o_signed,
                        relu=relu, base=base)


def read_output(job, memory):
    """The output tensor of ``job`` from a memory dict (bus-word address -> bus word) after the run."""
    p = job.params
    n32 = int(np.prod(job.out_shape[:-1], dtype=np.int64)) * layout.row_words(job.out_shape[-1], job.out_bits,
                                                                               p.bus_width)
    n_bus = n32 // (p.bus_width // 32)
    first = job.out_addr // p.bus_bytes
    words = layout.from_bus_words([memory.get(first + i, 0) for i in range(n_bus)], p.bus_width)
    return layout.output_from_words(words, job.out_shape, job.out_bits, job.out_signed, p.bus_width)
