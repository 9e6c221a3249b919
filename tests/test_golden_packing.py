"""hw.golden.packing (lane layout, pack/unpack, the Sum-Together product) and hw.golden.mac against bit-level
references written with Python ints."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hw.golden import lane_bits, mac, pack, st_product, unpack

MODES = [(16, 1), (16, 2), (16, 4), (8, 1), (8, 2), (8, 4), (12, 3)]


def ref_lane(word, i, b, signed):
    """Lane ``i`` (bits ``[i*b, (i+1)*b)``) of ``word``, two's complement when signed."""
    v = (word >> (i * b)) % 2**b
    return v - 2**b if signed and v >= 2 ** (b - 1) else v


def ref_pack(lane_values, b):
    return sum((v % 2**b) << (i * b) for i, v in enumerate(lane_values))


def ref_st_product(a, w, lanes, a_signed, w_signed, width):
    b = width // lanes
    return sum(ref_lane(a, i, b, a_signed) * ref_lane(w, i, b, w_signed) for i in range(lanes))


def ref_wrap(v, bits):
    return (v + 2 ** (bits - 1)) % 2**bits - 2 ** (bits - 1)


@st.composite
def lane_values(draw, min_words=1, max_words=6):
    width, lanes = draw(st.sampled_from(MODES))
    signed = draw(st.booleans())
    b = width // lanes
    lo, hi = (-(2 ** (b - 1)), 2 ** (b - 1) - 1) if signed else (0, 2**b - 1)
    n = lanes * draw(st.integers(min_words, max_words))
    return width, lanes, signed, draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n))


def test_lane_bits():
    assert [lane_bits(16, n) for n in (1, 2, 4, 8, 16)] == [16, 8, 4, 2, 1]
    with pytest.raises(ValueError, match="positive divisor of width 16, not 3"):
        lane_bits(16, 3)
    with pytest.raises(ValueError, match="width must be a positive int, not 0"):
        lane_bits(0, 1)


@settings(deadline=None)
@given(lane_values())
def test_pack_matches_bit_layout_and_unpack_inverts_it(case):
    width, lanes, signed, values = case
    b = width // lanes
    words = pack(values, lanes, signed, width)
    expected = [ref_pack(values[j:j + lanes], b) for j in range(0, len(values), lanes)]
    np.testing.assert_array_equal(words, np.array(expected, np.int64))
    np.testing.assert_array_equal(unpack(words, lanes, signed, width), np.array(values, np.int64))


@pytest.mark.parametrize("width, lanes", MODES)
@pytest.mark.parametrize("signed", [False, True])
def test_unpack_then_pack_is_identity_on_every_word(width, lanes, signed):
    words = np.arange(2**width, dtype=np.int64)
    values = unpack(words, lanes, signed, width)
    b = width // lanes
    for word in (0, 1, 2**width - 1, 2 ** (width - 1), 0x5A5A % 2**width):
        np.testing.assert_array_equal(values[word * lanes:(word + 1) * lanes],
                                      [ref_lane(word, i, b, signed) for i in range(lanes)])
    np.testing.assert_array_equal(pack(values, lanes, signed, width), words)


def test_pack_keeps_leading_axes():
    values = np.array([[[1, -2, 3, -4]], [[-8, 7, 0, -1]]])
    words = pack(values, 4, True)
    assert words.shape == (2, 1, 1)
    np.testing.assert_array_equal(unpack(words, 4, True), values)


@pytest.mark.parametrize("call, match", [
    (lambda: pack([128], 2, True), "must fit 8-bit signed \\[-128, 127\\], but holds 128"),
    (lambda: pack([-1], 1, False), "must fit 16-bit unsigned .* holds -1"),
    (lambda: pack([1, 2, 3], 2, False), "multiple of lanes=2, got shape \\(3,\\)"),
    (lambda: unpack([2**16], 2, False), "words must fit 16-bit unsigned"),
])
def test_pack_unpack_refuse(call, match):
    with pytest.raises(ValueError, match=match):
        call()


words16 = st.integers(0, 2**16 - 1)


@settings(deadline=None)
@given(st.lists(st.tuples(words16, words16), min_size=1, max_size=10), st.sampled_from([1, 2, 4]),
       st.booleans(), st.booleans())
def test_st_product_matches_definition(pairs, lanes, a_signed, w_signed):
    a, w = (list(t) for t in zip(*pairs))
    expected = [ref_st_product(x, y, lanes, a_signed, w_signed, 16) for x, y in pairs]
    np.testing.assert_array_equal(st_product(a, w, lanes, a_signed, w_signed), np.array(expected, np.int64))


@settings(deadline=None)
@given(st.sampled_from(MODES), st.booleans(), st.booleans(), st.data())
def test_st_product_other_widths(mode, a_signed, w_signed, data):
    width, lanes = mode
    a, w = data.draw(st.integers(0, 2**width - 1)), data.draw(st.integers(0, 2**width - 1))
    assert st_product(a, w, lanes, a_signed, w_signed, width) == ref_st_product(a, w, lanes, a_signed, w_signed, width)


def test_st_product_extremes():
    # 4 lanes of -8 * -8 = 4 * 64; 4 lanes of 15 * -8 = 4 * -120; 1 lane -32768 * -32768 = 2**30
    assert st_product(0x8888, 0x8888, 4, True, True) == 256
    assert st_product(0xFFFF, 0x8888, 4, False, True) == -480
    assert st_product(0x8000, 0x8000, 1, True, True) == 2**30


@settings(deadline=None)
@given(st.integers(1, 3), st.integers(1, 12), st.sampled_from([1, 2, 4]), st.booleans(), st.booleans(),
       st.integers(1, 40), st.data())
def test_mac_accumulates_and_wraps(batch, length, lanes, a_signed, w_signed, acc_bits, data):
    seq = st.lists(st.lists(words16, min_size=length, max_size=length), min_size=batch, max_size=batch)
    a, w = data.draw(seq), data.draw(seq)
    expected = []
    for a_row, w_row in zip(a, w):
        acc = 0
        for x, y in zip(a_row, w_row):              # accumulate word by word, wrapping like the hardware register
            acc = ref_wrap(acc + ref_st_product(x, y, lanes, a_signed, w_signed, 16), acc_bits)
        expected.append(acc)
    np.testing.assert_array_equal(mac(a, w, lanes, a_signed, w_signed, acc_bits), np.array(expected, np.int64))


def test_mac_refuses_scalars():
    with pytest.raises(ValueError, match="sequences of words"):
        mac(1, 1, 1, True, True, 32)
