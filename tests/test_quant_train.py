"""quant.train: precision parsing, metrics, and a 1-epoch smoke run of train -> QAT -> export on a tiny proxy."""

import json

import numpy as np
import pytest

from quant import data, train
from quant.precision import PrecisionConfig


def test_parse_precision_uniform_and_file(tmp_path):
    assert train.parse_precision("dscnn", "4").to_dict() == PrecisionConfig.uniform("dscnn", 4).to_dict()
    PrecisionConfig.uniform("fcae", 16).save(tmp_path / "fcae.json")
    assert train.parse_precision("fcae", str(tmp_path / "fcae.json"))["enc1"].weight_bits == 16
    with pytest.raises(ValueError, match="--precision 2: uniform precision must be one of"):
        train.parse_precision("dscnn", "2")
    with pytest.raises(FileNotFoundError, match="give 16, 8, 4 or a precision JSON"):
        train.parse_precision("dscnn", str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="is a config for 'fcae', not 'dscnn'"):
        train.parse_precision("dscnn", str(tmp_path / "fcae.json"))


def test_run_rejects_unknown_nets():
    with pytest.raises(ValueError, match="Unknown NET 'lenet'; valid NETs are: dscnn, resnet8, mobilenetv1, fcae"):
        train.run("lenet")


class Fixed:
    """A stand-in model whose predictions are given."""

    def __init__(self, out):
        self.out = out

    def predict(self, x, batch_size=None, verbose=0):
        return self.out


def dataset(**fields):
    empty = np.zeros((0, 1), np.float32)
    base = dict(name="test", classes=(), x_train=empty, y_train=empty, x_val=empty, y_val=empty,
                x_test=empty, y_test=empty)
    return data.Dataset(**{**base, **fields})


def test_accuracy_is_top1():
    ds = dataset(x_test=np.zeros((4, 1), np.float32), y_test=np.array([0, 1, 2, 1]))
    out = np.array([[.9, .1, 0], [.2, .7, .1], [.5, .4, .1], [0, 1, 0]])
    assert train.evaluate(Fixed(out), "dscnn", ds) == 0.75


def test_fcae_auc_averages_the_error_per_recording():
    # three recordings of two vectors; errors per recording 1, 4, 2.5 -> the anomaly (recording 1) ranks first,
    # the normal recording 2 (2.5) above the normal recording 0 (1): AUC = 1
    x = np.zeros((6, 2), np.float32)
    out = np.array([[1, 1], [1, 1], [2, 2], [2, 2], [1, 2], [1, 2]], np.float32)
    ds = dataset(x_test=x, y_test=np.array([0, 0, 1, 1, 0, 0]), test_groups=np.array([0, 0, 1, 1, 2, 2]))
    assert train.evaluate(Fixed(out), "fcae", ds) == 1.0
    out[4:] = 3.0   # recording 2 now scores 9 > 4: one of two normal/anomaly pairs is mis-ordered
    assert train.evaluate(Fixed(out), "fcae", ds) == 0.5
    assert train.evaluate(Fixed(out[:2]), "fcae", dataset(x_val=x[:2], y_val=np.zeros(2)), "val") == 1.0


def test_evaluate_refuses_an_empty_split():
    with pytest.raises(ValueError, match="empty test split"):
        train.evaluate(Fixed(None), "dscnn", dataset())


@pytest.mark.ml
def test_train_smoke_one_epoch_on_a_tiny_keyword_proxy(tmp_path, monkeypatch):
    from quant import proxy
    monkeypatch.chdir(tmp_path)
    root = proxy.generate("dscnn", tmp_path / "kws", progress=False, per_class=4)
    results = train.run("dscnn", root, epochs=1, qat_epochs=1, precision="8", out=tmp_path / "models", vectors=4,
                        progress=False)
    written = json.loads((tmp_path / "build" / "quant" / "dscnn.json").read_text())
    assert written == results
    assert written["dataset"] == f"proxy (synthesized, not MLPerf): {root}"
    exported = PrecisionConfig.from_dict(written["precision"])   # uniform 8 bits, calibrated integer bits
    assert {(p.weight_bits, p.act_bits) for p in exported.layers.values()} == {(8, 8), (None, 8)}
    assert all(p.act_int is not None for p in exported.layers.values())
    assert written["drop"] == written["float"] - written["quantized"]
    assert (tmp_path / "models" / "dscnn.npz").is_file() and (tmp_path / "models" / "dscnn.json").is_file()
    assert train.float_weights_path("dscnn").is_file()


def test_integer_bits_cover_the_range_and_keep_fractional_bits():
    assert [train._integer_bits(v, 8, 1) for v in (0.3, 1.0, 1.01, 2.0, 7.9, 8.0, 9.2)] == [0, 0, 1, 1, 3, 3, 4]
    assert train._integer_bits(1000.0, 8, 1) == 7 and train._integer_bits(1000.0, 4, 2) == 2


def test_calibrated_sets_every_quantizers_integer_bits():
    ranges = {name: {"act": 0.5, "weight": 0.5} for name in PrecisionConfig.uniform("dscnn", 8).layers}
    ranges["input"] = {"act": 7.7, "weight": None}
    ranges["conv1"] = {"act": 9.2, "weight": 1.7}
    ranges["dw1"] = {"act": 3.0, "weight": 2.1}
    for bits, conv1, dw1 in ((8, (4, 1), (2, 2)), (4, (3, 1), (2, 2))):
        config = train.calibrated(PrecisionConfig.uniform("dscnn", bits), ranges)
        assert (config["conv1"].act_int, config["conv1"].weight_int) == conv1
        assert (config["dw1"].act_int, config["dw1"].weight_int) == dw1
        assert config["input"].act_int == 3 and config["input"].weight_int is None
        assert (config["pw1"].act_int, config["pw1"].weight_int, config["pw1"].weight_bits) == (0, 0, bits)


@pytest.mark.ml
def test_calibration_measures_folded_weights_and_activation_ranges():
    from quant.models import build_float, randomize_batchnorm
    model = build_float("fcae")
    randomize_batchnorm(model, seed=1)
    x = np.random.default_rng(0).normal(0, 2, (50, 640)).astype(np.float32)
    ranges = train.calibration(model, dataset(x_train=x))
    assert ranges["input"] == {"act": float(np.percentile(np.abs(x), 99.99)), "weight": None}
    kernel = model.get_layer("enc1").get_weights()[0]
    bn = model.get_layer("enc1_bn")
    gamma, _, _, var = bn.get_weights()
    assert ranges["enc1"]["weight"] == float(np.max(np.abs(kernel * (gamma / np.sqrt(var + bn.epsilon)))))
    assert ranges["out"]["weight"] == float(np.max(np.abs(model.get_layer("out").get_weights()[0])))
    hidden = model.get_layer("enc1_relu").output
    import tensorflow as tf
    relu = tf.keras.Model(model.inputs, hidden).predict(x, verbose=0)
    assert ranges["enc1"]["act"] == float(np.percentile(np.abs(relu), 99.99))
