"""Sub-word packing: N lanes of ``width // N`` bits in one ``width``-bit word, and the Sum-Together product.

Lane ``i`` of a word occupies bits ``[i*b, (i+1)*b)`` with ``b = width // lanes`` (lane 0 in the least significant
bits). A lane holds a ``b``-bit two's-complement value when the operand is signed and a plain ``b``-bit value when it is
unsigned. Words are returned as non-negative ``int64`` (the raw bit pattern).

The Sum-Together (ST) product of an activation word and a weight word in N-lane mode is ``sum_i a_i * w_i``: lane ``i``
of the activation pairs with lane ``i`` of the weight. This is the function the ``SumTogetherMultiplier`` RTL is
verified against; :func:`st_split_product` is its split mode (the two halves of the lanes summed separately).
"""

import numpy as np

from .arith import check_range

__all__ = ["lane_bits", "pack", "unpack", "st_product", "st_split_product"]


def lane_bits(width, lanes):
    """Bits per lane for ``lanes`` lanes in a ``width``-bit word; raise ``ValueError`` if they do not divide."""
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"width must be a positive int, not {width!r}")
    if isinstance(lanes, bool) or not isinstance(lanes, (int, np.integer)) or lanes < 1 or width % lanes:
        raise ValueError(f"lanes must be a positive divisor of width {width}, not {lanes!r}")
    return int(width) // int(lanes)


def pack(values, lanes, signed, width=16):
    """Pack the last axis of ``values`` (length a multiple of ``lanes``) into ``width``-bit words.

    ``values[..., j*lanes + i]`` goes to lane ``i`` of word ``j``. Values outside the lane's signed/unsigned range
    raise ``ValueError`` (never wrapped).
    """
    b = lane_bits(width, lanes)
    v = check_range(values, b, signed, "packed values")
    if v.ndim == 0 or v.shape[-1] % lanes:
        raise ValueError(f"last axis length must be a multiple of lanes={lanes}, got shape {v.shape}")
    v = v.reshape(*v.shape[:-1], v.shape[-1] // lanes, lanes) & ((1 << b) - 1)
    return np.sum(v << (np.arange(lanes, dtype=np.int64) * b), axis=-1)


def unpack(words, lanes, signed, width=16):
    """Inverse of :func:`pack`: ``(..., n)`` words to ``(..., n*lanes)`` lane values."""
    b = lane_bits(width, lanes)
    w = check_range(words, width, False, "words")
    v = (w[..., None] >> (np.arange(lanes, dtype=np.int64) * b)) & ((1 << b) - 1)
    if signed:
        v = v - ((v >> (b - 1)) << b)
    return v.reshape(*w.shape[:-1], w.shape[-1] * lanes) if w.ndim else v.reshape(lanes)


def st_product(a_word, w_word, lanes, a_signed, w_signed, width=16):
    """Sum-Together product of packed words: ``sum_i a_i * w_i`` over the ``lanes`` lanes (element-wise on arrays)."""
    a = unpack(np.asarray(a_word)[..., None], lanes, a_signed, width)
    w = unpack(np.asarray(w_word)[..., None], lanes, w_signed, width)
    return np.sum(a * w, axis=-1)


def st_split_product(a_word, w_word, lanes, a_signed, w_signed, width=16):
    """Split Sum-Together product: ``(sum_{i < lanes/2} a_i * w_i, sum_{i >= lanes/2} a_i * w_i)`` (element-wise).

    The lower and upper halves of the lanes (lane ``i`` of ``a`` with lane ``i`` of ``w``, as :func:`st_product`) are
    summed separately; ``lanes`` must be even (at least 2).
    """
    if isinstance(lanes, bool) or not isinstance(lanes, (int, np.integer)) or lanes < 2 or lanes % 2:
        raise ValueError(f"lanes must be an even lane count of at least 2 for a split product, not {lanes!r}")
    a = unpack(np.asarray(a_word)[..., None], lanes, a_signed, width)
    w = unpack(np.asarray(w_word)[..., None], lanes, w_signed, width)
    products = a * w
    half = int(lanes) // 2
    return np.sum(products[..., :half], axis=-1), np.sum(products[..., half:], axis=-1)
