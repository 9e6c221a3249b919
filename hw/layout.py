"""The memory layout of stacc tensors: how golden, export, firmware and the engines' DMA see system memory.

This module is the single specification; the engines' address generators, the firmware driver and the exporter all
follow it. Packing itself is ``hw.golden.pack``/``unpack`` (never re-implemented here).

Words and rows
--------------
Memory is byte-addressed and little-endian; the layout is described in **32-bit words**. A *row* is a run of ``n``
elements of ``b`` bits (``b`` in 4, 8, 16, 32) packed ``32 // b`` to a 32-bit word with ``hw.golden.pack`` (element
``j*L + i`` in lane ``i`` of word ``j``, i.e. element ``e`` at bits ``[e*b, (e+1)*b)`` of the row) and zero-padded to a
whole number of **bus words** (``bus_width // 32`` 32-bit words), so every row starts bus-word aligned. The padding
elements are zero. Because memory is little-endian, element ``e`` also sits at bits ``[e*b, (e+1)*b)`` of the row read
as one long integer, whatever the bus width: a multiplier word of ``mul_width`` bits inside a bus word holds
consecutive elements in the lane order of ``hw.golden.pack(..., width=mul_width)``.

Tensors (batch 1, row-major, last axis = row)
----------------------------------------------
=====================  =============================  ===========================================================
tensor                 shape (golden/Keras)           rows in memory
=====================  =============================  ===========================================================
activation / output    ``(H, W, C)`` or ``(N,)``      one row per pixel: ``C`` channels (NHWC, channels innermost)
dense weights          ``(In, Out)``                  one row per output neuron ``o``: ``w[:, o]``
conv2d weights         ``(KH, KW, Cin, Cout)``        one row per (cout, kh, kw): ``w[kh, kw, :, cout]``
depthwise weights      ``(KH, KW, C, 1)``             one row per channel ``c``: the ``KH*KW`` taps, row-major
bias                   ``(Cout,)``                    one row of 32-bit signed values (accumulator grid)
requant parameters     ``(Cout,)`` x 2                one row of 32-bit words ``multiplier | shift << 16``
=====================  =============================  ===========================================================

Depthwise weights are tap-major per channel because the Sum-Together product adds its lanes together: lanes must hold
different taps of the *same* channel (a multiplier word in split mode holds taps of two channels, half a word each,
read from two rows). A conv2d with one input channel runs on the depthwise engine (``hw.perf.conv2d_engine``): its
weights ``(KH, KW, 1, Cout)`` are laid out as depthwise weights ``(KH, KW, Cout, 1)``, one row of taps per output
channel.
"""

import numpy as np

from .golden import as_int64, check_range, pack, unpack
from .params import BUS_WIDTHS

__all__ = [
    "WORD_BITS", "ELEMENT_BITS", "REQUANT_SHIFT_POS", "row_words", "pack_tensor", "unpack_tensor",
    "activation_words", "output_from_words", "dense_weight_words", "conv2d_weight_words", "depthwise_weight_words",
    "bias_words", "requant_words", "to_bus_words", "from_bus_words",
]

WORD_BITS = 32
ELEMENT_BITS = (4, 8, 16, 32)
REQUANT_SHIFT_POS = 16


def _check(bits, bus_width):
    if bits not in ELEMENT_BITS:
        raise ValueError(f"element width must be one of {ELEMENT_BITS} bits, not {bits!r}")
    if bus_width not in BUS_WIDTHS:
        raise ValueError(f"bus_width must be one of {BUS_WIDTHS}, not {bus_width!r}")


def row_words(n, bits, bus_width=32):
    """Number of 32-bit words a row of ``n`` ``bits``-bit elements occupies (padded to whole bus words)."""
    _check(bits, bus_width)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"row length must be a non-negative int, not {n!r}")
    per_bus = bus_width // bits
    return -(-int(n) // per_bus) * (bus_width // WORD_BITS)


def pack_tensor(values, bits, signed, bus_width=32):
    """Pack the last axis of ``values`` as rows: ``(..., n)`` values to ``(..., row_words(n))`` 32-bit words.

    Values outside the ``bits``-bit signed/unsigned range raise ``ValueError`` (from ``hw.golden.pack``).
    """
    v = as_int64(values, "values")
    if v.ndim == 0:
        raise ValueError("pack_tensor needs at least one axis (the row)")
    n = v.shape[-1]
    padded = row_words(n, bits, bus_width) * (WORD_BITS // bits)
    v = np.concatenate([v, np.zeros((*v.shape[:-1], padded - n), np.int64)], axis=-1)
    return pack(v, WORD_BITS // bits, signed, width=WORD_BITS)


def unpack_tensor(words, n, bits, signed, bus_width=32):
    """Inverse of :func:`pack_tensor`: ``(..., row_words(n))`` words to the ``(..., n)`` values (padding dropped)."""
    w = as_int64(words, "words")
    expect = row_words(n, bits, bus_width)
    if w.ndim == 0 or w.shape[-1] != expect:
        raise ValueError(f"a row of {n} {bits}-bit elements on a {bus_width}-bit bus is {expect} words, "
                         f"got shape {w.shape}")
    return unpack(w, WORD_BITS // bits, signed, width=WORD_BITS)[..., :n]


def activation_words(x, bits, signed, bus_width=32):
    """Memory image (flat 32-bit words) of an activation tensor ``(H, W, C)`` or vector ``(N,)``."""
    return pack_tensor(x, bits, signed, bus_width).ravel()


def output_from_words(words, shape, bits, signed, bus_width=32):
    """Read back an output tensor of ``shape`` (``(H, W, C)`` or ``(N,)``) from its flat memory image."""
    shape = tuple(int(s) for s in shape)
    rows = int(np.prod(shape[:-1], dtype=np.int64))
    w = as_int64(words, "words").reshape(rows, row_words(shape[-1], bits, bus_width))
    return unpack_tensor(w, shape[-1], bits, signed, bus_width).reshape(shape)


def _weights(w, ndim, what):
    w = as_int64(w, "weights")
    if w.ndim != ndim:
        raise ValueError(f"{what} weights must have {ndim} axes, got shape {w.shape}")
    return w


def dense_weight_words(w, bits, signed, bus_width=32):
    """Memory image of dense weights ``(In, Out)``: one row of ``In`` weights per output neuron."""
    w = _weights(w, 2, "dense")
    return pack_tensor(w.T, bits, signed, bus_width).ravel()


def conv2d_weight_words(w, bits, signed, bus_width=32):
    """Memory image of conv2d weights ``(KH, KW, Cin, Cout)``: rows ``w[kh, kw, :, cout]`` in (cout, kh, kw) order."""
    w = _weights(w, 4, "conv2d")
    return pack_tensor(w.transpose(3, 0, 1, 2), bits, signed, bus_width).ravel()


def depthwise_weight_words(w, bits, signed, bus_width=32):
    """Memory image of depthwise weights ``(KH, KW, C, 1)``: one row of ``KH*KW`` taps (row-major) per channel."""
    w = _weights(w, 4, "depthwise")
    if w.shape[3] != 1:
        raise ValueError(f"depthwise weights must have depth multiplier 1 (shape (KH, KW, C, 1)), got {w.shape}")
    kh, kw, c, _ = w.shape
    return pack_tensor(w[..., 0].transpose(2, 0, 1).reshape(c, kh * kw), bits, signed, bus_width).ravel()


def bias_words(bias, bus_width=32):
    """Memory image of a per-channel bias: 32-bit two's-complement values, one row."""
    b = check_range(bias, 32, True, "bias")
    return pack_tensor(b.ravel(), 32, True, bus_width)


def requant_words(multiplier, shift, channels, mul_bits=16, shift_bits=6, bus_width=32):
    """Memory image of per-channel requantization parameters: word ``c`` is ``multiplier[c] | shift[c] << 16``.

    ``multiplier`` and ``shift`` are scalars or ``(channels,)`` arrays. The multiplier must fit ``mul_bits`` unsigned
    bits and the shift ``shift_bits`` unsigned bits (the engine's ``requant_mul_bits`` / ``requant_shift_bits``);
    anything else raises ``ValueError`` saying which parameter to change.
    """
    m = np.broadcast_to(as_int64(multiplier, "multiplier"), (channels,))
    s = np.broadcast_to(as_int64(shift, "shift"), (channels,))
    if m.size and (m.min() < 0 or m.max() >= 1 << mul_bits):
        raise ValueError(f"requant multiplier must fit {mul_bits} unsigned bits (requant_mul_bits), "
                         f"got range [{m.min()}, {m.max()}]; requantize with a narrower multiplier")
    if s.size and (s.min() < 0 or s.max() >= 1 << shift_bits):
        raise ValueError(f"requant shift must lie in [0, {(1 << shift_bits) - 1}] (requant_shift_bits={shift_bits}),"
                         f" got range [{s.min()}, {s.max()}]")
    return pack_tensor(m | (s << REQUANT_SHIFT_POS), 32, False, bus_width)


def to_bus_words(words, bus_width=32):
    """Group a flat 32-bit-word image into bus words (Python ints, little-endian); length must divide evenly."""
    w = check_range(np.ravel(words), 32, False, "words")
    k = bus_width // WORD_BITS
    if bus_width not in BUS_WIDTHS or w.size % k:
        raise ValueError(f"{w.size} words do not form whole {bus_width}-bit bus words")
    return [sum(int(v) << (32 * i) for i, v in enumerate(w[j:j + k])) for j in range(0, w.size, k)]


def from_bus_words(bus_words, bus_width=32):
    """Inverse of :func:`to_bus_words`: bus words (ints) to a flat ``int64`` array of 32-bit words."""
    k = bus_width // WORD_BITS
    return np.array([(int(b) >> (32 * i)) & 0xFFFFFFFF for b in bus_words for i in range(k)], dtype=np.int64)
