"""quant.search: cost model, groups, Pareto front, choice, and a smoke run of both strategies."""

import json

import pytest

from quant import search
from quant.precision import LayerPrecision, PrecisionConfig

# DS-CNN on 49x10x1: conv1 10x4 stride 2 -> 25x5x64; 4 x (dw 3x3, pw 1x1 64->64) on 25x5; fc 64 -> 12
DSCNN = {"conv1": search.LayerCost(125 * 10 * 4 * 64, 10 * 4 * 64, 64, "input")}
for i in range(1, 5):
    DSCNN[f"dw{i}"] = search.LayerCost(125 * 9 * 64, 9 * 64, 64, "conv1" if i == 1 else f"pw{i - 1}")
    DSCNN[f"pw{i}"] = search.LayerCost(125 * 64 * 64, 64 * 64, 64, f"dw{i}")
DSCNN["fc"] = search.LayerCost(64 * 12, 64 * 12, 12, "pool")
MACS = 320_000 + 4 * 72_000 + 4 * 512_000 + 768


def mixed():
    """The published-style map: pointwise weights at 4 bits, the rest 8, activations 8, conv1 input 16."""
    config = PrecisionConfig.uniform("dscnn", 8)
    changes = {f"pw{i}": LayerPrecision(act_bits=8, weight_bits=4, bias_bits=32) for i in range(1, 5)}
    changes["input"] = LayerPrecision(act_bits=16)
    return config.replace(**changes)


def test_costs_of_uniform_and_mixed_configs():
    weights = sum(c.weights for c in DSCNN.values())
    biases = sum(c.biases for c in DSCNN.values())
    assert search.costs(PrecisionConfig.uniform("dscnn", 16), DSCNN) == {
        "avg_weight_bits": 16.0, "size_bits": 16 * weights + 32 * biases, "cycles": float(MACS)}
    cost = search.costs(mixed(), DSCNN)
    pw = 4 * 64 * 64
    assert cost["size_bits"] == 8 * (weights - pw) + 4 * pw + 32 * biases
    assert cost["avg_weight_bits"] == (8 * (weights - pw) + 4 * pw) / weights
    # conv1 reads the 16-bit input: max(8, 16) = 16 -> one product per cycle; the rest at 8 bits (2 per cycle), the
    # 4-bit pointwise weights still multiply 8-bit activations
    assert cost["cycles"] == 320_000 + (MACS - 320_000) / 2


@pytest.mark.ml
def test_layer_costs_read_from_the_graph():
    table = search.layer_costs("dscnn")
    assert {n: (c.macs, c.weights, c.biases, c.input) for n, c in table.items()} == \
        {n: (c.macs, c.weights, c.biases, c.input) for n, c in DSCNN.items()}


def test_groups_by_layer_and_by_type():
    by_type = search.groups("dscnn", "type")
    assert by_type == {"input": ["input"], "conv": ["conv1"], "dw": ["dw1", "dw2", "dw3", "dw4"],
                       "pw": ["pw1", "pw2", "pw3", "pw4"], "pool": ["pool"], "fc": ["fc"]}
    assert len(search.groups("dscnn")) == 12
    with pytest.raises(ValueError, match="granularity must be 'layer' or 'type', not 'block'"):
        search.groups("dscnn", "block")


def test_with_bits_skips_weightless_entries_and_only_lowers_on_request():
    config = PrecisionConfig.uniform("dscnn", 8)
    lowered = search._with_bits(config, ["input", "conv1"], "weight_bits", 4)
    assert lowered["conv1"].weight_bits == 4 and lowered["input"] == config["input"]
    assert search._with_bits(lowered, ["conv1"], "weight_bits", 8, lower_only=True)["conv1"].weight_bits == 4
    assert search._with_bits(lowered, ["conv1"], "weight_bits", 16)["conv1"].weight_bits == 16


CANDIDATES = [
    {"val": 0.90, "cycles": 100.0, "size_bits": 1000, "avg_weight_bits": 16.0},
    {"val": 0.90, "cycles": 50.0, "size_bits": 600, "avg_weight_bits": 8.0},
    {"val": 0.895, "cycles": 30.0, "size_bits": 500, "avg_weight_bits": 6.0},
    {"val": 0.80, "cycles": 25.0, "size_bits": 300, "avg_weight_bits": 4.0},
    {"val": 0.85, "cycles": 40.0, "size_bits": 300, "avg_weight_bits": 4.0},
]


def test_pareto_front_per_cost():
    assert search.pareto_front(CANDIDATES, "cycles") == [3, 2, 1]
    assert search.pareto_front(CANDIDATES, "size_bits") == [4, 2, 1]


def test_choose_cheapest_within_tolerance_or_best_otherwise():
    assert search.choose(CANDIDATES, 0.90, 0.01) == (2, True)
    assert search.choose(CANDIDATES, 0.90, 0.001) == (1, True)
    assert search.choose(CANDIDATES, 0.95, 0.01) == (0, False)


def test_run_rejects_bad_arguments():
    with pytest.raises(ValueError, match="valid NETs are"):
        search.run("lenet")
    with pytest.raises(ValueError, match="strategy must be 'greedy' or 'tuner', not 'grid'"):
        search.run("dscnn", strategy="grid")
    with pytest.raises(ValueError, match=r"bits \[2\]: choose a non-empty subset of \(4, 8, 16\)"):
        search.run("dscnn", bits=(2,))


@pytest.fixture(scope="module")
def tiny_kws(tmp_path_factory):
    from quant import proxy
    return proxy.generate("dscnn", tmp_path_factory.mktemp("kws") / "sc", progress=False, per_class=4)


@pytest.mark.ml
@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["greedy", "tuner"])
def test_search_smoke_writes_pareto_and_mixed_config(tiny_kws, tmp_path, monkeypatch, strategy):
    monkeypatch.chdir(tmp_path)
    summary = search.run("dscnn", tiny_kws, strategy=strategy, max_candidates=2, trials=2, granularity="type",
                         search_acts=False, bits=(8, 4), qat_epochs=1, ft_epochs=1, float_epochs=1,
                         out=tmp_path / "models", progress=False)
    written = json.loads((tmp_path / "build" / "quant" / "dscnn-pareto.json").read_text())
    assert written["dataset"] == f"proxy (synthesized, not MLPerf): {tiny_kws}"
    # greedy: uniform 8 and 4, then 4 weight groups (conv, dw, pw, fc) in 2 steps; tuner: 2 trials
    assert len(written["candidates"]) == (4 if strategy == "greedy" else 2)
    assert written["chosen"] == summary["chosen"]
    chosen = PrecisionConfig.load(tmp_path / "models" / "dscnn-mixed.json")
    assert chosen.to_dict() == written["candidates"][written["chosen"]]["precision"]
    if strategy == "greedy":
        uniform4 = PrecisionConfig.from_dict(written["candidates"][1]["precision"])
        assert {(p.weight_bits, p.act_bits) for p in uniform4.layers.values()} == {(4, 4), (None, 4)}
        assert written["candidates"][-1]["avg_weight_bits"] == 4.0   # every weight group lowered by the end
