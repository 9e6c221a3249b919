"""The integer export reproduces QKeras bit-exactly at every layer, for all four nets (hw.golden vs QKeras)."""

import numpy as np
import pytest

pytestmark = pytest.mark.ml

tf = pytest.importorskip("tensorflow")
qkeras = pytest.importorskip("qkeras")

from hw.golden import net as gnet                                                # noqa: E402
from quant.export import ExportError, export, export_untrained                   # noqa: E402
from quant.models import (NETS, build_float, build_quant, quantized_layers, randomize_batchnorm,   # noqa: E402
                          transfer_weights)
from quant.precision import LayerPrecision, PrecisionConfig                      # noqa: E402

SAMPLES = 100
# (weight bits, activation bits) cycled over the weighted layers: every 4/8 combination meets every neighbour
PATTERN = [(8, 8), (4, 8), (8, 4), (4, 4)]


def mixed_precision(net):
    """Small mixed precision: 4/8-bit weights and activations; the last layer 8-bit weights, 16-bit output."""
    layers, i = {}, 0
    names = list(quantized_layers(net).items())
    for name, kind in names:
        if kind == "weights":
            w, a = (8, 16) if name == names[-1][0] else PATTERN[i % len(PATTERN)]
            i += 1
            layers[name] = LayerPrecision(act_bits=a, weight_bits=w, bias_bits=24)
        else:
            layers[name] = LayerPrecision(act_bits=8 if name == "input" else 4 + 4 * (i % 2))
    return PrecisionConfig(net, layers)


def random_quant_model(net, precision, seed=0, bn_steps=3):
    """Seeded random weights, random calibrated BN, then a few training-mode steps that move QKeras's BN statistics."""
    tf.keras.utils.set_random_seed(seed)
    float_model = build_float(net)
    rng = np.random.default_rng(seed + 1)
    randomize_batchnorm(float_model, seed, calibration_inputs=inputs(net, 32, rng))
    qmodel = build_quant(net, precision)
    transfer_weights(float_model, qmodel)
    for _ in range(bn_steps):
        qmodel(inputs(net, 8, rng), training=True)
    return qmodel


def inputs(net, count, rng):
    spec = NETS[net]
    x = rng.normal(0.0, 1.0, (count, *spec.input_shape)).astype(np.float32)
    return x if spec.input_signed else np.abs(x)


@pytest.mark.parametrize("net", list(NETS))
def test_golden_reproduces_qkeras_at_every_layer(net, tmp_path):
    precision = mixed_precision(net)
    qmodel = random_quant_model(net, precision)
    x = inputs(net, SAMPLES, np.random.default_rng(7))
    exported = export(qmodel, precision, tmp_path / net, x)

    # QKeras's own integer outputs of every layer (computed here, independently of the exporter)
    tensors = exported.meta["vectors"]["tensors"]
    assert tensors == [n["name"] for n in exported.nodes] and exported.meta["vectors"]["count"] == SAMPLES
    probe = tf.keras.Model(qmodel.inputs, [qmodel.get_layer(n).output for n in tensors])
    qkeras_out = {n: v.astype(np.float64) * 2.0 ** exported.tensors[n]["frac"]
                  for n, v in zip(tensors, probe.predict(x, batch_size=50, verbose=0))}
    np.testing.assert_array_equal(gnet.quantize_input(exported, x), qkeras_out["input"])
    got = gnet.run(exported, qkeras_out["input"])
    for name in tensors:
        np.testing.assert_array_equal(got[name], qkeras_out[name], err_msg=f"{net}: layer {name}")
        np.testing.assert_array_equal(exported.vectors(name), got[name], err_msg=f"{net}: stored vectors of {name}")
    assert all(c == {"float32_exact": True, "mismatches": 0} for c in exported.meta["qkeras_check"].values())
    (out,) = exported.outputs
    # not trivial: the outputs vary from sample to sample (BN folding is checked separately)
    assert np.unique(got[out]).size > 10


def test_bn_folding_is_not_the_identity():
    qmodel = random_quant_model("dscnn", PrecisionConfig.uniform("dscnn", 8))
    layer = qmodel.get_layer("pw1")
    folded, _ = layer.get_folded_weights()
    assert np.max(np.abs(folded.numpy() - layer.kernel.numpy())) > 0.1


def test_untrained_export_is_reproducible(tmp_path):
    """`python -m quant.export` (seeded stand-in) writes the same integers every time."""
    a = export_untrained("dscnn", 8, tmp_path / "a", samples=2, seed=0)
    b = export_untrained("dscnn", 8, tmp_path / "b", samples=2, seed=0)
    assert a.meta == b.meta
    for key, value in a.arrays.items():
        np.testing.assert_array_equal(b.arrays[key], value, err_msg=key)


#: Nets `python -m quant.ship <net>` trained on proxy data, and the uniform widths it exports for each.
TRAINED = {"dscnn": (16, 8, 4), "resnet8": (8, 4), "mobilenetv1": (8, 4), "fcae": (8, 4)}


@pytest.mark.parametrize("net, bits", [(net, bits) for net, widths in TRAINED.items() for bits in (None, *widths)])
def test_shipped_exports_are_trained_and_self_consistent(net, bits):
    """The shipped exports (`python -m quant.ship <net>`) record their training on proxy data, reproduce their own
    test vectors in hw.golden, and have the precision they claim (mixed = models/<net>-mixed.json)."""
    shipped = gnet.load(f"models/{net}" if bits is None else f"models/uniform{bits}/{net}")
    training = shipped.meta["training"]
    assert training["dataset"].startswith("proxy") and training["command"].startswith(f"python -m quant.ship {net}")
    assert set(training["float_accuracy"]) == set(training["quantized_accuracy"]) == {"val", "test"}
    assert gnet.check_vectors(shipped) == {t: 0 for t in shipped.meta["vectors"]["tensors"]}
    exported = PrecisionConfig.from_dict(shipped.meta["precision"])
    expected = PrecisionConfig.load(f"models/{net}-mixed.json") if bits is None else \
        PrecisionConfig.uniform(net, bits)
    widths = lambda cfg: {n: (p.weight_bits, p.act_bits) for n, p in cfg.layers.items()}  # noqa: E731
    assert widths(exported) == widths(expected)
    # the engines have no left shift: every weighted layer's requant shift is >= 0 (quant.ship.no_left_shift)
    assert all(min(shipped.arrays[n["shift"]]) >= 0 for n in shipped.nodes if "weights" in n)


def test_export_refuses_unsupported_layers_and_quantizers(tmp_path):
    x = tf.keras.Input((4, 4, 1))
    q = qkeras.QActivation(qkeras.quantized_bits(8, 3, alpha=1), name="input")(x)
    y = tf.keras.layers.MaxPooling2D(name="maxpool")(q)
    with pytest.raises(ExportError, match=r"layer 'maxpool' \(MaxPooling2D\) is not supported"):
        export(tf.keras.Model(x, y), PrecisionConfig.uniform("fcae", 8), tmp_path / "m", np.zeros((1, 4, 4, 1)))
    y = qkeras.QDense(3, kernel_quantizer=qkeras.quantized_bits(4, 0, alpha="auto_po2"),
                      bias_quantizer=qkeras.quantized_bits(16, 5, alpha=1), name="fc")(tf.keras.layers.Flatten()(q))
    with pytest.raises(ExportError, match=r"layer .fc. weights: .* is not a power-of-two quantizer"):
        export(tf.keras.Model(x, y), PrecisionConfig.uniform("fcae", 8), tmp_path / "m", np.zeros((1, 4, 4, 1)))


def test_export_refuses_an_unquantized_input(tmp_path):
    x = tf.keras.Input((8,))
    y = qkeras.QDense(2, kernel_quantizer=qkeras.quantized_bits(8, 0, alpha=1),
                      bias_quantizer=qkeras.quantized_bits(16, 5, alpha=1), name="fc")(x)
    with pytest.raises(ExportError, match=r"layer 'fc' reads the unquantized tensor .* quantize the model input"):
        export(tf.keras.Model(x, y), PrecisionConfig.uniform("fcae", 8), tmp_path / "m", np.zeros((1, 8)))


def test_export_refuses_a_precision_config_the_model_was_not_built_with(tmp_path):
    qmodel = build_quant("fcae", 8)
    other = PrecisionConfig.uniform("fcae", 8).replace(enc2=LayerPrecision(act_bits=4, weight_bits=8, bias_bits=32))
    with pytest.raises(ValueError, match="layer 'enc2': the model's bit-widths differ from the precision config"):
        export(qmodel, other, tmp_path / "fcae", np.zeros((1, 640)))


def test_inexact_float32_layers_are_reported_and_the_exact_integers_stored(tmp_path):
    """16 x 16-bit dense layers exceed float32's 2**24: QKeras rounds, the export keeps the exact integers."""
    with pytest.warns(UserWarning, match="float32 accumulation is inexact"):
        exported = export_untrained("fcae", 16, tmp_path / "fcae", samples=8)
    check = exported.meta["qkeras_check"]
    assert not check["enc1"]["float32_exact"] and sum(c["mismatches"] for c in check.values()) > 0
    assert all(c["mismatches"] == 0 for c in check.values() if c["float32_exact"])
    assert set(gnet.check_vectors(exported).values()) == {0}
