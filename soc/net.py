"""Whole exported nets on the SoC: every weighted layer on an engine (and, for comparison, in software), the CPU in
between — ``python -m soc net``.

:func:`steps` turns a *chain* net (``hw.golden.net`` export whose nodes after the input are ``conv2d``,
``depthwise_conv2d``, ``dense``, ``avg_pool2d`` and ``flatten``, each fed by the one before: DS-CNN) into the steps of
``firmware/programs/net.c``; :func:`c_header` writes them as ``stacc_net_data.h``.

Precisions. The engines and the software kernels multiply operands of equal width, so a weighted layer computes at
``max(input bits, weight bits)``: narrower weights are widened here (constants), a narrower input is widened by the
CPU before the layer (``stacc_repack``; e.g. DS-CNN's 4-bit pointwise outputs to 8 bit for its 8-bit depthwise
weights), and the net's input is stored at the first layer's width. Values never change, so every output is the
export's.

Check. Every step's output memory image is hashed (:func:`fnv1a`, ``stacc_hash`` in C) and compared on the CPU with
the hash of golden's tensor, and the last output (the logits) is printed and compared here. Golden's tensors are
recomputed with 32-bit accumulators, as the kernels and the SoC's engines wrap, and must equal the export's stored
vectors (asserted: otherwise the export needs wider accumulators than the SoC has).

:func:`run` builds the program for one CPU, runs it on the SoC in Verilator (engines ``conv``, ``dw``, ``fc``) and
returns a report: per step and pass (``sw``: all layers with the software kernels, ``hw``: on the engines) the
cycles, the totals and the end-to-end speed-up; :func:`write` stores the reports as ``build/soc/net.json``.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw import layout
from hw.golden import net as golden_net

from . import firmware, sim, vectors

__all__ = ["MODEL", "ENGINES", "OPS", "Step", "fnv1a", "steps", "c_header", "parse", "run", "make_report", "write"]

MODEL = Path(__file__).resolve().parent.parent / "models" / "dscnn"
#: The engines the hw pass uses: conv2d, depthwise and dense layers.
ENGINES = ("conv", "dw", "fc")
#: Node op -> code of the step in firmware/include/stacc_net.h (layer kinds as in soc.vectors.KINDS).
OPS = {"conv2d": vectors.KINDS["conv2d"], "depthwise_conv2d": vectors.KINDS["depthwise"],
       "dense": vectors.KINDS["dense"], "avg_pool2d": 4, "flatten": 5}
WEIGHTED = ("conv2d", "depthwise_conv2d", "dense")

_STEP = re.compile(r"^STEP (\w+) mode=(sw|hw) ((?:\w+=-?\d+ ?)+)\s*$")
_NET = re.compile(r"^NET mode=(sw|hw) ((?:\w+=-?\d+ ?)+)\s*$")


def fnv1a(words):
    """FNV-1a over 32-bit words (``stacc_hash`` in firmware/include/stacc_net.h)."""
    h = 2166136261
    for w in np.asarray(words, dtype=np.int64).ravel():
        h = ((h ^ (int(w) & 0xFFFFFFFF)) * 16777619) & 0xFFFFFFFF
    return h


@dataclass
class Step:
    """One step of the firmware: the node, its ``stacc_layer_t`` fields, the precision of the tensor it receives
    (``src``, ``(bits, signed)``), the memory images of its constants and golden's output ``y``."""
    name: str
    op: str
    fields: tuple                # (same, relu, in, wt, out, h, w, cin, cout, kh, kw, stride_h, stride_w)
    src: tuple
    y: np.ndarray
    y_words: np.ndarray
    shift: int = 0
    w: np.ndarray = None
    bias: np.ndarray = None
    requant: np.ndarray = None

    @property
    def widen(self):
        """The CPU widens the incoming tensor before this step."""
        return self.src != self.fields[2]


def _chain(net):
    """The nodes after the input, checked to form a chain of supported ops."""
    nodes = [n for n in net.nodes if n["op"] != "input"]
    previous = net.inputs[0]
    for node in nodes:
        if node["op"] not in OPS:
            raise ValueError(f"{net.name}: node {node['name']!r} is a {node['op']}; the SoC net runner supports "
                             f"{', '.join(OPS)} (a chain net such as DS-CNN)")
        if node["inputs"] != [previous]:
            raise ValueError(f"{net.name}: node {node['name']!r} reads {node['inputs']}, not the previous node "
                             f"{previous!r}; the SoC net runner needs a chain net such as DS-CNN")
        previous = node["name"]
    return nodes


def _prec(desc):
    return int(desc["bits"]), bool(desc["signed"])


def steps(net, sample=0):
    """``(input image, [Step, ...])`` of chain net ``net`` on its stored input vector number ``sample``.

    Raises ``ValueError`` for a net that is not a chain of supported ops, ``AssertionError`` when golden with 32-bit
    accumulators differs from the export's stored vectors.
    """
    nodes = _chain(net)
    n_vectors = len(net.vectors(net.inputs[0]))
    if not 0 <= sample < n_vectors:
        raise ValueError(f"sample must be in [0, {n_vectors}) (the export's stored input vectors), not {sample}")
    x = net.vectors(net.inputs[0])[sample:sample + 1]
    value, src = x, _prec(net.tensors[net.inputs[0]])
    out_steps, input_prec = [], None
    for node in nodes:
        op, name = node["op"], node["name"]
        out_desc = net.tensors[name]
        out = _prec(out_desc)
        shape = value.shape[1:]
        h, w, c = shape if len(shape) == 3 else (1, 1, shape[0])
        node32 = {**node, "acc_bits": vectors.ACC_BITS} if op in WEIGHTED else node
        y = golden_net.apply(net, node32, [value])
        stored = net.vectors(name)[sample:sample + 1]
        if not np.array_equal(y, stored):
            raise AssertionError(f"{net.name} {name}: hw.golden with {vectors.ACC_BITS}-bit accumulators differs from "
                                 f"the export's stored output (the export needs wider accumulators than the SoC's)")
        step = Step(name, op, None, src, y[0], layout.activation_words(y[0], *out))
        if op in WEIGHTED:
            wt_desc = net.meta["arrays"][node["weights"]]
            bits = max(src[0], int(wt_desc["bits"]))
            inp, wt = (bits, src[1]), (bits, bool(wt_desc["signed"]))
            weights = net.arrays[node["weights"]]
            kh, kw = weights.shape[:2] if op != "dense" else (1, 1)
            cout = c if op == "depthwise_conv2d" else weights.shape[-1]
            strides = node.get("strides", (1, 1))
            image = {"conv2d": layout.conv2d_weight_words, "depthwise_conv2d": layout.depthwise_weight_words,
                     "dense": layout.dense_weight_words}[op]
            step.w = image(weights, *wt)
            step.bias = net.arrays[node["bias"]]
            step.requant = layout.requant_words(net.arrays[node["multiplier"]], net.arrays[node["shift"]], cout)
            step.fields = (node.get("padding") == "same", node["relu"], inp, wt, out, h, w, c, cout, kh, kw,
                           *strides)
        elif op == "avg_pool2d":
            step.shift = int(node["shift"])
            step.fields = (node["padding"] == "same", False, src, src, out, h, w, c, c, *node["pool_size"],
                           *node["strides"])
        else:                                            # flatten: (h, w, c) -> one row of h*w*c
            step.fields = (False, False, src, src, out, h, w, c, h * w * c, 1, 1, 1, 1)
        if input_prec is None:                           # the net input is stored at the first step's width
            input_prec = step.fields[2]
            step.src = input_prec
        out_steps.append(step)
        value, src = y, out
    return layout.activation_words(x[0], *input_prec), out_steps


def c_header(net, sample=0, corrupt=False):
    """Text of ``stacc_net_data.h`` for :func:`steps` of ``net``; ``corrupt=True`` flips a bit of the first step's
    expected hash (that step must then fail: proves the check can fail)."""
    x_words, all_steps = steps(net, sample)
    out = [f"/* Generated by soc/net.py from {net.name} (stored input vector {sample}), hw/golden and hw/layout; "
           f"do not edit. */", "#ifndef STACC_NET_DATA_H", "#define STACC_NET_DATA_H", "", '#include "stacc_net.h"',
           "", vectors.c_array("uint32_t", "stacc_net_input", x_words)]
    entries, largest = [], len(x_words)
    for s in all_steps:
        arrays = {}
        for key, ctype in (("w", "uint32_t"), ("bias", "int32_t"), ("requant", "uint32_t")):
            if getattr(s, key) is not None:
                out.append(vectors.c_array(ctype, f"{s.name}_{key}", getattr(s, key)))
                arrays[key] = f"{s.name}_{key}"
        same, relu, inp, wt, o, h, w, c, cout, kh, kw, sh, sw = s.fields
        layer = vectors.c_layer(OPS[s.op], same, relu, inp, wt, o, h, w, c, cout, kh, kw, sh, sw)
        widened = h * w * layout.row_words(c, inp[0]) if s.widen else 0
        largest = max(largest, len(s.y_words), widened)
        entries.append(f'    {{"{s.name}", {layer}, {{{s.src[0]}, {int(s.src[1])}}}, {s.shift}, '
                       f"{arrays.get('w', '0')}, {arrays.get('requant', '0')}, {arrays.get('bias', '0')}, "
                       f"{len(s.y_words)}u, 0x{fnv1a(s.y_words) ^ (corrupt and not entries):08x}u}},")
    out += ["", "static const stacc_step_t stacc_net_steps[] = {", *entries, "};",
            f"#define STACC_NET_N_STEPS {len(all_steps)}", f"#define STACC_NET_BUF_WORDS {largest}", "",
            "#endif /* STACC_NET_DATA_H */", ""]
    return "\n".join(out)


def parse(uart):
    """The ``STEP`` / ``NET`` / ``LOGITS`` lines of the net program: ``{mode: {"steps": {name: {field: int}},
    "net": {field: int}, "logits": [words]}}``."""
    passes = {}
    for line in uart.splitlines():
        found = _STEP.match(line)
        if found:
            fields = {k: int(v) for k, v in (f.split("=") for f in found.group(3).split())}
            passes.setdefault(found.group(2), {"steps": {}})["steps"][found.group(1)] = fields
        found = _NET.match(line)
        if found:
            passes.setdefault(found.group(1), {"steps": {}})["net"] = {
                k: int(v) for k, v in (f.split("=") for f in found.group(2).split())}
        if line.startswith("LOGITS mode="):
            parts = line.split()
            passes.setdefault(parts[1].split("=")[1], {"steps": {}})["logits"] = [int(h, 16) for h in parts[2:]]
    return passes


def run(cpu="picorv32", model=MODEL, sample=0, sw=True, hw=True, engines=ENGINES, build_dir="build/soc",
        max_cycles=2_000_000_000, log=print):
    """Run :func:`steps` of the net at ``model`` on the SoC with ``cpu``; return the report (see the module doc).

    ``sw``/``hw`` choose the passes (software kernels / engines). The report's ``pass`` is true when the firmware
    exited with 0 (every step's hash equal to golden's), every pass ran and its logits decode to golden's output.
    """
    if not (sw or hw):
        raise ValueError("choose at least one of the passes sw and hw")
    net = golden_net.load(model)
    _, all_steps = steps(net, sample)
    build = Path(build_dir)
    passes = "+".join(mode for mode, wanted in (("sw", sw), ("hw", hw)) if wanted)
    fw_dir = build / "fw" / "-".join([cpu, *(engines if hw else ())]) / "net" / f"{net.name}-{passes}"
    fw_dir.mkdir(parents=True, exist_ok=True)
    (fw_dir / "stacc_net_data.h").write_text(c_header(net, sample))
    image, _ = firmware.build("net", fw_dir, cpu, include_dirs=[fw_dir],
                              defines=[f"STACC_N_ENGINES={len(engines) if hw else 0}", f"STACC_NET_SW={int(sw)}",
                                       f"STACC_NET_HW={int(hw)}"])
    exe = sim.build_simulator(cpu, build / "sim", engines if hw else ())
    result = sim.run(exe, image, max_cycles=max_cycles, timeout=7200)
    report = make_report(net.name, model, sample, cpu, list(engines) if hw else [], all_steps, result.uart,
                         result.status, sw, hw)
    log(f"{cpu:9s} {net.name}: " + " ".join(f"{m}={report[m].get('cycles')}" for m in ("sw", "hw") if m in report)
        + f" speedup={report.get('speedup')} {'PASS' if report['pass'] else 'FAIL'}")
    return report


def make_report(name, model, sample, cpu, engines, all_steps, uart, status, sw=True, hw=True):
    """The report of :func:`run` from the program's UART text and exit ``status``."""
    passes = parse(uart)
    last = all_steps[-1]
    out_bits, out_signed = last.fields[4]
    root, path = MODEL.parent.parent, Path(model).resolve()
    report = {"net": name, "model": str(path.relative_to(root)) if path.is_relative_to(root) else str(path),
              "sample": sample, "cpu": cpu, "engines": engines, "status": status,
              "exit_reason": sim.EXIT_REASONS.get(status, "exit"),
              "steps": [{"name": s.name, "op": s.op, "compute_bits": s.fields[2][0], "widened": s.widen,
                         **{f"{mode}_{k}": passes.get(mode, {}).get("steps", {}).get(s.name, {}).get(k)
                            for mode in ("sw", "hw") for k in ("cycles", "widen_cycles", "engine_cycles", "ok")}}
                        for s in all_steps],
              "expected_argmax": int(np.argmax(last.y))}
    ok = status == 0
    for mode, wanted in (("sw", sw), ("hw", hw)):
        if not wanted:
            continue
        found = passes.get(mode, {})
        logits = found.get("logits")
        equal = logits is not None and np.array_equal(
            layout.output_from_words(logits, last.y.shape, out_bits, out_signed), last.y)
        per_step = [found.get("steps", {}).get(st.name, {}) for st in all_steps]
        weighted = [f for st, f in zip(all_steps, per_step) if st.op in WEIGHTED]
        report[mode] = {**found.get("net", {}), "logits_equal_golden": bool(equal),
                        # where the cycles go: weighted layers (widening excluded), widening, pooling + flatten
                        "layer_cycles": sum(f.get("cycles", 0) - f.get("widen_cycles", 0) for f in weighted),
                        "widen_cycles": sum(f.get("widen_cycles", 0) for f in per_step),
                        "cpu_step_cycles": sum(f.get("cycles", 0) for st, f in zip(all_steps, per_step)
                                               if st.op not in WEIGHTED)}
        ok = ok and equal and found.get("net", {}).get("failed") == 0
    if sw and hw and report["hw"].get("cycles"):
        report["speedup"] = round(report["sw"]["cycles"] / report["hw"]["cycles"], 2)
    report["pass"] = bool(ok)
    if not ok:
        report["uart"] = uart[-3000:]
    return report


def write(reports, out, command=None):
    """Write the reports of :func:`run` as ``out`` (JSON), keeping those of an existing file for other (cpu,
    model, sample); return the document."""
    out = Path(out)
    old = json.loads(out.read_text()) if out.exists() else {"runs": [], "commands": []}
    key = lambda r: (r["cpu"], r["model"], r["sample"])         # noqa: E731
    new = {key(r) for r in reports}
    runs = [r for r in old["runs"] if key(r) not in new] + list(reports)
    doc = {"what": "a whole net on the SoC in Verilator: weighted layers on the engines (hw) or with the software "
                   "kernels (sw), the CPU for pooling, flatten and widening; cycles from the CPU timer",
           "commands": old.get("commands", []) + [command], "pass": all(r["pass"] for r in runs), "runs": runs}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    return doc
