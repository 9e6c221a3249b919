"""hw.golden.net: the export format's loader, validator and runner (numpy only, no TensorFlow)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hw.golden import net as gnet

MODELS = Path(__file__).resolve().parent.parent / "models"
# every export under models/ (models/uniform<B>/ included), not the precision configs models/*-mixed.json
SHIPPED = sorted(str(p.relative_to(MODELS).with_suffix("")) for p in MODELS.rglob("*.json")
                 if p.with_suffix(".npz").is_file())


def _desc(shape, bits, signed, frac):
    return {"shape": list(shape), "bits": bits, "signed": signed, "frac": frac}


def _tiny(tmp_path, x, vectors=None):
    """input (2 features, 8-bit signed, f=1) -> dense 1 output (w f=2, bias on acc grid f=3) -> 4-bit signed f=1."""
    meta = {
        "net": "tiny", "precision": {}, "inputs": ["input"], "outputs": ["fc"],
        "tensors": {"input": _desc([2], 8, True, 1), "fc": _desc([1], 4, True, 1)},
        "arrays": {"fc/w": _desc([2, 1], 8, True, 2), "fc/b": _desc([1], 16, True, 3),
                   "fc/multiplier": _desc([1], 1, False, 0), "fc/shift": _desc([1], 8, True, 0)},
        "nodes": [{"name": "input", "op": "input", "inputs": []},
                  {"name": "fc", "op": "dense", "inputs": ["input"], "weights": "fc/w", "bias": "fc/b",
                   "acc_frac": 3, "acc_bits": 16, "multiplier": "fc/multiplier", "shift": "fc/shift", "relu": False}],
        "vectors": {"count": len(x), "tensors": ["input"]},
    }
    arrays = {"fc/w": np.array([[2], [1]]), "fc/b": np.array([4]), "fc/multiplier": np.array([1]),
              "fc/shift": np.array([2]), "vectors/input": np.asarray(x)}
    gnet.save(tmp_path / "tiny", meta, arrays)
    return gnet.load(tmp_path / "tiny")


def test_runner_requantizes_half_to_even_and_saturates(tmp_path):
    # acc = 2*x0 + x1 + 4 on grid 2**-3; output grid 2**-1: acc / 4 rounded half-to-even, saturated to 4-bit [-8, 7]
    x = np.array([[2, -2], [1, 0], [3, 0], [0, 0], [40, 0], [-40, 0]])
    # acc:         6 -> 1.5 -> 2, 6 -> 2, 10 -> 2.5 -> 2, 4 -> 1, 84 -> 21 -> 7 (saturated), -76 -> -19 -> -8
    expected = np.array([[2], [2], [2], [1], [7], [-8]])
    net = _tiny(tmp_path, x)
    np.testing.assert_array_equal(gnet.run(net, x, return_all=False), expected)
    np.testing.assert_array_equal(gnet.run(net, x)["input"], x)


def test_runner_refuses_bad_inputs(tmp_path):
    net = _tiny(tmp_path, [[0, 0]])
    with pytest.raises(ValueError, match=r"x must have shape \(N, 2\) for tiny, got \(1, 3\)"):
        gnet.run(net, [[0, 0, 0]])
    with pytest.raises(ValueError, match=r"x must fit 8-bit signed \[-128, 127\], but holds 128"):
        gnet.run(net, [[128, 0]])


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_models_reproduce_their_qkeras_vectors(name):
    net = gnet.load(MODELS / name)
    mismatches = gnet.check_vectors(net)
    assert set(mismatches) == {n["name"] for n in net.nodes}
    assert mismatches == {t: 0 for t in mismatches}


def test_dscnn_is_shipped():
    assert "dscnn" in SHIPPED


@pytest.fixture
def dscnn_copy(tmp_path):
    for suffix in (".json", ".npz"):
        shutil.copy(MODELS / ("dscnn" + suffix), tmp_path / ("dscnn" + suffix))
    return tmp_path / "dscnn"


def _edit_json(prefix, change):
    path = Path(str(prefix) + ".json")
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


def _edit_npz(prefix, change):
    path = str(prefix) + ".npz"
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    np.savez(path, **arrays)


def _set(key, value):
    return lambda meta: meta.__setitem__(key, value)


@pytest.mark.parametrize("change, message", [
    (_set("version", 2), "format version 2 is not supported by this loader (version 1); re-export"),
    (_set("format", "onnx"), "not a stacc net export: expected \"format\": 'stacc-net', got 'onnx'"),
    (lambda m: m.pop("nodes"), "the JSON is missing the field 'nodes'"),
    (lambda m: m["nodes"][1].pop("acc_bits"), "node 'conv1' (conv2d) is missing the field 'acc_bits'"),
    (lambda m: m["nodes"][1].update(op="conv3d"), "node 'conv1' has unknown op 'conv3d'"),
    (lambda m: m["nodes"][2].update(inputs=["pw1"]), "node 'dw1' reads tensor 'pw1' before any node writes it"),
    (lambda m: m["arrays"]["conv1/w"].update(shape=[4, 10, 1, 64]),
     "array 'conv1/w' has shape (10, 4, 1, 64) but the JSON declares (4, 10, 1, 64)"),
    (lambda m: m["arrays"]["conv1/w"].update(bits=4), "conv1/w must fit 4-bit signed [-8, 7]"),
    (lambda m: m["tensors"]["fc"].pop("frac"), "description of 'fc' is missing the field 'frac'"),
    (_set("outputs", ["logits"]), "input/output tensor 'logits' is not written by any node"),
    (lambda m: m["vectors"].update(count=9), "array 'vectors/input' has shape (8, 49, 10, 1) but the JSON declares "
                                             "(9, 49, 10, 1)"),
])
def test_malformed_json_is_refused_naming_the_field(dscnn_copy, change, message):
    _edit_json(dscnn_copy, change)
    with pytest.raises(gnet.NetFormatError) as err:
        gnet.load(dscnn_copy)
    assert message in str(err.value)
    assert str(dscnn_copy) in str(err.value)


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("pw2/b"), "the npz is missing the array 'pw2/b' declared in the JSON"),
    (lambda a: a.update({"fc/w": a["fc/w"].astype(np.float32)}), "array 'fc/w' must hold integers, got dtype float32"),
    (lambda a: a.pop("vectors/pool"), "test vectors of tensor 'pool' are missing"),
])
def test_malformed_npz_is_refused_naming_the_array(dscnn_copy, change, message):
    _edit_npz(dscnn_copy, change)
    with pytest.raises(gnet.NetFormatError, match=None) as err:
        gnet.load(dscnn_copy)
    assert message in str(err.value)


def test_missing_files_and_broken_json(tmp_path, dscnn_copy):
    with pytest.raises(FileNotFoundError, match=r"nothing\.json does not exist; export the net first"):
        gnet.load(tmp_path / "nothing")
    Path(str(dscnn_copy) + ".json").write_text("{")
    with pytest.raises(gnet.NetFormatError, match="dscnn.json: not valid JSON"):
        gnet.load(dscnn_copy)
