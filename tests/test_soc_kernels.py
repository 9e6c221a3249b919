"""The firmware's software kernels (firmware/kernels/*.c), compiled for the host, against hw/golden.

The same C source runs on the SoC; here it is built with the host compiler and called through ctypes so many random
layers (every precision, signedness, padding and stride, tie-heavy requantization) are checked in seconds.
"""

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from hw import golden, layout
from soc import vectors
from soc.firmware import FIRMWARE

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a host C compiler (gcc)")


class Prec(ctypes.Structure):
    _fields_ = [("bits", ctypes.c_uint8), ("is_signed", ctypes.c_uint8)]


class Layer(ctypes.Structure):
    """Mirror of ``stacc_layer_t`` in firmware/include/stacc_kernels.h."""
    _fields_ = [("kind", ctypes.c_uint8), ("same", ctypes.c_uint8), ("relu", ctypes.c_uint8), ("in_", Prec),
                ("wt", Prec), ("out", Prec)] + [
        (n, ctypes.c_uint16) for n in ("h", "w", "cin", "cout", "kh", "kw", "stride_h", "stride_w")]


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    so = tmp_path_factory.mktemp("kernels") / "libstacc_kernels.so"
    subprocess.run(["gcc", "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                    f"-I{FIRMWARE / 'include'}", *map(str, sorted((FIRMWARE / "kernels").glob("*.c"))),
                    "-o", str(so)], check=True)
    lib = ctypes.CDLL(str(so))
    lib.stacc_layer_sw.restype = ctypes.c_int
    lib.stacc_requantize.restype = ctypes.c_int32
    lib.stacc_requantize.argtypes = [ctypes.c_int32, ctypes.c_uint32, ctypes.c_uint, Prec, ctypes.c_int]
    return lib


def _words(array):
    return np.ascontiguousarray(np.asarray(array, dtype=np.int64) & 0xFFFFFFFF, dtype=np.uint32)


def layer_struct(c):
    return Layer(vectors.KINDS[c.kind], c.padding == "same", c.relu, Prec(c.bits, c.in_signed),
                 Prec(c.bits, c.w_signed), Prec(c.bits, c.out_signed), c.h, c.w, c.cin, c.cout, c.k, c.k, c.stride,
                 c.stride)


def run_layer(lib, v):
    """Run the C kernel on the vectors ``v``; return (return code, output memory image, output decoded with
    hw.layout)."""
    c = v.case
    mem = v.memory()
    x, w, requant = (_words(mem[k]) for k in ("x", "w", "requant"))
    bias = np.ascontiguousarray(mem["bias"], dtype=np.int32)
    y = np.full(mem["y"].size, 0xDEADBEEF, dtype=np.uint32)                   # the kernel must overwrite all of it
    ptr = lambda a: a.ctypes.data_as(ctypes.c_void_p)     # noqa: E731
    rc = lib.stacc_layer_sw(ctypes.byref(layer_struct(c)), ptr(x), ptr(w), ptr(bias), ptr(requant), ptr(y))
    words = y.astype(np.int64)
    return rc, words, layout.output_from_words(words, v.y.shape, c.bits, c.out_signed)


GEOMETRIES = [   # kind, h, w, cin, cout, k, stride, padding, bits, in_signed, w_signed, out_signed, relu
    ("conv2d", 6, 6, 8, 4, 3, 1, "same", 8, False, True, False, True),
    ("conv2d", 7, 5, 3, 5, 3, 2, "same", 8, True, True, True, False),
    ("conv2d", 5, 7, 16, 3, 1, 1, "valid", 4, False, True, False, True),
    ("conv2d", 8, 4, 9, 2, 3, 2, "valid", 4, True, True, True, False),
    ("conv2d", 4, 6, 5, 4, 3, 1, "same", 16, True, True, True, True),
    ("conv2d", 6, 5, 2, 3, 5, 3, "same", 16, False, False, False, False),
    ("conv2d", 3, 3, 7, 6, 3, 1, "valid", 8, False, False, False, False),
    ("conv2d", 9, 9, 4, 4, 4, 2, "same", 4, False, True, True, True),
    ("depthwise", 6, 6, 5, 5, 3, 1, "same", 8, False, True, False, True),
    ("depthwise", 7, 6, 3, 3, 3, 2, "same", 4, True, True, True, False),
    ("depthwise", 5, 8, 9, 9, 2, 1, "valid", 16, True, True, True, True),
    ("depthwise", 9, 5, 2, 2, 5, 2, "valid", 8, False, False, False, False),
    ("dense", 1, 1, 40, 7, 1, 1, "same", 8, False, True, False, True),
    ("dense", 1, 1, 9, 3, 1, 1, "valid", 4, True, True, True, False),
    ("dense", 1, 1, 17, 5, 1, 1, "same", 16, True, True, True, True),
]
CASES = [vectors.LayerCase(f"c{i}", kind, h, w, cin, cout, k=k, stride=s, padding=pad, bits=bits, in_signed=ins,
                           w_signed=ws, out_signed=outs, relu=relu, seed=100 + i)
         for i, (kind, h, w, cin, cout, k, s, pad, bits, ins, ws, outs, relu) in enumerate(GEOMETRIES)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.kind}-{c.bits}b-{c.padding}-s{c.stride}-k{c.k}")
def test_layer_sw_equals_golden(lib, case):
    v = vectors.make_layer(case)
    rc, words, y = run_layer(lib, v)
    assert rc == 0
    np.testing.assert_array_equal(y, v.y)
    np.testing.assert_array_equal(words, v.memory()["y"])         # row padding written as zeros too


@pytest.mark.parametrize("index", [0, 8, 12], ids=["conv2d", "depthwise", "dense"])
def test_layer_sw_output_depends_on_input(lib, index):
    """Guard against a test that cannot fail: a changed input changes the kernel's (and golden's) output."""
    v = vectors.make_layer(CASES[index])
    v.x = v.x.copy()
    v.x[..., 1] = 255 - v.x[..., 1]
    _, _, y = run_layer(lib, v)
    assert not np.array_equal(y, v.y)


@pytest.mark.parametrize("change, why", [
    (dict(wt=Prec(4, 1)), "input and weight widths differ"),
    (dict(kind=9), "unknown kind"),
    (dict(kind=vectors.KINDS["depthwise"], cout=5), "depthwise with cout != cin"),
    (dict(kind=vectors.KINDS["dense"]), "dense with a 3x3 kernel"),
    (dict(h=2, same=0), "valid padding with kernel bigger than the input"),
    (dict(out=Prec(5, 0)), "5-bit output"),
])
def test_layer_sw_refuses_invalid_layers(lib, change, why):
    layer = Layer(vectors.KINDS["conv2d"], 1, 0, Prec(8, 0), Prec(8, 1), Prec(8, 0), 4, 4, 4, 4, 3, 3, 1, 1)
    for name, value in change.items():
        setattr(layer, name, value)
    assert lib.stacc_layer_sw(ctypes.byref(layer), None, None, None, None, None) == -1, why


@pytest.mark.parametrize("bits,signed,relu", [(4, False, True), (8, True, False), (16, True, True)])
def test_requantize_equals_golden_on_ties(lib, bits, signed, relu):
    rng = np.random.default_rng(bits)
    acc = np.concatenate([np.arange(-40, 41), rng.integers(-2**31, 2**31, 200)])
    for multiplier, shift in [(1, 0), (1, 1), (3, 2), (5, 3), (40000, 20), (65535, 33), (1, 62)]:
        got = [lib.stacc_requantize(int(a), multiplier, shift, Prec(bits, signed), relu) for a in acc]
        np.testing.assert_array_equal(got, golden.requantize(acc, multiplier, shift, bits, signed, relu))


POOLS = [   # h, w, c, pool, strides, padding, shift, in (bits, signed), out (bits, signed)
    (25, 5, 64, (24, 5), (24, 5), "valid", -5, (4, False), (8, False)),      # DS-CNN's pool
    (6, 6, 5, (2, 2), (2, 2), "valid", 0, (8, True), (8, True)),             # count 4: frequent ties
    (7, 5, 3, (3, 3), (2, 2), "same", 1, (16, True), (8, True)),             # partial windows, divide further, saturate
    (4, 9, 9, (2, 3), (1, 2), "same", -2, (4, True), (16, True)),
    (5, 5, 2, (5, 5), (5, 5), "valid", 0, (16, False), (4, False)),
]


@pytest.mark.parametrize("h, w, c, pool, strides, padding, shift, inp, out", POOLS,
                         ids=[f"{p[3][0]}x{p[3][1]}-{p[5]}-shift{p[6]}" for p in POOLS])
def test_avg_pool_equals_golden(lib, h, w, c, pool, strides, padding, shift, inp, out):
    rng = np.random.default_rng(h * w * c)
    lo, hi = golden.value_range(*inp)
    x = rng.integers(lo, hi + 1, size=(h, w, c))
    expected = golden.saturate(golden.avg_pool2d(x, pool, strides, padding, shift), *out)
    layer = Layer(0, padding == "same", 0, Prec(*inp), Prec(*inp), Prec(*out), h, w, c, c, *pool, *strides)
    x_words = _words(layout.activation_words(x, *inp))
    y = np.full(layout.activation_words(expected, *out).size, 0xDEADBEEF, dtype=np.uint32)
    ptr = lambda a: a.ctypes.data_as(ctypes.c_void_p)     # noqa: E731
    assert lib.stacc_avg_pool(ctypes.byref(layer), shift, ptr(x_words), ptr(y)) == 0
    np.testing.assert_array_equal(y.astype(np.int64), layout.activation_words(expected, *out))


def test_avg_pool_refuses_invalid_layers(lib):
    layer = Layer(0, 0, 0, Prec(8, 0), Prec(8, 0), Prec(8, 0), 4, 4, 3, 3, 5, 5, 1, 1)   # window larger than input
    assert lib.stacc_avg_pool(ctypes.byref(layer), 0, None, None) == -1
    layer.kh = layer.kw = 2
    assert lib.stacc_avg_pool(ctypes.byref(layer), 25, None, None) == -1, "|shift| > 24"
    layer.cout = 4
    assert lib.stacc_avg_pool(ctypes.byref(layer), 0, None, None) == -1, "cout != cin"


@pytest.mark.parametrize("src, dst, flatten", [((4, False), (8, False), False), ((4, True), (16, True), False),
                                                ((8, True), (8, True), True), ((4, False), (8, False), True)])
def test_repack_widens_and_flattens_like_hw_layout(lib, src, dst, flatten):
    rng = np.random.default_rng(src[0] + dst[0] + flatten)
    lo, hi = golden.value_range(*src)
    x = rng.integers(lo, hi + 1, size=(3, 5, 7))              # rows of 7 elements: not whole words at 4/8 bit
    target = x.ravel() if flatten else x
    y = np.full(layout.activation_words(target, *dst).size, 0xDEADBEEF, dtype=np.uint32)
    x_words = _words(layout.activation_words(x, *src))
    lib.stacc_repack(x_words.ctypes.data_as(ctypes.c_void_p), Prec(*src), 7, y.ctypes.data_as(ctypes.c_void_p),
                     Prec(*dst), x.size if flatten else 7, x.size)
    np.testing.assert_array_equal(y.astype(np.int64), layout.activation_words(target, *dst))
