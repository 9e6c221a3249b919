"""Per-layer precision of a quantized net: one :class:`PrecisionConfig`, stored as JSON, configures every quantizer.

Each quantized tensor of a net has an entry, keyed by the Keras layer name that produces it:

* layers with weights (conv, depthwise conv, dense) have ``weight_bits``, ``act_bits`` (their output) and
  ``bias_bits``;
* the net input, pooling layers and residual adds have ``act_bits`` only (``weight_bits`` is ``None``).

Bit-widths of weights and activations are one of :data:`BITS` (4, 8, 16): the lane widths of the Sum-Together
multiplier. Biases are wider (:data:`DEFAULT_BIAS_BITS`); they sit on the accumulator grid ``f_in + f_w``.

The power-of-two quantizers need integer bits too; unless a layer overrides them they come from
:func:`weight_integer_bits` and :func:`act_integer_bits`. QKeras grids (see DEVELOPERS.md): ``quantized_bits(b, i)`` has
``b-1-i`` fractional bits, ``quantized_relu(b, i)`` has ``b-i``.
"""

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BITS", "DEFAULT_BIAS_BITS", "FORMAT", "VERSION", "LayerPrecision", "PrecisionConfig", "weight_integer_bits",
    "act_integer_bits",
]

BITS = (4, 8, 16)
DEFAULT_BIAS_BITS = 32
FORMAT = "stacc-precision"
VERSION = 1

# Integer bits by width. Weights: BN-folded weights of a trained net lie well inside [-1, 1). Activations: a few
# integer bits of headroom, more for wider words (ReLU outputs of BN-normalized layers rarely exceed 8, 16 or 64).
_WEIGHT_INT = {4: 0, 8: 0, 16: 0}
_ACT_INT = {4: 2, 8: 3, 16: 6}


def weight_integer_bits(bits):
    """Default integer bits of a ``bits``-wide weight quantizer ``quantized_bits(bits, i, alpha=1)``."""
    return _WEIGHT_INT[bits]


def act_integer_bits(bits):
    """Default integer bits of a ``bits``-wide activation quantizer (``quantized_relu`` or ``quantized_bits``)."""
    return _ACT_INT[bits]


def _check_width(value, field, layer, allowed=BITS):
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise ValueError(f"layer {layer!r}: {field} must be one of {allowed}, not {value!r}")


@dataclass(frozen=True)
class LayerPrecision:
    """Bit-widths of one layer.

    Parameters
    ----------
    act_bits : int
        Width of the layer's output activation, one of :data:`BITS`.
    weight_bits : int or None
        Width of the weights, one of :data:`BITS`; ``None`` for layers without weights.
    bias_bits : int or None
        Width of the bias (wider than weights and activations); ``None`` for layers without weights.
    act_int, weight_int : int or None
        Integer bits of the activation / weight quantizer; ``None`` picks :func:`act_integer_bits` /
        :func:`weight_integer_bits`.
    """

    act_bits: int
    weight_bits: int | None = None
    bias_bits: int | None = None
    act_int: int | None = None
    weight_int: int | None = None

    def validate(self, layer):
        """Raise ``ValueError`` naming ``layer`` and the field if a width is not allowed."""
        _check_width(self.act_bits, "act_bits", layer)
        if self.weight_bits is None:
            if self.bias_bits is not None or self.weight_int is not None:
                raise ValueError(f"layer {layer!r} has no weights (weight_bits is None) but sets bias_bits/weight_int")
            return
        _check_width(self.weight_bits, "weight_bits", layer)
        if self.bias_bits is None:
            raise ValueError(f"layer {layer!r}: bias_bits is required when weight_bits is set")
        _check_width(self.bias_bits, "bias_bits", layer, tuple(range(max(self.weight_bits, self.act_bits) + 1, 63)))
        for field in ("act_int", "weight_int"):
            value = getattr(self, field)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"layer {layer!r}: {field} must be an int or None, not {value!r}")

    @property
    def act_integer(self):
        """Integer bits of the activation quantizer (the override or the default)."""
        return act_integer_bits(self.act_bits) if self.act_int is None else self.act_int

    @property
    def weight_integer(self):
        """Integer bits of the weight quantizer (the override or the default)."""
        return weight_integer_bits(self.weight_bits) if self.weight_int is None else self.weight_int

    def to_dict(self):
        """The non-``None`` fields as a JSON-ready dict."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass
class PrecisionConfig:
    """Per-layer precision of net ``net``.

    Parameters
    ----------
    net : str
        One of :data:`quant.models.NETS`.
    layers : dict of str to LayerPrecision
        One entry per quantized layer of the net, exactly the names :func:`quant.models.quantized_layers` lists.
    """

    net: str
    layers: dict

    def __post_init__(self):
        from .models import quantized_layers
        expected = quantized_layers(self.net)          # also checks the net name
        names = set(self.layers)
        if names != set(expected):
            missing = [n for n in expected if n not in names]
            extra = sorted(names - set(expected))
            raise ValueError(f"precision config for {self.net!r} must list exactly its quantized layers; "
                             f"missing {missing}, unknown {extra}")
        for name, kind in expected.items():
            prec = self.layers[name]
            if not isinstance(prec, LayerPrecision):
                raise TypeError(f"layer {name!r}: expected a LayerPrecision, not {prec!r}")
            prec.validate(name)
            if (prec.weight_bits is not None) != (kind == "weights"):
                need = "needs weight_bits and bias_bits" if kind == "weights" else "has no weights: drop weight_bits"
                raise ValueError(f"layer {name!r} of {self.net!r} {need}")

    def __getitem__(self, name):
        try:
            return self.layers[name]
        except KeyError:
            raise KeyError(f"{self.net!r} has no quantized layer {name!r}; it has {list(self.layers)}") from None

    @classmethod
    def uniform(cls, net, bits, bias_bits=DEFAULT_BIAS_BITS):
        """Every weight and activation of ``net`` at ``bits`` bits, biases at ``bias_bits``."""
        from .models import quantized_layers
        _check_width(bits, "bits", "*")
        layers = {}
        for name, kind in quantized_layers(net).items():
            if kind == "weights":
                layers[name] = LayerPrecision(act_bits=bits, weight_bits=bits, bias_bits=bias_bits)
            else:
                layers[name] = LayerPrecision(act_bits=bits)
        return cls(net, layers)

    def replace(self, **changes):
        """A copy with some layers changed: ``cfg.replace(conv1=LayerPrecision(...))``."""
        return PrecisionConfig(self.net, {**self.layers, **changes})

    def average_weight_bits(self, weight_counts):
        """Weight-count-weighted mean of ``weight_bits`` given ``{layer: number of weights}``."""
        total = sum(weight_counts[n] for n, p in self.layers.items() if p.weight_bits is not None)
        return sum(p.weight_bits * weight_counts[n] for n, p in self.layers.items() if p.weight_bits) / total

    def to_dict(self):
        """JSON-ready dict with the format name and version."""
        return {"format": FORMAT, "version": VERSION, "net": self.net,
                "layers": {name: p.to_dict() for name, p in self.layers.items()}}

    @classmethod
    def from_dict(cls, data):
        """Inverse of :meth:`to_dict`; refuses other formats, versions and unknown fields with a clear message."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a precision config: expected \"format\": {FORMAT!r}")
        if data.get("version") != VERSION:
            raise ValueError(f"precision config version {data.get('version')!r} is not supported; expected {VERSION}")
        fields = {f.name for f in dataclasses.fields(LayerPrecision)}
        layers = {}
        for name, entry in data.get("layers", {}).items():
            unknown = set(entry) - fields
            if unknown:
                raise ValueError(f"layer {name!r}: unknown fields {sorted(unknown)}; allowed are {sorted(fields)}")
            layers[name] = LayerPrecision(**entry)
        return cls(data.get("net"), layers)

    def save(self, path):
        """Write the config as JSON to ``path``."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path):
        """Read a config written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))
