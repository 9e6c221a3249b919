"""Sum-Together multiplier: one shared Baugh-Wooley partial-product array for 1, 2, 4, ... lanes, and fixed baselines.

How the array is shared
-----------------------
In ``n``-lane mode (lanes of ``b = width // n`` bits) the weight word enters the array with its lanes in *reverse*
order (bit order inside a lane kept): lane ``i`` of ``a`` sits at bit ``i*b`` and lane ``i`` of ``w`` at bit
``(n-1-i)*b``, so every diagonal lane product ``a_i * w_i`` lands at the same column ``R_n = (n-1)*b`` and the array
adds them for free ("dot product in the middle bits"). The cross-lane products are switched off by gating the weight
operand per ``g x g`` block pair (``g`` = the narrowest lane), so the gating costs ``g`` AND gates per block pair, not
one per partial product. Signed lanes use Baugh-Wooley: a partial product whose weight is negative in the current mode
(exactly one of its bits is the sign bit of a signed lane) is inverted *after* the gating, by a control that is 0 in
every mode where the product is gated off (so gated products stay 0), and one full-width correction constant, chosen
by mode and signedness, is added to the array as a few mode-dependent bits. Everything is computed modulo
``2**(2*width+1)``; in n-lane mode the result is read from columns ``[R_n, R_n + bits_n)`` and sign-extended, so
correction bits above that window are free and are chosen to depend on as few modes as possible.

A correction bit that is 1 only in modes where some partial product of its column is gated off (0) is ORed into that
product instead of entering the tree as one more adder input ("absorbed"); a bit needed in several modes is split into
its per-mode parts (the modes are exclusive, so OR = sum). At 16 bit, lanes 1/2/4 this leaves only the bits the fixed
array has too, and saves about 49 NAND2-eq (2389 -> 2341, +17.1 % -> +14.8 % over the fixed array).

With ``weight_order="reversed"`` the weight word arrives lane-reversed (a memory layout the engines may choose) and the
reversal mux disappears: 2276 NAND2-eq, +11.6 %.

Measured alternatives (``python -m hw.area`` flow, 16 bit, lanes 1/2/4, NAND2-eq): masking every partial product
instead of the operand blocks costs about 3 % more; a Wallace tree instead of Dadda about 5 % more; gated weight copies
built only from the sources of their active modes +5; exact (not free) correction bits above the windows, which lets
every narrow mode read its sign from a shared column and drops 10 output muxes, +5 (more constant bits); the window
mux with the widest mode outermost +7; inverting sign-row products in gated-off modes too (simpler controls, the
resulting 1s folded into the constants) +9. Splitting the reversal between ``a`` and ``w`` (e.g. ``w`` half-swapped in
modes 2 and 4, ``a`` block-swapped in mode 4) needs as many muxes (2 per bit of one operand, or 1 per bit of both).

Split mode
----------
``split=(n, ...)`` gives those lane counts a second mode (``split`` port = 1) in which the array returns the sums of
the lower and the upper half of the lanes separately, ``p = sum_{i<n/2} a_i*w_i`` and ``q = sum_{i>=n/2} a_i*w_i``
(``hw.golden.st_split_product``). It is for the depthwise engine: ST lanes add into one sum, so one multiplier word
can only serve one channel; split, it serves two channels (two taps each at 4 lanes, one each at 2 lanes). It is the
same array: the weight lanes are reversed within each half instead of across the word, so the lower half's products
land at column ``R_lo = (n/2-1)*b`` and the upper half's at ``R_hi = R_lo + width`` (16 bit: columns 4 and 20 for
4 lanes, 0 and 16 for 2), the gating and Baugh-Wooley controls treat (lane count, split) as one more mode, and the
array value is ``lower * 2**R_lo + upper * 2**R_hi``. A negative lower sum would borrow from the upper field, so when
either operand is signed the mode's correction constant also adds a bias ``2**(width-1)`` at column ``R_lo``: the
field ``[R_lo, R_hi)`` then holds ``lower + 2**(width-1)``, which lies in ``[0, 2**width)`` (checked for every
configuration when the windows are computed; 2 lanes at 16 bit: signed x unsigned lower sums span
``[-32640, 32385]``), and ``p`` is that field with its top bit inverted, sign-extended. Unsigned x unsigned needs no
bias (the field is the non-negative sum, zero-extended). Every column below the top of the upper field is exact in a
split mode (no free correction bits there). A split mode whose lower field starts where a lane count's window does
(split 2 and the 1-lane window, both at column 0) is muxed next to it, so their common bits cost no output mux.

Measured (16 bit, lanes 1/2/4, NAND2-eq, ``hw.area`` generic flow; fixed Baugh-Wooley array 2040):

================  ===================  ===================
``split``         ``weight_order``     ``weight_order``
                  natural              reversed
================  ===================  ===================
``()``            2341 (+14.8 %)       2276 (+11.6 %)
``(2,)``          2482 (+21.7 %)
``(4,)``          2507 (+22.9 %)       2446 (+19.9 %)
``(2, 4)``        2665 (+30.6 %)       2557 (+25.4 %)
================  ===================  ===================

so split 4 costs about 167 NAND2-eq (+7 %) and split 2 and 4 together about 324 (+14 %; 281 with reversed weights).
Where it goes was not measured separately: the new output windows (a mux per bit of ``p``, and of ``q`` when it has
two sources), one more reversal source per ``w`` bit for split 4 (none for split 2: its order is the 1-lane one), and
the gating, Baugh-Wooley inversion and correction controls of the extra modes. Without ``split`` the generated logic
is exactly that of the plain multiplier (same RTLIL).

With ``lanes=(1,)`` the same generator is a plain Baugh-Wooley array multiplier: that is the ``"array"`` baseline of
:class:`FixedMultiplier`.
"""

from contextlib import contextmanager

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..golden import value_range
from .reduction import REDUCTIONS, reduce_columns

__all__ = ["SumTogetherMultiplier", "FixedMultiplier", "WEIGHT_ORDERS", "build_array_product", "mode_width",
           "validating", "check_int", "check_choice", "check_width", "check_lanes", "check_split", "check_pipeline",
           "check_reduction", "check_arrangement", "check_weight_order"]

#: Lane order of the ``w`` port: ``"natural"`` (lane i pairs with lane i of ``a``, as ``hw.golden.st_product``) or
#: ``"reversed"`` (the word is stored lane-reversed for its lane count: lane ``n-1-i`` pairs with lane i of ``a``).
WEIGHT_ORDERS = ("natural", "reversed")


@contextmanager
def validating(component):
    """Wrap a constructor's parameter checks: a component refused there never warns that it was unused."""
    try:
        yield
    except (TypeError, ValueError):
        component._MustUse__used = True          # amaranth's UnusedElaboratable bookkeeping
        raise


def check_int(name, value, minimum, requirement):
    """Validate an int parameter ``name`` that must be >= ``minimum`` (``requirement`` says so in the message)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be {requirement}, not {value}")
    return value


def check_choice(name, value, choices):
    """Validate a parameter ``name`` that must be one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, not {value!r}")
    return value


def check_width(width):
    """Validate an operand width (an int >= 2)."""
    return check_int("width", width, 2, "at least 2")


def check_lanes(width, lanes):
    """Validate a lane-count set for ``width``-bit words; return it as a sorted tuple."""
    if isinstance(lanes, (int, str)) or not hasattr(lanes, "__iter__"):
        raise TypeError(f"lanes must be a tuple of lane counts such as (1, 2, 4), not {lanes!r}")
    lanes = tuple(lanes)
    if not lanes:
        raise ValueError("lanes must name at least one lane count, e.g. lanes=(1,)")
    for n in lanes:
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"lane counts must be ints, not {n!r} (in lanes={lanes})")
        if n < 1 or n & (n - 1):
            raise ValueError(f"lane counts must be powers of two, not {n} (in lanes={lanes})")
        if width % n:
            raise ValueError(f"lane count {n} does not divide width {width}; use a power of two up to {width // 2}")
        if width // n < 2:
            raise ValueError(f"lane count {n} gives {width // n}-bit lanes for width {width}; lanes must be at "
                             f"least 2 bits wide, so use at most {width // 2} lanes")
    if len(set(lanes)) != len(lanes):
        raise ValueError(f"lanes must not repeat a lane count, got {lanes}")
    return tuple(sorted(lanes))


def check_split(lanes, split):
    """Validate the lane counts that also get a split mode (ints in ``lanes``, at least 2); return a sorted tuple."""
    if isinstance(split, (int, str)) or not hasattr(split, "__iter__"):
        raise TypeError(f"split must be a tuple of lane counts such as (2, 4), not {split!r}")
    split = tuple(split)
    for n in split:
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"split lane counts must be ints, not {n!r} (in split={split})")
        if n < 2:
            raise ValueError(f"split lane counts must be at least 2 (a split mode needs two groups of lanes), not {n} "
                             f"(in split={split})")
        if n not in lanes:
            raise ValueError(f"split lane count {n} is not in lanes={lanes}; add it to lanes or remove it from split")
    if len(set(split)) != len(split):
        raise ValueError(f"split must not repeat a lane count, got {split}")
    return tuple(sorted(split))


def check_pipeline(pipeline):
    return check_int("pipeline", pipeline, 0, "a number of register stages >= 0")


def check_reduction(reduction):
    return check_choice("reduction", reduction, REDUCTIONS)


def check_arrangement(arrangement):
    return check_choice("arrangement", arrangement, FixedMultiplier.ARRANGEMENTS)


def check_weight_order(weight_order):
    return check_choice("weight_order", weight_order, WEIGHT_ORDERS)


def multiplier_ports(width, lanes=None):
    """The ports every multiplier here shares: ``a``, ``w``, (``mode`` when ``lanes`` is given), ``a_signed``,
    ``w_signed`` and the exact result ``p`` (``signed(2*width + 1)``)."""
    ports = {"a": In(width), "w": In(width)}
    if lanes is not None:
        ports["mode"] = In(mode_width(lanes))
    return {**ports, "a_signed": In(1), "w_signed": In(1), "p": Out(signed(2 * width + 1))}


def mode_width(lanes):
    """Bits of the ``mode`` port: at least 2 (the documented interface), more if ``log2(max(lanes))`` needs them."""
    return max(2, (max(lanes).bit_length() - 1).bit_length())


class _ModeDecoder:
    """One-hot mode selects; a ``mode`` value that names no configured lane count selects ``min(lanes)``.

    A mode is a pair ``(n, s)``: lane count ``n``, and ``s`` = 1 for its split mode (only for ``n`` in ``split``,
    selected by ``split_port``). ``sel[n]`` is 1 when lane count ``n`` is in use (split or not), ``sel[n, s]`` when
    mode ``(n, s)`` is; without ``split`` the two are the same signal.
    """

    def __init__(self, m, mode, lanes, split=(), split_port=None):
        self.lanes = lanes
        self.split = tuple(split)
        self.modes = [(n, 0) for n in lanes] + [(n, 1) for n in self.split]
        self.sel = {}
        for n in lanes[1:]:
            self.sel[n] = Signal(name=f"sel{n}")
            m.d.comb += self.sel[n].eq(mode == n.bit_length() - 1)
        self.sel[lanes[0]] = Signal(name=f"sel{lanes[0]}")
        m.d.comb += self.sel[lanes[0]].eq(~Cat(*(self.sel[n] for n in lanes[1:]), Const(0, 1)).any())
        for n in lanes:
            if n not in self.split:
                self.sel[n, 0] = self.sel[n]
                continue
            for s, name, value in ((0, "sum", ~split_port), (1, "split", split_port)):
                self.sel[n, s] = Signal(name=f"sel{n}_{name}")
                m.d.comb += self.sel[n, s].eq(self.sel[n] & value)
        self._cache = {}

    def _selects(self, keys):
        """Fewest selects whose OR says "the mode is in ``keys``" (``sel[n]`` for both modes of a lane count)."""
        selects = []
        for n in self.lanes:
            own = [key for key in self.modes if key[0] == n]
            inside = [key for key in own if key in keys]
            if len(inside) == len(own):
                selects.append(self.sel[n])
            else:
                selects.extend(self.sel[key] for key in inside)
        return selects

    def any_of(self, modes):
        """1 when the current mode is in ``modes`` (an exact membership test; constant when trivially so).

        ``modes`` holds ``(n, s)`` pairs or lane counts ``n`` (every mode of that lane count, split or not).
        """
        keys = set()
        for mode in modes:
            keys |= {key for key in self.modes if key[0] == mode} if isinstance(mode, int) else {mode}
        keys = frozenset(keys) & frozenset(self.modes)
        if not keys:
            return Const(0, 1)
        if keys == frozenset(self.modes):
            return Const(1, 1)
        if keys not in self._cache:
            inside = self._selects(keys)
            outside = self._selects(frozenset(self.modes) - keys)
            self._cache[keys] = Cat(*inside).any() if len(inside) <= len(outside) else ~Cat(*outside).any()
        return self._cache[keys]


def _weight_position(mode, lane):
    """The lane of the array's weight operand that lane ``lane`` of ``w`` occupies in ``mode`` (an involution).

    Lanes are reversed (``n-1-lane``), in a split mode within each half of the word.
    """
    n, split = mode
    if not split:
        return n - 1 - lane
    half = n // 2
    return lane // half * half + half - 1 - lane % half


def _reversed_weight(m, w, width, lanes, dec):
    """``w`` with its lanes in reverse order for the current mode (one mux per bit per extra source)."""
    w_rev = []
    for y in range(width):
        sources = {}                                         # logical w bit -> modes that put it at y
        for mode in dec.modes:
            b = width // mode[0]
            sources.setdefault(_weight_position(mode, y // b) * b + y % b, set()).add(mode)
        (first, _), *rest = sources.items()
        value = w[first]
        for src, modes in rest:
            value = Mux(dec.any_of(modes), w[src], value)
        bit = Signal(name=f"w_rev{y}")
        m.d.comb += bit.eq(value)
        w_rev.append(bit)
    return w_rev


def _baugh_wooley_array(m, width, lanes, a, w, a_signed, w_signed, mode, absorb=True,
                        weight_order="natural", split=(), split_port=None):
    """Build the shared array; return ``(columns, decoder, windows)`` (see :func:`_result_windows`)."""
    total = 2 * width + 1
    dec = _ModeDecoder(m, mode, lanes, split, split_port)
    if weight_order == "natural":
        w_rev = _reversed_weight(m, w, width, lanes, dec)
    else:                                                    # the weight word arrives lane-reversed already
        w_rev = [w[y] for y in range(width)]
    g = width // max(lanes)                                  # block size: the narrowest lane
    blocks = width // g

    def active(mode, jb, kb):                                # a-block jb meets w_rev-block kb in this mode?
        b = width // mode[0]
        return kb * g // b == _weight_position(mode, jb * g // b)

    def sign_bit_modes(bit, modes):                          # modes in which `bit` is the sign bit of its lane
        return {mode for mode in modes if bit % (width // mode[0]) == width // mode[0] - 1}

    columns = [[] for _ in range(total)]
    zeros = [[] for _ in range(total)]
    const = {(mode, sa, sw): 0 for mode in dec.modes for sa in (0, 1) for sw in (0, 1)}
    a_s = a_signed[0]
    w_s = w_signed[0]
    for jb in range(blocks):
        for kb in range(blocks):
            modes = {mode for mode in dec.modes if active(mode, jb, kb)}
            if not modes:
                continue
            enable = dec.any_of(modes)
            # One gated copy per block pair (sharing copies between a-blocks with equal mode sets measured 0.3 %
            # larger after abc).
            w_gated = []
            for y in range(kb * g, (kb + 1) * g):
                if isinstance(enable, Const):
                    w_gated.append(w_rev[y])
                    continue
                bit = Signal(name=f"w_g{jb}_{y}")
                m.d.comb += bit.eq(w_rev[y] & enable)
                w_gated.append(bit)
            for x in range(jb * g, (jb + 1) * g):
                for y in range(kb * g, (kb + 1) * g):
                    a_msb, w_msb = sign_bit_modes(x, modes), sign_bit_modes(y, modes)
                    pp = a[x] & w_gated[y - kb * g]
                    if a_msb or w_msb:                       # negative weight: invert (0 where gated off)
                        pp = pp ^ ((a_s & dec.any_of(a_msb)) ^ (w_s & dec.any_of(w_msb)))
                    columns[x + y].append(pp)
                    zero_keys = set()                        # (mode, signedness) where pp is 0: it may host
                    for mode, sa, sw in const:
                        inverted = (sa and mode in a_msb) != (sw and mode in w_msb)
                        if mode in modes and inverted:
                            const[mode, sa, sw] -= 1 << (x + y)
                        elif mode not in modes:
                            zero_keys.add((mode, sa, sw))
                    if zero_keys:                            # a correction bit of those cases
                        zeros[x + y].append((len(columns[x + y]) - 1, zero_keys))
    # Baugh-Wooley: -t == (1 - t) - 1, so every inverted product owes -2**column; one full-width constant per
    # (mode, signedness), added as mode-dependent bits.
    windows = _result_windows(width, lanes, split)
    for n in split:                                          # split: bias the lower sum to be >= 0 (no borrow)
        for sa, sw in ((0, 1), (1, 0), (1, 1)):
            const[(n, 1), sa, sw] += 1 << (windows[n, 1][0] + width - 1)
    for c, ones in enumerate(_correction_bits(const, windows, total)):
        if len(ones) == len(const):
            columns[c].append(1)
        elif ones:
            # The modes are exclusive, so the bit is the sum of its per-mode parts. Absorbing ORs a part into a
            # partial product that is gated off (0) in every mode where the part can be 1, instead of giving the tree
            # one more input; whatever cannot be absorbed stays one tree input.
            rest = set(ones)
            if absorb:
                groups = ([{mode for mode, _, _ in ones}] + [{(n, 0), (n, 1)} for n in split]
                          + [{mode} for mode in dec.modes])
                for modes in groups:
                    part = {key for key in rest if key[0] in modes}
                    host = next((i for i, (_, off) in enumerate(zeros[c]) if part <= off), None) if part else None
                    if host is None:
                        continue
                    index, _ = zeros[c].pop(host)
                    columns[c][index] = columns[c][index] | _correction_bit(m, dec, part, a_s, w_s, f"k{c}_{index}")
                    rest -= part
            if rest:
                columns[c].append(_correction_bit(m, dec, rest, a_s, w_s, f"k{c}"))
    return columns, dec, windows


def _correction_bit(m, dec, ones, a_s, w_s, name):
    """A signal that is 1 exactly for the ``(mode, a_signed, w_signed)`` combinations in ``ones``."""
    terms = []
    for n in dec.lanes:
        flags = {}                                           # (a_signed, w_signed) -> split flags with a 1
        for (k, s), sa, sw in ones:
            if k == n:
                flags.setdefault((sa, sw), set()).add(s)
        groups = {}                                          # split flags -> signedness cases
        for sign, s in flags.items():
            groups.setdefault(tuple(sorted(s)), set()).add(sign)
        for s, fn in sorted(groups.items()):
            select = dec.any_of({(n, f) for f in s})
            if len(fn) == 4:
                terms.append(select)
            else:
                terms.extend(select & (a_s if sa else ~a_s) & (w_s if sw else ~w_s) for sa, sw in sorted(fn))
    bit = Signal(name=name)
    m.d.comb += bit.eq(Cat(*terms).any())
    return bit


def _bits(values):
    """Bits of the smallest two's-complement field holding every one of ``values``."""
    return max(v.bit_length() if v >= 0 else (-v - 1).bit_length() for v in values) + 1


def _result_windows(width, lanes, split=()):
    """``{mode: (first, end)}``: the array columns ``[first, end)`` that hold the result in each mode.

    Mode ``(n, 0)``: the n-lane product. Split mode ``(n, 1)``: the lower group's sum (biased) in
    ``[first, first + width)``, the upper group's in ``[first + width, end)``. Columns below ``end`` must be exact.
    """
    windows = {}
    for n in lanes:
        b = width // n
        extremes = [n * x * y for sa in (0, 1) for sw in (0, 1)
                    for x in value_range(b, sa) for y in value_range(b, sw)]
        windows[n, 0] = ((n - 1) * b, (n - 1) * b + _bits(extremes))
    for n in split:
        b, half = width // n, n // 2
        extremes = []
        for sa in (0, 1):
            for sw in (0, 1):
                group = [half * x * y for x in value_range(b, sa) for y in value_range(b, sw)]
                bias = 1 << (width - 1) if sa or sw else 0
                assert all(0 <= v + bias < 1 << width for v in group), "the lower sum must fit its biased field"
                extremes += group
        first = (half - 1) * b
        windows[n, 1] = (first, first + width + _bits(extremes))
    return windows


def _correction_bits(const, windows, total):
    """Per column, the set of ``(mode, a_signed, w_signed)`` whose correction constant has a 1 there.

    Only columns below ``windows[mode][1]`` matter in a mode; above, each free bit copies the widest mode's bit for
    the same signedness (or the column's common value), so fewer columns depend on the mode.
    """
    widest = max(windows, key=lambda mode: windows[mode][1])
    result = []
    for c in range(total):
        bit = {key: value % (1 << total) >> c & 1 for key, value in const.items()}
        fixed = {key: v for key, v in bit.items() if c < windows[key[0]][1]}
        if len(set(fixed.values())) <= 1:
            common = next(iter(fixed.values()), 0)
            bit = dict.fromkeys(bit, common)
        else:
            bit = {(n, sa, sw): fixed.get((n, sa, sw), bit[widest, sa, sw]) for (n, sa, sw) in bit}
        result.append({key for key, v in bit.items() if v})
    return result


def _pipe(m, value, stages, name):
    """``value`` delayed by ``stages`` registers in the ``sync`` domain."""
    for i in range(stages):
        reg = Signal.like(value, name=f"{name}_q{i}")
        m.d.sync += reg.eq(value)
        value = reg
    return value


def build_array_product(m, width, lanes, a, w, a_signed, w_signed, mode, p, pipeline, reduction, *, split=(),
                        split_port=None, q=None, **options):
    """Elaborate the shared array into ``m`` driving ``p`` (and ``q`` for the lane counts in ``split``, whose split
    modes ``split_port`` selects); the first register stage holds the carry-save rows."""
    columns, dec, windows = _baugh_wooley_array(m, width, lanes, a, w, a_signed, w_signed, mode, split=split,
                                                split_port=split_port, **options)
    total = len(columns)
    row0, row1 = reduce_columns(m, columns, reduction)
    # The window mux: one select per mode, in mux order from the innermost (the smallest lane count, no select) out.
    # A split mode whose lower field starts where a lane count's window does (split 2 and 1 lane: bits 0 up) comes
    # right after it, so their common bits need no mux; the other split modes come last, and a lane count muxed
    # inside its split mode may use the lane-count select (the outer split mux overrides it).
    order = []
    for n in lanes:
        order.append((n, 0))
        order.extend((k, 1) for k in split if windows[k, 1][0] == windows[n, 0][0] and k != n)
    order.extend((k, 1) for k in split if (k, 1) not in order)
    sel = Cat(*(dec.sel[n, s] if s or (n, 1) in order[:order.index((n, 0))] else dec.sel[n] for n, s in order))
    if split:                                                # + "the lower sum is biased"
        biased = Signal(name="biased")
        m.d.comb += biased.eq(a_signed | w_signed)
        sel = Cat(sel, biased)
    if pipeline:
        row0, row1, sel = (_pipe(m, v, 1, name) for v, name in ((row0, "csa0"), (row1, "csa1"), (sel, "sel")))
    full = Signal(total)
    m.d.comb += full.eq(row0 + row1)

    def window(first, end, bits):                            # columns [first, end), sign-extended to `bits`
        return Cat(*(full[min(first + k, end - 1)] for k in range(bits)))

    def lower(n):                                            # split mode: the lower field minus its bias
        first = windows[n, 1][0]
        top = full[first + width - 1]
        return Cat(full[first:first + width - 1], top ^ sel[-1], (~top & sel[-1]).replicate(total - width))
    value = window(*windows[lanes[0], 0], total)
    for i, (n, s) in enumerate(order[1:], start=1):
        value = Mux(sel[i], lower(n) if s else window(*windows[n, 0], total), value)
    m.d.comb += p.eq(_pipe(m, value, max(pipeline - 1, 0), "p"))
    if split:                                                # the upper sum (unspecified outside the split modes)
        value = window(windows[split[0], 1][0] + width, windows[split[0], 1][1], width + 1)
        for n in split[1:]:
            value = Mux(sel[order.index((n, 1))], window(windows[n, 1][0] + width, windows[n, 1][1], width + 1),
                        value)
        m.d.comb += q.eq(_pipe(m, value, max(pipeline - 1, 0), "q"))


class SumTogetherMultiplier(wiring.Component):
    """Precision-scalable Sum-Together multiplier: ``p = sum_i a_i * w_i`` over the lanes of two packed words (or, in
    a split mode, the sums over each half of the lanes in ``p`` and ``q``).

    One shared Baugh-Wooley partial-product array serves every lane count (see the module docstring); it is not a set
    of per-mode multipliers behind a mux.

    Parameters
    ----------
    width : int
        Word width in bits (>= 2).
    lanes : tuple of int
        The lane counts the hardware supports, powers of two dividing ``width`` with lanes at least 2 bits wide, e.g.
        ``(1, 2, 4)`` (16/8/4-bit lanes for ``width=16``). Repeats are refused.
    pipeline : int
        Register stages (``sync`` domain). Stage 1 registers the two carry-save rows (and the decoded mode) between
        the partial-product tree and the final adder; stages 2.. register ``p`` (and ``q``). Latency is
        ``pipeline`` cycles.
    reduction : str
        Partial-product tree arrangement, ``"dadda"`` (default, fewest adders) or ``"wallace"``.
    weight_order : str
        ``"natural"`` (default): ``w`` is packed like ``a`` and the array reverses its lanes with a mux per bit.
        ``"reversed"``: ``w`` arrives lane-reversed for the lane count in use (``hw.golden.pack`` of the lanes in
        reverse order, e.g. weights stored that way in memory), which removes that mux (about 55 NAND2-eq at 16 bit).
        In a split mode the lanes are reversed within each half instead: for 4 lanes ``w`` holds lanes
        ``(w_1, w_0, w_3, w_2)`` (lane 0 first); for 2 lanes it is not reordered at all.
    split : tuple of int
        Lane counts (from ``lanes``, at least 2) that also get a split mode, selected by the ``split`` port: ``p`` and
        ``q`` are then the sums over the lower and the upper half of the lanes (see the module docstring). Default
        ``()``: no split modes, no ``split``/``q`` ports, and the same logic as before split modes existed.

    Attributes
    ----------
    a : In(width)
        Packed activation word: lane ``i`` in bits ``[i*b, (i+1)*b)``, ``b = width // lane count``.
    w : In(width)
        Packed weight word, same layout (``weight_order="natural"``) or with the lanes in reverse order.
    mode : In(max(2, ...))
        ``log2`` of the lane count in use. A value naming no lane count in ``lanes`` (e.g. 3 for ``(1, 2, 4)``)
        is treated as ``min(lanes)``: ``p`` is then that mode's exact product (its split mode's ``p`` and ``q`` if
        ``split`` is 1 and ``min(lanes)`` is in ``split``); no error is flagged.
    split : In(1)
        Only when ``split`` names lane counts: 1 selects the split mode of the lane count in use; ignored (``p`` as
        with 0) when that lane count has no split mode.
    a_signed, w_signed : In(1)
        Every lane of ``a`` / ``w`` is two's complement (1) or unsigned (0).
    p : Out(signed(2*width + 1))
        The exact ``hw.golden.st_product(a, w, 2**mode, a_signed, w_signed, width)`` (for ``weight_order="reversed"``
        with ``w``'s lanes taken in reverse order); never overflows. In a split mode, the lower sum
        ``hw.golden.st_split_product(...)[0]`` instead.
    q : Out(signed(width + 1))
        Only when ``split`` names lane counts. In a split mode the exact upper sum
        ``hw.golden.st_split_product(a, w, 2**mode, a_signed, w_signed, width)[1]``; in any other mode unspecified
        (array columns of a split mode's upper field, not zeroed, to save the logic).
    split_lanes : tuple of int
        The ``split`` parameter, sorted.
    """

    def __init__(self, width=16, lanes=(1, 2, 4), pipeline=0, *, reduction="dadda", weight_order="natural",
                 split=()):
        with validating(self):
            self.width = check_width(width)
            self.lanes = check_lanes(width, lanes)
            self.pipeline = check_pipeline(pipeline)
            self.reduction = check_reduction(reduction)
            self.weight_order = check_weight_order(weight_order)
            self.split_lanes = check_split(self.lanes, split)
        ports = multiplier_ports(width, self.lanes)
        if self.split_lanes:
            ports = {**ports, "split": In(1), "q": Out(signed(width + 1))}
        super().__init__(ports)

    @property
    def latency(self):
        """Cycles from operands to ``p`` (equal to ``pipeline``)."""
        return self.pipeline

    def elaborate(self, platform):
        m = Module()
        split = {"split": self.split_lanes, "split_port": self.split, "q": self.q} if self.split_lanes else {}
        build_array_product(m, self.width, self.lanes, self.a, self.w, self.a_signed, self.w_signed, self.mode,
                            self.p, self.pipeline, self.reduction, weight_order=self.weight_order, **split)
        return m


class FixedMultiplier(wiring.Component):
    """Fixed-precision ``width x width`` multiplier with per-operand signedness: the area baselines for the ST array.

    Parameters
    ----------
    width : int
        Operand width (>= 2).
    arrangement : str
        ``"star"``: yosys's own ``*`` on ``width+1``-bit sign/zero-extended operands (synthesize it with and without
        ``synth -booth`` for two baselines); ``"array"``: the :class:`SumTogetherMultiplier` generator with
        ``lanes=(1,)``, i.e. the same Baugh-Wooley array and tree with no lane modes.
    pipeline : int
        Register stages, latency in cycles. ``"array"``: as :class:`SumTogetherMultiplier`; ``"star"``: all
        stages on ``p`` (for synthesis retiming).
    reduction : str
        Tree arrangement for ``"array"`` (ignored by ``"star"``).

    Attributes
    ----------
    a, w : In(width)
        Operands.
    a_signed, w_signed : In(1)
        Operand is two's complement (1) or unsigned (0).
    p : Out(signed(2*width + 1))
        The exact product ``a * w``.
    """

    ARRANGEMENTS = ("star", "array")

    def __init__(self, width=16, arrangement="array", pipeline=0, *, reduction="dadda"):
        with validating(self):
            self.width = check_width(width)
            self.arrangement = check_arrangement(arrangement)
            self.pipeline = check_pipeline(pipeline)
            self.reduction = check_reduction(reduction)
        super().__init__(multiplier_ports(width))

    @property
    def latency(self):
        """Cycles from operands to ``p`` (equal to ``pipeline``)."""
        return self.pipeline

    def elaborate(self, platform):
        m = Module()
        if self.arrangement == "array":
            build_array_product(m, self.width, (1,), self.a, self.w, self.a_signed, self.w_signed, Const(0, 1),
                                self.p, self.pipeline, self.reduction)
            return m
        a = Signal(signed(self.width + 1))
        w = Signal(signed(self.width + 1))
        m.d.comb += [
            a.eq(Cat(self.a, self.a[-1] & self.a_signed).as_signed()),
            w.eq(Cat(self.w, self.w[-1] & self.w_signed).as_signed()),
        ]
        m.d.comb += self.p.eq(_pipe(m, a * w, self.pipeline, "p"))
        return m
