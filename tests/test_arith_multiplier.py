"""SumTogetherMultiplier and FixedMultiplier in amaranth.sim against hw.golden.st_product and st_split_product
(exact integers)."""

import warnings

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.hdl import Cat, signed
from amaranth.sim import Simulator

from hw.arith import DspSumTogetherMultiplier, FixedMultiplier, SumTogetherMultiplier
from hw.golden import pack, st_product, st_split_product, unpack, value_range

SIGNS = [(sa, sw) for sa in (False, True) for sw in (False, True)]


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def simulate(dut, vectors):
    """Drive ``vectors`` (dicts of a, w, mode, split, a_signed, w_signed arrays; one vector per cycle) through one
    Simulator.

    Returns ``p`` read in the cycle each vector is applied, shifted by the DUT latency, i.e. ``out[i]`` is the output
    for vector ``i`` (read ``dut.latency`` cycles after it was applied); for a DUT with a ``q`` port, ``(p, q)``.
    """
    a, w = vectors["a"], vectors["w"]
    n = len(a)
    latency = dut.latency
    controls = [(getattr(dut, name), vectors[name]) for name in ("mode", "split", "a_signed", "w_signed")
                if name in vectors]
    operands = Cat(dut.a, dut.w)
    outputs = [dut.p] + ([dut.q] if hasattr(dut, "q") else [])
    out = np.zeros((len(outputs), n), dtype=np.int64)

    async def testbench(ctx):
        last = [None] * len(controls)
        for i in range(n + latency):
            if i < n:
                for k, (port, values) in enumerate(controls):
                    if values[i] != last[k]:
                        ctx.set(port, int(values[i]))
                        last[k] = values[i]
                ctx.set(operands, int(a[i]) | int(w[i]) << dut.width)
            if i >= latency:
                for k, port in enumerate(outputs):
                    out[k, i - latency] = ctx.get(port)
            if latency:
                await ctx.tick()

    sim = Simulator(dut)
    if latency:
        sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return tuple(out) if len(outputs) > 1 else out[0]


def expected(width, vectors):
    """``hw.golden.st_product`` of every vector (grouped by mode and signedness)."""
    exp = np.zeros(len(vectors["a"]), dtype=np.int64)
    mode = vectors.get("mode", np.zeros(len(exp), dtype=np.int64))
    for m in np.unique(mode):
        for sa, sw in SIGNS:
            sel = (mode == m) & (vectors["a_signed"] == sa) & (vectors["w_signed"] == sw)
            if sel.any():
                exp[sel] = st_product(vectors["a"][sel], vectors["w"][sel], 1 << int(m), sa, sw, width)
    return exp


def split_active(dut, vectors):
    """Per vector: is it in a split mode of ``dut`` (``split`` = 1 and the lane count in ``dut.split_lanes``)?"""
    if "split" not in vectors:
        return np.zeros(len(vectors["a"]), dtype=bool)
    return (vectors["split"] != 0) & np.isin(1 << vectors["mode"], dut.split_lanes)


def expected_split(dut, vectors):
    """``(p, q)`` expected from ``dut``: ``st_split_product`` in its split modes, else ``(st_product, 0)``."""
    p, q = expected(dut.width, vectors), np.zeros(len(vectors["a"]), dtype=np.int64)
    active = split_active(dut, vectors)
    for m in np.unique(vectors["mode"][active]):
        for sa, sw in SIGNS:
            sel = active & (vectors["mode"] == m) & (vectors["a_signed"] == sa) & (vectors["w_signed"] == sw)
            if sel.any():
                p[sel], q[sel] = st_split_product(vectors["a"][sel], vectors["w"][sel], 1 << int(m), sa, sw, dut.width)
    return p, q


def reverse_lanes(words, lanes, width, groups=1):
    """``words`` with their ``lanes`` lanes in reverse order within each of ``groups`` equal groups of lanes (the
    ``weight_order="reversed"`` memory layout: ``groups=2`` in a split mode)."""
    values = unpack(np.asarray(words)[..., None], lanes, False, width)
    values = values.reshape(*values.shape[:-1], groups, lanes // groups)[..., ::-1]
    return pack(values.reshape(-1), lanes, False, width)


def check(dut, vectors):
    """``dut`` against ``hw.golden.st_product`` (and ``st_split_product`` in split modes, where ``q`` is checked
    too); a ``weight_order="reversed"`` DUT gets the weights lane-reversed (within each group in a split mode)."""
    driven = dict(vectors)
    if getattr(dut, "weight_order", "natural") == "reversed":
        driven["w"] = vectors["w"].copy()
        active = split_active(dut, vectors)
        for m in np.unique(vectors["mode"]):
            for split in (False, True):
                sel = (vectors["mode"] == m) & (active == split)
                if sel.any():
                    driven["w"][sel] = reverse_lanes(vectors["w"][sel], 1 << int(m), dut.width, 1 + split)
    if not getattr(dut, "split_lanes", ()):
        np.testing.assert_array_equal(simulate(dut, driven), expected(dut.width, vectors))
        return
    (p, q), (exp_p, exp_q) = simulate(dut, driven), expected_split(dut, vectors)
    np.testing.assert_array_equal(p, exp_p)
    active = split_active(dut, vectors)
    np.testing.assert_array_equal(q[active], exp_q[active])


def vectors_for(mode, a_signed, w_signed, a, w):
    n = len(a)
    return {"a": np.asarray(a, dtype=np.int64), "w": np.asarray(w, dtype=np.int64),
            "mode": np.full(n, mode), "a_signed": np.full(n, a_signed), "w_signed": np.full(n, w_signed)}


def concat(parts):
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def random_words(rng, width, n):
    return rng.integers(0, 1 << width, n, dtype=np.int64)


def corner_words(width, lanes, signed):
    """Words of lane corners {min, min+1, 0, max}: every combination for up to 2 lanes; for more lanes, each corner in
    all lanes plus min/max alternating (a full grid would be 4**lanes words)."""
    b = width // lanes
    lo, hi = value_range(b, signed)
    corners = sorted({lo, lo + 1, 0, hi})
    if lanes <= 2:
        grid = np.array(np.meshgrid(*[corners] * lanes, indexing="ij")).reshape(lanes, -1).T
    else:
        grid = np.array([[c] * lanes for c in corners] + [[lo, hi] * (lanes // 2), [hi, lo] * (lanes // 2)])
    return pack(grid.reshape(-1), lanes, signed, width)


def corners_and_random(width, lanes, rng, n_random):
    """Corner x corner words plus ``n_random`` random words, for every signedness, in ``lanes``-lane mode."""
    parts = []
    mode = lanes.bit_length() - 1
    for sa, sw in SIGNS:
        ca, cw = corner_words(width, lanes, sa), corner_words(width, lanes, sw)
        a, w = np.repeat(ca, len(cw)), np.tile(cw, len(ca))
        parts.append(vectors_for(mode, sa, sw, a, w))
        parts.append(vectors_for(mode, sa, sw, random_words(rng, width, n_random), random_words(rng, width, n_random)))
    return concat(parts)


def every_pair_in_every_lane(rng, make_vectors):
    """16-bit words of four 4-bit lanes in which each lane walks through all 256 (a, w) pairs, in its own random order
    (so every vector also randomizes the other lanes), under every signedness: ``concat`` of ``make_vectors(sa, sw,
    a, w)``."""
    parts = []
    for sa, sw in SIGNS:
        order = np.stack([rng.permutation(256) for _ in range(4)], axis=1)             # (256, 4 lanes)
        a = pack(_to_signed(order >> 4, 4, sa).reshape(-1), 4, sa)
        w = pack(_to_signed(order & 15, 4, sw).reshape(-1), 4, sw)
        parts.append(make_vectors(sa, sw, a, w))
    return concat(parts)


@pytest.mark.parametrize("weight_order", ["natural", "reversed"])
def test_four_lane_mode_every_pair_in_every_lane(weight_order):
    """4-lane mode: each lane sees all 256 (a, w) pairs under every signedness; the other lanes are random."""
    dut = SumTogetherMultiplier(16, (1, 2, 4), weight_order=weight_order)
    vectors = every_pair_in_every_lane(np.random.default_rng(4), lambda sa, sw, a, w: vectors_for(2, sa, sw, a, w))
    for lane in range(4):
        for sa, sw in SIGNS:                           # the stimulus really is exhaustive per lane
            sel = (vectors["a_signed"] == sa) & (vectors["w_signed"] == sw)
            pairs = (vectors["a"][sel] >> 4 * lane & 15) << 4 | vectors["w"][sel] >> 4 * lane & 15
            assert len(np.unique(pairs)) == 256
    check(dut, vectors)


def test_dsp_variant_four_lane_mode_every_pair_in_every_lane():
    """The DSP variant's guard-bit packing, 4-lane mode: every (a, w) pair of every lane under every signedness."""
    vectors = every_pair_in_every_lane(np.random.default_rng(44), lambda sa, sw, a, w: vectors_for(2, sa, sw, a, w))
    check(DspSumTogetherMultiplier(16, (1, 2, 4)), vectors)


@pytest.mark.parametrize("width, lane_set", [(16, (1, 2, 4)), (8, (1, 2, 4)), (12, (2, 4)), (14, (1, 2)), (17, (1,))])
def test_dsp_variant_corners_and_random(width, lane_set):
    rng = np.random.default_rng(width)
    dut = DspSumTogetherMultiplier(width, lane_set)
    check(dut, concat([corners_and_random(width, n, rng, 60) for n in lane_set]))


def test_dsp_variant_pipeline_and_unsupported_mode():
    rng = np.random.default_rng(2)
    n = 80
    vectors = {"a": random_words(rng, 16, n), "w": random_words(rng, 16, n), "mode": rng.integers(0, 3, n),
               "a_signed": rng.integers(0, 2, n).astype(bool), "w_signed": rng.integers(0, 2, n).astype(bool)}
    dut = DspSumTogetherMultiplier(16, (1, 2, 4), pipeline=2)
    assert dut.latency == 2 and dut.dsp_blocks == 2
    np.testing.assert_array_equal(simulate(dut, vectors), expected(16, vectors))
    a, w = random_words(rng, 16, 30), random_words(rng, 16, 30)
    got = simulate(DspSumTogetherMultiplier(16, (1, 2, 4)), vectors_for(3, True, True, a, w))
    np.testing.assert_array_equal(got, st_product(a, w, 1, True, True, 16))


def test_dsp_variant_uses_two_multipliers():
    """Two `*` (one DSP block each on ECP5), not an array: the point of the variant."""
    assert rtlil.convert(DspSumTogetherMultiplier(16, (1, 2, 4))).count("cell $mul ") == 2
    dut = DspSumTogetherMultiplier(16, (1,))
    assert dut.dsp_blocks == 1 and rtlil.convert(dut).count("cell $mul ") == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"width": 18, "lanes": (1, 2)}, r"width must be at most 17 .* not 18"),
    ({"width": 16, "lanes": (1, 8)}, r"subset of \(1, 2, 4\) .* not \(1, 8\)"),
])
def test_dsp_variant_constructor_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DspSumTogetherMultiplier(**kwargs)


def _to_signed(values, bits, signed):
    return values - ((values >> (bits - 1)) << bits) if signed else values


@pytest.mark.parametrize("weight_order", ["natural", "reversed"])
@pytest.mark.parametrize("lanes", [1, 2])
def test_wide_lane_modes_corners_and_random(lanes, weight_order):
    check(SumTogetherMultiplier(16, (1, 2, 4), weight_order=weight_order),
          corners_and_random(16, lanes, np.random.default_rng(lanes), 60))


def test_reversed_weight_order_generic_widths():
    rng = np.random.default_rng(5)
    for width, lane_set in [(8, (1, 2, 4)), (12, (1, 2))]:
        dut = SumTogetherMultiplier(width, lane_set, weight_order="reversed")
        check(dut, concat([corners_and_random(width, n, rng, 30) for n in lane_set]))


def test_reverse_lanes_helper():
    """The test's layout helper itself: lane i of the result is lane n-1-i of the input (within each group)."""
    words = pack(np.array([1, 2, 3, 4, 5, 6, 7, 8]), 4, False)
    np.testing.assert_array_equal(reverse_lanes(words, 4, 16), pack(np.array([4, 3, 2, 1, 8, 7, 6, 5]), 4, False))
    np.testing.assert_array_equal(reverse_lanes(words, 1, 16), words)
    np.testing.assert_array_equal(reverse_lanes(words, 4, 16, 2), pack(np.array([2, 1, 4, 3, 6, 5, 8, 7]), 4, False))
    np.testing.assert_array_equal(reverse_lanes(words, 2, 16, 2), words)


@pytest.mark.parametrize("width, lane_set", [(8, (1, 2, 4)), (16, (1, 2)), (8, (2, 4)), (12, (1, 2))])
def test_generic_configurations(width, lane_set):
    rng = np.random.default_rng(width)
    dut = SumTogetherMultiplier(width, lane_set)
    check(dut, concat([corners_and_random(width, n, rng, 40) for n in lane_set]))


def test_eight_bit_lanes_1_2_4_exhaustive_four_lane_mode():
    """Width 8, 4 lanes of 2 bits: all 2**16 word pairs would be slow; all 16 values per lane pair instead."""
    rng = np.random.default_rng(8)
    parts = []
    for sa, sw in SIGNS:
        order = np.stack([rng.permutation(16) for _ in range(4)], axis=1)
        a = pack(_to_signed(order >> 2, 2, sa).reshape(-1), 4, sa, 8)
        w = pack(_to_signed(order & 3, 2, sw).reshape(-1), 4, sw, 8)
        parts.append(vectors_for(2, sa, sw, a, w))
    check(SumTogetherMultiplier(8, (1, 2, 4)), concat(parts))


def test_wallace_tree_gives_the_same_products():
    dut = SumTogetherMultiplier(8, (1, 2, 4), reduction="wallace")
    rng = np.random.default_rng(11)
    check(dut, concat([corners_and_random(8, n, rng, 30) for n in (1, 2, 4)]))


@pytest.mark.parametrize("pipeline", [1, 3])
def test_pipelined_latency(pipeline):
    """A new vector every cycle, modes and signedness changing every cycle; p follows exactly `pipeline` later."""
    rng = np.random.default_rng(pipeline)
    n = 120
    vectors = {"a": random_words(rng, 8, n), "w": random_words(rng, 8, n), "mode": rng.integers(0, 3, n),
               "a_signed": rng.integers(0, 2, n).astype(bool), "w_signed": rng.integers(0, 2, n).astype(bool)}
    dut = SumTogetherMultiplier(8, (1, 2, 4), pipeline=pipeline)
    assert dut.latency == pipeline
    got = simulate(dut, vectors)
    np.testing.assert_array_equal(got, expected(8, vectors))
    # one cycle early would be the previous vector's product: make sure the stimulus tells them apart
    assert np.any(got[1:] != got[:-1])


def test_unsupported_mode_acts_as_smallest_lane_count():
    rng = np.random.default_rng(3)
    a, w = random_words(rng, 8, 50), random_words(rng, 8, 50)
    dut = SumTogetherMultiplier(8, (1, 2, 4))
    for sa, sw in SIGNS:
        got = simulate(dut, vectors_for(3, sa, sw, a, w))
        np.testing.assert_array_equal(got, st_product(a, w, 1, sa, sw, 8))
    dut = SumTogetherMultiplier(8, (2, 4))
    got = simulate(dut, vectors_for(0, True, False, a, w))
    np.testing.assert_array_equal(got, st_product(a, w, 2, True, False, 8))


def test_mode_port_widens_for_many_lanes():
    dut = SumTogetherMultiplier(32, (16,))             # log2(16) = 4 needs a 3-bit mode port
    rtlil.convert(dut)
    assert len(dut.mode) == 3
    rng = np.random.default_rng(32)
    a, w = random_words(rng, 32, 20), random_words(rng, 32, 20)
    np.testing.assert_array_equal(simulate(dut, vectors_for(4, True, True, a, w)), st_product(a, w, 16, True, True, 32))


def test_one_shared_array_without_multiply_operators():
    """The ST multiplier is built from gates: its RTLIL holds no $mul cell (no per-mode multipliers behind a mux)."""
    dut = SumTogetherMultiplier(8, (1, 2, 4))
    assert len(dut.mode) == 2
    assert "$mul" not in rtlil.convert(dut)
    assert "$mul" in rtlil.convert(FixedMultiplier(8, "star"))


def test_split_golden():
    """``st_split_product``: the two half sums, by hand and against ``st_product``."""
    a = pack(np.array([1, -2, 3, -4]), 4, True)
    w = pack(np.array([5, 6, -7, 7]), 4, True)
    assert tuple(st_split_product(a, w, 4, True, True)) == (1 * 5 - 2 * 6, -3 * 7 - 4 * 7)
    # 2 lanes, a unsigned, w signed: bytes 0xE1 = 225, 0xC3 = 195 and 0x65 = 101, 0x79 = 121
    assert tuple(st_split_product(a, w, 2, False, True)) == (225 * 101, 195 * 121)
    rng = np.random.default_rng(9)
    a, w = random_words(rng, 16, 200), random_words(rng, 16, 200)
    for lanes in (2, 4, 8):
        for sa, sw in SIGNS:
            lo, hi = st_split_product(a, w, lanes, sa, sw)
            np.testing.assert_array_equal(lo + hi, st_product(a, w, lanes, sa, sw))
            np.testing.assert_array_equal(lo, st_product(a & 0xFF, w & 0xFF, lanes // 2, sa, sw, 8))
    for lanes in (1, 3, 0, True):
        with pytest.raises(ValueError, match=rf"even lane count of at least 2 .* not {lanes!r}"):
            st_split_product(a, w, lanes, True, True)


def _group_walk(rng, width, lanes, sa, sw):
    """Words in which each split-mode group (its ``width // 2`` bits of a and of w) walks through all ``2**width``
    input combinations, the two groups in independent random order."""
    b, half = width // lanes, lanes // 2
    order = np.stack([rng.permutation(1 << width) for _ in range(2)], axis=1)        # (combinations, group)
    fields = order[..., None] >> (np.arange(2 * half) * b) & ((1 << b) - 1)         # (.., group, a lanes + w lanes)
    a = pack(_to_signed(fields[..., :half], b, sa).reshape(-1), lanes, sa, width)
    w = pack(_to_signed(fields[..., half:], b, sw).reshape(-1), lanes, sw, width)
    return a, w


def split_vectors(mode, a_signed, w_signed, a, w, split=1):
    return {**vectors_for(mode, a_signed, w_signed, a, w), "split": np.full(len(a), split)}


@pytest.mark.parametrize("weight_order", ["natural", "reversed"])
def test_split_modes_width_8_every_group_input(weight_order):
    """Width 8, split 2 and 4: each group's a and w lanes (8 input bits) take all 256 values under every
    signedness, the other group walking independently, so p and q are each checked on every input they depend on."""
    rng = np.random.default_rng(81)
    parts = []
    for lanes in (2, 4):
        for sa, sw in SIGNS:
            a, w = _group_walk(rng, 8, lanes, sa, sw)
            for group in range(2):                     # the stimulus really is exhaustive per group
                inputs = (a >> 4 * group & 15) << 4 | w >> 4 * group & 15
                assert len(np.unique(inputs)) == 256
            parts.append(split_vectors(lanes.bit_length() - 1, sa, sw, a, w))
    check(SumTogetherMultiplier(8, (1, 2, 4), split=(2, 4), weight_order=weight_order), concat(parts))


@pytest.mark.parametrize("split", [(4,), (2, 4)])
def test_split_four_lanes_width_16_every_pair_in_every_lane(split):
    """Width 16, split 4: every lane sees all 256 (a, w) pairs under every signedness, the other lanes random."""
    vectors = every_pair_in_every_lane(np.random.default_rng(16 + len(split)),
                                       lambda sa, sw, a, w: split_vectors(2, sa, sw, a, w))
    check(SumTogetherMultiplier(16, (1, 2, 4), split=split), vectors)


def _mixed_vectors(rng, width, lanes, n):
    """``n`` random vectors, mode, split flag and signedness changing every cycle."""
    return {"a": random_words(rng, width, n), "w": random_words(rng, width, n),
            "mode": rng.choice([k.bit_length() - 1 for k in lanes], n), "split": rng.integers(0, 2, n),
            "a_signed": rng.integers(0, 2, n).astype(bool), "w_signed": rng.integers(0, 2, n).astype(bool)}


@pytest.mark.parametrize("weight_order", ["natural", "reversed"])
@pytest.mark.parametrize("split", [(4,), (2, 4)])
def test_split_corners_and_random_every_mode(split, weight_order):
    """Width 16: corners and random words in every mode with ``split`` on and off (on for a lane count without a
    split mode must change nothing), then random vectors whose mode, split flag and signedness change every cycle."""
    rng = np.random.default_rng(3 * len(split) + 7 * (weight_order == "reversed"))
    parts = []
    for lanes in (1, 2, 4):
        for flag in (0, 1):
            part = corners_and_random(16, lanes, rng, 12)
            parts.append({**part, "split": np.full(len(part["a"]), flag)})
    parts.append(_mixed_vectors(rng, 16, (1, 2, 4), 150))
    vectors = concat(parts)
    dut = SumTogetherMultiplier(16, (1, 2, 4), split=split, weight_order=weight_order)
    assert split_active(dut, vectors).sum() > 100 and (~split_active(dut, vectors) & (vectors["split"] == 1)).any()
    check(dut, vectors)


@pytest.mark.parametrize("weight_order", ["natural", "reversed"])
@pytest.mark.parametrize("split, pipeline", [((4,), 1), ((2, 4), 1), ((2, 4), 2)])
def test_split_pipelined(split, pipeline, weight_order):
    """A new vector every cycle, mode, split flag and signedness changing every cycle; p and q follow exactly
    ``pipeline`` cycles later."""
    rng = np.random.default_rng(10 * pipeline + len(split))
    vectors = _mixed_vectors(rng, 16, (1, 2, 4), 200)
    dut = SumTogetherMultiplier(16, (1, 2, 4), pipeline, split=split, weight_order=weight_order)
    assert dut.latency == pipeline
    check(dut, vectors)


@pytest.mark.parametrize("width, lane_set, split", [(8, (2, 4), (2,)), (12, (1, 2), (2,)), (24, (1, 2, 4, 8), (8,)),
                                                    (8, (1, 2, 4), (4,))])
def test_split_generic_configurations(width, lane_set, split):
    """Corners and random words in each split mode, then random vectors in every mode, split flag on and off."""
    rng = np.random.default_rng(width + len(lane_set))
    parts = []
    for lanes in split:
        part = corners_and_random(width, lanes, rng, 20)
        parts.append({**part, "split": np.ones(len(part["a"]), dtype=np.int64)})
    parts.append(_mixed_vectors(rng, width, lane_set, 100))
    check(SumTogetherMultiplier(width, lane_set, split=split), concat(parts))


def test_split_unsupported_mode_acts_as_smallest_lane_count():
    """A mode value naming no lane count selects ``min(lanes)``, with its split mode when it has one."""
    rng = np.random.default_rng(12)
    a, w = random_words(rng, 8, 40), random_words(rng, 8, 40)
    dut = SumTogetherMultiplier(8, (2, 4), split=(2,))
    for mode in (0, 3):
        p, q = simulate(dut, split_vectors(mode, True, False, a, w))
        lo, hi = st_split_product(a, w, 2, True, False, 8)
        np.testing.assert_array_equal(p, lo)
        np.testing.assert_array_equal(q, hi)


def test_split_ports_and_one_shared_array():
    """``split``/``q`` exist only with split modes; the split configuration is still one array of gates."""
    dut = SumTogetherMultiplier(8, (1, 2, 4), split=(2, 4))
    assert (len(dut.split), dut.q.shape(), dut.split_lanes) == (1, signed(9), (2, 4))
    text = rtlil.convert(dut)
    assert "$mul" not in text and text.count("cell $add ") == 1        # the tree's final adder only
    plain = SumTogetherMultiplier(8, (1, 2, 4))
    assert plain.split_lanes == () and not hasattr(plain, "q") and not hasattr(plain, "split")
    assert rtlil.convert(plain).count("cell $add ") == 1


@pytest.mark.parametrize("arrangement", ["star", "array"])
@pytest.mark.parametrize("width, pipeline", [(16, 0), (8, 2)])
def test_fixed_multiplier(arrangement, width, pipeline):
    rng = np.random.default_rng(width + pipeline)
    vectors = corners_and_random(width, 1, rng, 40)
    del vectors["mode"]
    dut = FixedMultiplier(width, arrangement, pipeline)
    assert dut.latency == pipeline
    np.testing.assert_array_equal(simulate(dut, vectors), expected(width, vectors))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"lanes": (1, 3)}, ValueError, r"powers of two, not 3"),
    ({"lanes": (1, 32)}, ValueError, r"lane count 32 does not divide width 16"),
    ({"lanes": (1, 16)}, ValueError, r"lane count 16 gives 1-bit lanes"),
    ({"lanes": (1, 2, 2)}, ValueError, r"must not repeat a lane count, got \(1, 2, 2\)"),
    ({"lanes": ()}, ValueError, r"at least one lane count"),
    ({"lanes": 4}, TypeError, r"tuple of lane counts .* not 4"),
    ({"lanes": (1, 2.0)}, TypeError, r"lane counts must be ints, not 2.0"),
    ({"pipeline": -1}, ValueError, r"pipeline must be .* >= 0, not -1"),
    ({"width": 1}, ValueError, r"width must be at least 2, not 1"),
    ({"width": "16"}, TypeError, r"width must be an int, not '16'"),
    ({"reduction": "booth"}, ValueError, r"reduction must be one of .*, not 'booth'"),
    ({"weight_order": "swapped"}, ValueError, r"weight_order must be one of \('natural', 'reversed'\), not 'swapped'"),
    ({"split": (8,)}, ValueError, r"split lane count 8 is not in lanes=\(1, 2, 4\)"),
    ({"lanes": (1, 2), "split": (4,)}, ValueError, r"split lane count 4 is not in lanes=\(1, 2\)"),
    ({"split": (1, 4)}, ValueError, r"split lane counts must be at least 2 .*, not 1 \(in split=\(1, 4\)\)"),
    ({"split": (4, 4)}, ValueError, r"split must not repeat a lane count, got \(4, 4\)"),
    ({"split": 4}, TypeError, r"split must be a tuple of lane counts .* not 4"),
    ({"split": "4"}, TypeError, r"split must be a tuple of lane counts .* not '4'"),
    ({"split": (4.0,)}, TypeError, r"split lane counts must be ints, not 4.0"),
    ({"split": (True,)}, TypeError, r"split lane counts must be ints, not True"),
])
def test_constructor_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        SumTogetherMultiplier(**kwargs)


def test_fixed_constructor_errors():
    with pytest.raises(ValueError, match=r"arrangement must be one of \('star', 'array'\), not 'wallace'"):
        FixedMultiplier(16, "wallace")
    with pytest.raises(ValueError, match=r"not -2"):
        FixedMultiplier(16, "array", -2)
