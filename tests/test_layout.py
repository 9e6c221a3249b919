"""Memory layout: rows padded to bus words, round trips, per-engine weight orders, parameter words."""

import numpy as np
import pytest

from hw import layout
from hw.golden import unpack

RNG = np.random.default_rng(4)


def _rand(shape, bits, signed):
    lo, hi = (-(1 << (bits - 1)), 1 << (bits - 1)) if signed else (0, 1 << bits)
    return RNG.integers(lo, hi, size=shape, dtype=np.int64)


@pytest.mark.parametrize("n, bits, bus, words", [
    (1, 4, 32, 1), (8, 4, 32, 1), (9, 4, 32, 2), (3, 8, 32, 1), (3, 16, 32, 2), (3, 16, 64, 2), (5, 16, 64, 4),
    (1, 4, 128, 4), (33, 4, 128, 8), (0, 8, 32, 0), (2, 32, 64, 2),
])
def test_row_words(n, bits, bus, words):
    assert layout.row_words(n, bits, bus) == words


@pytest.mark.parametrize("bits", [4, 8, 16])
@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("bus", [32, 64, 128])
def test_activation_round_trip_and_padding(bits, signed, bus):
    x = _rand((3, 5, 7), bits, signed)
    img = layout.activation_words(x, bits, signed, bus)
    rw = layout.row_words(7, bits, bus)
    assert img.shape == (3 * 5 * rw,) and rw % (bus // 32) == 0
    np.testing.assert_array_equal(layout.output_from_words(img, x.shape, bits, signed, bus), x)
    # element e of a pixel row sits at bits [e*b, (e+1)*b) of the row read as one little-endian integer
    row = sum(int(w) << (32 * i) for i, w in enumerate(img[rw:2 * rw]))
    e = 6
    got = (row >> (e * bits)) & ((1 << bits) - 1)
    assert got == x[0, 1, e] & ((1 << bits) - 1)
    assert row >> (7 * bits) == 0                            # padding is zero


def test_pack_refuses_out_of_range():
    with pytest.raises(ValueError, match="4-bit signed"):
        layout.activation_words(np.array([8]), 4, True)


def test_unpack_wrong_row_length():
    with pytest.raises(ValueError, match="2 words"):
        layout.unpack_tensor(np.zeros((4, 3), np.int64), 3, 16, True)


def test_dense_weight_order():
    w = _rand((10, 3), 8, True)
    img = layout.dense_weight_words(w, 8, True, 64).reshape(3, 4)
    for o in range(3):
        np.testing.assert_array_equal(unpack(img[o], 4, True, 32)[:10], w[:, o])


def test_conv2d_weight_order():
    w = _rand((3, 2, 5, 4), 4, True)
    img = layout.conv2d_weight_words(w, 4, True).reshape(4, 3, 2, 1)
    np.testing.assert_array_equal(unpack(img[2, 1, 0], 8, True, 32)[:5], w[1, 0, :, 2])


def test_depthwise_weight_order():
    w = _rand((3, 3, 6, 1), 16, True)
    img = layout.depthwise_weight_words(w, 16, True).reshape(6, 5)
    np.testing.assert_array_equal(unpack(img[4], 2, True, 32)[:9], w[:, :, 4, 0].ravel())
    with pytest.raises(ValueError, match="depth multiplier 1"):
        layout.depthwise_weight_words(np.zeros((3, 3, 6, 2)), 16, True)


def test_bias_and_requant_words():
    np.testing.assert_array_equal(layout.bias_words([-1, 5], 64), [0xFFFFFFFF, 5])
    np.testing.assert_array_equal(layout.requant_words([3, 7, 1], [2, 0, 63], 3, 16, 6, 32),
                                  [3 | 2 << 16, 7, 1 | 63 << 16])
    with pytest.raises(ValueError, match="requant_mul_bits"):
        layout.requant_words(16, 0, 1, mul_bits=4)
    with pytest.raises(ValueError, match=r"requant shift must lie in \[0, 7\]"):
        layout.requant_words(1, 8, 1, shift_bits=3)


@pytest.mark.parametrize("bus", [32, 64, 128])
def test_bus_word_grouping(bus):
    w = RNG.integers(0, 1 << 32, size=8, dtype=np.int64)
    bw = layout.to_bus_words(w, bus)
    assert len(bw) == 8 * 32 // bus and bw[0] & 0xFFFFFFFF == w[0]
    np.testing.assert_array_equal(layout.from_bus_words(bw, bus), w)
    with pytest.raises(ValueError, match="whole"):
        layout.to_bus_words(w[:3], 64)
