"""Exported integer nets (format ``stacc-net`` v1): load, validate and run them with :mod:`hw.golden` only.

An export is two files with a common prefix (written by ``quant.export``; this module owns the format):

``<prefix>.json``
    ``format`` (``"stacc-net"``), ``version`` (1), ``net``, ``packing`` (the sub-word layout of
    :func:`hw.golden.pack`), ``precision`` (the per-layer config the net was built with), ``inputs`` / ``outputs``
    (tensor names), ``tensors`` (per tensor: ``shape`` of one sample, ``bits``, ``signed``, ``frac`` = fractional
    bits, i.e. value = integer * 2**-frac), ``arrays`` (the same description for every npz array), ``nodes`` (the
    graph in execution order; each node writes the tensor named after it, see :data:`OPS` for the fields of each op)
    and ``vectors`` (``count`` samples and the ``tensors`` they hold).
``<prefix>.npz``
    The integer arrays: ``<node>/w``, ``<node>/b`` (bias already on the accumulator grid ``acc_frac``),
    ``<node>/multiplier`` and ``<node>/shift`` (per-channel requantization), and the test vectors
    ``vectors/<tensor>`` (``count`` samples of every tensor: the exact integer results of :func:`run`; the exporter
    checked each node against QKeras and records the result per node in the JSON's optional ``qkeras_check``).

Node semantics (``acc`` is the exact accumulator, see :mod:`hw.golden.layers`):

* ``input``: the quantized net input (no computation).
* ``conv2d`` / ``depthwise_conv2d`` / ``dense``: ``requantize(layer(x, w, b, strides, padding, acc_bits),
  multiplier, shift, bits, signed, relu)``.
* ``avg_pool2d``: ``saturate(avg_pool2d(x, pool_size, strides, padding, shift), bits, signed)`` (exact rational
  round-half-to-even).
* ``add``: ``align`` both inputs to the output grid ``frac`` and add (exact).
* ``requant``: ``requantize(x, multiplier, shift, bits, signed, relu)``.
* ``flatten``: reshape each sample to one axis (row-major, as Keras ``Flatten`` on NHWC).
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .arith import as_int64, check_range, requantize, saturate
from .layers import add, align, avg_pool2d, conv2d, dense, depthwise_conv2d

__all__ = ["FORMAT", "VERSION", "OPS", "NetFormatError", "Net", "validate", "load", "save", "apply", "quantize_input",
           "run", "check_vectors"]

FORMAT = "stacc-net"
VERSION = 1
PACKING = {"layout": "lsb-first-lanes", "word_bits": 16,
           "doc": "lane i of a word holds bits [i*b, (i+1)*b), b = word_bits // lanes; two's complement if signed"}

_REQUANT = ("multiplier", "shift")
_WEIGHTED = ("weights", "bias") + _REQUANT
_WEIGHTED_FIELDS = ("acc_frac", "acc_bits", "relu")
#: Per op: the fields every node must have besides ``name``, ``op`` and ``inputs``; which of them name npz arrays;
#: and the number of inputs.
OPS = {
    "input": ((), (), 0),
    "conv2d": (_WEIGHTED_FIELDS + ("strides", "padding"), _WEIGHTED, 1),
    "depthwise_conv2d": (_WEIGHTED_FIELDS + ("strides", "padding"), _WEIGHTED, 1),
    "dense": (_WEIGHTED_FIELDS, _WEIGHTED, 1),
    "avg_pool2d": (("pool_size", "strides", "padding", "shift"), (), 1),
    "add": ((), (), 2),
    "requant": (("relu",), _REQUANT, 1),
    "flatten": ((), (), 1),
}
_TOP_LEVEL = ("format", "version", "net", "packing", "precision", "inputs", "outputs", "tensors", "arrays", "nodes",
              "vectors")
_DESCRIPTION = ("shape", "bits", "signed", "frac")


class NetFormatError(ValueError):
    """An export that is malformed, of another format version, or inconsistent with its arrays."""


@dataclass
class Net:
    """A loaded, validated export.

    Attributes
    ----------
    meta : dict
        The parsed JSON.
    arrays : dict of str to int64 array
        Every npz array (weights, biases, requant parameters and ``vectors/<tensor>`` test vectors).
    """

    meta: dict
    arrays: dict

    @property
    def name(self):
        return self.meta["net"]

    @property
    def nodes(self):
        return self.meta["nodes"]

    @property
    def tensors(self):
        return self.meta["tensors"]

    @property
    def inputs(self):
        return self.meta["inputs"]

    @property
    def outputs(self):
        return self.meta["outputs"]

    def vectors(self, tensor):
        """The stored test vectors of ``tensor``: ``(count, *shape)`` int64."""
        return self.arrays["vectors/" + tensor]


def _fail(prefix, message):
    raise NetFormatError(f"{prefix}: {message}")


def _require(mapping, keys, where, prefix):
    for key in keys:
        if key not in mapping:
            _fail(prefix, f"{where} is missing the field {key!r}")


def _check_array(prefix, key, array, desc, leading=()):
    if array.dtype.kind not in "iu":
        _fail(prefix, f"array {key!r} must hold integers, got dtype {array.dtype}; re-export the net")
    shape = tuple(leading) + tuple(desc["shape"])
    if array.shape != shape:
        _fail(prefix, f"array {key!r} has shape {array.shape} but the JSON declares {shape}")
    try:
        return check_range(array, desc["bits"], desc["signed"], key)
    except ValueError as err:
        _fail(prefix, f"{err} (declared bits={desc['bits']}, signed={desc['signed']})")


def validate(meta, npz, prefix="export"):
    """Check ``meta`` (parsed JSON) against ``npz`` (``{key: array}``); return the arrays as int64.

    Raises
    ------
    NetFormatError
        Naming the first missing or inconsistent field.
    """
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        _fail(prefix, f"not a stacc net export: expected \"format\": {FORMAT!r}, got {meta.get('format')!r}"
              if isinstance(meta, dict) else "not a JSON object")
    if meta.get("version") != VERSION:
        _fail(prefix, f"format version {meta.get('version')!r} is not supported by this loader (version {VERSION}); "
                      f"re-export the net with this stacc (python -m quant export) or use the matching stacc")
    _require(meta, _TOP_LEVEL, "the JSON", prefix)
    for name, desc in list(meta["tensors"].items()) + list(meta["arrays"].items()):
        _require(desc, _DESCRIPTION, f"description of {name!r}", prefix)
    arrays = {}
    for key, desc in meta["arrays"].items():
        if key not in npz:
            _fail(prefix, f"the npz is missing the array {key!r} declared in the JSON")
        arrays[key] = _check_array(prefix, key, npz[key], desc)
    known = set()
    for i, node in enumerate(meta["nodes"]):
        _require(node, ("name", "op", "inputs"), f"node {i}", prefix)
        op = node["op"]
        if op not in OPS:
            _fail(prefix, f"node {node['name']!r} has unknown op {op!r}; this loader knows {sorted(OPS)}")
        fields, array_fields, n_inputs = OPS[op]
        _require(node, fields + array_fields, f"node {node['name']!r} ({op})", prefix)
        if len(node["inputs"]) != n_inputs:
            _fail(prefix, f"node {node['name']!r} ({op}) needs {n_inputs} inputs, has {node['inputs']}")
        for tensor in node["inputs"]:
            if tensor not in known:
                _fail(prefix, f"node {node['name']!r} reads tensor {tensor!r} before any node writes it")
        for field in array_fields:
            if node[field] not in arrays:
                _fail(prefix, f"node {node['name']!r}: {field} array {node[field]!r} is not declared in \"arrays\"")
        if node["name"] not in meta["tensors"]:
            _fail(prefix, f"node {node['name']!r} writes a tensor that \"tensors\" does not describe")
        known.add(node["name"])
    for tensor in meta["inputs"] + meta["outputs"]:
        if tensor not in known:
            _fail(prefix, f"input/output tensor {tensor!r} is not written by any node")
    vec = meta["vectors"]
    _require(vec, ("count", "tensors"), "\"vectors\"", prefix)
    for tensor in vec["tensors"]:
        key = "vectors/" + tensor
        if tensor not in meta["tensors"] or key not in npz:
            _fail(prefix, f"test vectors of tensor {tensor!r} are missing (need tensors[{tensor!r}] and npz {key!r})")
        arrays[key] = _check_array(prefix, key, npz[key], meta["tensors"][tensor], (vec["count"],))
    return arrays


def load(path_prefix):
    """Load and validate ``<path_prefix>.json`` + ``<path_prefix>.npz``.

    Raises
    ------
    FileNotFoundError
        If either file is missing (the message says how to produce them).
    NetFormatError
        If the export is malformed or of another version.
    """
    prefix = str(path_prefix)
    for suffix in (".json", ".npz"):
        if not Path(prefix + suffix).is_file():
            raise FileNotFoundError(f"{prefix}{suffix} does not exist; export the net first "
                                    f"(python -m quant export, or quant.export.export)")
    try:
        meta = json.loads(Path(prefix + ".json").read_text())
    except json.JSONDecodeError as err:
        raise NetFormatError(f"{prefix}.json: not valid JSON ({err})") from None
    with np.load(prefix + ".npz", allow_pickle=False) as npz:
        arrays = validate(meta, {key: npz[key] for key in npz.files}, prefix)
    return Net(meta, arrays)


def _storage(desc):
    """Smallest numpy integer dtype that holds every ``desc["bits"]``-bit (un)signed value."""
    bits, signed = desc["bits"], desc["signed"]
    for dtype in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64):
        info = np.iinfo(dtype)
        lo = -(1 << (bits - 1)) if signed else 0
        hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
        if info.min <= lo and hi <= info.max:
            return dtype
    return np.int64


def save(path_prefix, meta, arrays):
    """Validate and write an export (``meta`` as JSON, ``arrays`` compressed in the smallest integer dtypes)."""
    prefix = str(path_prefix)
    meta = {"format": FORMAT, "version": VERSION, "packing": PACKING, **meta}
    validate(meta, arrays, prefix)
    stored = {}
    for key, array in arrays.items():
        desc = meta["arrays"].get(key) or meta["tensors"][key[len("vectors/"):]]
        stored[key] = np.asarray(array).astype(_storage(desc))
    Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(prefix + ".npz", **stored)
    Path(prefix + ".json").write_text(json.dumps(meta, indent=1) + "\n")


def _requant(net, node, acc):
    out = net.tensors[node["name"]]
    return requantize(acc, net.arrays[node["multiplier"]], net.arrays[node["shift"]], out["bits"], out["signed"],
                      node["relu"])


def apply(net, node, args):
    """Compute one node of ``net`` (a dict from ``net.nodes``) on its input tensors ``args`` (batch axis first)."""
    op = node["op"]
    if op in ("conv2d", "depthwise_conv2d"):
        layer = conv2d if op == "conv2d" else depthwise_conv2d
        acc = layer(args[0], net.arrays[node["weights"]], net.arrays[node["bias"]], tuple(node["strides"]),
                    node["padding"], node["acc_bits"])
        return _requant(net, node, acc)
    if op == "dense":
        return _requant(net, node, dense(args[0], net.arrays[node["weights"]], net.arrays[node["bias"]],
                                         node["acc_bits"]))
    if op == "requant":
        return _requant(net, node, args[0])
    out = net.tensors[node["name"]]
    if op == "avg_pool2d":
        pooled = avg_pool2d(args[0], tuple(node["pool_size"]), tuple(node["strides"]), node["padding"], node["shift"])
        return saturate(pooled, out["bits"], out["signed"])
    if op == "add":
        a, b = (align(x, net.tensors[name]["frac"], out["frac"]) for x, name in zip(args, node["inputs"]))
        return add(a, b)
    if op == "flatten":
        return args[0].reshape(args[0].shape[0], -1)
    raise NetFormatError(f"op {op!r} has no implementation")      # validate() refuses unknown ops first


def quantize_input(net, x):
    """Real-valued inputs to the integers the net consumes, exactly as its QKeras input quantizer rounds them.

    ``saturate(round_half_even(float32(x) * 2**frac), bits, signed)`` (QKeras scales float32 by a power of two, which
    is exact, and rounds with ``tf.round``, i.e. half-to-even like ``np.round``). Checked against QKeras for normally
    distributed inputs; QKeras's straight-through estimator adds ``x + (xq - x)`` in float32, which can round for
    inputs far beyond the quantizer's range (above about ``2**(24 - frac)``).
    """
    desc = net.tensors[net.inputs[0]]
    scaled = np.asarray(x, dtype=np.float32).astype(np.float64) * 2.0 ** desc["frac"]
    return saturate(np.round(scaled), desc["bits"], desc["signed"])


def run(net, x, return_all=True):
    """Run ``net`` on a batch of integer inputs with :mod:`hw.golden`.

    Parameters
    ----------
    net : Net
        From :func:`load`.
    x : int array, shape ``(N, *input shape)``
        Quantized inputs (integers on the input tensor's grid), e.g. ``net.vectors(net.inputs[0])``.
    return_all : bool
        Return every tensor (``{name: int64 array}``) instead of only the output.

    Returns
    -------
    dict of str to int64 array, or int64 array
        All tensors, or the single output tensor, each with the batch axis first.
    """
    (name,) = net.inputs
    desc = net.tensors[name]
    x = as_int64(x, "x")
    if x.shape[1:] != tuple(desc["shape"]):
        raise ValueError(f"x must have shape (N, {', '.join(map(str, desc['shape']))}) for {net.name}, "
                         f"got {x.shape}")
    values = {name: check_range(x, desc["bits"], desc["signed"], "x")}
    for node in net.nodes:
        if node["op"] != "input":
            values[node["name"]] = apply(net, node, [values[t] for t in node["inputs"]])
    if return_all:
        return values
    outs = [values[t] for t in net.outputs]
    return outs[0] if len(outs) == 1 else outs


def check_vectors(net):
    """Run the stored input vectors and count mismatches against every stored tensor: ``{tensor: mismatches}``."""
    got = run(net, net.vectors(net.inputs[0]))
    return {t: int(np.count_nonzero(got[t] != net.vectors(t))) for t in net.meta["vectors"]["tensors"]}
