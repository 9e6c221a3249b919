"""The whole-net replay's planner, precision handling, final-output assembly and report (no Verilator)."""

import json
import shutil

import numpy as np
import pytest

from hw.golden import net as golden_net
from hw.golden import value_range
from hw.params import EngineParams
from sim import plan as plan_mod
from sim import report
from sim.__main__ import main
from sim.plan import ENGINES, NETS, Engine, assemble, macs, plan, resolve, widen
from sim.rtl import Measured, first_difference


@pytest.fixture(scope="module")
def dscnn():
    return resolve("dscnn", "mixed")[0]


@pytest.fixture
def no_conv(monkeypatch):
    """Pretend the Conv2D engine does not exist (a top name nobody registered)."""
    monkeypatch.setitem(ENGINES, "conv2d", Engine("Conv2dEngine", "no_such_engine", "conv2d_job"))


@pytest.mark.parametrize("name", NETS)
def test_every_weighted_node_maps_to_its_engine_and_the_rest_to_the_host(name):
    net = resolve(name, "mixed")[0]
    steps, _ = plan(net, EngineParams())
    ops = {n["name"]: n["op"] for n in net.nodes}
    assert [s.name for s in steps] == [n["name"] for n in net.nodes if n["op"] != "input"]
    inputs = {n["name"]: net.tensors[n["inputs"][0]]["shape"] for n in net.nodes if n["op"] != "input"}
    for s in steps:
        if ops[s.name] in ENGINES:
            single = ops[s.name] == "conv2d" and inputs[s.name][-1] == 1      # one input channel: taps on the lanes
            assert s.engine == ENGINES["depthwise_conv2d" if single else ops[s.name]]
            assert (s.where == "rtl") == (s.job is not None) == (not s.reason)
        else:
            assert (s.where, s.label, s.engine, s.job) == ("host", "host", None, None)


@pytest.mark.parametrize("name", NETS)
def test_expected_outputs_are_the_exported_test_vectors(name):
    net = resolve(name, "mixed")[0]
    steps, values = plan(net, EngineParams(), sample=1)
    for s in steps:
        np.testing.assert_array_equal(s.expected, net.vectors(s.name)[1])
        np.testing.assert_array_equal(values[s.name], net.vectors(s.name)[1])


def test_single_channel_first_conv_runs_on_the_depthwise_engine(dscnn):
    conv1 = next(s for s in plan(dscnn, EngineParams())[0] if s.name == "conv1")
    assert conv1.label == "rtl DepthwiseConv2dEngine"
    assert conv1.job.runs[0]["cin"] == 1 and conv1.job.runs[0]["cout"] == 64


def test_missing_engine_runs_on_the_host_and_says_so(dscnn, no_conv):
    steps, _ = plan(dscnn, EngineParams())
    conv = [s for s in steps if s.op == "conv2d" and s.engine == ENGINES["conv2d"]]
    assert conv and all(s.where == "host" and s.label == "host (engine missing)" for s in conv)
    assert "no hw.tops top 'no_such_engine'" in conv[0].reason
    assert next(s for s in steps if s.name == "fc").label == "rtl FullyConnectedEngine"


def test_layer_too_big_for_the_buffers_runs_on_the_host_with_the_reason(dscnn):
    small = EngineParams(weight_words=4, act_words=4, out_words=4)
    fc = next(s for s in plan(dscnn, small)[0] if s.name == "fc")
    assert fc.where == "host" and fc.label == "host (does not fit)"
    assert fc.reason.startswith("does not fit: ")


def test_jobs_are_the_drivers_jobs_for_the_node(dscnn):
    from hw.accel.driver import dense_job
    params = EngineParams()
    steps, values = plan(dscnn, params)
    fc = next(s for s in steps if s.name == "fc")
    node = next(n for n in dscnn.nodes if n["name"] == "fc")
    a = dscnn.arrays
    job = dense_job(params, values["flatten"], a[node["weights"]], a[node["bias"]], a[node["multiplier"]],
                    a[node["shift"]], a_bits=8, a_signed=False, w_bits=8, w_signed=True, o_bits=8, o_signed=True)
    assert fc.job.runs == job.runs and fc.job.memory == job.memory
    assert (fc.bits, fc.o_bits) == (8, 8)


def test_macs_of_dscnn_layers(dscnn):
    by_name = {n["name"]: n for n in dscnn.nodes}
    assert macs(dscnn, by_name["conv1"]) == 25 * 5 * 64 * 10 * 4 * 1
    assert macs(dscnn, by_name["dw1"]) == 25 * 5 * 64 * 3 * 3
    assert macs(dscnn, by_name["pw1"]) == 25 * 5 * 64 * 64
    assert macs(dscnn, by_name["fc"]) == 64 * 12


def test_widened_net_saturates_later_but_is_otherwise_the_same(dscnn):
    """Widening 8 -> 16 bit keeps the integers: clipping a widened layer's output (on the same input) back to the
    8-bit range gives the 8-bit export's output exactly."""
    wide = widen(dscnn, 16, 32)
    assert all(d["bits"] >= 16 for d in wide.tensors.values())
    x = dscnn.vectors("input")[:2]
    narrow_out = golden_net.run(dscnn, x)
    for node in dscnn.nodes:
        if node["op"] in ENGINES:
            inp = narrow_out[node["inputs"][0]]
            got = golden_net.apply(wide, next(n for n in wide.nodes if n["name"] == node["name"]), [inp])
            desc = dscnn.tensors[node["name"]]
            np.testing.assert_array_equal(np.clip(got, *value_range(desc["bits"], desc["signed"])),
                                          narrow_out[node["name"]])
    assert wide.meta["vectors"]["tensors"] == ["input"]
    assert dscnn.tensors["conv1"]["bits"] == 8                     # the original is untouched


@pytest.fixture
def models_dscnn(tmp_path):
    """A models directory holding only the ``dscnn`` export (no ``uniform<B>/`` exports), whatever ``models/`` holds."""
    for suffix in (".json", ".npz"):
        shutil.copy(plan_mod.ROOT / "models" / f"dscnn{suffix}", tmp_path / f"dscnn{suffix}")
    widths = plan_mod._layer_bits(resolve("dscnn", "mixed", tmp_path)[0])
    assert len(widths) > 1 and max(widths) > 4, f"these tests need a mixed export with a layer over 4 bits: {widths}"
    return tmp_path


def test_resolve_precisions(models_dscnn, tmp_path_factory):
    net, how, vectors_apply = resolve("dscnn", "16", models_dscnn)     # every layer <= 16 bits: widened
    assert "widened to 16 bit" in how and not vectors_apply
    with pytest.raises(ValueError, match=r"narrowing needs a re-trained export: python -m quant train dscnn "
                                         r"--precision 4"):
        resolve("dscnn", "4", models_dscnn)
    uniform = tmp_path_factory.mktemp("uniform")
    golden_net.save(uniform / "dscnn", net.meta, net.arrays)          # an export that is all 16-bit: used as it is
    net, how, vectors_apply = resolve("dscnn", "16", uniform)
    assert how.startswith("the export is uniform 16-bit") and vectors_apply
    (models_dscnn / "uniform16").mkdir()
    for suffix in (".json", ".npz"):
        shutil.copy(uniform / f"dscnn{suffix}", models_dscnn / "uniform16" / f"dscnn{suffix}")
    net, how, vectors_apply = resolve("dscnn", "16", models_dscnn)
    assert how.startswith("uniform 16-bit export") and vectors_apply


@pytest.mark.parametrize("name, prec, message", [
    ("lenet", "mixed", "unknown NET 'lenet'; valid NETs are: dscnn, resnet8, mobilenetv1, fcae"),
    ("dscnn", "2", "unknown PREC '2'; valid PRECs are: mixed, 16, 8, 4"),
])
def test_resolve_refuses_unknown_names(name, prec, message):
    with pytest.raises(ValueError, match=message):
        resolve(name, prec)


def test_assemble_recomputes_host_layers_from_the_rtl_outputs(dscnn):
    steps, values = plan(dscnn, EngineParams())
    rtl = {s.name: values[s.name] for s in steps if s.where == "rtl"}
    np.testing.assert_array_equal(assemble(dscnn, steps, rtl, values), dscnn.vectors("fc")[0])
    del rtl["fc"]                                                 # fc on the host: recomputed from pw4 via pool
    np.testing.assert_array_equal(assemble(dscnn, steps, rtl, values), dscnn.vectors("fc")[0])
    bad = dict(rtl, pw4=np.zeros_like(values["pw4"]))
    assert first_difference(dscnn.vectors("fc")[0], assemble(dscnn, steps, bad, values)) is not None


def test_first_difference():
    assert first_difference(np.array([[1, 2], [3, 4]]), np.array([[1, 2], [3, 5]])) == ((1, 1), 4, 5)
    assert first_difference(np.arange(3), np.arange(3)) is None


def test_rows_utilization_and_speedup(dscnn):
    params = EngineParams()
    steps, values = plan(dscnn, params)
    fc = next(s for s in steps if s.name == "fc")
    rows = report.rows([fc], {"fc": Measured(100, 50, [2], values["fc"])}, params,
                       baseline={"fc": {"cycles": 250}})
    (row,) = rows
    assert (row["cycles"], row["compute_cycles"], row["speedup_vs_16"]) == (100, 50, 2.5)
    assert row["util"] == round(768 / (100 * params.macs * 2), 4)       # 8 bit: 2 lanes of a 16-bit multiplier
    assert row["util_compute"] == round(768 / (50 * params.macs * 2), 4)
    assert report.rows([fc], {}, params)[0]["where"] == "rtl FullyConnectedEngine"         # a plan
    (unrun,) = report.rows([fc], {}, params, stopped=True)      # planned for RTL, but the replay stopped before it
    assert unrun["cycles"] is None and unrun["where"] == "not run (stopped at a mismatch)"


def test_summary_counts_only_layers_on_rtl_at_every_precision():
    def row(layer, cycles, bits=8):
        return {"layer": layer, "cycles": cycles, "bits": bits}
    by_prec = {"mixed": [row("a", 10), row("b", None), row("p", None, None)], "16": [row("a", 30), row("b", 40)]}
    s = report.summary(by_prec, None, {"mixed": "ok"})
    assert s["end_to_end_cycles"] == {"mixed": 10, "16": 30} and s["speedup_vs_16"] == {"mixed": 3.0}
    assert s["rtl_layers"] == ["a"] and s["host_weighted_layers"] == ["b"] and s["mismatches"] == 0


def test_cli_unknown_net_lists_the_valid_ones(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["lenet"])
    assert exc.value.code == 2
    assert "unknown NET 'lenet'; valid NETs are: dscnn, resnet8, mobilenetv1, fcae, all" in capsys.readouterr().err


def test_cli_plan_only_reports_host_layers_loudly(capsys, no_conv):
    assert main(["dscnn", "--plan-only", "--no-baseline"]) == 0
    out = capsys.readouterr().out
    assert "pw1 runs on the HOST, not RTL: engine missing: Conv2dEngine" in out
    assert "host (engine missing)" in out and "rtl FullyConnectedEngine" in out


def test_cli_narrowing_without_export_fails_with_the_fix(capsys, models_dscnn):
    assert main(["dscnn", "--prec", "4", "--plan-only", "--models", str(models_dscnn)]) == 1
    assert "python -m quant train dscnn --precision 4" in capsys.readouterr().err


def test_report_json_and_plot(tmp_path):
    rows = [{"layer": "a", "cycles": 10, "bits": 8}, {"layer": "p", "cycles": None, "bits": None}]
    by_prec = {"mixed": rows, "16": [dict(rows[0], cycles=30), rows[1]]}
    s = report.summary(by_prec, None, {"mixed": "ok", "16": "ok"})
    data = report.write_json(tmp_path / "x.json", "x", "make sim NET=x PREC=mixed", EngineParams(),
                             {"mixed": {"layers": rows}}, s, 1.0)
    assert json.loads((tmp_path / "x.json").read_text())["summary"] == data["summary"]
    assert data["summary"]["end_to_end_cycles"] == {"mixed": 10, "16": 30}
    png = report.plot(tmp_path / "x.png", "x", by_prec)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
