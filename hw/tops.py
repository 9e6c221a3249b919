"""Registry of the generator tops: every design ``python -m hw`` can emit as Verilog, with typed parameters.

A top is a name (which is also the Verilog module name), a constructor given as ``"module:attribute"`` (imported only
when the top is built, so a broken or missing module never hides the others), one line of help and its parameters.
Each parameter is declared as ``name=(default, help)``; the type of the default is the parameter's type (an optional
parameter whose default is ``None``, written ``auto`` on the command line, declares its type third:
``acc_width=(None, "accumulator bits", int)``):

=========================  ==========================  =================
default                    type                        command line
=========================  ==========================  =================
``16``                     int                         ``width=8``
``True``                   bool                        ``relu=false``
``(1, 2, 4)``              tuple of ints               ``lanes=1,2``
``"fast"``                 str                         ``style=small``
=========================  ==========================  =================

Adding a top is one call::

    register("fc", "hw.accel:FullyConnected", "fully connected engine",
             width=(16, "word width in bits"), lanes=((1, 2, 4), "supported lane counts"))

The CLI (``hw/__main__.py``), ``make verilog``, the lint test and the cocotb runner all go through :func:`verilog`.
"""

import importlib
from dataclasses import dataclass

__all__ = ["Param", "Top", "TOPS", "register", "get", "parse_params", "build", "verilog", "to_verilog"]

_TYPE_NAMES = {int: "int", bool: "bool", tuple: "ints", str: "str"}
_TRUE = ("1", "true", "yes", "on")
_DEFAULT = object()
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Param:
    """One generator parameter of a top: name, default, one line of help and type (``int``, ``bool``, ``tuple`` of
    ints or ``str``; ``None`` as a value means "let the generator choose", written ``auto``)."""

    name: str
    default: object
    help: str
    type: type

    @property
    def type_name(self):
        return _TYPE_NAMES[self.type]

    def format(self, value=_DEFAULT):
        """Render ``value`` (the default if omitted) the way it is written on the command line."""
        value = self.default if value is _DEFAULT else value
        if value is None:
            return "auto"
        if self.type is tuple:
            return ",".join(str(v) for v in value) or "none"
        if self.type is bool:
            return "true" if value else "false"
        return str(value)

    def parse(self, text):
        """Convert command-line ``text`` to the parameter's type; ``ValueError`` says what was expected."""
        text = text.strip()
        if self.default is None and text == "auto":
            return None
        if self.type is str:
            return text
        if self.type is tuple and text.lower() in ("", "none"):
            return ()
        try:
            if self.type is bool:
                return {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}[text.lower()]
            if self.type is int:
                return int(text, 0)
            return tuple(int(v, 0) for v in text.split(","))
        except (KeyError, ValueError):
            expected = {bool: "true or false", tuple: "comma-separated ints such as 1,2,4 (or none)",
                        int: "an int"}[self.type]
            auto = " (or auto)" if self.default is None else ""
            raise ValueError(f"parameter {self.name}={text!r} is not {expected}{auto}") from None

    def check(self, value):
        """Refuse a Python ``value`` of the wrong type (``TypeError`` naming the parameter)."""
        if value is None and self.default is None:
            return value
        ok = isinstance(value, self.type) and not (self.type is int and isinstance(value, bool))
        if ok and self.type is tuple:
            ok = all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        if not ok:
            raise TypeError(f"parameter {self.name} must be {self.type_name}, not {value!r}")
        return value


@dataclass(frozen=True)
class Top:
    """A generator top: Verilog module ``name``, constructor ``target`` (``"module:attribute"``), help, parameters."""

    name: str
    target: str
    help: str
    params: tuple

    @property
    def defaults(self):
        return {p.name: p.default for p in self.params}

    def param(self, name):
        for p in self.params:
            if p.name == name:
                return p
        valid = ", ".join(p.name for p in self.params) or "(none)"
        raise KeyError(f"top {self.name!r} has no parameter {name!r}; valid parameters: {valid}")

    def constructor(self):
        """Import and return the constructor (``ImportError`` says which top needs which module)."""
        module, _, attr = self.target.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise ImportError(f"top {self.name!r} needs {self.target}, which cannot be imported: {e}") from e


TOPS = {}


def register(name, target, help, **params):
    """Add a top to :data:`TOPS`; each keyword is ``param=(default, one-line help)`` (or ``(None, help, type)``)."""
    if not name.isidentifier():
        raise ValueError(f"top name must be a Verilog identifier, not {name!r}")
    if name in TOPS:
        raise ValueError(f"top {name!r} is already registered (by {TOPS[name].target})")
    if ":" not in target:
        raise ValueError(f"target must be 'module:attribute', not {target!r}")
    declared = []
    for pname, spec in params.items():
        if not (isinstance(spec, tuple) and len(spec) in (2, 3) and isinstance(spec[1], str)
                and (len(spec) == 3) == (spec[0] is None)):
            raise TypeError(f"parameter {pname} must be declared as (default, help) or (None, help, type), "
                            f"not {spec!r}")
        ptype = spec[2] if spec[0] is None else type(spec[0])
        if ptype not in _TYPE_NAMES:
            raise TypeError(f"parameter {pname}: type {ptype!r} is not int, bool, tuple (of ints) or str")
        declared.append(Param(pname, spec[0], spec[1], ptype))
    TOPS[name] = top = Top(name, target, help, tuple(declared))
    return top


def get(name):
    """The :class:`Top` called ``name``; ``KeyError`` lists the valid names."""
    try:
        return TOPS[name]
    except KeyError:
        raise KeyError(f"unknown top {name!r}; valid tops: {', '.join(sorted(TOPS))}") from None


def parse_params(name, assignments):
    """Turn ``["key=value", ...]`` into a dict of typed parameters for top ``name`` (defaults not included)."""
    top = get(name)
    values = {}
    for item in assignments:
        key, eq, text = item.partition("=")
        if not eq:
            raise ValueError(f"parameter {item!r} must be written key=value, e.g. "
                             + (f"{top.params[0].name}={top.params[0].format()}" if top.params else "(none exist)"))
        values[key.strip()] = top.param(key.strip()).parse(text)
    return values


def build(name, **params):
    """Construct top ``name`` with ``params`` over its defaults (the constructor validates the values)."""
    top = get(name)
    values = top.defaults
    for key, value in params.items():
        values[key] = top.param(key).check(value)
    return top.constructor()(**values)


def to_verilog(elaboratable, name):
    """Verilog text of any Amaranth ``elaboratable`` as module ``name``: deterministic and ``verilator -Wall`` clean.

    This is ``amaranth.back.verilog.convert`` with two differences: no source locations (so the text depends only on
    the design, not on where the checkout lives) and a yosys ``opt_clean`` before ``write_verilog``, which drops the
    unused internal ``$N`` wires Amaranth leaves behind (Verilator's UNUSEDSIGNAL). ``opt_clean`` removes only
    undriven/unread internal wires and cells; ports and named signals stay.
    """
    from amaranth._toolchain.yosys import find_yosys       # the Yosys amaranth.back.verilog itself uses
    from amaranth.back import rtlil

    text = rtlil.convert(elaboratable, name=name, emit_src=False)
    script = [f"read_rtlil <<rtlil\n{text}\nrtlil", "proc -nomux -norom", "memory_collect", "opt_clean",
              "write_verilog -norename"]
    # amaranth.back.verilog also ignores Yosys's warnings here: write_verilog always warns about processes.
    return find_yosys(lambda version: version >= (0, 40)).run(["-q", "-"], "\n".join(script), ignore_warnings=True)


def verilog(name, **params):
    """Verilog text of top ``name`` with ``params`` over its defaults; the module is called ``name``."""
    return to_verilog(build(name, **params), name)


# ---- the tops ---------------------------------------------------------------------------------------------------
_WIDTH = (16, "word width in bits")
_LANES = ((1, 2, 4), "lane counts supported at run time (powers of two dividing width)")
_PIPELINE = (0, "pipeline register stages (latency in cycles)")
_REDUCTION = ("dadda", "partial-product tree: dadda or wallace")
_ACC_WIDTH = (None, "accumulator bits (wraps); auto = 2*width + 8", int)

register("st_multiplier", "hw.arith:SumTogetherMultiplier", "Sum-Together multiplier: sum of 1/2/4 lane products",
         width=_WIDTH, lanes=_LANES, pipeline=_PIPELINE, reduction=_REDUCTION,
         split=((), "lane counts that also have a split mode (lower / upper lane halves summed apart); none: no split"))
register("fixed_multiplier", "hw.arith:FixedMultiplier", "fixed-precision width x width baseline multiplier",
         width=_WIDTH, arrangement=("array", "array (same Baugh-Wooley array as ST) or star (yosys *)"),
         pipeline=_PIPELINE, reduction=_REDUCTION)
register("mac", "hw.arith:MacUnit", "ST multiplier + wrapping accumulator with clear/valid control",
         width=_WIDTH, lanes=_LANES, acc_width=_ACC_WIDTH, pipeline=_PIPELINE, reduction=_REDUCTION)
register("fixed_mac", "hw.arith:FixedMac", "fixed-precision multiplier + the same accumulator (area baseline)",
         width=_WIDTH, arrangement=("array", "array or star, as fixed_multiplier"), acc_width=_ACC_WIDTH,
         pipeline=_PIPELINE)

# ---- engines (hw.accel): parameters are the hw.params.EngineParams fields ------------------------------------------
from hw.params import top_params as _engine_params  # noqa: E402  (light: no amaranth import)

register("requantizer", "hw.accel:requantizer", "per-channel M-bit requantization unit (round half even, saturate)",
         **_engine_params())
_ENGINE_KNOBS = dict(mul_pipeline=(1, "register stages inside each ST multiplier (0..2)"),
                     requantizers=(0, "requantizers (channels requantized a cycle); 0: hw.perf.default_requantizers"))
register("fc_engine", "hw.accel:fully_connected", "fully connected engine: CSR + Wishbone DMA + P ST MACs",
         **_ENGINE_KNOBS, **_engine_params())
register("conv2d_engine", "hw.accel:conv2d", "Conv2D engine: CSR + Wishbone DMA + P ST MACs, stride, padding",
         **_ENGINE_KNOBS, **_engine_params())
register("depthwise_conv2d_engine", "hw.accel:depthwise_conv2d",
         "depthwise Conv2D engine: CSR + Wishbone DMA + P ST MACs, taps on the lanes (tap gather), stride, padding",
         **_ENGINE_KNOBS, split=(None, "lane counts run in the multipliers' split mode (two channels a MAC unit); "
                                       "none: never; auto: hw.perf.default_split", tuple), **_engine_params())
