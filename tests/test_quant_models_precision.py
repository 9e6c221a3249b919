"""PrecisionConfig: per-layer widths, JSON round trip, and the errors a user can cause (no TensorFlow needed)."""

import json

import pytest

from quant.models import NETS, quantized_layers
from quant.precision import LayerPrecision, PrecisionConfig


def test_layer_names_follow_the_architectures():
    layers = quantized_layers("dscnn")
    assert list(layers) == ["input", "conv1"] + [f"{k}{i}" for i in range(1, 5) for k in ("dw", "pw")] + ["pool", "fc"]
    assert [n for n, kind in layers.items() if kind == "activation"] == ["input", "pool"]
    resnet = quantized_layers("resnet8")
    assert [n for n in resnet if n.endswith(("_add", "_short"))] == [
        "s1_add", "s2_short", "s2_add", "s3_short", "s3_add"]
    assert sum(n.startswith(("dw", "pw")) for n in quantized_layers("mobilenetv1")) == 26
    assert len(quantized_layers("fcae")) == 11


@pytest.mark.parametrize("net", list(NETS))
def test_uniform_round_trips_through_json(net, tmp_path):
    cfg = PrecisionConfig.uniform(net, 4)
    assert all(p.act_bits == 4 for p in cfg.layers.values())
    assert all(p.weight_bits in (4, None) for p in cfg.layers.values())
    mixed = cfg.replace(conv1=LayerPrecision(act_bits=8, weight_bits=16, bias_bits=32)) if "conv1" in cfg.layers \
        else cfg.replace(enc1=LayerPrecision(act_bits=8, weight_bits=16, bias_bits=32, act_int=4))
    mixed.save(tmp_path / "p.json")
    assert PrecisionConfig.load(tmp_path / "p.json") == mixed


def test_integer_bits_default_and_override():
    p = LayerPrecision(act_bits=8, weight_bits=4, bias_bits=32)
    assert (p.act_integer, p.weight_integer) == (3, 0)
    assert LayerPrecision(act_bits=8, act_int=1).act_integer == 1


@pytest.mark.parametrize("change, message", [
    (dict(conv1=LayerPrecision(act_bits=6, weight_bits=8, bias_bits=32)), "act_bits must be one of (4, 8, 16), not 6"),
    (dict(conv1=LayerPrecision(act_bits=8, weight_bits=8, bias_bits=8)), "bias_bits must be one of"),
    (dict(conv1=LayerPrecision(act_bits=8)), "'conv1' of 'dscnn' needs weight_bits"),
    (dict(pool=LayerPrecision(act_bits=8, weight_bits=8, bias_bits=32)), "'pool' of 'dscnn' has no weights"),
    (dict(conv9=LayerPrecision(act_bits=8)), "unknown ['conv9']"),
])
def test_bad_configs_are_refused_with_the_layer_named(change, message):
    with pytest.raises(ValueError) as err:
        PrecisionConfig.uniform("dscnn", 8).replace(**change)
    assert message in str(err.value)


def test_missing_layer_and_unknown_net():
    layers = dict(PrecisionConfig.uniform("dscnn", 8).layers)
    del layers["fc"]
    with pytest.raises(ValueError, match=r"missing \['fc'\]"):
        PrecisionConfig("dscnn", layers)
    with pytest.raises(ValueError, match="unknown net 'dscnnn'; choose one of dscnn, resnet8, mobilenetv1, fcae"):
        PrecisionConfig.uniform("dscnnn", 8)


def test_json_of_another_format_or_version_is_refused(tmp_path):
    data = PrecisionConfig.uniform("fcae", 8).to_dict()
    path = tmp_path / "p.json"
    path.write_text(json.dumps({**data, "version": 2}))
    with pytest.raises(ValueError, match="version 2 is not supported; expected 1"):
        PrecisionConfig.load(path)
    data["layers"]["enc1"]["wbits"] = 4
    with pytest.raises(ValueError, match=r"layer 'enc1': unknown fields \['wbits'\]"):
        PrecisionConfig.from_dict(data)
