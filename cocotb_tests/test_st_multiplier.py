"""SumTogetherMultiplier on Verilator: random vectors in every lane mode and signedness against ``hw.golden``.

``copies`` multipliers run side by side (:class:`cocotb_tests.bench.Replicate`), so each simulated cycle checks
``copies`` vectors; the smoke set (``make test``) runs 20k vectors per mode on 4 copies, the ``slow`` sweep 10**6 per
mode on 16. The C++ build of the gate-level arrays dominates (about a minute for 4 copies, several for 16 on a busy
machine); simulation streams some 100k-200k vectors/s. A quarter
of the lanes hold corner patterns (0, -1 / all ones, the most negative and the most positive value), where a wrong
Baugh-Wooley correction constant shows first.
"""

import functools

import cocotb
import numpy as np
import pytest
from cocotb.clock import Clock

from cocotb_tests.bench import Replicate, WideStream
from cocotb_tests.runner import config, run
from hw import golden

CYCLES_PER_BATCH = 512


# ---- stimulus and reference (numpy) ------------------------------------------------------------------------------

def random_words(rng, shape, width, lanes):
    """Random ``width``-bit words; each ``width // lanes``-bit lane is a corner pattern with probability 1/4."""
    b = width // lanes
    corners = np.array([0, (1 << b) - 1, 1 << (b - 1), (1 << (b - 1)) - 1], dtype=np.int64)
    lane_values = rng.integers(0, 1 << b, size=(*shape, lanes), dtype=np.int64)
    lane_values = np.where(rng.random((*shape, lanes)) < 0.25, rng.choice(corners, (*shape, lanes)), lane_values)
    return np.sum(lane_values << (b * np.arange(lanes, dtype=np.int64)), axis=-1)


def expected_products(a, w, lanes, a_signed, w_signed, width):
    """``hw.golden.st_product`` element-wise, with per-element lane counts and signedness flags."""
    out = np.zeros(a.shape, dtype=np.int64)
    for n in np.unique(lanes):
        for sa in (False, True):
            for sw in (False, True):
                sel = (lanes == n) & (a_signed == sa) & (w_signed == sw)
                out[sel] = golden.st_product(a[sel], w[sel], int(n), sa, sw, width)
    return out


def first_mismatch(got, want, **operands):
    """A one-line description of the first differing element (empty if none), operands in hex."""
    bad = np.argwhere(got != want)
    if not bad.size:
        return ""
    i = tuple(bad[0])
    fields = ", ".join(f"{k}={int(v[i]):#x}" for k, v in operands.items())
    return f"{len(bad)} mismatches; first at {i}: {fields}: got {int(got[i])}, expected {int(want[i])}"


# ---- cocotb testbench ----------------------------------------------------------------------------------------------

async def _check(dut, lanes_of, vectors):
    """Stream ``vectors`` random vectors per entry of ``lanes_of(rng, shape)`` calls and compare with golden."""
    cfg = config()
    width, latency, copies = cfg["params"]["width"], cfg["params"]["pipeline"], cfg["params"]["copies"]
    rng = np.random.default_rng(cfg["seed"])
    cocotb.start_soon(Clock(dut.clk, 10, "ns").start())
    dut.rst.value = 0
    stream = WideStream(dut, copies, latency)
    remaining = -(-vectors // copies)
    while remaining > 0:
        shape = (min(remaining, CYCLES_PER_BATCH), copies)
        remaining -= shape[0]
        lanes = lanes_of(rng, shape)
        a = np.zeros(shape, dtype=np.int64)
        w = np.zeros(shape, dtype=np.int64)
        for n in np.unique(lanes):
            sel = lanes == n
            a[sel] = random_words(rng, (int(sel.sum()),), width, int(n))
            w[sel] = random_words(rng, (int(sel.sum()),), width, int(n))
        a_signed, w_signed = rng.integers(0, 2, shape).astype(bool), rng.integers(0, 2, shape).astype(bool)
        got = (await stream.run({"a": a, "w": w, "mode": np.log2(lanes).astype(np.int64),
                                 "a_signed": a_signed, "w_signed": w_signed}, ["p"]))["p"]
        want = expected_products(a, w, lanes, a_signed, w_signed, width)
        np.testing.assert_array_equal(got, want, err_msg=first_mismatch(
            got, want, a=a, w=w, lanes=lanes, a_signed=a_signed, w_signed=w_signed))


def lane_counts():
    """The lane counts to drive: the generator's, unless the testbench config names others (``drive_lanes``)."""
    return config().get("drive_lanes", config()["params"]["lanes"])


@cocotb.test()
async def each_mode_random_vectors(dut):
    """For each supported lane count in turn: ``vectors`` random words, random signedness per vector."""
    for n in lane_counts():
        dut._log.info(f"{n} lane(s): {config()['vectors']} vectors")
        await _check(dut, lambda rng, shape, n=n: np.full(shape, n), config()["vectors"])


@cocotb.test()
async def mixed_modes_back_to_back(dut):
    """Lane count and signedness change every cycle (and differ between copies): no state leaks between vectors."""
    supported = np.array(lane_counts())
    await _check(dut, lambda rng, shape: rng.choice(supported, shape), config()["vectors"])


# ---- pytest drivers -----------------------------------------------------------------------------------------------

def _bench(copies, **params):
    from hw import tops

    return Replicate(functools.partial(tops.build, "st_multiplier", **params), copies)


def run_st(params, vectors, copies, seed=1, **tb):
    """Simulate ``copies`` ST multipliers with generator ``params`` (defaults filled in) on ``vectors`` per mode."""
    from hw import tops

    params = {**tops.get("st_multiplier").defaults, **params, "copies": copies}
    run(_bench, __name__, name="st_multiplier_bench", params=params, tb={"vectors": vectors, "seed": seed, **tb})


@pytest.mark.verilator
@pytest.mark.parametrize("params", [{}, {"width": 8, "pipeline": 2, "reduction": "wallace"}],
                         ids=["default", "width8-pipeline2-wallace"])
def test_st_multiplier_smoke(params):
    run_st(params, vectors=20_000, copies=4)


@pytest.mark.verilator
def test_st_bench_reports_wrong_products():
    """A multiplier built without 4-lane support answers 4-lane words as 1 lane (documented): the bench must fail."""
    with pytest.raises(pytest.fail.Exception, match=r"mismatches; first at .* lanes=0x4"):
        run_st({"width": 8, "lanes": (1, 2)}, vectors=200, copies=1, drive_lanes=[4])


@pytest.mark.verilator
@pytest.mark.slow
@pytest.mark.parametrize("params", [{}, {"pipeline": 2}], ids=["default", "pipeline2"])
def test_st_multiplier_million_per_mode(params):
    run_st(params, vectors=1_000_000, copies=16, seed=2)
