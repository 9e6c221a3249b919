"""Integer reference layers: the exact results the accelerator engines and the exported nets must reproduce.

All layers take and return ``int64`` numpy arrays in Keras layout (``NHWC``; a leading batch axis is optional and the
result has the same rank as the input). Convolutions and ``dense`` return the raw *accumulator*; mapping it to the next
layer's grid is :func:`hw.golden.requantize`'s job. Rounding and wrapping come from :mod:`hw.golden.arith`, so there is
exactly one definition of each.

Padding follows TensorFlow exactly: for ``"valid"`` ``out = ceil((in - k + 1) / stride)`` with no padding; for
``"same"`` ``out = ceil(in / stride)``, ``pad_total = max((out - 1) * stride + k - in, 0)``, ``pad_total // 2`` rows
(columns) go before the input and the rest after. Padded positions hold zero; average pooling leaves them out of the
divisor, as TensorFlow does.

Every accumulation is checked against the ``2**62`` bound of :mod:`hw.golden.arith` before it is computed, so a result
is either exact or an ``OverflowError``, never a silent int64 wrap.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .arith import as_int64, div_round_half_even, shift_round_half_even, wrap
from .packing import st_product

__all__ = [
    "conv2d", "depthwise_conv2d", "dense", "avg_pool2d", "global_avg_pool", "align", "add", "relu", "clip", "mac",
    "padding_mode", "axis_geometry",
]

_LIMIT = 1 << 62
_PADDINGS = ("same", "valid")


# -- parameter checks --------------------------------------------------------------------------------------------------

def _pair(value, name):
    """``value`` (an int or a pair of ints, each >= 1) as a tuple ``(rows, cols)``."""
    pair = (value, value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        pair = tuple(pair)
    except TypeError:
        raise TypeError(f"{name} must be an int or a pair of ints, not {value!r}") from None
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in pair):
        raise TypeError(f"{name} must be an int or a pair of ints, not {value!r}")
    if min(pair) < 1:
        raise ValueError(f"{name} must be at least 1 in both dimensions, not {value!r}")
    return int(pair[0]), int(pair[1])


def padding_mode(padding):
    """``padding`` checked and lower-cased: ``"same"`` or ``"valid"``.

    TensorFlow spells it ``"SAME"``/``"VALID"``, Keras ``"same"``/``"valid"``; anything else raises ``ValueError``
    naming the value.
    """
    if not isinstance(padding, str) or padding.lower() not in _PADDINGS:
        raise ValueError(f"padding must be 'same' or 'valid' (TensorFlow semantics), not {padding!r}")
    return padding.lower()


def _images(x):
    """``x`` as an int64 ``(N, H, W, C)`` array and whether the caller passed a single ``(H, W, C)`` image."""
    x = as_int64(x, "x")
    if x.ndim not in (3, 4):
        raise ValueError(f"x must have shape (N, H, W, C) or (H, W, C), got shape {x.shape}")
    single = x.ndim == 3
    return (x[None] if single else x), single


def axis_geometry(size, k, stride, padding, axis="axis"):
    """``(out, pad_before, pad_after)`` of one spatial axis, exactly as TensorFlow computes them.

    Parameters
    ----------
    size, k, stride : int
        Input size, kernel size and stride along the axis (``size >= 1``).
    padding : str
        ``"same"`` or ``"valid"`` (any case, see :func:`padding_mode`).
    axis : str
        The axis' name for error messages (``"height"``, ``"width"``).

    Returns
    -------
    out : int
        Output size: ``ceil(size / stride)`` for ``"same"``, ``(size - k) // stride + 1`` for ``"valid"``.
    pad_before, pad_after : int
        Zero rows (columns) before and after the input: ``"same"`` pads
        ``max((out - 1) * stride + k - size, 0)`` in all, the smaller half before; ``"valid"`` pads none.

    Raises ``ValueError`` if ``size < 1`` or, with ``"valid"``, the kernel is larger than the input.
    """
    padding = padding_mode(padding)
    if size < 1:
        raise ValueError(f"input {axis} must be at least 1, not {size}")
    if padding == "valid":
        if k > size:
            raise ValueError(f"kernel {axis} {k} is bigger than the input {axis} {size} with padding='valid'; "
                             f"use padding='same' or a smaller kernel")
        return (size - k) // stride + 1, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return out, total // 2, total - total // 2


def _windows(x, kernel, strides, padding):
    """Zero-padded sliding windows of ``x (N, H, W, C)``, shape ``(N, Ho, Wo, C, KH, KW)``."""
    padding = padding_mode(padding)
    (kh, kw), (sh, sw) = kernel, strides
    _, h, w, _ = x.shape
    ho, top, bottom = axis_geometry(h, kh, sh, padding, "height")
    wo, left, right = axis_geometry(w, kw, sw, padding, "width")
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    assert win.shape[1:3] == (ho, wo), "sliding windows disagree with TensorFlow's output size"
    return win


def _kernel_size(w):
    """``(KH, KW)`` of a kernel, both at least 1."""
    if w.shape[0] < 1 or w.shape[1] < 1:
        raise ValueError(f"kernel height and width must be at least 1, got w shape {w.shape}")
    return w.shape[0], w.shape[1]


def _peak(a):
    """Largest magnitude in ``a`` (0 for None or empty) as a Python int, so bounds computed from it cannot wrap."""
    return max(-int(a.min()), int(a.max()), 0) if a is not None and a.size else 0


def _check_sum_bound(term, terms, bias, what):
    """Raise ``OverflowError`` unless ``terms`` terms of magnitude up to ``term`` plus ``bias`` stay below 2**62."""
    if term * terms + _peak(bias) >= _LIMIT:
        raise OverflowError(f"{what}: the sum could reach 2**62 ({terms} terms of magnitude up to {term}); "
                            f"int64 cannot hold it exactly")


def _bias(bias, channels):
    """``bias`` as int64 of shape ``(channels,)``, or None."""
    if bias is None:
        return None
    bias = as_int64(bias, "bias")
    if bias.shape != (channels,):
        raise ValueError(f"bias must have shape ({channels},) (one value per output channel), got shape {bias.shape}")
    return bias


def _finish(acc, bias, acc_bits, single):
    """Add the per-channel ``bias``, wrap to ``acc_bits`` and restore the caller's rank."""
    if bias is not None:
        acc = acc + bias
    if acc_bits is not None:
        acc = wrap(acc, acc_bits)
    return acc[0] if single else acc


# -- layers ------------------------------------------------------------------------------------------------------------

def conv2d(x, w, bias=None, strides=(1, 1), padding="valid", acc_bits=None):
    """2-D convolution (Keras ``Conv2D``) on the integer grid; returns the accumulator.

    Parameters
    ----------
    x : int array, shape ``(N, H, W, Cin)`` or ``(H, W, Cin)``
        Input activations.
    w : int array, shape ``(KH, KW, Cin, Cout)``
        Kernel in Keras layout.
    bias : int array, shape ``(Cout,)``, optional
        Bias already on the accumulator grid.
    strides : int or (int, int)
        Stride along height and width, each >= 1.
    padding : {"valid", "same"}
        TensorFlow padding (see the module docstring).
    acc_bits : int, optional
        Wrap the result to this many bits, as a hardware accumulator of that width would.

    Returns
    -------
    int64 array, shape ``(N, Ho, Wo, Cout)`` (or ``(Ho, Wo, Cout)`` for a single image)
    """
    x, single = _images(x)
    w = as_int64(w, "w")
    if w.ndim != 4:
        raise ValueError(f"conv2d kernel w must have shape (KH, KW, Cin, Cout), got shape {w.shape}")
    kh, kw = _kernel_size(w)
    cin, cout = w.shape[2:]
    if x.shape[-1] != cin:
        raise ValueError(f"x has {x.shape[-1]} input channels but w expects Cin={cin} (w shape {w.shape})")
    bias = _bias(bias, cout)
    _check_sum_bound(_peak(x) * _peak(w), kh * kw * cin, bias, "conv2d")
    win = _windows(x, (kh, kw), _pair(strides, "strides"), padding)
    acc = np.tensordot(win, w.transpose(2, 0, 1, 3), axes=([3, 4, 5], [0, 1, 2]))
    return _finish(acc, bias, acc_bits, single)


def depthwise_conv2d(x, w, bias=None, strides=(1, 1), padding="valid", acc_bits=None):
    """Depthwise 2-D convolution (Keras ``DepthwiseConv2D``, depth_multiplier 1); returns the accumulator.

    Parameters
    ----------
    x : int array, shape ``(N, H, W, C)`` or ``(H, W, C)``
    w : int array, shape ``(KH, KW, C, 1)`` (Keras) or ``(KH, KW, C)``
    bias, strides, padding, acc_bits
        As for :func:`conv2d`; ``bias`` has shape ``(C,)``.

    Returns
    -------
    int64 array, shape ``(N, Ho, Wo, C)`` (or ``(Ho, Wo, C)``)
    """
    x, single = _images(x)
    w = as_int64(w, "w")
    if w.ndim == 4:
        if w.shape[3] != 1:
            raise ValueError(f"depthwise_conv2d supports depth_multiplier 1 only: w must have shape (KH, KW, C, 1), "
                             f"got shape {w.shape}")
        w = w[..., 0]
    if w.ndim != 3:
        raise ValueError(f"depthwise kernel w must have shape (KH, KW, C, 1) or (KH, KW, C), got shape {w.shape}")
    kh, kw = _kernel_size(w)
    c = w.shape[2]
    if x.shape[-1] != c:
        raise ValueError(f"x has {x.shape[-1]} channels but the depthwise kernel has C={c} (w shape {w.shape})")
    bias = _bias(bias, c)
    _check_sum_bound(_peak(x) * _peak(w), kh * kw, bias, "depthwise_conv2d")
    win = _windows(x, (kh, kw), _pair(strides, "strides"), padding)
    acc = np.einsum("nhwcij,ijc->nhwc", win, w)
    return _finish(acc, bias, acc_bits, single)


def dense(x, w, bias=None, acc_bits=None):
    """Fully connected layer (Keras ``Dense``) on the integer grid; returns the accumulator.

    Parameters
    ----------
    x : int array, shape ``(N, In)`` or ``(In,)``
    w : int array, shape ``(In, Out)``
    bias : int array, shape ``(Out,)``, optional
    acc_bits : int, optional
        Wrap the result to this many bits.

    Returns
    -------
    int64 array, shape ``(N, Out)`` (or ``(Out,)``)
    """
    x = as_int64(x, "x")
    w = as_int64(w, "w")
    if x.ndim not in (1, 2):
        raise ValueError(f"dense input x must have shape (N, In) or (In,), got shape {x.shape}; "
                         f"flatten it first")
    if w.ndim != 2:
        raise ValueError(f"dense kernel w must have shape (In, Out), got shape {w.shape}")
    if x.shape[-1] != w.shape[0]:
        raise ValueError(f"x has {x.shape[-1]} features but w expects In={w.shape[0]} (w shape {w.shape})")
    bias = _bias(bias, w.shape[1])
    _check_sum_bound(_peak(x) * _peak(w), w.shape[0], bias, "dense")
    single = x.ndim == 1
    return _finish(np.atleast_2d(x) @ w, bias, acc_bits, single)


def avg_pool2d(x, pool_size, strides=None, padding="valid", shift=0):
    """Average pooling, exact: ``round_half_even(window_sum / (count * 2**shift))``.

    Parameters
    ----------
    x : int array, shape ``(N, H, W, C)`` or ``(H, W, C)``
    pool_size : int or (int, int)
    strides : int or (int, int), optional
        Defaults to ``pool_size`` (as in Keras).
    padding : {"valid", "same"}
        With ``"same"``, ``count`` is the number of real (unpadded) inputs in the window, as in TensorFlow.
    shift : int
        Power-of-two rescaling folded into the exact division, for moving to another grid: ``shift > 0`` divides by a
        further ``2**shift``, ``shift < 0`` multiplies by ``2**-shift``.

    Returns
    -------
    int64 array, shape ``(N, Ho, Wo, C)`` (or ``(Ho, Wo, C)``)
    """
    x, single = _images(x)
    pool = _pair(pool_size, "pool_size")
    strides = pool if strides is None else _pair(strides, "strides")
    _check_sum_bound(_peak(x), pool[0] * pool[1], None, "avg_pool2d")
    win = _windows(x, pool, strides, padding)
    total = win.sum(axis=(4, 5))
    ones = np.ones((1, *x.shape[1:3], 1), np.int64)
    count = _windows(ones, pool, strides, padding)
    result = _divide(total, count.sum(axis=(4, 5)), shift)
    return result[0] if single else result


def global_avg_pool(x, shift=0):
    """Global average pooling over height and width (Keras ``GlobalAveragePooling2D``), exact.

    ``round_half_even(sum / (H * W * 2**shift))`` per image and channel, with ``shift`` as in :func:`avg_pool2d`.
    ``x`` of shape ``(N, H, W, C)`` gives ``(N, C)``; ``(H, W, C)`` gives ``(C,)``.
    """
    x, single = _images(x)
    _check_sum_bound(_peak(x), x.shape[1] * x.shape[2], None, "global_avg_pool")
    result = _divide(x.sum(axis=(1, 2)), x.shape[1] * x.shape[2], shift)
    return result[0] if single else result


def _divide(total, count, shift):
    """``round_half_even(total / (count * 2**shift))`` as one exact rational division."""
    if isinstance(shift, bool) or not isinstance(shift, (int, np.integer)):
        raise TypeError(f"shift must be an int, not {shift!r}")
    shift = int(shift)
    if _peak(total) << max(-shift, 0) >= _LIMIT or _peak(np.asarray(count)) << max(shift, 0) >= _LIMIT:
        raise OverflowError(f"pooling with shift={shift} exceeds 2**62; use a smaller |shift|")
    return div_round_half_even(total << max(-shift, 0), count << max(shift, 0))


def align(x, f_from, f_to):
    """Move ``x`` from a grid with ``f_from`` fractional bits to one with ``f_to`` (round-half-to-even, exact).

    Going to more fractional bits is an exact left shift; to fewer, :func:`shift_round_half_even`.
    """
    return shift_round_half_even(x, as_int64(f_from, "f_from") - as_int64(f_to, "f_to"))


def add(x, y):
    """Residual add of two tensors already on the same grid (align them first with :func:`align`)."""
    x, y = as_int64(x, "x"), as_int64(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"add needs operands of the same shape, got {x.shape} and {y.shape}")
    return x + y


def relu(x):
    """``max(x, 0)``."""
    return np.maximum(as_int64(x, "x"), 0)


def clip(x, lo, hi):
    """Clamp ``x`` to ``[lo, hi]`` (e.g. ReLU6 or a quantized_relu range on the integer grid)."""
    if int(lo) > int(hi):
        raise ValueError(f"clip needs lo <= hi, got lo={lo} and hi={hi}")
    return np.clip(as_int64(x, "x"), int(lo), int(hi))


def mac(a_words, w_words, lanes, a_signed, w_signed, acc_bits, width=16):
    """What a MAC unit accumulating a sequence of packed word pairs ends with.

    ``wrap(sum over the last axis of st_product(a_words, w_words, ...), acc_bits)``; wrapping once at the end equals
    wrapping after every addition, as a hardware accumulator does.
    """
    products = st_product(a_words, w_words, lanes, a_signed, w_signed, width)
    if products.ndim == 0:
        raise ValueError("mac needs sequences of words (the last axis is accumulated), got scalars")
    return wrap(np.sum(products, axis=-1), acc_bits)
