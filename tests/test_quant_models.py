"""The four MLPerf Tiny nets: reference parameter counts, quantizers taken from the precision config, weight copy."""

import numpy as np
import pytest

pytestmark = pytest.mark.ml

tf = pytest.importorskip("tensorflow")
qkeras = pytest.importorskip("qkeras")

from quant.models import NETS, build_float, build_quant, randomize_batchnorm, transfer_weights  # noqa: E402
from quant.precision import LayerPrecision, PrecisionConfig                                   # noqa: E402


def _batchnorm_channels(model):
    return [layer.gamma.shape[0] for layer in model.layers if isinstance(layer, tf.keras.layers.BatchNormalization)]


@pytest.mark.parametrize("net", list(NETS))
def test_parameter_counts_match_the_mlperf_tiny_references(net):
    float_model = build_float(net)
    assert float_model.count_params() == NETS[net].reference_params      # 24,908 / 78,666 / 221,794 / 269,992
    qmodel = build_quant(net, 8)
    folded = sum(isinstance(l, (qkeras.QConv2DBatchnorm, qkeras.QDepthwiseConv2DBatchnorm)) for l in qmodel.layers)
    if net == "fcae":
        # QDense has no batch norm: the float model's 9 batch norms (4 parameters per channel) are folded away
        assert qmodel.count_params() == NETS[net].reference_params - 4 * sum(_batchnorm_channels(float_model))
    else:
        # each Q*Batchnorm layer adds one scalar step counter ("iteration") to the reference's parameters
        assert qmodel.count_params() == NETS[net].reference_params + folded
    assert qmodel.output_shape[1:] == float_model.output_shape[1:]


def test_quantizers_come_from_the_precision_config():
    cfg = PrecisionConfig.uniform("dscnn", 8).replace(
        conv1=LayerPrecision(act_bits=4, weight_bits=16, bias_bits=32, act_int=1),
        input=LayerPrecision(act_bits=16, act_int=7))
    qmodel = build_quant("dscnn", cfg)
    conv1 = qmodel.get_layer("conv1")
    assert (conv1.kernel_quantizer_internal.bits, conv1.kernel_quantizer_internal.integer) == (16, 0)
    assert (conv1.activation.bits, conv1.activation.integer) == (4, 1)
    # bias on the accumulator grid: f_in + f_w = (16-1-7) + (16-1-0) = 23 fractional bits of 32
    assert (conv1.bias_quantizer_internal.bits, conv1.bias_quantizer_internal.integer) == (32, 32 - 1 - 23)
    assert isinstance(qmodel.get_layer("input").quantizer, qkeras.quantized_bits)       # MFCC input is signed
    assert isinstance(build_quant("resnet8", 8).get_layer("input").quantizer, qkeras.quantized_relu)   # pixels


def test_build_quant_refuses_another_nets_config():
    with pytest.raises(ValueError, match="precision config is for 'fcae', not 'dscnn'"):
        build_quant("dscnn", PrecisionConfig.uniform("fcae", 8))


def test_transfer_folds_fcae_batchnorm_into_qdense():
    float_model = build_float("fcae")
    randomize_batchnorm(float_model, seed=3)
    qmodel = build_quant("fcae", 16)
    transfer_weights(float_model, qmodel)
    dense, bn = float_model.get_layer("enc2"), float_model.get_layer("enc2_bn")
    x = np.random.default_rng(0).normal(size=(5, 128)).astype(np.float32)
    reference = bn(dense(x), training=False).numpy()
    w, b = qmodel.get_layer("enc2").get_weights()
    # float folding is a real-number identity, so a float tolerance is the right check here
    np.testing.assert_allclose(x @ w + b, reference, rtol=1e-4, atol=1e-5)


def test_transfer_copies_conv_and_batchnorm_into_folding_layers():
    float_model = build_float("dscnn")
    randomize_batchnorm(float_model, seed=4)
    qmodel = build_quant("dscnn", 8)
    transfer_weights(float_model, qmodel)
    layer = qmodel.get_layer("dw2")
    np.testing.assert_array_equal(layer.depthwise_kernel.numpy(), float_model.get_layer("dw2").get_weights()[0])
    np.testing.assert_array_equal(layer.batchnorm.moving_variance.numpy(),
                                  float_model.get_layer("dw2_bn").moving_variance.numpy())


def test_calibration_needs_the_float_model():
    with pytest.raises(TypeError, match="pass the float model"):
        randomize_batchnorm(build_quant("dscnn", 8), calibration_inputs=np.zeros((2, 49, 10, 1), np.float32))
