"""hw.golden.arith against slow references written with Python ints and fractions.Fraction.

``round(Fraction)`` is Python's exact round-half-to-even, so it is the reference for every rounding function.
"""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hw.golden import (
    as_int64, check_range, div_round_half_even, quantize_multiplier, requantize, saturate,
    shift_round_half_even, value_range, wrap,
)

BIG = 1 << 40
values = st.lists(st.integers(-BIG, BIG), min_size=1, max_size=20)
bits = st.integers(1, 62)


def ref_range(b, signed):
    return (-(2 ** (b - 1)), 2 ** (b - 1) - 1) if signed else (0, 2**b - 1)


def ref_wrap(v, b):
    return (v + 2 ** (b - 1)) % 2**b - 2 ** (b - 1)


def ref_saturate(v, b, signed):
    lo, hi = ref_range(b, signed)
    return min(max(v, lo), hi)


# -- as_int64 / ranges -------------------------------------------------------------------------------------------------

def test_as_int64_accepts_integral_values():
    np.testing.assert_array_equal(as_int64([1.0, -2.0]), np.array([1, -2], np.int64))
    np.testing.assert_array_equal(as_int64(np.array([2**61, -3], dtype=object)), np.array([2**61, -3], np.int64))
    assert as_int64(np.uint8(200)).dtype == np.int64


@pytest.mark.parametrize("bad, error, match", [
    ([0.5, 1.0], TypeError, "non-integral"),
    (np.array([True]), TypeError, "dtype bool"),
    (np.array([2**62], dtype=object), OverflowError, "2\\*\\*62"),
    (np.array([2**70, 1.5], dtype=object), TypeError, "1.5"),
    (np.array([np.uint64(2**63)]), OverflowError, "2\\*\\*62"),
    ([2.0**60], OverflowError, "2\\*\\*53"),
    (["3"], TypeError, "dtype"),
])
def test_as_int64_refuses(bad, error, match):
    with pytest.raises(error, match=match):
        as_int64(bad, "x")


@settings(deadline=None)
@given(bits, st.booleans())
def test_value_range(b, signed):
    assert value_range(b, signed) == ref_range(b, signed)


def test_value_range_refuses_bad_bits():
    with pytest.raises(ValueError, match="between 1 and 62, not 63"):
        value_range(63, True)
    with pytest.raises(TypeError, match="must be an int"):
        value_range(8.0, True)


@settings(deadline=None)
@given(values, st.integers(1, 42), st.booleans())
def test_check_range(v, b, signed):
    lo, hi = ref_range(b, signed)
    if all(lo <= e <= hi for e in v):
        np.testing.assert_array_equal(check_range(v, b, signed), np.array(v, np.int64))
    else:
        bad = next(e for e in v if not lo <= e <= hi)
        with pytest.raises(ValueError, match=f"must fit {b}-bit .* holds {bad}$"):
            check_range(v, b, signed)


# -- saturate / wrap ---------------------------------------------------------------------------------------------------

@settings(deadline=None)
@given(values, st.integers(1, 42), st.booleans())
def test_saturate(v, b, signed):
    np.testing.assert_array_equal(saturate(v, b, signed), np.array([ref_saturate(e, b, signed) for e in v]))


@settings(deadline=None)
@given(st.lists(st.integers(-(2**62) + 1, 2**62 - 1), min_size=1, max_size=20), bits)
def test_wrap(v, b):
    np.testing.assert_array_equal(wrap(v, b), np.array([ref_wrap(e, b) for e in v], np.int64))


# -- rounding ----------------------------------------------------------------------------------------------------------

@settings(deadline=None)
@given(values, st.integers(-20, 62))
def test_shift_round_half_even(v, s):
    expected = [round(Fraction(e, 2**s)) if s >= 0 else e * 2 ** (-s) for e in v]
    np.testing.assert_array_equal(shift_round_half_even(v, s), np.array(expected, np.int64))


def test_shift_round_half_even_ties_go_to_even():
    np.testing.assert_array_equal(shift_round_half_even([-3, -1, 1, 3, 5, -5], 1), [-2, 0, 0, 2, 2, -2])


def test_shift_round_half_even_exhaustive_small():
    x = np.arange(-1024, 1025)
    for s in range(12):
        expected = [round(Fraction(e, 2**s)) for e in x.tolist()]
        np.testing.assert_array_equal(shift_round_half_even(x, s), np.array(expected, np.int64))


@settings(deadline=None)
@given(st.lists(st.tuples(st.integers(-BIG, BIG), st.integers(-20, 62)), min_size=1, max_size=20))
def test_shift_round_half_even_per_element_shift(pairs):
    v, s = zip(*pairs)
    expected = [round(Fraction(e, 2**k)) if k >= 0 else e * 2 ** (-k) for e, k in pairs]
    np.testing.assert_array_equal(shift_round_half_even(list(v), list(s)), np.array(expected, np.int64))


def test_shift_round_half_even_refuses():
    with pytest.raises(ValueError, match="at most 62, not 63"):
        shift_round_half_even(1, 63)
    with pytest.raises(OverflowError, match="left shift"):
        shift_round_half_even(1 << 40, -22)


@settings(deadline=None)
@given(st.lists(st.tuples(st.integers(-BIG, BIG), st.integers(1, BIG)), min_size=1, max_size=20))
def test_div_round_half_even(pairs):
    num, den = zip(*pairs)
    expected = [round(Fraction(n, d)) for n, d in pairs]
    np.testing.assert_array_equal(div_round_half_even(list(num), list(den)), np.array(expected, np.int64))


def test_div_round_half_even_exhaustive_small():
    num, den = np.meshgrid(np.arange(-300, 301), np.arange(1, 41))
    expected = [round(Fraction(n, d)) for n, d in zip(num.flat, den.flat)]
    np.testing.assert_array_equal(div_round_half_even(num, den).flatten(), np.array(expected, np.int64))


def test_div_round_half_even_refuses():
    with pytest.raises(ValueError, match="den must be positive, not 0"):
        div_round_half_even(1, [3, 0])
    with pytest.raises(OverflowError, match="den"):
        div_round_half_even(1, 2**62)


# -- requantize --------------------------------------------------------------------------------------------------------

@settings(deadline=None)
@given(st.lists(st.integers(-(2**31), 2**31), min_size=1, max_size=12), st.data())
def test_requantize_per_channel(acc, data):
    n = len(acc)
    mult = data.draw(st.lists(st.integers(0, 2**20), min_size=n, max_size=n))
    shift = data.draw(st.lists(st.integers(-4, 40), min_size=n, max_size=n))
    out_bits = data.draw(st.integers(1, 32))
    out_signed = data.draw(st.booleans())
    relu = data.draw(st.booleans())
    expected = []
    for a, m, s in zip(acc, mult, shift):
        y = round(Fraction(a * m, 2**s)) if s >= 0 else a * m * 2 ** (-s)
        expected.append(ref_saturate(max(y, 0) if relu else y, out_bits, out_signed))
    got = requantize(acc, mult, shift, out_bits, out_signed, relu)
    np.testing.assert_array_equal(got, np.array(expected, np.int64))


def test_requantize_per_channel_is_the_last_axis():
    rng = np.random.default_rng(0)
    acc = rng.integers(-(2**20), 2**20, (2, 3, 4))
    mult, shift = np.array([1, 200, 77, 255]), np.array([0, 9, 12, 3])
    expected = [[[ref_saturate(round(Fraction(int(acc[n, i, c]) * int(mult[c]), 2 ** int(shift[c]))), 8, True)
                  for c in range(4)] for i in range(3)] for n in range(2)]
    np.testing.assert_array_equal(requantize(acc, mult, shift, 8, True), np.array(expected, np.int64))


def test_requantize_refuses():
    with pytest.raises(ValueError, match="multiplier must be non-negative, not -1"):
        requantize([1], [-1], 0, 8, True)
    with pytest.raises(OverflowError, match="2\\*\\*62"):
        requantize([-(2**40)], 2**22, 0, 8, True)
    with pytest.raises(OverflowError, match="2\\*\\*62"):      # np.abs(-2**63) is negative: must still be caught
        requantize(np.array([-(2**63)]), 1, 0, 8, True)


# -- quantize_multiplier -----------------------------------------------------------------------------------------------

scales = st.floats(min_value=1e-9, max_value=1e4, allow_nan=False, allow_infinity=False)


def exact(m, s):
    """``m / 2**s`` as a Fraction (``s`` may be negative)."""
    return Fraction(int(m)) / Fraction(2) ** int(s)


def best_error(scale, m_bits, max_shift):
    """Smallest ``|m / 2**s - scale|`` over every m_bits-bit multiplier and every shift, by brute force."""
    scale = Fraction(scale)
    errors = []
    for s in range(-m_bits - 20, max_shift + 1):
        m = min(round(scale * Fraction(2) ** s), 2**m_bits - 1)     # the nearest multiplier for this shift
        errors.append(abs(exact(m, s) - scale))
    return min(errors)


@settings(max_examples=60, deadline=None)
@given(scales, st.integers(1, 10))
def test_quantize_multiplier_is_the_best_m_bit_approximation(scale, m_bits):
    m, s = quantize_multiplier(scale, m_bits)
    assert 2 ** (m_bits - 1) <= m < 2**m_bits
    assert abs(exact(m, s) - Fraction(scale)) == best_error(scale, m_bits, 62)


@settings(deadline=None)
@given(scales, st.integers(1, 32))
def test_quantize_multiplier_error_bound(scale, m_bits):
    m, s = quantize_multiplier(scale, m_bits)
    assert 2 ** (m_bits - 1) <= m < 2**m_bits
    error = abs(exact(m, s) - Fraction(scale))
    assert error <= Fraction(2) ** -(int(s) + 1)
    assert error <= Fraction(scale) / 2**m_bits


@settings(deadline=None)
@given(st.lists(scales, min_size=1, max_size=8))
def test_quantize_multiplier_m1_is_a_power_of_two_and_per_channel(scale):
    m, s = quantize_multiplier(scale, 1)
    np.testing.assert_array_equal(m, np.ones(len(scale), np.int64))
    for value, k in zip(scale, s.tolist()):                     # the nearest power of two (linear distance)
        assert abs(Fraction(2) ** -k - Fraction(value)) <= abs(Fraction(2) ** -(k + 1) - Fraction(value))
        assert abs(Fraction(2) ** -k - Fraction(value)) <= abs(Fraction(2) ** -(k - 1) - Fraction(value))


def test_quantize_multiplier_examples():
    assert quantize_multiplier(0.3, 8) == (154, 9)                # 154 / 512 = 0.30078
    assert quantize_multiplier(1.0, 8) == (128, 7)
    assert quantize_multiplier(255.9, 8) == (128, -1)           # rounds up to 256: renormalized, left shift
    assert quantize_multiplier(0.75, 1) == (1, 0)               # tie between 1/2 and 1 goes to the even 2 * 2**-1
    m, s = quantize_multiplier(np.array([0.5, 0.25]), 4)
    np.testing.assert_array_equal(m, [8, 8])
    np.testing.assert_array_equal(s, [4, 5])


@settings(deadline=None)
@given(st.floats(min_value=1e-12, max_value=1e-3), st.integers(1, 16), st.integers(4, 30))
def test_quantize_multiplier_clamped_shift(scale, m_bits, max_shift):
    want_shift = m_bits - int(np.frexp(scale)[1])
    if round(Fraction(scale) * 2**max_shift) == 0:
        with pytest.raises(ValueError, match=f"too small for max_shift={max_shift}"):
            quantize_multiplier(scale, m_bits, max_shift)
        return
    m, s = quantize_multiplier(scale, m_bits, max_shift)
    assert s <= max_shift and 1 <= m < 2**m_bits
    if want_shift > max_shift:
        assert (m, s) == (round(Fraction(scale) * 2**max_shift), max_shift)
    assert abs(exact(m, s) - Fraction(scale)) == best_error(scale, m_bits, max_shift)


@pytest.mark.parametrize("args, match", [
    ((0.0, 8), "positive and finite, got 0.0"),
    (([0.5, -1.0], 8), "positive and finite, got -1.0"),
    ((float("nan"), 8), "positive and finite"),
    ((0.5, 0), "m_bits must be an int between 1 and 32, not 0"),
    ((0.5, 33), "not 33"),
    ((0.5, 8, 63), "max_shift must be an int of at most 62, not 63"),
])
def test_quantize_multiplier_refuses(args, match):
    with pytest.raises(ValueError, match=match):
        quantize_multiplier(*args)
