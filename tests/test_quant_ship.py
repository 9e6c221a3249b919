"""quant.ship (mixed maps, no left shift on the engines), quant.models.quantized_graph and the hw.perf cycle cost."""

import pytest

from hw import perf
from hw.params import EngineParams
from quant import search, ship
from quant.models import NETS, quantized_graph, quantized_layers
from quant.precision import LayerPrecision, PrecisionConfig

# DS-CNN with its geometry (49x10x1 input; conv1 10x4 stride 2; 4 x dw 3x3 + pw 1x1 on 25x5x64; fc 64 -> 12)
DSCNN = {"conv1": search.LayerCost(320_000, 2560, 64, "input", "conv2d", (49, 10, 1), (10, 4), (2, 2), 64)}
for _i in range(1, 5):
    DSCNN[f"dw{_i}"] = search.LayerCost(72_000, 576, 64, "conv1" if _i == 1 else f"pw{_i - 1}", "depthwise_conv2d",
                                        (25, 5, 64), (3, 3), (1, 1), 64)
    DSCNN[f"pw{_i}"] = search.LayerCost(512_000, 4096, 64, f"dw{_i}", "conv2d", (25, 5, 64), (1, 1), (1, 1), 64)
DSCNN["fc"] = search.LayerCost(768, 768, 12, "pool", "dense", (64,), (1, 1), (1, 1), 12)


def widths(config):
    return {n: (p.weight_bits, p.act_bits) for n, p in config.layers.items()}


def test_quantized_graph_follows_the_residual_blocks():
    graph = quantized_graph("resnet8")
    assert list(graph) == list(quantized_layers("resnet8"))
    assert graph["s1_add"]["inputs"] == ["conv1", "s1_conv2"]
    assert graph["s2_short"]["inputs"] == ["s1_add"] and graph["s2_conv1"]["inputs"] == ["s1_add"]
    assert graph["s2_add"]["inputs"] == ["s2_short", "s2_conv2"]
    signed = {n for n, node in graph.items() if node["signed"]}
    assert signed == {"s1_conv2", "s2_conv2", "s2_short", "s3_conv2", "s3_short", "fc"}
    assert quantized_graph("dscnn")["input"]["signed"] and not quantized_graph("mobilenetv1")["input"]["signed"]
    assert quantized_graph("fcae")["out"] == {"kind": "weights", "inputs": ["dec4"], "signed": True}


def test_every_net_has_mixed_candidates_and_vector_counts():
    assert set(ship.MIXED_CANDIDATES) == set(ship.VECTORS) == set(NETS)
    for net, candidates in ship.MIXED_CANDIDATES.items():
        for label, spec in candidates:
            config = ship.mixed_config(net, spec)
            assert config.net == net and max(p.act_bits for p in config.layers.values()) <= 16, label


def test_dscnn_mixed_map_is_the_published_one():
    config = ship.mixed_config("dscnn", dict(ship.MIXED_CANDIDATES["dscnn"])["pw4a4"])
    expected = {"input": (None, 8), "conv1": (16, 8), "pool": (None, 8), "fc": (8, 8)}
    expected.update({f"dw{i}": (8, 4) for i in range(1, 5)})
    expected.update({f"pw{i}": (4, 4) for i in range(1, 5)})
    assert widths(config) == expected
    assert all(p.bias_bits == 32 for p in config.layers.values() if p.weight_bits)


def test_mixed_patterns_match_names_types_and_regular_expressions():
    got = widths(ship.mixed_config("resnet8", dict(ship.MIXED_CANDIDATES["resnet8"])["s3c2"]))
    assert got["s3_conv1"] == (8, 4) and got["s3_conv2"] == (4, 8)
    assert got["conv1"] == (8, 8) and got["s1_add"] == (None, 8) and got["fc"] == (8, 8)   # unmatched: 8 bit
    got = widths(ship.mixed_config("resnet8", [(r"s\d_conv1", (4, 4)), (r"s\d_(conv2|short)", (4, 8))]))
    assert got["s2_conv1"] == (4, 4) and got["s2_conv2"] == (4, 8) and got["s3_short"] == (4, 8)
    assert widths(ship.mixed_config("resnet8", [("s_add", 4)]))["s3_add"] == (None, 4)     # by type
    assert widths(ship.mixed_config("fcae", [("out", (4, 16))]))["out"] == (4, 16)          # by name


def _shifts(config):
    """Requant shift of every weighted layer, computed from the grids (independently of quant.ship)."""
    graph, frac, shifts = quantized_graph(config.net), {}, {}
    for name, node in graph.items():
        p = config[name]
        f_out = p.act_bits - p.act_integer - (1 if node["signed"] else 0)
        if p.weight_bits is not None:
            shifts[name] = frac[node["inputs"][0]] + p.weight_bits - 1 - p.weight_integer - f_out
        frac[name] = f_out
    return shifts


@pytest.mark.parametrize("net", list(NETS))
def test_no_left_shift_makes_every_engine_shift_non_negative(net):
    # 4-bit weights with 2 integer bits (1 fractional) and 8-bit outputs with no integer bits: left shifts everywhere
    config = PrecisionConfig.uniform(net, 8)
    config = config.replace(**{n: LayerPrecision(**{**p.to_dict(), "weight_bits": 4, "weight_int": 2, "act_int": 0})
                               for n, p in config.layers.items() if p.weight_bits})
    assert min(_shifts(config).values()) < 0
    fixed = ship.no_left_shift(config)
    assert min(_shifts(fixed).values()) == 0
    assert widths(fixed) == widths(config)
    # only output integer bits grow (more range, no lost precision: those outputs are exact accumulator values)
    assert all(fixed[n] == config[n] or (fixed[n].act_int > config[n].act_integer
                                         and fixed[n].weight_integer == config[n].weight_integer)
               for n in config.layers)


def test_hw_cycles_sum_the_engine_model_and_match_the_shipped_speed_up():
    p = EngineParams(**search.HW_PARAMS)
    uniform16 = search.hw_cycles(PrecisionConfig.uniform("dscnn", 16), DSCNN)
    expected = (perf.depthwise_conv2d_cycles(p, (49, 10, 1), (10, 4), 16, strides=(2, 2), padding="same",
                                             n_out=64).total     # one input channel: on the depthwise engine
                + 4 * perf.depthwise_conv2d_cycles(p, (25, 5, 64), (3, 3), 16, padding="same").total
                + 4 * perf.conv2d_cycles(p, (25, 5, 64), (1, 1), 64, 16, padding="same").total
                + perf.fc_layer_cycles(p, 64, 12, 16).total)
    assert uniform16 == expected
    mixed = search.hw_cycles(ship.mixed_config("dscnn", dict(ship.MIXED_CANDIDATES["dscnn"])["pw4a4"]), DSCNN)
    # make sim NET=dscnn measured 862,048 / 310,223 = 2.78x on the RTL; hw.perf is within 5 %
    assert uniform16 / mixed == pytest.approx(2.78, abs=0.05)
    assert search.costs(PrecisionConfig.uniform("dscnn", 16), DSCNN)["hw_cycles"] == uniform16


def test_hw_cycles_need_the_geometry():
    table = {n: search.LayerCost(c.macs, c.weights, c.biases, c.input) for n, c in DSCNN.items()}
    assert search.hw_cycles(PrecisionConfig.uniform("dscnn", 8), table) is None
    assert "hw_cycles" not in search.costs(PrecisionConfig.uniform("dscnn", 8), table)


def test_ship_refuses_unknown_nets():
    with pytest.raises(ValueError, match="quant.ship has no mixed-precision map for 'lenet'"):
        ship.run("lenet")


@pytest.mark.slow
def test_ship_smoke_on_a_tiny_machine_sound_proxy(tmp_path, monkeypatch):
    """One float epoch + one QAT epoch per export on a tiny FC-AE proxy: the mixed export, its map, the uniform 4
    export and the summary are written, and every export reproduces its own vectors with right shifts only."""
    from hw.golden import net as gnet
    from quant import proxy
    monkeypatch.chdir(tmp_path)
    root = proxy.generate("fcae", tmp_path / "dcase", progress=False, train_per_id=3, test_per_id=2, seconds=1.0)
    summary = ship.run("fcae", out=tmp_path / "models", epochs=1, qat_epochs=1, vectors=2, tolerance=1.0,
                       data_dir=root, uniform=(4,), progress=False)
    assert summary["mixed"] == "w4a4" and set(summary["uniform"]) == {4}
    assert PrecisionConfig.load(tmp_path / "models" / "fcae-mixed.json").net == "fcae"
    for prefix in (tmp_path / "models" / "fcae", tmp_path / "models" / "uniform4" / "fcae"):
        net = gnet.load(prefix)
        assert net.meta["training"]["command"].startswith("python -m quant.ship fcae")
        assert net.meta["training"]["dataset"].startswith("proxy (synthesized, not MLPerf)")
        assert gnet.check_vectors(net) == {t: 0 for t in net.meta["vectors"]["tensors"]}
        assert all(min(net.arrays[n["shift"]]) >= 0 for n in net.nodes if "weights" in n)
    assert (tmp_path / "build" / "quant" / "fcae-ship.json").is_file()
    assert (tmp_path / "build" / "quant" / "fcae-float.json").is_file()
