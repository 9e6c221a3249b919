"""hw.golden.layers against slow loop references written with Python ints (and TensorFlow, in the ``ml`` tests).

The references index the unpadded input directly: a tap that falls outside it contributes zero (and, for average
pooling, is not counted), which is what TensorFlow's padding means. ``round(Fraction)`` is exact round-half-to-even.
"""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hw.golden import (
    add, align, avg_pool2d, axis_geometry, clip, conv2d, dense, depthwise_conv2d, global_avg_pool, padding_mode, relu,
)

BIG = 2**15


# -- slow references ---------------------------------------------------------------------------------------------------

def ref_geometry(size, k, stride, padding):
    """``(out, pad_before)`` of one axis, from TensorFlow's documented formulas."""
    if padding == "valid":
        return -(-(size - k + 1) // stride), 0
    out = -(-size // stride)
    return out, max((out - 1) * stride + k - size, 0) // 2


def ref_taps(x, i, j, kh, kw, strides, pads):
    """Yield ``(dy, dx, channel_values)`` for every kernel tap of output ``(i, j)`` that lands inside image ``x``."""
    h, w = len(x), len(x[0])
    for dy in range(kh):
        for dx in range(kw):
            y, z = i * strides[0] + dy - pads[0], j * strides[1] + dx - pads[1]
            if 0 <= y < h and 0 <= z < w:
                yield dy, dx, x[y][z]


def ref_layer(x, kernel, strides, padding, cout, output):
    """Loop over images, output rows/cols, channels; ``output(taps, o)`` computes one value from the taps."""
    (kh, kw), result = kernel, []
    for image in x.tolist():
        ho, top = ref_geometry(len(image), kh, strides[0], padding)
        wo, left = ref_geometry(len(image[0]), kw, strides[1], padding)
        result.append([[[output(list(ref_taps(image, i, j, kh, kw, strides, (top, left))), o) for o in range(cout)]
                        for j in range(wo)] for i in range(ho)])
    return result


def ref_wrap(v, bits):
    return (v + 2 ** (bits - 1)) % 2**bits - 2 ** (bits - 1)


def ref_conv2d(x, w, bias, strides, padding, acc_bits):
    kh, kw, cin, cout = w.shape
    wl, b = w.tolist(), [0] * cout if bias is None else bias.tolist()

    def output(taps, o):
        acc = b[o] + sum(row[c] * wl[dy][dx][c][o] for dy, dx, row in taps for c in range(cin))
        return acc if acc_bits is None else ref_wrap(acc, acc_bits)
    return np.array(ref_layer(x, (kh, kw), strides, padding, cout, output), np.int64)


def ref_depthwise(x, w, bias, strides, padding, acc_bits):
    kh, kw, c = w.shape
    wl, b = w.tolist(), [0] * c if bias is None else bias.tolist()

    def output(taps, o):
        acc = b[o] + sum(row[o] * wl[dy][dx][o] for dy, dx, row in taps)
        return acc if acc_bits is None else ref_wrap(acc, acc_bits)
    return np.array(ref_layer(x, (kh, kw), strides, padding, c, output), np.int64)


def ref_avg_pool(x, pool, strides, padding, shift):
    def output(taps, o):
        return round(Fraction(sum(row[o] for _, _, row in taps), len(taps)) / Fraction(2) ** shift)
    return np.array(ref_layer(x, pool, strides, padding, x.shape[-1], output), np.int64)


# -- strategies --------------------------------------------------------------------------------------------------------

def ints(shape, bound=BIG):
    return st.lists(st.integers(-bound, bound - 1), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))) \
        .map(lambda v: np.array(v, np.int64).reshape(shape))


@st.composite
def conv_case(draw, depthwise=False, max_kernel=5, max_channels=3):
    """Random small shapes: kernels up to ``max_kernel``, strides 1-3, both paddings; 'valid' only where it fits."""
    padding = draw(st.sampled_from(["same", "valid"]))
    kh, kw = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel))
    lo_h, lo_w = (kh, kw) if padding == "valid" else (1, 1)
    n, h, w = draw(st.integers(1, 2)), draw(st.integers(lo_h, lo_h + 5)), draw(st.integers(lo_w, lo_w + 5))
    cin = draw(st.integers(1, max_channels))
    cout = cin if depthwise else draw(st.integers(1, max_channels))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    x = draw(ints((n, h, w, cin)))
    kernel = draw(ints((kh, kw, cin) if depthwise else (kh, kw, cin, cout)))
    bias = draw(st.none() | ints((cout,), 2**40))
    acc_bits = draw(st.none() | st.integers(8, 48))
    return x, kernel, bias, strides, padding, acc_bits


# -- conv2d ------------------------------------------------------------------------------------------------------------

def check_conv2d(case):
    x, w, bias, strides, padding, acc_bits = case
    expected = ref_conv2d(x, w, bias, strides, padding, acc_bits)
    np.testing.assert_array_equal(conv2d(x, w, bias, strides, padding, acc_bits), expected)
    np.testing.assert_array_equal(conv2d(x[0], w, bias, strides, padding, acc_bits), expected[0])


@settings(max_examples=60, deadline=None)
@given(conv_case())
def test_conv2d_matches_loops(case):
    check_conv2d(case)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None)
@given(conv_case(max_kernel=10, max_channels=5))
def test_conv2d_matches_loops_sweep(case):
    check_conv2d(case)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("strides", [(1, 1), (2, 2), (2, 1), (3, 2)])
def test_conv2d_asymmetric_kernel(strides, padding):
    """The DS-CNN front-end shape class: a 10x4 kernel on a tall, narrow input."""
    rng = np.random.default_rng(10 * strides[0] + strides[1])
    x = rng.integers(-128, 128, (1, 13, 6, 2))
    w = rng.integers(-128, 128, (10, 4, 2, 3))
    bias = rng.integers(-(2**20), 2**20, 3)
    np.testing.assert_array_equal(conv2d(x, w, bias, strides, padding),
                                  ref_conv2d(x, w, bias, strides, padding, None))


def test_conv2d_same_padding_puts_the_extra_row_after():
    # 1x4 input, 1x2 all-ones kernel, stride 1: pad_total 1 goes after, so the last output sees only x[3].
    x = np.array([1, 10, 100, 1000]).reshape(1, 4, 1)
    w = np.ones((1, 2, 1, 1), np.int64)
    np.testing.assert_array_equal(conv2d(x, w, padding="same")[0, :, 0], [11, 110, 1100, 1000])
    np.testing.assert_array_equal(conv2d(x, w, padding="valid")[0, :, 0], [11, 110, 1100])


@pytest.mark.parametrize("size, k, stride, padding, expected", [
    (4, 2, 1, "same", (4, 0, 1)),          # odd total: the extra column goes after
    (5, 3, 1, "SAME", (5, 1, 1)),
    (96, 3, 2, "same", (48, 0, 1)),        # MobileNetV1 stride-2 3x3 on an even input
    (49, 10, 2, "same", (25, 4, 5)),       # DS-CNN's 10x4 front end, rows
    (7, 1, 3, "same", (3, 0, 0)),          # (out - 1) * stride + k < size: no padding
    (7, 3, 2, "valid", (3, 0, 0)),
    (3, 3, 1, "Valid", (1, 0, 0)),
])
def test_axis_geometry_is_tensorflows(size, k, stride, padding, expected):
    assert axis_geometry(size, k, stride, padding, "height") == expected


@pytest.mark.parametrize("size, k, stride, padding", [(1, 1, 1, "same"), (6, 3, 1, "same"), (8, 3, 2, "same"),
                                                     (7, 4, 3, "same"), (6, 3, 1, "valid"), (9, 2, 2, "valid")])
def test_axis_geometry_matches_conv2d_output(size, k, stride, padding):
    """The geometry the engines' driver programs is the one the golden convolution computes with."""
    out, before, after = axis_geometry(size, k, stride, padding)
    x = np.arange(1, size + 1).reshape(1, size, 1)
    y = conv2d(x, np.ones((1, k, 1, 1), np.int64), strides=(1, stride), padding=padding)[0, :, 0]
    assert y.shape == (out,)
    padded = np.concatenate([np.zeros(before, np.int64), x[0, :, 0], np.zeros(after, np.int64)])
    np.testing.assert_array_equal(y, [padded[i * stride:i * stride + k].sum() for i in range(out)])


def test_padding_mode_and_axis_geometry_refuse_bad_values():
    assert padding_mode("VALID") == "valid"
    with pytest.raises(ValueError, match="not 'full'"):
        padding_mode("full")
    with pytest.raises(ValueError, match="kernel width 5 is bigger than the input width 4"):
        axis_geometry(4, 5, 1, "valid", "width")
    with pytest.raises(ValueError, match="input height must be at least 1, not 0"):
        axis_geometry(0, 1, 1, "same", "height")


def test_conv2d_wraps_to_acc_bits():
    x = np.full((1, 1, 4), 127)
    w = np.full((1, 1, 4, 1), 127)                       # 4 * 16129 = 64516 -> 16-bit wrap -1020
    assert conv2d(x, w)[0, 0, 0] == 64516
    assert conv2d(x, w, acc_bits=16)[0, 0, 0] == 64516 - 2**16


# -- depthwise_conv2d --------------------------------------------------------------------------------------------------

def check_depthwise(case, keras_layout):
    x, w, bias, strides, padding, acc_bits = case
    expected = ref_depthwise(x, w, bias, strides, padding, acc_bits)
    kernel = w[..., None] if keras_layout else w
    np.testing.assert_array_equal(depthwise_conv2d(x, kernel, bias, strides, padding, acc_bits), expected)
    np.testing.assert_array_equal(depthwise_conv2d(x[0], kernel, bias, strides, padding, acc_bits), expected[0])


@settings(max_examples=60, deadline=None)
@given(conv_case(depthwise=True), st.booleans())
def test_depthwise_conv2d_matches_loops(case, keras_layout):
    check_depthwise(case, keras_layout)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None)
@given(conv_case(depthwise=True, max_kernel=10, max_channels=6), st.booleans())
def test_depthwise_conv2d_matches_loops_sweep(case, keras_layout):
    check_depthwise(case, keras_layout)


# -- dense -------------------------------------------------------------------------------------------------------------

@settings(deadline=None)
@given(st.integers(1, 3), st.integers(1, 12), st.integers(1, 6), st.none() | st.integers(8, 48), st.booleans(),
       st.data())
def test_dense_matches_loops(n, fan_in, fan_out, acc_bits, with_bias, data):
    x, w = data.draw(ints((n, fan_in))), data.draw(ints((fan_in, fan_out)))
    bias = data.draw(ints((fan_out,), 2**40)) if with_bias else None
    expected = []
    for row in x.tolist():
        out = []
        for o in range(fan_out):
            acc = (0 if bias is None else int(bias[o])) + sum(row[i] * int(w[i, o]) for i in range(fan_in))
            out.append(acc if acc_bits is None else ref_wrap(acc, acc_bits))
        expected.append(out)
    np.testing.assert_array_equal(dense(x, w, bias, acc_bits), np.array(expected, np.int64))
    np.testing.assert_array_equal(dense(x[0], w, bias, acc_bits), np.array(expected[0], np.int64))


# -- pooling -----------------------------------------------------------------------------------------------------------

@st.composite
def pool_case(draw, max_pool=4):
    padding = draw(st.sampled_from(["same", "valid"]))
    pool = (draw(st.integers(1, max_pool)), draw(st.integers(1, max_pool)))
    lo_h, lo_w = pool if padding == "valid" else (1, 1)
    shape = (draw(st.integers(1, 2)), draw(st.integers(lo_h, lo_h + 5)), draw(st.integers(lo_w, lo_w + 5)),
             draw(st.integers(1, 3)))
    strides = draw(st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    return draw(ints(shape)), pool, strides, padding, draw(st.integers(-4, 6))


def check_avg_pool(case):
    x, pool, strides, padding, shift = case
    expected = ref_avg_pool(x, pool, pool if strides is None else strides, padding, shift)
    np.testing.assert_array_equal(avg_pool2d(x, pool, strides, padding, shift), expected)
    np.testing.assert_array_equal(avg_pool2d(x[0], pool, strides, padding, shift), expected[0])


@settings(max_examples=80, deadline=None)
@given(pool_case())
def test_avg_pool2d_matches_exact_rationals(case):
    check_avg_pool(case)


@pytest.mark.slow
@settings(max_examples=2000, deadline=None)
@given(pool_case(max_pool=8))
def test_avg_pool2d_matches_exact_rationals_sweep(case):
    check_avg_pool(case)


def test_avg_pool2d_ties_round_to_even_and_same_counts_real_inputs():
    x = np.array([1, 2, 5, 6, 3]).reshape(1, 5, 1)      # pairs: 1.5 -> 2, 5.5 -> 6; lone 3 averages over 1, not 2
    np.testing.assert_array_equal(avg_pool2d(x, (1, 2), padding="same")[0, :, 0], [2, 6, 3])
    np.testing.assert_array_equal(avg_pool2d(x, (1, 2))[0, :, 0], [2, 6])
    np.testing.assert_array_equal(avg_pool2d(x, (1, 2), shift=1)[0, :, 0], [1, 3])      # 0.75 -> 1, 2.75 -> 3
    np.testing.assert_array_equal(avg_pool2d(x, (1, 2), shift=-1)[0, :, 0], [3, 11])


@settings(deadline=None)
@given(st.integers(1, 2), st.integers(1, 6), st.integers(1, 6), st.integers(1, 3), st.integers(-4, 8), st.data())
def test_global_avg_pool_matches_exact_rationals(n, h, w, c, shift, data):
    x = data.draw(ints((n, h, w, c)))
    expected = [[round(Fraction(sum(x[i, :, :, k].flatten().tolist()), h * w) / Fraction(2) ** shift)
                 for k in range(c)] for i in range(n)]
    np.testing.assert_array_equal(global_avg_pool(x, shift), np.array(expected, np.int64))
    np.testing.assert_array_equal(global_avg_pool(x[0], shift), np.array(expected[0], np.int64))


# -- element-wise ------------------------------------------------------------------------------------------------------

values = st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=16)


@settings(deadline=None)
@given(values, st.integers(0, 20), st.integers(0, 20))
def test_align(v, f_from, f_to):
    expected = [round(Fraction(e, 2**f_from) * 2**f_to) for e in v]
    np.testing.assert_array_equal(align(v, f_from, f_to), np.array(expected, np.int64))


@settings(deadline=None)
@given(values, st.data())
def test_add_relu_clip(v, data):
    u = data.draw(st.lists(st.integers(-(2**40), 2**40), min_size=len(v), max_size=len(v)))
    lo = data.draw(st.integers(-100, 100))
    hi = data.draw(st.integers(lo, 200))
    np.testing.assert_array_equal(add(v, u), np.array([a + b for a, b in zip(v, u)], np.int64))
    np.testing.assert_array_equal(relu(v), np.array([max(a, 0) for a in v], np.int64))
    np.testing.assert_array_equal(clip(v, lo, hi), np.array([min(max(a, lo), hi) for a in v], np.int64))


# -- errors a user can make --------------------------------------------------------------------------------------------

X = np.zeros((1, 4, 4, 3), np.int64)
W = np.zeros((3, 3, 3, 2), np.int64)


@pytest.mark.parametrize("call, error, match", [
    (lambda: conv2d(X, np.zeros((3, 3, 2, 2))), ValueError, "x has 3 input channels but w expects Cin=2"),
    (lambda: conv2d(X, np.zeros((5, 3, 3, 2))), ValueError, "kernel height 5 is bigger than the input height 4"),
    (lambda: conv2d(X, np.zeros((1, 6, 3, 2))), ValueError, "kernel width 6 is bigger than the input width 4"),
    (lambda: conv2d(X, W, strides=0), ValueError, "strides must be at least 1 .* not 0"),
    (lambda: conv2d(X, W, strides=(1, 0)), ValueError, "strides must be at least 1 .* not \\(1, 0\\)"),
    (lambda: conv2d(X, W, strides=(1, 2, 3)), TypeError, "strides must be an int or a pair of ints"),
    (lambda: conv2d(X, W, strides=1.5), TypeError, "strides must be an int or a pair of ints, not 1.5"),
    (lambda: conv2d(X, W, padding="full"), ValueError, "padding must be 'same' or 'valid' .* not 'full'"),
    (lambda: conv2d(X, W, bias=np.zeros(3)), ValueError, "bias must have shape \\(2,\\) .* got shape \\(3,\\)"),
    (lambda: conv2d(X[0, 0], W), ValueError, "x must have shape \\(N, H, W, C\\) or .* got shape \\(4, 3\\)"),
    (lambda: conv2d(X, np.zeros((0, 3, 3, 2))), ValueError, "height and width must be at least 1, got w shape \\(0"),
    (lambda: conv2d(X, W[0]), ValueError, "w must have shape \\(KH, KW, Cin, Cout\\), got shape \\(3, 3, 2\\)"),
    (lambda: conv2d(X + 0.5, W), TypeError, "x must hold integers"),
    (lambda: conv2d(X + 2**40, W + 2**20), OverflowError, "sum could reach 2\\*\\*62"),
    (lambda: avg_pool2d(X + 2**61, 2), OverflowError, "avg_pool2d: the sum could reach 2\\*\\*62"),
    (lambda: global_avg_pool(X + 2**60, np.int64(0)), OverflowError, "global_avg_pool: the sum"),
    (lambda: global_avg_pool(X + 1, np.int64(-59)), OverflowError, "shift=-59"),
    (lambda: depthwise_conv2d(X, np.zeros((3, 3, 3, 2))), ValueError, "depth_multiplier 1 only"),
    (lambda: depthwise_conv2d(X, np.zeros((3, 3, 4))), ValueError, "x has 3 channels but the depthwise kernel has C=4"),
    (lambda: dense(np.zeros((2, 5)), np.zeros((4, 3))), ValueError, "x has 5 features but w expects In=4"),
    (lambda: dense(X, np.zeros((4, 3))), ValueError, "flatten it first"),
    (lambda: dense(np.zeros(4), np.zeros((4, 3)), bias=np.zeros(4)), ValueError, "bias must have shape \\(3,\\)"),
    (lambda: avg_pool2d(X, 5), ValueError, "kernel height 5 is bigger than the input height 4"),
    (lambda: avg_pool2d(X, (2, 2), padding="SAME ", shift=0), ValueError, "not 'SAME '"),
    (lambda: avg_pool2d(X, 2, shift=0.5), TypeError, "shift must be an int, not 0.5"),
    (lambda: global_avg_pool(X + 1, shift=-59), OverflowError, "shift=-59"),
    (lambda: add(np.zeros(3), np.zeros(4)), ValueError, "same shape, got \\(3,\\) and \\(4,\\)"),
    (lambda: clip([1], 5, 4), ValueError, "lo <= hi, got lo=5 and hi=4"),
])
def test_errors_name_the_bad_value(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_padding_is_case_insensitive_like_tensorflow():
    x = np.arange(16).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(conv2d(x, np.ones((3, 3, 1, 1)), padding="SAME"),
                                  conv2d(x, np.ones((3, 3, 1, 1)), padding="same"))


# -- TensorFlow cross-check --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


TF_CASES = [  # (input shape, kernel (KH, KW), strides): odd and even sizes, so 'same' pads asymmetrically
    ((2, 7, 6, 3), (3, 3), (1, 1)), ((1, 8, 8, 2), (3, 3), (2, 2)), ((1, 13, 6, 2), (10, 4), (2, 2)),
    ((1, 9, 10, 1), (5, 2), (3, 2)), ((1, 6, 5, 4), (4, 4), (2, 3)), ((1, 5, 5, 2), (1, 1), (2, 2)),
]


@pytest.mark.ml
@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_conv2d_matches_tensorflow(tf, padding):
    rng = np.random.default_rng(3)
    for shape, (kh, kw), strides in TF_CASES:       # small integers: every float32 sum is exact
        x = rng.integers(-8, 9, shape)
        w = rng.integers(-8, 9, (kh, kw, shape[-1], 3))
        expected = tf.nn.conv2d(x.astype(np.float32), w.astype(np.float32), strides, padding).numpy()
        np.testing.assert_array_equal(conv2d(x, w, strides=strides, padding=padding), expected.astype(np.int64))


@pytest.mark.ml
def test_depthwise_and_avg_pool_match_tensorflow(tf):
    rng = np.random.default_rng(4)
    for shape, (kh, kw), strides in TF_CASES:
        x = rng.integers(-8, 9, shape)
        w = rng.integers(-8, 9, (kh, kw, shape[-1], 1))
        expected = tf.nn.depthwise_conv2d(x.astype(np.float32), w.astype(np.float32), (1, *strides, 1), "SAME")
        np.testing.assert_array_equal(depthwise_conv2d(x, w, strides=strides, padding="same"),
                                      expected.numpy().astype(np.int64))
        # TF excludes padding from the divisor; its float32 quotients of small ints are never within rounding
        # error of a tie unless they are one, so rint (half-to-even) of TF's result is the exact answer
        pooled = tf.nn.avg_pool2d(x.astype(np.float32), (kh, kw), strides, "SAME").numpy()
        np.testing.assert_array_equal(avg_pool2d(x, (kh, kw), strides, "same"), np.rint(pooled).astype(np.int64))
