"""MacUnit and FixedMac in amaranth.sim: accumulation, clear/valid gaps, wrap-around and latency against hw.golden."""

import warnings

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.arith import FixedMac, MacUnit
from hw.golden import mac, pack, st_product, unpack, wrap

INPUTS = ("a", "w", "mode", "a_signed", "w_signed", "valid", "clear")


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def run(dut, stimulus, extra_cycles=4):
    """Apply one row of ``stimulus`` per cycle (then idle); return ``acc`` and ``acc_valid`` seen in each cycle."""
    n = len(stimulus["a"]) + extra_cycles
    acc = np.zeros(n, dtype=np.int64)
    acc_valid = np.zeros(n, dtype=np.int64)
    ports = [(getattr(dut, name), stimulus[name]) for name in INPUTS if hasattr(dut, name) and name in stimulus]

    async def testbench(ctx):
        for t in range(n):
            for port, values in ports:
                ctx.set(port, int(values[t]) if t < len(values) else 0)
            acc[t] = ctx.get(dut.acc)
            acc_valid[t] = ctx.get(dut.acc_valid)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return acc, acc_valid


def products(stimulus, width):
    """Per-cycle ``hw.golden.st_product`` (lane count from ``mode``; 1 lane when there is no mode)."""
    mode = stimulus.get("mode", np.zeros(len(stimulus["a"]), dtype=np.int64))
    p = np.zeros(len(mode), dtype=np.int64)
    for t in range(len(mode)):
        p[t] = st_product(stimulus["a"][t], stimulus["w"][t], 1 << int(mode[t]), bool(stimulus["a_signed"][t]),
                          bool(stimulus["w_signed"][t]), width)
    return p


def expected(stimulus, width, acc_width, latency, extra_cycles=4):
    """``acc``/``acc_valid`` per cycle: operands of cycle t are in ``acc`` from cycle t + latency on."""
    p = products(stimulus, width)
    n = len(p) + extra_cycles
    acc = np.zeros(n, dtype=np.int64)
    acc_valid = np.zeros(n, dtype=np.int64)
    total = 0
    for t in range(len(p)):
        if stimulus["clear"][t]:
            total = 0
        if stimulus["valid"][t]:
            total += int(p[t])
        if t + latency < n:
            acc[t + latency:] = wrap(total, acc_width)
            acc_valid[t + latency] = int(stimulus["valid"][t] or stimulus["clear"][t])
    return acc, acc_valid


def random_stimulus(rng, n, width, modes=(0, 1, 2), p_valid=0.8, p_clear=0.1):
    return {
        "a": rng.integers(0, 1 << width, n), "w": rng.integers(0, 1 << width, n),
        "mode": rng.choice(modes, n), "a_signed": rng.integers(0, 2, n), "w_signed": rng.integers(0, 2, n),
        "valid": (rng.random(n) < p_valid).astype(np.int64), "clear": (rng.random(n) < p_clear).astype(np.int64),
    }


@pytest.mark.parametrize("pipeline", [0, 2])
def test_sequences_with_clear_and_valid_gaps(pipeline):
    """Random operands, modes, signedness, valid gaps and clears (with and without valid) every cycle."""
    rng = np.random.default_rng(pipeline)
    stimulus = random_stimulus(rng, 150, 8)
    stimulus["clear"][[0, 40, 41, 90]] = 1
    stimulus["valid"][[41]] = 0                     # a clear without operands: the sum restarts at 0
    dut = MacUnit(8, (1, 2, 4), acc_width=14, pipeline=pipeline)
    assert dut.latency == pipeline + 1
    got_acc, got_valid = run(dut, stimulus)
    exp_acc, exp_valid = expected(stimulus, 8, 14, dut.latency)
    np.testing.assert_array_equal(got_acc, exp_acc)
    np.testing.assert_array_equal(got_valid, exp_valid)


def test_wrap_around_matches_golden_mac():
    """A long same-mode sum overflows a 12-bit accumulator many times; the result is hw.golden.mac."""
    rng = np.random.default_rng(7)
    n = 200
    a, w = rng.integers(0, 256, n), rng.integers(0, 256, n)
    stimulus = {"a": a, "w": w, "mode": np.zeros(n), "a_signed": np.zeros(n), "w_signed": np.ones(n),
                "valid": np.ones(n), "clear": np.eye(1, n, dtype=np.int64)[0]}
    dut = MacUnit(8, (1, 2, 4), acc_width=12)
    acc, _ = run(dut, stimulus)
    total = int(np.sum(st_product(a, w, 1, False, True, 8)))
    assert abs(total) >= 1 << 14                    # the stimulus really wraps the accumulator
    assert acc[-1] == mac(a, w, 1, False, True, 12, width=8)


def test_default_width_four_lane_sum():
    rng = np.random.default_rng(16)
    n = 40
    stimulus = random_stimulus(rng, n, 16, modes=(2,), p_valid=0.7, p_clear=0.0)
    stimulus.update(a_signed=np.ones(n), w_signed=np.zeros(n), clear=np.eye(1, n, dtype=np.int64)[0])
    dut = MacUnit()
    assert dut.acc_width == 40
    acc, _ = run(dut, stimulus)
    valid = stimulus["valid"].astype(bool)
    assert acc[-1] == mac(stimulus["a"][valid], stimulus["w"][valid], 4, True, False, 40)


def test_holds_without_valid_and_resets_to_zero():
    stimulus = {"a": [5, 9, 9], "w": [3, 9, 9], "mode": [0, 0, 0], "a_signed": [0, 0, 0], "w_signed": [0, 0, 0],
                "valid": [1, 0, 0], "clear": [0, 0, 0]}
    acc, acc_valid = run(MacUnit(8, (1, 2, 4), acc_width=16), stimulus)
    np.testing.assert_array_equal(acc, [0, 15, 15, 15, 15, 15, 15])
    np.testing.assert_array_equal(acc_valid, [0, 1, 0, 0, 0, 0, 0])


def test_reversed_weight_order():
    """``weight_order="reversed"``: weights stored lane-reversed for their mode give the natural-order sums."""
    rng = np.random.default_rng(9)
    stimulus = random_stimulus(rng, 80, 8)
    driven = dict(stimulus, w=stimulus["w"].copy())
    for t, mode in enumerate(stimulus["mode"]):
        lanes = 1 << int(mode)
        driven["w"][t] = pack(unpack(np.array([stimulus["w"][t]]), lanes, False, 8)[::-1], lanes, False, 8)[0]
    assert np.any(driven["w"] != stimulus["w"])
    dut = MacUnit(8, (1, 2, 4), acc_width=14, weight_order="reversed")
    got_acc, got_valid = run(dut, driven)
    exp_acc, exp_valid = expected(stimulus, 8, 14, dut.latency)
    np.testing.assert_array_equal(got_acc, exp_acc)
    np.testing.assert_array_equal(got_valid, exp_valid)


@pytest.mark.parametrize("arrangement", ["star", "array"])
def test_fixed_mac(arrangement):
    rng = np.random.default_rng(1)
    stimulus = random_stimulus(rng, 60, 8, modes=(0,))
    dut = FixedMac(8, arrangement, acc_width=13, pipeline=1)
    got_acc, got_valid = run(dut, stimulus)
    exp_acc, exp_valid = expected(stimulus, 8, 13, dut.latency)
    np.testing.assert_array_equal(got_acc, exp_acc)
    np.testing.assert_array_equal(got_valid, exp_valid)


@pytest.mark.parametrize("cls, kwargs, error, message", [
    (MacUnit, {"acc_width": 0}, ValueError, r"acc_width must be a positive number of bits, not 0"),
    (MacUnit, {"acc_width": 1.5}, TypeError, r"acc_width must be an int, not 1.5"),
    (MacUnit, {"lanes": (1, 5)}, ValueError, r"powers of two, not 5"),
    (MacUnit, {"pipeline": -1}, ValueError, r"not -1"),
    (MacUnit, {"weight_order": "swapped"}, ValueError, r"weight_order must be one of .*, not 'swapped'"),
    (FixedMac, {"arrangement": "booth"}, ValueError, r"arrangement must be one of .*, not 'booth'"),
])
def test_constructor_errors(cls, kwargs, error, message):
    with pytest.raises(error, match=message):
        cls(**kwargs)
