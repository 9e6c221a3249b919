"""Carry-save reduction of a bit matrix: full/half adders arranged as a Dadda (or Wallace) tree.

The multipliers in :mod:`hw.arith` describe their partial products as *columns*: ``columns[c]`` is the list of 1-bit
Amaranth values of weight ``2**c``. :func:`reduce_columns` adds the full/half adders that compress every column to at
most two bits and returns the two carry-save rows; the caller adds them with one carry-propagate adder. Everything is
computed modulo ``2**len(columns)`` (carries out of the top column are dropped).

Python ``int`` 0/1 entries are constants; they are folded before any adder is built, so a correction constant costs
nothing where it is fixed and one adder input where it depends on the mode.
"""

from amaranth.hdl import Cat, Const, Signal

__all__ = ["REDUCTIONS", "reduce_columns"]

#: The tree arrangements :func:`reduce_columns` can build.
REDUCTIONS = ("dadda", "wallace")


def _full_adder(m, x, y, z, name):
    s = Signal(name=f"{name}_s")
    c = Signal(name=f"{name}_c")
    t = x ^ y
    m.d.comb += [s.eq(t ^ z), c.eq((x & y) | (t & z))]
    return s, c


def _half_adder(m, x, y, name):
    s = Signal(name=f"{name}_s")
    c = Signal(name=f"{name}_c")
    m.d.comb += [s.eq(x ^ y), c.eq(x & y)]
    return s, c


def _fold_constants(columns):
    """Move the constant 0/1 entries of every column into one constant, then turn its set bits back into columns."""
    width = len(columns)
    const = 0
    bits = []
    for c, col in enumerate(columns):
        bits.append([b for b in col if not isinstance(b, int)])
        const += sum(b for b in col if isinstance(b, int)) << c
    const %= 1 << width
    for c in range(width):
        if const >> c & 1:
            bits[c].append(Const(1, 1))
    return bits


def _dadda_limits(height):
    limits = [2]
    while limits[-1] < height:
        limits.append(limits[-1] * 3 // 2)
    return limits[-2::-1]                         # the targets below the current height, largest first


def reduce_columns(m, columns, arrangement="dadda", name="csa"):
    """Compress ``columns`` to two rows of ``len(columns)`` bits whose sum (mod ``2**len(columns)``) is unchanged.

    Parameters
    ----------
    m : Module
        Module the adders are added to (combinational domain).
    columns : list of list
        ``columns[c]`` holds 1-bit values (or 0/1 ints) of weight ``2**c``.
    arrangement : str
        ``"dadda"`` (fewest adders: compress each stage only down to the next Dadda height) or ``"wallace"`` (compress
        every column as early as possible).

    Returns
    -------
    (Value, Value)
        The two carry-save rows.
    """
    if arrangement not in REDUCTIONS:
        raise ValueError(f"arrangement must be one of {REDUCTIONS}, not {arrangement!r}")
    width = len(columns)
    cols = _fold_constants(columns)
    count = 0

    def stage(target):
        nonlocal cols, count
        out = [[] for _ in range(width)]
        for c in range(width):
            col = list(cols[c])
            # Dadda: compress only until the column (with the carries already sent here) fits the target.
            # Wallace: full adders on every group of three, a half adder on a remaining pair if carries arrived.
            while True:
                height = len(col) + len(out[c])
                if target is None:
                    if len(col) >= 3:
                        x, y, z = col.pop(), col.pop(), col.pop()
                    elif len(col) == 2 and len(out[c]) > 0:
                        x, y, z = col.pop(), col.pop(), None
                    else:
                        break
                elif height <= target:
                    break
                elif height == target + 1 or len(col) < 3:
                    x, y, z = col.pop(), col.pop(), None
                else:
                    x, y, z = col.pop(), col.pop(), col.pop()
                if z is None:
                    s, k = _half_adder(m, x, y, f"{name}{count}")
                else:
                    s, k = _full_adder(m, x, y, z, f"{name}{count}")
                count += 1
                out[c].append(s)
                if c + 1 < width:
                    out[c + 1].append(k)
            out[c].extend(col)
        cols = out

    if arrangement == "dadda":
        for target in _dadda_limits(max(map(len, cols), default=0)):
            stage(target)
    else:
        while max(map(len, cols), default=0) > 2:
            stage(None)

    def row(i):
        return Cat(*(col[i] if len(col) > i else Const(0, 1) for col in cols))
    return row(0), row(1)
