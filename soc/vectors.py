"""Test vectors for the firmware, computed by hw/golden and laid out by hw/layout, emitted as a C header.

A :class:`LayerCase` describes one Keras layer (conv2d, depthwise conv2d or dense: shape, precision,
requantization); :func:`make_layer` draws its random integer tensors (seeded) and computes the expected output with
``hw.golden.conv2d`` / ``depthwise_conv2d`` / ``dense`` (``acc_bits=32``) and ``hw.golden.requantize``;
:func:`c_header` writes every tensor as its ``hw.layout`` memory image, so the firmware kernels (and later the
engines) read exactly the bytes the golden model describes.
"""

from dataclasses import dataclass

import numpy as np

from hw import golden, layout

__all__ = ["KINDS", "LayerCase", "LayerVectors", "make_layer", "c_layer", "c_array", "c_header", "SMOKE_CASES",
           "ACC_BITS", "MUL_BITS"]

#: Width of the software kernels' accumulator (it wraps like a 32-bit hardware accumulator).
ACC_BITS = 32
#: Requantization multiplier width of the memory layout (``hw.layout.requant_words`` default).
MUL_BITS = 16
#: Layer kinds and their ``STACC_*`` codes in firmware/include/stacc_kernels.h (= ``hw.accel.regs.EngineKind``).
KINDS = {"dense": 1, "conv2d": 2, "depthwise": 3}


@dataclass(frozen=True)
class LayerCase:
    """One layer: input ``(h, w, cin)`` (dense: ``(cin,)``), ``k x k`` kernel (``k`` may be a ``(kh, kw)`` pair),
    ``cout`` outputs, ``bits`` for input,
    weights and output; ``in_signed``/``w_signed``/``out_signed`` choose two's complement lanes; ``relu`` clamps
    before saturation. Depthwise layers have ``cout == cin``; dense layers ``h == w == k == stride == 1``.
    """
    name: str
    kind: str
    h: int
    w: int
    cin: int
    cout: int
    k: int | tuple = 3
    stride: int = 1
    padding: str = "same"
    bits: int = 8
    in_signed: bool = False
    w_signed: bool = True
    out_signed: bool = False
    relu: bool = True
    seed: int = 0

    @property
    def kh(self):
        return self.k[0] if isinstance(self.k, tuple) else self.k

    @property
    def kw(self):
        return self.k[1] if isinstance(self.k, tuple) else self.k

    def __post_init__(self):
        if isinstance(self.k, list):
            object.__setattr__(self, "k", tuple(self.k))
        if not (isinstance(self.k, int) or (isinstance(self.k, tuple) and len(self.k) == 2
                                            and all(isinstance(v, int) for v in self.k))):
            raise ValueError(f"case {self.name}: k must be an int or a (kh, kw) pair of ints, not {self.k!r}")
        if not self.name.isidentifier():
            raise ValueError(f"case name must be a C identifier, not {self.name!r}")
        if self.kind not in KINDS:
            raise ValueError(f"case {self.name}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.bits not in (4, 8, 16):
            raise ValueError(f"case {self.name}: bits must be 4, 8 or 16 (the kernels' precisions), not {self.bits}")
        if self.kind == "depthwise" and self.cout != self.cin:
            raise ValueError(f"case {self.name}: a depthwise layer has cout == cin, not {self.cout} != {self.cin}")
        if self.kind == "dense" and (self.h, self.w, self.kh, self.kw, self.stride) != (1, 1, 1, 1, 1):
            raise ValueError(f"case {self.name}: a dense layer needs h = w = k = stride = 1, got "
                             f"{(self.h, self.w, self.k, self.stride)}")


@dataclass
class LayerVectors:
    """A case with its tensors (golden/Keras shapes): ``x``, ``wt``, ``bias``, per-channel ``multiplier`` and
    ``shift``, and the golden output ``y``."""
    case: LayerCase
    x: np.ndarray
    wt: np.ndarray
    bias: np.ndarray
    multiplier: np.ndarray
    shift: np.ndarray
    y: np.ndarray

    def accumulate(self):
        """The 32-bit accumulator of the layer (hw.golden)."""
        c = self.case
        if c.kind == "dense":
            return golden.dense(self.x, self.wt, self.bias, acc_bits=ACC_BITS)
        layer = golden.conv2d if c.kind == "conv2d" else golden.depthwise_conv2d
        return layer(self.x, self.wt, self.bias, strides=c.stride, padding=c.padding, acc_bits=ACC_BITS)

    def memory(self):
        """``hw.layout`` memory images: ``{"x", "w", "requant", "y"}`` (32-bit words) and ``"bias"`` (int32)."""
        c = self.case
        weights = {"conv2d": layout.conv2d_weight_words, "depthwise": layout.depthwise_weight_words,
                   "dense": layout.dense_weight_words}[c.kind]
        return {"x": layout.activation_words(self.x, c.bits, c.in_signed),
                "w": weights(self.wt, c.bits, c.w_signed),
                "bias": self.bias,
                "requant": layout.requant_words(self.multiplier, self.shift, c.cout),
                "y": layout.activation_words(self.y, c.bits, c.out_signed)}


def _draw(rng, shape, bits, signed):
    lo, hi = golden.value_range(bits, signed)
    return rng.integers(lo, hi + 1, size=shape, dtype=np.int64)


def make_layer(case):
    """Random tensors of ``case`` and the golden output.

    Requantization: even channels get a 15/16-bit multiplier with a shift that maps the largest accumulator just past
    the output range (so some outputs saturate); odd channels get a multiplier of 1-3 and a 1-2 bit shift, which makes
    exact ties frequent and so exercises round-half-to-even.
    """
    c = case
    rng = np.random.default_rng(c.seed)
    x_shape = (c.cin,) if c.kind == "dense" else (c.h, c.w, c.cin)
    w_shape = {"conv2d": (c.kh, c.kw, c.cin, c.cout), "depthwise": (c.kh, c.kw, c.cin, 1), "dense": (c.cin, c.cout)}
    v = LayerVectors(c, _draw(rng, x_shape, c.bits, c.in_signed), _draw(rng, w_shape[c.kind], c.bits, c.w_signed),
                     rng.integers(-(1 << (c.bits + 2)), 1 << (c.bits + 2), size=c.cout, dtype=np.int64),
                     None, None, None)
    acc = v.accumulate()
    v.multiplier = rng.integers(1 << (MUL_BITS - 2), 1 << (MUL_BITS - 1), size=c.cout, dtype=np.int64)
    peak = np.maximum(np.abs(acc).reshape(-1, c.cout).max(axis=0), 1)
    v.shift = np.array([max(int(p * m).bit_length() - c.bits, 0) for p, m in zip(peak, v.multiplier)], np.int64)
    odd = np.arange(c.cout) % 2 == 1
    v.multiplier[odd] = rng.integers(1, 4, size=int(odd.sum()))
    v.shift[odd] = rng.integers(1, 3, size=int(odd.sum()))
    v.y = golden.requantize(acc, v.multiplier, v.shift, c.bits, c.out_signed, relu=c.relu)
    return v


def c_layer(kind, same, relu, inp, wt, out, h, w, cin, cout, kh, kw, stride_h, stride_w):
    """C initializer of a ``stacc_layer_t`` (firmware/include/stacc_kernels.h); ``inp``, ``wt``, ``out`` are
    ``(bits, signed)`` pairs, ``kind`` its integer code."""
    prec = lambda p: f"{{{p[0]}, {int(p[1])}}}"         # noqa: E731
    return (f"{{{kind}, {int(same)}, {int(relu)}, {prec(inp)}, {prec(wt)}, {prec(out)}, "
            f"{h}, {w}, {cin}, {cout}, {kh}, {kw}, {stride_h}, {stride_w}}}")


def layer_descriptor(case):
    """C initializer of the ``stacc_layer_t`` for ``case``."""
    c = case
    return c_layer(KINDS[c.kind], c.padding == "same", c.relu, (c.bits, c.in_signed), (c.bits, c.w_signed),
                   (c.bits, c.out_signed), c.h, c.w, c.cin, c.cout, c.kh, c.kw, c.stride, c.stride)


def c_array(ctype, name, values):
    """A static, 16-byte aligned C array ``name`` of ``ctype`` (``uint32_t``: hex words, else decimal)."""
    body = ",".join(f"0x{int(v) & 0xFFFFFFFF:08x}u" if ctype == "uint32_t" else str(int(v)) for v in values)
    # aligned: engines read whole bus words (up to 128 bits)
    return f"static const {ctype} {name}[{max(len(values), 1)}] __attribute__((aligned(16))) = {{{body}}};"


def c_header(vectors, corrupt=False):
    """Text of ``stacc_vectors.h`` for the list ``vectors`` of :class:`LayerVectors`.

    ``corrupt=True`` flips the lowest bit of the first expected output word of every case: the firmware must then
    report a mismatch (used to prove the end-to-end check can fail).
    """
    out = ["/* Generated by soc/vectors.py from hw/golden + hw/layout; do not edit. */",
           "#ifndef STACC_VECTORS_H", "#define STACC_VECTORS_H", "", '#include "stacc_kernels.h"', "",
           "typedef struct {", "    const char *name;", "    stacc_layer_t layer;",
           "    const uint32_t *x, *w, *requant, *y;", "    const int32_t *bias;", "    uint32_t y_words;",
           "} stacc_case_t;", ""]
    max_words = 1
    entries = []
    for v in vectors:
        name = v.case.name
        mem = v.memory()
        if corrupt:
            mem["y"] = mem["y"].copy()
            mem["y"][0] ^= 1
        max_words = max(max_words, len(mem["y"]))
        out += [c_array("int32_t" if key == "bias" else "uint32_t", f"{name}_{key}", mem[key])
                for key in ("x", "w", "bias", "requant", "y")] + [""]
        entries.append(f'    {{"{name}", {layer_descriptor(v.case)}, {name}_x, {name}_w, {name}_requant, {name}_y, '
                       f"{name}_bias, {len(mem['y'])}u}},")
    out += ["static const stacc_case_t stacc_cases[] = {", *entries, "};",
            f"#define STACC_N_CASES {len(vectors)}", f"#define STACC_MAX_Y_WORDS {max_words}", "",
            "#endif /* STACC_VECTORS_H */", ""]
    return "\n".join(out)


#: The small layers `python -m soc sim` runs by default and the Verilator test checks: every kind and precision,
#: both paddings, a stride, signed and unsigned inputs.
SMOKE_CASES = (
    LayerCase("conv8", "conv2d", 6, 6, 8, 4, bits=8, seed=1),
    LayerCase("conv4_s2", "conv2d", 7, 5, 8, 4, stride=2, bits=4, in_signed=True, out_signed=True, relu=False,
              seed=2),
    LayerCase("conv16_valid", "conv2d", 5, 5, 4, 3, padding="valid", bits=16, in_signed=True, out_signed=True,
              seed=3),
    LayerCase("dw8", "depthwise", 5, 5, 6, 6, bits=8, seed=4),
    LayerCase("fc4", "dense", 1, 1, 24, 5, k=1, bits=4, seed=5),
    LayerCase("fc8", "dense", 1, 1, 40, 6, k=1, bits=8, seed=6),
    LayerCase("fc16", "dense", 1, 1, 12, 5, k=1, bits=16, in_signed=True, out_signed=True, relu=False, seed=7),
)
