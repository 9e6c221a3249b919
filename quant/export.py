"""Bit-exact integer export of a QKeras model to the ``stacc-net`` format read by :mod:`hw.golden.net`.

Every Keras layer that computes something becomes one node; the integers are read from QKeras itself (its quantizers
applied to its own BN-folded weights), so the export holds exactly what QKeras computes with. The test vectors are
the exact integer results of :func:`hw.golden.net.run` on the quantized test inputs. Before saving, every golden
node is applied to QKeras's own inputs of that node and compared with QKeras's output: where QKeras's float32 is
provably exact (every accumulator below 2**24 grid units, true for 4/8-bit layers) a difference is an error; beyond
that (typically 16 x 16-bit layers) float32 rounds, the differences are counted in ``qkeras_check`` and warned about.

Grids: ``quantized_bits(b, i, alpha=1)`` is signed with ``b-1-i`` fractional bits, ``quantized_relu(b, i)`` unsigned
with ``b-i``. A weighted layer accumulates on ``acc_frac = f_in + f_w`` (the bias must not be finer) and requantizes
with ``multiplier = 1`` and ``shift = acc_frac - f_out`` per output channel.
"""

import warnings

import numpy as np

from hw.golden import check_range
from hw.golden import net as golden_net

from .precision import PrecisionConfig

__all__ = ["ExportError", "export", "export_untrained", "to_integers"]


class ExportError(ValueError):
    """The model uses something the integer export cannot represent exactly."""


def _grid(quantizer, what):
    """``(bits, signed, frac)`` of a power-of-two QKeras quantizer."""
    from qkeras import quantized_bits, quantized_relu
    if isinstance(quantizer, quantized_bits) and quantizer.alpha in (1, 1.0) and quantizer.keep_negative \
            and not quantizer.symmetric:
        return int(quantizer.bits), True, int(quantizer.bits) - 1 - int(quantizer.integer)
    if isinstance(quantizer, quantized_relu) and quantizer.negative_slope == 0 and not quantizer.use_sigmoid \
            and quantizer.relu_upper_bound is None:
        return int(quantizer.bits), False, int(quantizer.bits) - int(quantizer.integer)
    raise ExportError(f"{what}: {quantizer} is not a power-of-two quantizer the integer export can represent exactly; "
                      f"use quantized_bits(b, i, alpha=1) or quantized_relu(b, i)")


def to_integers(values, bits, signed, frac, what):
    """``values * 2**frac`` as int64, refusing values off the grid or outside the ``bits``-bit range."""
    scaled = np.asarray(values, dtype=np.float64) * 2.0 ** frac
    if not np.all(scaled == np.round(scaled)):
        bad = scaled[scaled != np.round(scaled)].flat[0]
        raise ExportError(f"{what}: value {bad} * 2**-{frac} is not on its grid of {frac} fractional bits (QKeras's "
                          f"float32 rounded it: keep this layer's accumulator below 2**24 grid units)")
    return check_range(scaled.astype(np.int64), bits, signed, what)


def _desc(shape, bits, signed, frac):
    return {"shape": [int(s) for s in shape], "bits": int(bits), "signed": bool(signed), "frac": int(frac)}


def _range_bits(lo, hi):
    """``(bits, signed)`` of the narrowest integer type holding ``[lo, hi]``."""
    if lo >= 0:
        return max(int(hi).bit_length(), 1), False
    return max(int(hi).bit_length(), int(-lo - 1).bit_length()) + 1, True


def _value_range(desc):
    bits, signed = desc["bits"], desc["signed"]
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


class _Exporter:
    """Walks a QKeras model's layers in graph order and collects the export's nodes, tensor grids and arrays."""

    def __init__(self, qmodel):
        import qkeras
        from tensorflow import keras
        self.q, self.k, self.model = qkeras, keras, qmodel
        self.nodes, self.tensors, self.arrays, self.descs = [], {}, {}, {}
        self.alias = {}              # Keras layer name -> tensor name, for layers that compute nothing
        self.outputs_of = {}         # tensor name -> Keras layer whose output it is (for the test vectors)

    def source(self, layer):
        """Names of the tensors ``layer`` reads (through layers that compute nothing, such as Dropout)."""
        inbound = layer._inbound_nodes[0].inbound_layers
        inbound = inbound if isinstance(inbound, list) else [inbound]
        names = [self.alias.get(l.name, l.name) for l in inbound]
        unquantized = [n for n in names if n not in self.tensors and n != getattr(self, "input_layer", None)]
        if unquantized or (names == [getattr(self, "input_layer", None)] and not isinstance(layer, self.q.QActivation)):
            raise ExportError(f"layer {layer.name!r} reads the unquantized tensor of {(unquantized or names)[0]!r}; "
                              f"quantize the model input with a QActivation(quantized_bits(b, i, alpha=1)) first "
                              f"(quant.models names it 'input')")
        return names

    def add_array(self, key, values, bits, signed, frac):
        self.arrays[key] = values
        self.descs[key] = _desc(values.shape, bits, signed, frac)
        return key

    def add_node(self, layer, op, inputs, out, **fields):
        name = layer.name
        self.nodes.append({"name": name, "op": op, "inputs": inputs, **fields})
        self.tensors[name] = out
        self.outputs_of[name] = layer

    def requant_arrays(self, name, channels, shift):
        mult = self.add_array(f"{name}/multiplier", np.ones(channels, np.int64), 1, False, 0)
        shift = self.add_array(f"{name}/shift", np.full(channels, shift, np.int64), 8, True, 0)
        return {"multiplier": mult, "shift": shift}

    def weighted(self, layer, op):
        """A conv / depthwise conv / dense node: integer (BN-folded) weights, bias on the accumulator grid, requant."""
        q = self.q
        (src,) = self.source(layer)
        x = self.tensors[src]
        if isinstance(layer, (q.QConv2DBatchnorm, q.QDepthwiseConv2DBatchnorm)):
            kernel, bias = layer.get_folded_weights()
        else:
            if not layer.use_bias:
                raise ExportError(f"layer {layer.name!r}: export needs use_bias=True")
            kernel, bias = (layer.depthwise_kernel if op == "depthwise_conv2d" else layer.kernel), layer.bias
        kq = layer.depthwise_quantizer_internal if op == "depthwise_conv2d" else layer.kernel_quantizer_internal
        if kq is None or layer.bias_quantizer_internal is None:
            raise ExportError(f"layer {layer.name!r} needs both a weight and a bias quantizer")
        w_bits, w_signed, f_w = _grid(kq, f"layer {layer.name!r} weights")
        b_bits, b_signed, f_b = _grid(layer.bias_quantizer_internal, f"layer {layer.name!r} bias")
        out_bits, out_signed, f_out = _grid(layer.activation, f"layer {layer.name!r} activation")
        acc_frac = x["frac"] + f_w
        if f_b > acc_frac:
            raise ExportError(f"layer {layer.name!r}: bias has {f_b} fractional bits, finer than the accumulator's "
                              f"{acc_frac} (f_in + f_w); give the bias quantizer integer bits "
                              f"{b_bits - 1 - acc_frac} (quant.models does this)")
        w = to_integers(kq(kernel).numpy(), w_bits, w_signed, f_w, f"layer {layer.name!r} weights")
        b = to_integers(layer.bias_quantizer_internal(bias).numpy(), b_bits, b_signed, f_b,
                        f"layer {layer.name!r} bias")
        b = b << (acc_frac - f_b)
        if op == "conv2d" or op == "depthwise_conv2d":
            if tuple(layer.dilation_rate) != (1, 1):
                raise ExportError(f"layer {layer.name!r}: dilation_rate {layer.dilation_rate} is not supported")
            geometry = {"strides": [int(s) for s in layer.strides], "padding": layer.padding.lower()}
        else:
            geometry = {}
        # worst-case accumulator: sum |w| * max |x| + |b|, per output channel
        lo, hi = _value_range(x)
        reduce_axes = (0, 1, 3) if op == "depthwise_conv2d" else tuple(range(w.ndim - 1))
        peak = int(np.max(np.abs(w).sum(axis=reduce_axes) * max(-lo, hi) + np.abs(b)))
        channels = b.shape[0]
        fields = {
            "weights": self.add_array(f"{layer.name}/w", w, w_bits, w_signed, f_w),
            "bias": self.add_array(f"{layer.name}/b", b, b_bits + acc_frac - f_b, True, acc_frac),
            "acc_frac": acc_frac, "acc_bits": _range_bits(-peak, peak)[0],
            **self.requant_arrays(layer.name, channels, acc_frac - f_out), "relu": not out_signed, **geometry,
        }
        out_shape = layer.output.shape[1:]
        self.add_node(layer, op, [src], _desc(out_shape, out_bits, out_signed, f_out), **fields)

    def layer(self, layer):
        """Turn one Keras layer into a node (or an alias, for layers that compute nothing)."""
        q, L = self.q, self.k.layers
        name = layer.name
        if isinstance(layer, L.InputLayer):
            self.alias[name] = name
            self.input_layer = name
        elif isinstance(layer, q.QActivation) and self.source(layer) == [getattr(self, "input_layer", None)]:
            bits, signed, frac = _grid(layer.quantizer, f"input quantizer {name!r}")
            self.add_node(layer, "input", [], _desc(layer.output.shape[1:], bits, signed, frac))
            self.input_name = name
        elif isinstance(layer, (q.QConv2DBatchnorm, q.QConv2D)):
            self.weighted(layer, "conv2d")
        elif isinstance(layer, (q.QDepthwiseConv2DBatchnorm, q.QDepthwiseConv2D)):
            self.weighted(layer, "depthwise_conv2d")
        elif isinstance(layer, q.QDense):
            self.weighted(layer, "dense")
        elif isinstance(layer, q.QAveragePooling2D):
            if layer.average_quantizer:
                raise ExportError(f"layer {name!r}: average_quantizer is not supported (exact pooling needs none)")
            (src,) = self.source(layer)
            x = self.tensors[src]
            bits, signed, frac = _grid(layer.activation, f"layer {name!r} activation")
            self.add_node(layer, "avg_pool2d", [src], _desc(layer.output.shape[1:], bits, signed, frac),
                          pool_size=[int(p) for p in layer.pool_size], strides=[int(s) for s in layer.strides],
                          padding=layer.padding.lower(), shift=x["frac"] - frac)
        elif isinstance(layer, L.Add):
            srcs = self.source(layer)
            if len(srcs) != 2:
                raise ExportError(f"layer {name!r}: only two-input adds are supported, got {len(srcs)}")
            frac = max(self.tensors[s]["frac"] for s in srcs)
            lo = hi = 0
            for s in srcs:
                (s_lo, s_hi), up = _value_range(self.tensors[s]), frac - self.tensors[s]["frac"]
                lo, hi = lo + (s_lo << up), hi + (s_hi << up)
            bits, signed = _range_bits(lo, hi)
            self.add_node(layer, "add", srcs, _desc(layer.output.shape[1:], bits, signed, frac))
        elif isinstance(layer, q.QActivation):
            (src,) = self.source(layer)
            bits, signed, frac = _grid(layer.quantizer, f"layer {name!r}")
            channels = int(layer.output.shape[-1])
            self.add_node(layer, "requant", [src], _desc(layer.output.shape[1:], bits, signed, frac),
                          **self.requant_arrays(name, channels, self.tensors[src]["frac"] - frac),
                          relu=not signed)
        elif isinstance(layer, L.Flatten):
            (src,) = self.source(layer)
            size = int(np.prod(self.tensors[src]["shape"]))
            self.add_node(layer, "flatten", [src], {**self.tensors[src], "shape": [size]})
        elif isinstance(layer, L.Dropout) or (isinstance(layer, L.Activation) and layer in self.final_layers):
            (self.alias[name],) = self.source(layer)
        else:
            raise ExportError(f"layer {name!r} ({type(layer).__name__}) is not supported by the integer export; "
                              f"supported: QActivation, QConv2D(Batchnorm), QDepthwiseConv2D(Batchnorm), QDense, "
                              f"QAveragePooling2D, Add, Flatten, Dropout and a final Activation (softmax)")

    def trace(self):
        self.final_layers = [t._keras_history.layer for t in self.model.outputs]
        for layer in self.model.layers:
            self.layer(layer)
        outputs = [self.alias.get(l.name, l.name) for l in self.final_layers]
        return outputs


def export(qmodel, precision, path_prefix, test_inputs, batch_size=50, extra=None):
    """Write ``<path_prefix>.json`` / ``.npz``: the integer graph of ``qmodel`` plus test vectors.

    Parameters
    ----------
    qmodel : keras.Model
        A QKeras model, e.g. from :func:`quant.models.build_quant` (with trained or random weights).
    precision : PrecisionConfig
        The config ``qmodel`` was built with (stored in the export; checked against the model's quantizers).
    path_prefix : str or Path
        Output path without suffix, e.g. ``models/dscnn``.
    test_inputs : float array, shape ``(K, *input shape)``
        Samples whose quantized input and every layer's integer output are stored as test vectors.
    batch_size : int
        Samples per QKeras call while computing the vectors.
    extra : dict, optional
        Further top-level JSON entries, e.g. ``{"training": {...}}`` (data set, epochs, seed, accuracies).

    Returns
    -------
    hw.golden.net.Net
        The export, loaded back (validated).

    Raises
    ------
    ExportError
        If a layer or quantizer cannot be represented exactly, or QKeras's float output is off its integer grid.
    """
    if not isinstance(precision, PrecisionConfig):
        raise TypeError(f"precision must be a PrecisionConfig, not {type(precision).__name__}")
    ex = _Exporter(qmodel)
    outputs = ex.trace()
    _check_precision(ex, precision)
    test_inputs = np.asarray(test_inputs, dtype=np.float32)
    if test_inputs.ndim < 1 or test_inputs.shape[1:] != tuple(qmodel.input_shape[1:]):
        raise ValueError(f"test_inputs must have shape (K, {', '.join(map(str, qmodel.input_shape[1:]))}), "
                         f"got {test_inputs.shape}")
    qkeras_ints = _qkeras_integers(ex, qmodel, test_inputs, batch_size)
    meta = {"net": precision.net, "precision": precision.to_dict(), "inputs": [ex.input_name], "outputs": outputs,
            "tensors": ex.tensors, "arrays": ex.descs, "nodes": ex.nodes}
    graph = golden_net.Net(meta, ex.arrays)
    vectors = golden_net.run(graph, qkeras_ints[ex.input_name])
    meta["vectors"] = {"count": int(len(test_inputs)), "tensors": list(vectors), "source": "hw.golden.net.run"}
    meta["qkeras_check"] = _check_against_qkeras(ex, graph, qkeras_ints)
    meta.update(extra or {})
    golden_net.save(path_prefix, meta, {**ex.arrays, **{"vectors/" + n: v for n, v in vectors.items()}})
    return golden_net.load(path_prefix)


def _qkeras_integers(ex, qmodel, x, batch_size):
    """QKeras's output of every node on ``x``, as integers on the node's grid."""
    names = [n["name"] for n in ex.nodes]
    probe = ex.k.Model(qmodel.inputs, [ex.outputs_of[n].output for n in names])
    chunks = {n: [] for n in names}
    for start in range(0, len(x), batch_size):
        for n, out in zip(names, probe(x[start:start + batch_size], training=False)):
            t = ex.tensors[n]
            chunks[n].append(to_integers(out.numpy(), t["bits"], t["signed"], t["frac"], f"QKeras output of {n!r}"))
    return {n: np.concatenate(c) for n, c in chunks.items()}


def _float32_exact(ex, node):
    """Whether QKeras's float32 arithmetic is provably exact for ``node``: every partial sum below 2**24 grid units."""
    if node["op"] in ("conv2d", "depthwise_conv2d", "dense"):
        return node["acc_bits"] <= 25                    # signed: |acc| < 2**24
    if node["op"] == "avg_pool2d":
        src = ex.tensors[node["inputs"][0]]
        lo, hi = _value_range(src)
        return max(-lo, hi) * int(np.prod(node["pool_size"])) < 1 << 24
    return True                                          # input, add, requant, flatten: no rounding in float32


def _check_against_qkeras(ex, graph, qkeras_ints):
    """Apply each golden node to QKeras's own inputs of that node and count differences from QKeras's output.

    A difference where float32 is provably exact is a bug (``ExportError``); elsewhere it is QKeras's float32
    rounding (16-bit layers), reported with a warning and in the returned summary: the stored vectors are the exact
    integer results, which the hardware must match.
    """
    summary = {}
    for node in ex.nodes:
        if node["op"] == "input":
            continue
        name = node["name"]
        got = golden_net.apply(graph, node, [qkeras_ints[t] for t in node["inputs"]])
        mismatches = int(np.count_nonzero(got != qkeras_ints[name]))
        exact = _float32_exact(ex, node)
        summary[name] = {"float32_exact": exact, "mismatches": mismatches}
        if mismatches and exact:
            raise ExportError(f"layer {name!r}: hw.golden differs from QKeras in {mismatches} of {got.size} values "
                              f"although QKeras's float32 is exact there; this is a bug in the export or in hw.golden")
        if mismatches:
            warnings.warn(f"layer {name!r}: QKeras's float32 accumulation is inexact (accumulator up to "
                          f"{node.get('acc_bits')} bits > 25) and differs from the exact integer result in "
                          f"{mismatches} of {got.size} values; the export stores the exact integers", stacklevel=3)
    return summary


def _check_precision(ex, precision):
    """Refuse a config that does not describe the model (e.g. the model was built with another one)."""
    for node in ex.nodes:
        name = node["name"]
        if name not in precision.layers:
            continue
        p = precision[name]
        out = ex.tensors[name]
        if out["bits"] != p.act_bits or ("weights" in node and ex.descs[node["weights"]]["bits"] != p.weight_bits):
            raise ValueError(f"layer {name!r}: the model's bit-widths differ from the precision config "
                             f"(act {out['bits']} vs {p.act_bits}); export with the config the model was built with")


_CALIBRATION = 32


def export_untrained(net, precision, path_prefix, samples=16, seed=0):
    """Export ``net`` with seeded random weights and batch-norm statistics (a stand-in until trained weights exist).

    The float model gets Keras's seeded initial weights and random batch-norm scales calibrated on 32 seeded random
    inputs (:func:`quant.models.randomize_batchnorm`), is copied into the QKeras model
    (:func:`quant.models.transfer_weights`) and exported with ``samples`` further seeded normal-distributed test inputs
    (absolute values for nets with unsigned inputs). Same arguments, same files.
    """
    import tensorflow as tf

    from .models import build_float, build_quant, net_spec, randomize_batchnorm, transfer_weights
    spec = net_spec(net)
    if not isinstance(precision, PrecisionConfig):
        precision = PrecisionConfig.uniform(net, precision)
    tf.keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, (_CALIBRATION + samples, *spec.input_shape)).astype(np.float32)
    x = x if spec.input_signed else np.abs(x)
    float_model = build_float(net)
    randomize_batchnorm(float_model, seed, calibration_inputs=x[:_CALIBRATION])
    qmodel = build_quant(net, precision)
    transfer_weights(float_model, qmodel)
    return export(qmodel, precision, path_prefix, x[_CALIBRATION:])


def main(argv=None):
    """``python -m quant.export NET [--bits B | --precision CFG.json] [--out PREFIX] [--samples K] [--seed S]``."""
    import argparse

    from .models import NETS
    parser = argparse.ArgumentParser(prog="python -m quant.export", description=export_untrained.__doc__.split("\n")[0])
    parser.add_argument("net", choices=list(NETS))
    parser.add_argument("--bits", type=int, default=8, help="uniform bit-width (4, 8 or 16) when no --precision")
    parser.add_argument("--precision", help="PrecisionConfig JSON file")
    parser.add_argument("--out", help="output prefix (default models/NET)")
    parser.add_argument("--samples", type=int, default=16, help="test vectors to store")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    precision = PrecisionConfig.load(args.precision) if args.precision else PrecisionConfig.uniform(args.net, args.bits)
    out = args.out or f"models/{args.net}"
    net = export_untrained(args.net, precision, out, args.samples, args.seed)
    check = net.meta["qkeras_check"].values()
    inexact = sum(c["mismatches"] for c in check)
    where = " (all in layers where QKeras's float32 is inexact)" if inexact else ""
    print(f"{out}.json/.npz: {len(net.nodes)} nodes, {args.samples} test vectors; "
          f"hw.golden vs QKeras per layer: {inexact} differences{where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
