"""The four MLPerf Tiny reference nets, as float Keras and as QKeras models configured by a :class:`PrecisionConfig`.

Each architecture is written once (the ``_dscnn`` ... ``_fcae`` functions) against a small builder interface; three
builders turn it into a float Keras model (:func:`build_float`), a QKeras model (:func:`build_quant`) or just the list
of quantized layer names (:func:`quantized_layers`, no TensorFlow needed). The float and quantized models use the same
layer names, so :func:`transfer_weights` can copy a trained float model into its quantized twin.

Quantized form
--------------
* The input is quantized by a ``QActivation`` named ``"input"``.
* Conv / depthwise conv + batch norm are one ``QConv2DBatchnorm`` / ``QDepthwiseConv2DBatchnorm`` (batch norm folded
  into the weights the layer quantizes), with the output quantizer as its ``activation``: ``quantized_relu`` after a
  ReLU, ``quantized_bits`` (signed) where the reference has no ReLU.
* Weights are ``quantized_bits(b, i, alpha=1)`` (power-of-two scale), biases ``quantized_bits(bias_bits, .., alpha=1)``
  with exactly ``f_in + f_w`` fractional bits, i.e. on the accumulator grid.
* FC-AutoEncoder: QKeras 0.9.0 has no ``QDenseBatchnorm``, so its quantized dense layers are plain ``QDense`` and the
  float model's batch norms are folded into them by :func:`transfer_weights` (``W * g/sqrt(v+eps)``,
  ``(b - m) * g/sqrt(v+eps) + beta``). Its quantized model therefore has 9 * 4 * C fewer parameters (the BN ones).
* The residual add of ResNet-8 is a Keras ``Add`` (exact: it adds two grids) followed by a ``QActivation`` named after
  the block; pooling is ``QAveragePooling2D`` with its output quantizer as ``activation``.
* Every model ends with a softmax ``Activation`` (except FC-AE); the exported integer graph stops before it.
"""

from dataclasses import dataclass

from .precision import PrecisionConfig

__all__ = [
    "NetSpec", "NETS", "net_spec", "quantized_layers", "quantized_graph", "build_float", "build_quant",
    "transfer_weights", "randomize_batchnorm",
]


@dataclass(frozen=True)
class NetSpec:
    """What a net consumes and produces.

    Attributes
    ----------
    name : str
    input_shape : tuple of int
        One sample, without the batch axis (``NHWC`` for images, ``(640,)`` for FC-AE).
    outputs : int
        Classes (the logits) or, for the auto-encoder, reconstructed features.
    input_signed : bool
        Whether the input quantizer is signed (``quantized_bits``) or unsigned (``quantized_relu``, images in [0, 1]).
    reference_params : int
        Parameter count of the MLPerf Tiny reference float model.
    task : str
    """

    name: str
    input_shape: tuple
    outputs: int
    input_signed: bool
    reference_params: int
    task: str


NETS = {
    "dscnn": NetSpec("dscnn", (49, 10, 1), 12, True, 24_908, "keyword spotting (Speech Commands v2, 49x10 MFCC)"),
    "resnet8": NetSpec("resnet8", (32, 32, 3), 10, False, 78_666, "image classification (CIFAR-10)"),
    "mobilenetv1": NetSpec("mobilenetv1", (96, 96, 3), 2, False, 221_794, "visual wake words (person / no person)"),
    "fcae": NetSpec("fcae", (640,), 640, True, 269_992, "anomaly detection (ToyADMOS, 5x128 log-mel frames)"),
}


def net_spec(net):
    """The :class:`NetSpec` of ``net``; ``ValueError`` listing the valid names otherwise."""
    try:
        return NETS[net]
    except (KeyError, TypeError):
        raise ValueError(f"unknown net {net!r}; choose one of {', '.join(NETS)}") from None


# -- the architectures (MLPerf Tiny reference models) ------------------------------------------------------------------

def _dscnn(b):
    x = b.input()
    x = b.conv("conv1", x, 64, (10, 4), strides=2)
    x = b.dropout(x, 0.2)
    for i in range(1, 5):
        x = b.dwconv(f"dw{i}", x)
        x = b.conv(f"pw{i}", x, 64, 1)
    x = b.dropout(x, 0.4)
    x = b.avg_pool("pool", x, (24, 5))                 # the reference pools (49//2, 10//2) of the 25x5 map
    return b.classifier("fc", x)


def _resnet8(b):
    x = b.input()
    x = b.conv("conv1", x, 16, 3)
    for stack, filters in enumerate((16, 32, 64), start=1):
        s = f"s{stack}_"
        stride = 1 if stack == 1 else 2
        y = b.conv(s + "conv1", x, filters, 3, strides=stride)
        y = b.conv(s + "conv2", y, filters, 3, relu=False)
        if stack > 1:
            x = b.conv(s + "short", x, filters, 1, strides=stride, relu=False, batchnorm=False)
        x = b.add(s + "add", x, y)
    x = b.avg_pool("pool", x, 8)
    return b.classifier("fc", x)


def _mobilenetv1(b):
    x = b.input()
    filters = 8                                        # 32 * alpha, alpha = 0.25
    x = b.conv("conv1", x, filters, 3, strides=2)
    strides = (1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)
    for i, stride in enumerate(strides, start=1):
        x = b.dwconv(f"dw{i}", x, strides=stride)
        if stride == 2 or i == 1:
            filters *= 2
        x = b.conv(f"pw{i}", x, filters, 1)
    x = b.avg_pool("pool", x, 3)
    return b.classifier("fc", x)


def _fcae(b):
    x = b.input()
    for name in ("enc1", "enc2", "enc3", "enc4"):
        x = b.dense(name, x, 128)
    x = b.dense("bottleneck", x, 8)
    for name in ("dec1", "dec2", "dec3", "dec4"):
        x = b.dense(name, x, 128)
    return b.dense("out", x, 640, batchnorm=False, relu=False)


_ARCHS = {"dscnn": _dscnn, "resnet8": _resnet8, "mobilenetv1": _mobilenetv1, "fcae": _fcae}


# -- builders ----------------------------------------------------------------------------------------------------------

class _NameRecorder:
    """Builder that only records the quantized tensors: ``layers = {name: "weights" | "activation"}``, and for each
    the entries it reads (``inputs``) and whether its values are signed (``signed``)."""

    def __init__(self, spec):
        self.spec = spec
        self.layers, self.inputs, self.signed = {}, {}, {}

    def _record(self, name, kind, sources, signed):
        self.layers[name], self.inputs[name], self.signed[name] = kind, list(sources), signed
        return name

    def input(self):
        return self._record("input", "activation", [], self.spec.input_signed)

    def conv(self, name, x, filters, kernel, strides=1, relu=True, batchnorm=True):
        return self._record(name, "weights", [x], not relu)

    def dwconv(self, name, x, strides=1):
        return self._record(name, "weights", [x], False)

    def dense(self, name, x, units, batchnorm=True, relu=True):
        return self._record(name, "weights", [x], not relu)

    def classifier(self, name, x):
        return self._record(name, "weights", [x], True)

    def avg_pool(self, name, x, pool):
        return self._record(name, "activation", [x], self.signed[x])

    def add(self, name, x, y):
        return self._record(name, "activation", [x, y], False)

    def dropout(self, x, rate):
        return x


class _FloatBuilder:
    """Builder of the float Keras reference model (conv, BN and ReLU as separate layers)."""

    def __init__(self, spec, dropout=True):
        from tensorflow import keras
        self.k, self.spec, self.use_dropout = keras, spec, dropout

    def input(self):
        self.inputs = self.k.Input(self.spec.input_shape, name="x")
        return self.inputs

    def _finish(self, name, x, batchnorm, relu):
        L = self.k.layers
        if batchnorm:
            x = L.BatchNormalization(name=name + "_bn")(x)
        return L.Activation("relu", name=name + "_relu")(x) if relu else x

    def conv(self, name, x, filters, kernel, strides=1, relu=True, batchnorm=True):
        x = self.k.layers.Conv2D(filters, kernel, strides=strides, padding="same", name=name)(x)
        return self._finish(name, x, batchnorm, relu)

    def dwconv(self, name, x, strides=1):
        x = self.k.layers.DepthwiseConv2D(3, strides=strides, padding="same", name=name)(x)
        return self._finish(name, x, True, True)

    def dense(self, name, x, units, batchnorm=True, relu=True):
        x = self.k.layers.Dense(units, name=name)(x)
        return self._finish(name, x, batchnorm, relu)

    def add(self, name, x, y):
        x = self.k.layers.Add(name=name + "_sum")([x, y])
        return self.k.layers.Activation("relu", name=name)(x)

    def avg_pool(self, name, x, pool):
        return self.k.layers.AveragePooling2D(pool, name=name)(x)

    def dropout(self, x, rate):
        return self.k.layers.Dropout(rate)(x) if self.use_dropout else x

    def classifier(self, name, x):
        x = self.k.layers.Flatten(name="flatten")(x)
        x = self.k.layers.Dense(self.spec.outputs, name=name)(x)
        return self.k.layers.Activation("softmax", name="softmax")(x)


@dataclass(frozen=True)
class _QTensor:
    """A QKeras tensor and the fixed-point grid of its values."""

    tensor: object
    frac: int
    signed: bool


class _QuantBuilder(_FloatBuilder):
    """Builder of the QKeras model; every quantizer comes from the :class:`PrecisionConfig`."""

    def __init__(self, spec, precision, dropout=True, ema_freeze_delay=None):
        super().__init__(spec, dropout)
        import qkeras
        self.q, self.precision, self.ema_freeze_delay = qkeras, precision, ema_freeze_delay

    def _act(self, bits, integer, signed):
        """``(quantizer, frac)`` of an activation: signed ``quantized_bits`` or unsigned ``quantized_relu``."""
        if signed:
            return self.q.quantized_bits(bits, integer, alpha=1), bits - 1 - integer
        return self.q.quantized_relu(bits, integer), bits - integer

    def _weights(self, name, x):
        """Weight quantizer, bias quantizer (on the accumulator grid) and the layer precision."""
        p = self.precision[name]
        f_w = p.weight_bits - 1 - p.weight_integer
        f_acc = x.frac + f_w
        kernel_q = self.q.quantized_bits(p.weight_bits, p.weight_integer, alpha=1)
        bias_q = self.q.quantized_bits(p.bias_bits, p.bias_bits - 1 - f_acc, alpha=1)
        return kernel_q, bias_q, p

    def input(self):
        self.inputs = self.k.Input(self.spec.input_shape, name="x")
        p = self.precision["input"]
        quantizer, frac = self._act(p.act_bits, p.act_integer, self.spec.input_signed)
        return _QTensor(self.q.QActivation(quantizer, name="input")(self.inputs), frac, self.spec.input_signed)

    def conv(self, name, x, filters, kernel, strides=1, relu=True, batchnorm=True):
        kernel_q, bias_q, p = self._weights(name, x)
        act, frac = self._act(p.act_bits, p.act_integer, not relu)
        common = dict(strides=strides, padding="same", kernel_quantizer=kernel_q, bias_quantizer=bias_q,
                      activation=act, name=name)
        if batchnorm:
            layer = self.q.QConv2DBatchnorm(filters, kernel, ema_freeze_delay=self.ema_freeze_delay, **common)
        else:
            layer = self.q.QConv2D(filters, kernel, **common)
        return _QTensor(layer(x.tensor), frac, not relu)

    def dwconv(self, name, x, strides=1):
        kernel_q, bias_q, p = self._weights(name, x)
        act, frac = self._act(p.act_bits, p.act_integer, False)
        layer = self.q.QDepthwiseConv2DBatchnorm(
            3, strides=strides, padding="same", depthwise_quantizer=kernel_q, bias_quantizer=bias_q,
            activation=act, ema_freeze_delay=self.ema_freeze_delay, name=name)
        return _QTensor(layer(x.tensor), frac, False)

    def dense(self, name, x, units, batchnorm=True, relu=True):
        # batchnorm is folded into the QDense weights by transfer_weights (no QDenseBatchnorm in QKeras 0.9.0)
        kernel_q, bias_q, p = self._weights(name, x)
        act, frac = self._act(p.act_bits, p.act_integer, not relu)
        layer = self.q.QDense(units, kernel_quantizer=kernel_q, bias_quantizer=bias_q, activation=act, name=name)
        return _QTensor(layer(x.tensor), frac, not relu)

    def add(self, name, x, y):
        total = self.k.layers.Add(name=name + "_sum")([x.tensor, y.tensor])
        p = self.precision[name]
        act, frac = self._act(p.act_bits, p.act_integer, False)
        return _QTensor(self.q.QActivation(act, name=name)(total), frac, False)

    def avg_pool(self, name, x, pool):
        p = self.precision[name]
        act, frac = self._act(p.act_bits, p.act_integer, x.signed)
        return _QTensor(self.q.QAveragePooling2D(pool, activation=act, name=name)(x.tensor), frac, x.signed)

    def dropout(self, x, rate):
        return _QTensor(super().dropout(x.tensor, rate), x.frac, x.signed)

    def classifier(self, name, x):
        x = _QTensor(self.k.layers.Flatten(name="flatten")(x.tensor), x.frac, x.signed)
        x = self.dense(name, x, self.spec.outputs, batchnorm=False, relu=False)
        return self.k.layers.Activation("softmax", name="softmax")(x.tensor)


# -- public API --------------------------------------------------------------------------------------------------------

def quantized_layers(net):
    """``{layer name: "weights" | "activation"}`` of every quantized tensor of ``net``, in graph order."""
    recorder = _NameRecorder(net_spec(net))
    _ARCHS[net](recorder)
    return dict(recorder.layers)


def quantized_graph(net):
    """How the quantized tensors of ``net`` connect, without TensorFlow.

    Returns
    -------
    dict
        ``{name: {"kind": "weights" | "activation", "inputs": [entries read], "signed": bool}}`` in graph order
        (the keys of :func:`quantized_layers`); ``signed`` says whether the entry's output quantizer is signed
        (``quantized_bits``) or a ReLU (``quantized_relu``).
    """
    recorder = _NameRecorder(net_spec(net))
    _ARCHS[net](recorder)
    return {name: {"kind": kind, "inputs": recorder.inputs[name], "signed": recorder.signed[name]}
            for name, kind in recorder.layers.items()}


def build_float(net, dropout=True):
    """The float Keras reference model of ``net`` (conv -> BatchNormalization -> ReLU, named ``<layer>_bn/_relu``).

    Parameters
    ----------
    net : str
        One of :data:`NETS`.
    dropout : bool
        Keep the reference's dropout layers (DS-CNN only has any).
    """
    from tensorflow import keras
    builder = _FloatBuilder(net_spec(net), dropout)
    out = _ARCHS[net](builder)
    return keras.Model(builder.inputs, out, name=net)


def build_quant(net, precision, dropout=True, ema_freeze_delay=None):
    """The QKeras model of ``net`` with every quantizer taken from ``precision``.

    Parameters
    ----------
    net : str
        One of :data:`NETS`.
    precision : PrecisionConfig or int
        Per-layer bit-widths; an int ``b`` means ``PrecisionConfig.uniform(net, b)``.
    dropout : bool
        Keep the reference's dropout layers.
    ema_freeze_delay : int, optional
        Passed to the ``Q*Batchnorm`` layers: training steps after which batch-norm statistics freeze.
    """
    from tensorflow import keras
    spec = net_spec(net)
    if not isinstance(precision, PrecisionConfig):
        precision = PrecisionConfig.uniform(net, precision)
    if precision.net != net:
        raise ValueError(f"precision config is for {precision.net!r}, not {net!r}; "
                         f"use PrecisionConfig.uniform({net!r}, bits) or load the config made for {net!r}")
    builder = _QuantBuilder(spec, precision, dropout, ema_freeze_delay)
    out = _ARCHS[net](builder)
    if isinstance(out, _QTensor):
        out = out.tensor
    return keras.Model(builder.inputs, out, name=f"{net}_quant")


def transfer_weights(float_model, qmodel):
    """Copy a float model's weights into its quantized twin (same net), folding FC-AE's dense batch norms.

    Conv layers with batch norm get ``[kernel, bias, gamma, beta, moving_mean, moving_variance]`` (QKeras folds them
    itself); QDense layers whose float twin has a batch norm get the folded ``kernel * s`` and ``(bias - m) * s + beta``
    with ``s = gamma / sqrt(moving_variance + epsilon)``; other layers are copied as they are.
    """
    import numpy as np
    import qkeras
    names = {layer.name for layer in float_model.layers}
    for layer in qmodel.layers:
        if not layer.weights or layer.name not in names:
            continue
        src = float_model.get_layer(layer.name).get_weights()
        bn = float_model.get_layer(layer.name + "_bn") if layer.name + "_bn" in names else None
        if isinstance(layer, (qkeras.QConv2DBatchnorm, qkeras.QDepthwiseConv2DBatchnorm)):
            gamma, beta, mean, var = bn.get_weights()
            by_name = {"kernel": src[0], "depthwise_kernel": src[0], "bias": src[1], "gamma": gamma, "beta": beta,
                       "moving_mean": mean, "moving_variance": var}
            layer.set_weights([by_name.get(_short_name(w), value)        # "iteration" keeps its value
                               for w, value in zip(layer.weights, layer.get_weights())])
        elif bn is not None:
            gamma, beta, mean, var = bn.get_weights()
            scale = gamma / np.sqrt(var + bn.epsilon)
            layer.set_weights([src[0] * scale, (src[1] - mean) * scale + beta])
        else:
            layer.set_weights(src)


def _short_name(variable):
    """``"conv1/batch_normalization/gamma:0"`` -> ``"gamma"``."""
    return variable.name.rsplit("/", 1)[-1].split(":")[0]


def randomize_batchnorm(model, seed=0, calibration_inputs=None):
    """Give every batch norm of ``model`` random (seeded) gamma and beta, and non-trivial moving statistics.

    With ``calibration_inputs`` the moving mean and variance of each batch norm become the statistics of its input on
    those samples (layer by layer, so each sees the already calibrated layers before it): activations then keep a
    healthy range through deep nets even with random weights. Without them the statistics are random too. Used by
    tests and by the untrained shipped models, so that batch-norm folding is far from the identity.
    """
    import numpy as np
    from tensorflow import keras
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        bn = getattr(layer, "batchnorm", layer)
        if type(bn).__name__ != "BatchNormalization":
            continue
        if calibration_inputs is not None and bn is not layer:
            raise TypeError(f"calibrating {layer.name!r} needs its batch norm as a separate layer: pass the float "
                            f"model (build_float), then copy it with transfer_weights")
        c = bn.gamma.shape[0]
        gamma, beta = rng.uniform(0.5, 1.5, c), rng.normal(0.0, 0.2, c)
        if calibration_inputs is None:
            mean, var = rng.normal(0.0, 0.2, c), rng.uniform(0.5, 2.0, c)
        else:
            h = keras.Model(model.inputs, bn.input)(calibration_inputs, training=False).numpy()
            axes = tuple(range(h.ndim - 1))
            mean, var = h.mean(axis=axes), h.var(axis=axes)
        bn.set_weights([gamma, beta, mean, var])
