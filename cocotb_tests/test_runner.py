"""The runner itself: parameters reach the testbench, builds are reused, and a failing cocotb test fails pytest."""

import cocotb
import numpy as np
import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from cocotb.triggers import Timer

from cocotb_tests.runner import build_dir, config, run

pytestmark = pytest.mark.verilator


class Adder(wiring.Component):
    """``s = a + b + error``: a throwaway DUT; ``error != 0`` makes a deliberately wrong one."""

    def __init__(self, width=8, error=0):
        self._error = error
        super().__init__({"a": In(width), "b": In(width), "s": Out(width + 1)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.s.eq(self.a + self.b + self._error)
        return m


@cocotb.test()
async def adder_sums(dut):
    """Random operand pairs give the exact sum (width and vector count come from the runner's config)."""
    cfg = config()
    width = cfg["params"]["width"]
    rng = np.random.default_rng(cfg["seed"])
    for a, b in rng.integers(0, 1 << width, size=(cfg["vectors"], 2)):
        dut.a.value, dut.b.value = int(a), int(b)
        await Timer(1, "ns")
        assert int(dut.s.value) == a + b, f"{a} + {b} gave {int(dut.s.value)}"


def test_runner_passes_good_design_and_reuses_build():
    params = {"width": 12}
    xml = run(Adder, "cocotb_tests.test_runner", name="adder", params=params, tb={"vectors": 200, "seed": 1})
    assert xml.is_file()
    stamp = build_dir("adder", params) / "build.stamp"
    built = stamp.stat().st_mtime_ns
    run(Adder, "cocotb_tests.test_runner", name="adder", params=params, tb={"vectors": 10, "seed": 2})
    assert stamp.stat().st_mtime_ns == built, "unchanged Verilog must not be rebuilt"


def test_runner_fails_pytest_when_a_cocotb_test_fails():
    with pytest.raises(pytest.fail.Exception, match=r"1 of 1 cocotb tests failed:\n  adder_sums: .*gave"):
        run(Adder, "cocotb_tests.test_runner", name="adder_wrong", params={"width": 8, "error": 1},
            tb={"vectors": 20, "seed": 3})


def test_runner_fails_pytest_when_no_test_matches():
    with pytest.raises(pytest.fail.Exception, match="no cocotb test ran"):
        run(Adder, "cocotb_tests.test_runner", name="adder", params={"width": 12}, testcase="no_such_test",
            tb={"vectors": 1, "seed": 0})


def test_runner_refuses_factory_without_name():
    with pytest.raises(ValueError, match="needs name="):
        run(Adder, "cocotb_tests.test_runner", params={"width": 8})
