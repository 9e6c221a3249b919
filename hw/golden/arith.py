"""The one definition of stacc's integer arithmetic: rounding, saturation, requantization.

Every other part of stacc (the golden layers, the QKeras export, the RTL tests, the firmware reference kernels through
their generated test vectors) calls these functions; none re-implements them. All functions take and return ``int64``
numpy arrays (Python ints and lists are accepted) and are vectorized.

Conventions
-----------
* A *b-bit signed* value lies in ``[-2**(b-1), 2**(b-1) - 1]``; a *b-bit unsigned* value in ``[0, 2**b - 1]``.
* Rounding is **round-half-to-even** everywhere (it is what QKeras's quantizers do: ``tf.round`` is banker's rounding).
  Round-half-up gives different results on exact ties and does *not* match QKeras.
* Intermediate values must stay below ``2**62`` in magnitude; :func:`requantize` checks this and raises
  ``OverflowError`` rather than wrap silently.
"""

import numpy as np

__all__ = [
    "as_int64", "value_range", "check_range", "saturate", "wrap", "shift_round_half_even", "div_round_half_even",
    "requantize", "quantize_multiplier",
]

_LIMIT = 1 << 62


def as_int64(x, name="value"):
    """Return ``x`` as an ``int64`` array; refuse floats that are not integers and bool/object arrays."""
    arr = np.asarray(x)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise TypeError(f"{name} must hold integers, got non-integral floats (e.g. {arr.flat[0]!r})")
        if np.any(np.abs(arr) >= 2.0**53):
            raise OverflowError(f"{name}: floats at or above 2**53 are not exact integers")
    elif arr.dtype.kind not in "iu":
        if arr.dtype.kind == "O":
            ints = [_exact_int(v, name) for v in arr.flat]
            if any(abs(v) >= _LIMIT for v in ints):
                raise OverflowError(f"{name}: values must lie below 2**62 in magnitude")
            return np.array(ints, dtype=np.int64).reshape(arr.shape)
        raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
    elif arr.dtype == np.uint64 and arr.size and arr.max() >= _LIMIT:
        raise OverflowError(f"{name}: values must lie below 2**62 in magnitude")
    return arr.astype(np.int64)


def _exact_int(v, name):
    """``int(v)`` when ``v`` is an integer value (e.g. a Python int too big for int64); refuse anything else."""
    try:
        i = int(v)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must hold integers, got {v!r}") from None
    if i != v:
        raise TypeError(f"{name} must hold integers, got {v!r}")
    return i


def _check_bits(bits, name="bits"):
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise TypeError(f"{name} must be an int, not {bits!r}")
    if not 1 <= bits <= 62:
        raise ValueError(f"{name} must be between 1 and 62, not {bits}")
    return int(bits)


def value_range(bits, signed):
    """``(lo, hi)``, inclusive, of a ``bits``-bit signed or unsigned integer."""
    bits = _check_bits(bits)
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def check_range(x, bits, signed, name="value"):
    """Return ``x`` as int64 after checking that every element fits ``bits`` bits; raise ``ValueError`` otherwise."""
    x = as_int64(x, name)
    lo, hi = value_range(bits, signed)
    if x.size and (x.min() < lo or x.max() > hi):
        bad = x[(x < lo) | (x > hi)].flat[0]
        kind = "signed" if signed else "unsigned"
        raise ValueError(f"{name} must fit {bits}-bit {kind} [{lo}, {hi}], but holds {bad}")
    return x


def saturate(x, bits, signed):
    """Clamp ``x`` to the range of a ``bits``-bit signed/unsigned integer."""
    lo, hi = value_range(bits, signed)
    return np.clip(as_int64(x), lo, hi)


def wrap(x, bits):
    """Two's-complement wrap-around of ``x`` to ``bits`` bits (what a ``bits``-bit hardware accumulator does)."""
    bits = _check_bits(bits)
    x = as_int64(x)
    return ((x + (1 << (bits - 1))) & ((1 << bits) - 1)) - (1 << (bits - 1))


def shift_round_half_even(x, shift):
    """``x / 2**shift`` rounded half-to-even (arithmetic, exact for negative ``x``).

    ``shift`` may be an array broadcast against ``x``; ``shift <= 0`` is an exact left shift by ``-shift``.
    """
    x = as_int64(x, "x")
    shift = as_int64(shift, "shift")
    if shift.size and shift.max() > 62:
        raise ValueError(f"shift must be at most 62, not {shift.max()}")
    x, shift = np.broadcast_arrays(x, shift)
    right = np.maximum(shift, 0)
    left = np.maximum(-shift, 0)
    if np.any((left > 0) & (np.abs(x) >= (_LIMIT >> np.minimum(left, 62)))):
        raise OverflowError("left shift overflows 2**62")
    floor = x >> right                                   # arithmetic shift: floor division
    rem = x - (floor << right)                           # 0 <= rem < 2**right
    half = np.where(right > 0, np.int64(1) << np.maximum(right - 1, 0), 0)
    round_up = (right > 0) & ((rem > half) | ((rem == half) & ((floor & 1) == 1)))
    return np.where(left > 0, x << left, floor + round_up)


def div_round_half_even(num, den):
    """``num / den`` rounded half-to-even, exactly (``den > 0``); used by average pooling."""
    num = as_int64(num, "num")
    den = as_int64(den, "den")
    if den.size and den.min() <= 0:
        raise ValueError(f"den must be positive, not {den.min()}")
    if den.size and den.max() >= _LIMIT:
        raise OverflowError(f"den must lie below 2**62, not {den.max()}")
    q, r = np.divmod(num, den)                           # floor division, 0 <= r < den
    twice = 2 * r
    round_up = (twice > den) | ((twice == den) & ((q & 1) == 1))
    return q + round_up


def requantize(acc, multiplier, shift, out_bits, out_signed, relu=False):
    """Map accumulator values to the output grid: ``saturate(round_half_even(acc * multiplier / 2**shift))``.

    Parameters
    ----------
    acc : int array
        Accumulator values; the last axis is the channel axis when ``multiplier``/``shift`` are per-channel.
    multiplier : int or int array
        Unsigned requantization multiplier (an M-bit integer in hardware), broadcast against ``acc``.
        ``multiplier=1`` with a shift is the pure power-of-two requantization (the M=1 case).
    shift : int or int array
        Right shift, broadcast against ``acc``; negative values shift left.
    out_bits, out_signed : int, bool
        Output width and signedness; the result saturates to that range.
    relu : bool
        Clamp negative results to zero before saturation (for a signed output; an unsigned output already does).
    """
    acc = as_int64(acc, "acc")
    multiplier = as_int64(multiplier, "multiplier")
    if multiplier.size and multiplier.min() < 0:
        raise ValueError(f"multiplier must be non-negative, not {multiplier.min()}")
    if acc.size and multiplier.size and max(-int(acc.min()), int(acc.max())) * int(multiplier.max()) >= _LIMIT:
        raise OverflowError("acc * multiplier exceeds 2**62")
    y = shift_round_half_even(acc * multiplier, shift)
    if relu:
        y = np.maximum(y, 0)
    return saturate(y, out_bits, out_signed)


def quantize_multiplier(scale, m_bits, max_shift=62):
    """Approximate a positive real ``scale`` by ``multiplier / 2**shift`` with an unsigned ``m_bits``-bit multiplier.

    The multiplier is normalized to use its full width (``2**(m_bits-1) <= multiplier < 2**m_bits``), which makes the
    approximation the closest one any ``m_bits``-bit multiplier can give: the error is at most ``2**-(shift+1)``, i.e. a
    relative error of at most ``2**-m_bits``. ``m_bits=1`` gives a pure power of two (``multiplier == 1``), the
    shift-only requantization. Ties round half-to-even.

    Parameters
    ----------
    scale : float or float array
        Positive, finite scale(s), e.g. one per output channel ``s_in * s_w / s_out``.
    m_bits : int
        Multiplier width, 1 to 32.
    max_shift : int
        Largest right shift the hardware supports (at most 62). A scale too small to normalize within it gets a
        multiplier below ``2**(m_bits-1)`` (fewer significant bits); one that would round to 0 raises ``ValueError``.
        Shifts may be negative (a left shift) for scales of ``2**m_bits`` or more.

    Returns
    -------
    multiplier, shift : int64 (arrays of ``scale``'s shape, scalars for a scalar ``scale``)
        For :func:`requantize`'s ``multiplier`` and ``shift``.
    """
    if isinstance(m_bits, bool) or not isinstance(m_bits, (int, np.integer)) or not 1 <= m_bits <= 32:
        raise ValueError(f"m_bits must be an int between 1 and 32, not {m_bits!r}")
    if isinstance(max_shift, bool) or not isinstance(max_shift, (int, np.integer)) or max_shift > 62:
        raise ValueError(f"max_shift must be an int of at most 62, not {max_shift!r}")
    scale = np.asarray(scale, dtype=np.float64)
    if scale.size and not (np.all(np.isfinite(scale)) and scale.min() > 0):
        bad = scale[~(np.isfinite(scale) & (scale > 0))].flat[0]
        raise ValueError(f"scale must be positive and finite, got {bad}")
    mantissa, exponent = np.frexp(scale)                 # scale = mantissa * 2**exponent, 0.5 <= mantissa < 1
    multiplier = np.rint(np.ldexp(mantissa, m_bits)).astype(np.int64)   # exact product, rint is half-to-even
    carry = multiplier == (1 << m_bits)                  # rounded up to 2**m_bits: renormalize
    multiplier = np.where(carry, multiplier >> 1, multiplier)
    shift = (m_bits - exponent - carry).astype(np.int64)
    clamped = shift > max_shift
    if np.any(clamped):
        multiplier = np.where(clamped, np.rint(np.ldexp(scale, int(max_shift))).astype(np.int64), multiplier)
        shift = np.minimum(shift, max_shift)
        if np.any(multiplier == 0):
            bad = scale[multiplier == 0].flat[0]
            raise ValueError(f"scale {bad} is too small for max_shift={max_shift}: the multiplier rounds to 0; "
                             f"allow a larger max_shift (at most 62) or rescale the layer")
    return multiplier[()], shift[()]
