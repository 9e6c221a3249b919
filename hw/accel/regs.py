"""The engines' register map, declared once; the CSR RTL, the C header and the Markdown table are derived from it.

All three engine kinds share one map (a layer descriptor): an engine ignores the fields it does not use (a dense layer
uses ``cin``/``cout`` as input/output features and needs 1 in the spatial fields). Registers are 32 bit, at byte
offsets ``4 * index`` on the CSR Wishbone port.

Protocol (ESP-like): write the layer registers, write 1 to ``CTRL.start``; ``STATUS.busy`` rises, and when the layer
ends ``busy`` falls and either ``done`` or ``error`` (with ``err_code``) is set. ``done``/``error`` stay set until the
next start. A configuration error is detected before any bus access: the engine then writes nothing.

Regenerate the derived files with ``python -m hw.accel.regs`` (``--check`` fails if they are stale).
"""

import argparse
import enum
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Field", "Register", "REGISTERS", "ErrorCode", "EngineKind", "field", "register", "c_header", "markdown",
           "HEADER_PATH", "MARKDOWN_PATH", "main"]

ACCESS = ("rw", "ro", "w1p")      # read-write, read-only, write-1-pulse (reads 0)


class ErrorCode(enum.IntEnum):
    """``STATUS.err_code`` values."""
    NONE = 0
    BAD_PRECISION = 1       # a precision-mode code the engine's lane set does not support
    PRECISION_MISMATCH = 2  # weight and activation modes differ (ST lanes pair activation i with weight i)
    ZERO_DIM = 3            # a shape, kernel or stride field is zero
    MISALIGNED = 4          # a DMA address is not a multiple of the bus width in bytes, or beyond addr_width
    BUFFER_OVERFLOW = 5     # the layer's weights, activations or channels do not fit the on-chip buffers
    BAD_GEOMETRY = 6        # output shape / padding inconsistent with input, kernel and stride, or unused fields != 1
    BUS_ERROR = 7           # the Wishbone target answered ``err`` during DMA (outputs may be partly written)


class EngineKind(enum.IntEnum):
    """``INFO.kind`` values."""
    DENSE = 1
    CONV2D = 2
    DEPTHWISE = 3


@dataclass(frozen=True)
class Field:
    """One register field: ``width`` bits at bit ``offset``; ``access`` in ``ACCESS``."""
    name: str
    offset: int
    width: int
    access: str
    doc: str
    reset: int = 0

    def __post_init__(self):
        if self.access not in ACCESS:
            raise ValueError(f"field {self.name}: access must be one of {ACCESS}, not {self.access!r}")
        if not (0 <= self.offset and 1 <= self.width and self.offset + self.width <= 32):
            raise ValueError(f"field {self.name} (bits {self.offset}+{self.width}) does not fit a 32-bit register")
        if not 0 <= self.reset < 1 << self.width:
            raise ValueError(f"field {self.name}: reset {self.reset} does not fit {self.width} bits")


@dataclass(frozen=True)
class Register:
    """A 32-bit register at byte ``address``."""
    name: str
    address: int
    doc: str
    fields: tuple

    def __post_init__(self):
        used = 0
        for f in self.fields:
            bits = ((1 << f.width) - 1) << f.offset
            if used & bits:
                raise ValueError(f"register {self.name}: field {f.name} overlaps another field")
            used |= bits


def _r(index, name, doc, *fields):
    return Register(name, 4 * index, doc, tuple(Field(*f) for f in fields))


def _address(index, tensor, what):
    """``ADDR_<TENSOR>``: the byte address of ``what``, one read-write field ``addr_<tensor>``."""
    return _r(index, f"ADDR_{tensor.upper()}", f"Byte address of {what}.",
              (f"addr_{tensor}", 0, 32, "rw", "Address, a multiple of INFO.bus_bytes."))


_REGISTERS = (
    _r(0, "CTRL", "Command register.",
       ("start", 0, 1, "w1p", "Write 1 to start the layer described by the other registers (ignored while busy).")),
    _r(1, "STATUS", "Status of the last layer; done/error stay set until the next start.",
       ("busy", 0, 1, "ro", "The engine is running."),
       ("done", 1, 1, "ro", "The last layer completed and its outputs are in memory."),
       ("error", 2, 1, "ro", "The last layer was refused or failed; see err_code."),
       ("err_code", 4, 4, "ro", "Why (ErrorCode: 1 bad precision, 2 precision mismatch, 3 zero dimension, "
                                "4 misaligned/out-of-range address, 5 buffer overflow, 6 bad geometry, 7 bus error).")),
    _r(2, "INFO", "Generator parameters of this engine (constant).",
       ("kind", 0, 4, "ro", "EngineKind: 1 dense, 2 conv2d, 3 depthwise."),
       ("macs", 4, 8, "ro", "Number of parallel ST MAC units P."),
       ("modes", 12, 4, "ro", "Bit m set: precision mode m (element width mul_width >> m) is supported."),
       ("bus_bytes", 16, 8, "ro", "Bus width in bytes; every address must be a multiple of it."),
       ("acc_bits", 24, 8, "ro", "Accumulator width.")),
    _r(3, "CYCLES", "Clock cycles from start to done/error of the last layer.",
       ("cycles", 0, 32, "ro", "Cycle count (saturates at 2**32-1).")),
    _r(15, "COMPUTE_CYCLES", "Clock cycles of the last layer's compute phase (no DMA).",
       ("compute_cycles", 0, 32, "ro", "Cycles from the first MAC issue to the last output requantized "
                                       "(saturates at 2**32-1).")),
    _r(4, "PREC", "Precision modes (m: element width mul_width >> m, e.g. 0/1/2 = 16/8/4 bit) and signedness.",
       ("a_mode", 0, 2, "rw", "Input activation precision mode."),
       ("a_signed", 2, 1, "rw", "Input activations are signed."),
       ("w_mode", 4, 2, "rw", "Weight precision mode (must equal a_mode)."),
       ("w_signed", 6, 1, "rw", "Weights are signed."),
       ("o_mode", 8, 2, "rw", "Output activation precision mode."),
       ("o_signed", 10, 1, "rw", "Outputs are signed (saturate to the signed range)."),
       ("relu", 12, 1, "rw", "Clamp negative outputs to zero before saturation.")),
    _r(5, "IN_SHAPE", "Input feature map size (1 x 1 for dense).",
       ("in_h", 0, 16, "rw", "Input height."),
       ("in_w", 16, 16, "rw", "Input width.")),
    _r(6, "CHANNELS", "Channels (dense: input and output features; depthwise: cin == cout, or cin == 1 for a "
                      "conv2d with one input channel).",
       ("cin", 0, 16, "rw", "Input channels / features."),
       ("cout", 16, 16, "rw", "Output channels / features.")),
    _r(7, "KERNEL", "Kernel size and stride (1 for dense).",
       ("kh", 0, 8, "rw", "Kernel height."),
       ("kw", 8, 8, "rw", "Kernel width."),
       ("stride_h", 16, 8, "rw", "Vertical stride."),
       ("stride_w", 24, 8, "rw", "Horizontal stride.")),
    _r(8, "OUT_SHAPE", "Output feature map size (1 x 1 for dense).",
       ("out_h", 0, 16, "rw", "Output height."),
       ("out_w", 16, 16, "rw", "Output width.")),
    _r(9, "PAD", "Zero padding before the first row / column (bottom/right padding follows from OUT_SHAPE).",
       ("pad_top", 0, 8, "rw", "Rows of zeros above the input."),
       ("pad_left", 8, 8, "rw", "Columns of zeros left of the input.")),
    _address(10, "in", "the input activations (hw.layout activation rows)"),
    _address(11, "w", "the weights (hw.layout weight rows for this engine kind)"),
    _address(12, "bias", "the per-channel 32-bit biases"),
    _address(13, "rq", "the per-channel requantization words (multiplier | shift << 16)"),
    _address(14, "out", "the output activations (hw.layout activation rows)"),
)

PROTOCOL = ("Write the layer registers, then write 1 to `CTRL.start`; `STATUS.busy` rises, and when the layer ends "
            "`busy` falls and either `done` or `error` (with `err_code`) is set; both stay set until the next start. "
            "A configuration error is detected before any bus access, and the engine then writes nothing.")

REGISTERS = tuple(sorted(_REGISTERS, key=lambda r: r.address))
_FIELDS = {f.name: (r, f) for r in REGISTERS for f in r.fields}
assert len(_FIELDS) == sum(len(r.fields) for r in REGISTERS), "register field names must be unique"
assert [f.name for r in REGISTERS for f in r.fields if f.access == "w1p"] == ["start"], "CsrBlock drives one pulse"


def register(name):
    """The :class:`Register` called ``name``."""
    for r in REGISTERS:
        if r.name == name:
            return r
    raise KeyError(f"no register {name!r}; registers are {[r.name for r in REGISTERS]}")


def field(name):
    """``(register, field)`` for a field name (field names are unique across the map)."""
    try:
        return _FIELDS[name]
    except KeyError:
        raise KeyError(f"no register field {name!r}; fields are {sorted(_FIELDS)}") from None


def encode(**values):
    """Register values ``{byte address: word}`` for the given rw field values (unnamed fields are 0)."""
    words = {}
    for name, value in values.items():
        reg, f = field(name)
        if f.access != "rw":
            raise ValueError(f"field {name} is {f.access}, not writable configuration")
        if not 0 <= value < 1 << f.width:
            raise ValueError(f"field {name} is {f.width} bits wide; {value} does not fit")
        words[reg.address] = words.get(reg.address, 0) | value << f.offset
    return words


# -- derived files ---------------------------------------------------------------------------------------------------
HEADER_PATH = Path("firmware/include/stacc_engine_regs.h")
MARKDOWN_PATH = Path("docs/registers.md")
_GENERATED = "Generated by `python -m hw.accel.regs` from hw/accel/regs.py; do not edit."


def c_header():
    """The C header text: offsets, shifts, masks, error codes and engine kinds."""
    out = [f"/* {_GENERATED} */", "#ifndef STACC_ENGINE_REGS_H", "#define STACC_ENGINE_REGS_H", ""]
    for r in REGISTERS:
        out.append(f"/* {r.name}: {r.doc} */")
        out.append(f"#define STACC_ENGINE_{r.name}_OFFSET 0x{r.address:02x}u")
        for f in r.fields:
            stem = f"STACC_ENGINE_{r.name}_{f.name.upper()}"
            mask = ((1 << f.width) - 1) << f.offset
            out.append(f"#define {stem}_SHIFT {f.offset}u  /* {f.access}: {f.doc} */")
            out.append(f"#define {stem}_MASK 0x{mask:08x}u")
        out.append("")
    for enum_cls, stem in ((ErrorCode, "STACC_ENGINE_ERR"), (EngineKind, "STACC_ENGINE_KIND")):
        out += [f"#define {stem}_{e.name} {int(e)}u" for e in enum_cls] + [""]
    out += ["#endif /* STACC_ENGINE_REGS_H */", ""]
    return "\n".join(out)


def markdown():
    """The Markdown register table."""
    out = ["# stacc engine registers", "", f"<!-- {_GENERATED} -->", "",
           "Byte offsets on the engine's CSR Wishbone port (32-bit registers). " + PROTOCOL, "",
           "| Offset | Register | Bits | Field | Access | Reset | Description |",
           "|---|---|---|---|---|---|---|"]
    for r in REGISTERS:
        for i, f in enumerate(r.fields):
            bits = f"{f.offset + f.width - 1}:{f.offset}" if f.width > 1 else f"{f.offset}"
            head = (f"0x{r.address:02x}", f"**{r.name}**") if i == 0 else ("", "")
            out.append(f"| {head[0]} | {head[1]} | {bits} | `{f.name}` | {f.access} | {f.reset} | {f.doc} |")
    out += ["", "Error codes (`STATUS.err_code`):", ""]
    out += [f"- {int(e)} `{e.name}`" for e in ErrorCode] + [""]
    return "\n".join(out)


def main(argv=None):
    """Write (or with ``--check`` verify) the generated header and Markdown table under ``--root``."""
    ap = argparse.ArgumentParser(prog="python -m hw.accel.regs", description=main.__doc__)
    ap.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
    ap.add_argument("--check", action="store_true", help="exit 1 if a generated file is missing or stale")
    args = ap.parse_args(argv)
    stale = []
    for rel, text in ((HEADER_PATH, c_header()), (MARKDOWN_PATH, markdown())):
        path = args.root / rel
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(rel))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"error: stale generated file(s) {stale}; run `python -m hw.accel.regs`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
