"""MacUnit (and the FixedMac baseline) on Verilator: random clear/valid sequences against ``hw.golden``.

Each of ``copies`` independent MACs gets its own random stream of operands, lane mode, signedness, ``valid`` gaps and
``clear`` pulses. After every cycle the accumulator must equal ``wrap(sum of the valid ST products since the last
clear, acc_width)``; a second test checks each complete dot product against ``hw.golden.mac`` directly. Small
accumulators make the wrap-around happen constantly.
"""

import functools

import cocotb
import numpy as np
import pytest
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

from cocotb_tests.bench import Replicate, WideStream
from cocotb_tests.runner import config, run
from cocotb_tests.test_st_multiplier import expected_products, first_mismatch, random_words
from hw import golden

CYCLES_PER_BATCH = 512


def expected_accumulator(products, valid, clear, acc_width):
    """Accumulator after each row (axis 0 = cycles) from reset: ``clear`` restarts the sum, ``valid`` adds."""
    total = np.cumsum(np.where(valid, products, 0), axis=0)
    rows = np.arange(len(total))[:, None]
    last_clear = np.maximum.accumulate(np.where(clear, rows, -1), axis=0)       # -1: no clear yet (reset value 0)
    before = np.vstack([np.zeros_like(total[:1]), total[:-1]])                # sum up to the previous row
    base = np.where(last_clear >= 0, np.take_along_axis(before, np.maximum(last_clear, 0), axis=0), 0)
    return golden.wrap(total - base, acc_width)


class MacBench:
    """Drive ``copies`` MACs behind :class:`Replicate` with numpy batches; the golden state carries across batches."""

    def __init__(self, dut):
        cfg = config()
        self.dut, self.params, self.rng = dut, cfg["params"], np.random.default_rng(cfg["seed"])
        self.width, self.copies = self.params["width"], self.params["copies"]
        self.lanes = self.params.get("lanes", [1])
        self.acc_width = self.params["acc_width"] or 2 * self.width + 8
        self.stream = WideStream(dut, self.copies, latency=self.params["pipeline"] + 1)
        self.carry = np.zeros(self.copies, dtype=np.int64)       # accumulator value before the next batch

    async def reset(self):
        cocotb.start_soon(Clock(self.dut.clk, 10, "ns").start())
        self.dut.rst.value = 1
        for _ in range(2):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0

    def stimulus(self, cycles, lanes, a_signed, w_signed, p_valid, p_clear):
        """Operand words for per-element ``lanes``; ``valid``/``clear`` Bernoulli with the given probabilities."""
        shape = (cycles, self.copies)
        a, w = np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.int64)
        for n in np.unique(lanes):
            sel = lanes == n
            a[sel] = random_words(self.rng, (int(sel.sum()),), self.width, int(n))
            w[sel] = random_words(self.rng, (int(sel.sum()),), self.width, int(n))
        return {"a": a, "w": w, "lanes": lanes, "a_signed": a_signed, "w_signed": w_signed,
                "valid": self.rng.random(shape) < p_valid, "clear": self.rng.random(shape) < p_clear}

    async def apply(self, s):
        """Run one batch; check ``acc`` and ``acc_valid`` after every cycle; return the accumulator rows."""
        ports = {k: s[k] for k in ("a", "w", "a_signed", "w_signed", "valid", "clear")}
        if hasattr(self.dut, "mode"):                              # FixedMac has none
            ports["mode"] = np.log2(s["lanes"]).astype(np.int64)
        got = await self.stream.run(ports, ["acc", "acc_valid"])
        products = expected_products(s["a"], s["w"], s["lanes"], s["a_signed"], s["w_signed"], self.width)
        # the batch starts from the carried accumulator: a virtual first row adds it (as a valid, non-clear product)
        want = expected_accumulator(np.vstack([self.carry[None], products]),
                                    np.vstack([np.ones((1, self.copies), bool), s["valid"]]),
                                    np.vstack([np.zeros((1, self.copies), bool), s["clear"]]), self.acc_width)[1:]
        np.testing.assert_array_equal(got["acc"], want, err_msg=first_mismatch(
            got["acc"], want, a=s["a"], w=s["w"], lanes=s["lanes"], valid=s["valid"], clear=s["clear"]))
        np.testing.assert_array_equal(got["acc_valid"], s["valid"] | s["clear"])
        self.carry = want[-1]
        return got["acc"]


@cocotb.test()
async def random_control_sequences(dut):
    """Every input random every cycle: lane mode, signedness, valid (70 %), clear (10 %)."""
    bench = MacBench(dut)
    await bench.reset()
    for _ in range(-(-config()["cycles"] // CYCLES_PER_BATCH)):
        shape = (CYCLES_PER_BATCH, bench.copies)
        lanes = bench.rng.choice(np.array(bench.lanes), shape)
        signs = bench.rng.integers(0, 2, (2, *shape)).astype(bool)
        await bench.apply(bench.stimulus(CYCLES_PER_BATCH, lanes, *signs, p_valid=0.7, p_clear=0.1))


@cocotb.test()
async def dot_products_match_golden_mac(dut):
    """Per batch one lane mode and signedness; every sum between two clears equals ``hw.golden.mac`` of its words."""
    bench = MacBench(dut)
    await bench.reset()
    checked = 0
    for lanes in bench.lanes:
        for a_signed in (False, True):
            for w_signed in (False, True):
                shape = (CYCLES_PER_BATCH, bench.copies)
                s = bench.stimulus(CYCLES_PER_BATCH, np.full(shape, lanes), np.full(shape, a_signed),
                                   np.full(shape, w_signed), p_valid=0.8, p_clear=0.05)
                s["clear"][0] = True                                  # every copy starts a fresh dot product
                acc = await bench.apply(s)
                for k in range(bench.copies):
                    starts = np.flatnonzero(s["clear"][:, k])
                    for begin, end in zip(starts[:-1], starts[1:]):   # complete dot products [begin, end)
                        keep = s["valid"][begin:end, k]
                        want = golden.mac(s["a"][begin:end, k][keep], s["w"][begin:end, k][keep], int(lanes),
                                          a_signed, w_signed, bench.acc_width, bench.width)
                        assert acc[end - 1, k] == want, f"copy {k}, cycles {begin}..{end - 1}: {acc[end - 1, k]} " \
                                                        f"!= golden.mac {want}"
                        checked += 1
    assert checked > 100, f"only {checked} dot products were complete; the test would prove little"


# ---- pytest drivers -----------------------------------------------------------------------------------------------

def _bench(top, copies, **params):
    from hw import tops

    return Replicate(functools.partial(tops.build, top, **params), copies)


def run_mac(top, params, cycles, copies=4, seed=1):
    """Simulate ``copies`` MACs of registry ``top`` with ``params`` (defaults filled in) for ``cycles`` cycles."""
    from hw import tops

    params = {**tops.get(top).defaults, **params, "copies": copies}
    run(functools.partial(_bench, top), __name__, name=f"{top}_bench", params=params,
        tb={"cycles": cycles, "seed": seed})


MAC_CASES = {
    "mac-default": ("mac", {}),
    "mac-width8-pipeline2-acc12": ("mac", {"width": 8, "acc_width": 12, "pipeline": 2}),
    "fixed_mac-star-acc24": ("fixed_mac", {"arrangement": "star", "acc_width": 24}),
}


@pytest.mark.verilator
@pytest.mark.parametrize("top, params", MAC_CASES.values(), ids=MAC_CASES.keys())
def test_mac_random_sequences(top, params):
    run_mac(top, params, cycles=2048)


@pytest.mark.verilator
@pytest.mark.slow
@pytest.mark.parametrize("params", [{"acc_width": 20, "pipeline": 2}, {"acc_width": 24, "pipeline": 1}],
                         ids=["pipeline2-acc20", "pipeline1-acc24"])
def test_mac_long_sequences(params):
    run_mac("mac", params, cycles=100_000, copies=4, seed=2)
