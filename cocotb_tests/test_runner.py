"""The runner itself: parameters reach the testbench, builds and emitted Verilog are reused (until a generator source
changes), ``waves=True`` leaves an FST, and a failing cocotb test fails pytest."""

from pathlib import Path

import cocotb
import numpy as np
import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from cocotb.triggers import Timer

from cocotb_tests import runner
from cocotb_tests.runner import WAVES_FILE, build_dir, config, run

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


def test_waves_builds_a_traced_model_in_its_own_directory_and_writes_an_fst(monkeypatch):
    monkeypatch.delenv("WAVES", raising=False)
    params, tb = {"width": 4}, {"vectors": 5, "seed": 4}
    assert build_dir("adder_waves", params, waves=True) != build_dir("adder_waves", params)
    traced = run(Adder, "cocotb_tests.test_runner", name="adder_waves", params=params, tb=tb, waves=True)
    fst = traced.parent / WAVES_FILE
    assert fst.is_file() and fst.stat().st_size > 0, f"no waveform in {traced.parent}"
    assert fst.read_bytes()[0] == 0, "not an FST file (its first block must be the FST header, type 0)"
    assert traced.parent.is_relative_to(build_dir("adder_waves", params, waves=True))
    plain = run(Adder, "cocotb_tests.test_runner", name="adder_waves", params=params, tb=tb)
    assert plain.parent.is_relative_to(build_dir("adder_waves", params))
    assert not list(plain.parent.glob("dump.*")), "an untraced run must not write a waveform"


def test_emitted_verilog_is_reused_until_a_generator_source_changes(tmp_path, monkeypatch):
    sources = tmp_path / "generator"
    sources.mkdir()
    (sources / "design.py").write_text("WIDTH = 1\n")
    monkeypatch.setattr(runner, "GENERATOR_SOURCES", (sources,))
    emitted, emit = [], runner._emit
    monkeypatch.setattr(runner, "_emit", lambda top, name, params: emitted.append(name) or emit(top, name, params))
    kwargs = dict(name="adder_cache", params={"width": 5}, tb={"vectors": 5, "seed": 5})

    run(Adder, "cocotb_tests.test_runner", **kwargs)
    assert emitted == ["adder_cache"]                           # new sources digest: emitted
    run(Adder, "cocotb_tests.test_runner", **kwargs)
    assert emitted == ["adder_cache"], "unchanged sources must not be elaborated again"
    run(Adder, "cocotb_tests.test_runner", **{**kwargs, "params": {"width": 6}})
    assert emitted == ["adder_cache"] * 2                       # other parameters: their own Verilog
    (sources / "design.py").write_text("WIDTH = 2\n")
    run(Adder, "cocotb_tests.test_runner", **kwargs)
    assert emitted == ["adder_cache"] * 3, "a changed generator source must invalidate the cached Verilog"


def test_sources_digest_covers_the_hw_package_and_the_factory():
    from hw import tops

    assert any(Path(tops.__file__).resolve().is_relative_to(d) for d in runner.GENERATOR_SOURCES)
    assert runner.sources_digest(Adder) != runner.sources_digest("adder")   # a factory adds its own file
