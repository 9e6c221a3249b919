"""Speed-up of the accelerator engines over the software kernels on the same CPU: DS-CNN's conv layers in the SoC.

:func:`dscnn_layers` takes DS-CNN's conv2d and depthwise layers (``conv1``: 10x4 kernel, stride 2 on the 49x10x1
input; ``dw1``..``dw4``: 3x3 depthwise on 25x5x64; ``pw1``..``pw4``: 1x1 convs 64 -> 64 on 25x5) from the shipped
export ``models/dscnn.{json,npz}`` (``hw.golden.net``). Where the export's layer is uniformly at the requested
precision (input, weights and output), the bench uses the export's own integers (weights, bias, requantization and
the stored input vector of sample 0; its golden output, recomputed with ``hw.golden`` at ``acc_bits=32`` as the
kernels accumulate, is checked against the export's stored output vector; ``data: "export"`` in the JSON); otherwise
the integers of the uniform export ``models/uniform<bits>/dscnn`` where it exists and the layer accumulates
within 32 bits (``model`` in the JSON names the export); otherwise a layer of the same shape, signedness, ReLU and
padding with seeded random integers from :func:`soc.vectors.make_layer` (``data: "random"``). ``--model`` selects
another export. Conv2D layers run on the ``conv`` engine, depthwise ones on the ``dw`` engine (the bench program
picks the first engine of the layer's kind).

:func:`run` builds ``firmware/programs/bench.c`` once per (layer, precision) with that layer's golden vectors as
``stacc_vectors.h`` (one layer at a time: a 16-bit pointwise layer's input, weights and expected output take 40 KB of
the 64 KB load region), runs it on the SoC in Verilator and returns one row per run; :func:`write` stores them as
``build/soc/speedup.json``.
"""

import json
import re
from pathlib import Path

import numpy as np

from hw import golden
from hw.golden import net as golden_net

from . import firmware, sim, vectors

__all__ = ["MODEL", "DSCNN_LAYERS", "SMALL_LAYERS", "PRECISIONS", "dscnn_layers", "small_layers", "layer_vectors",
           "parse_bench", "run", "write"]

MODEL = Path(__file__).resolve().parent.parent / "models" / "dscnn"
#: DS-CNN's conv2d and depthwise nodes (the layers the conv and dw engines run), in execution order.
DSCNN_LAYERS = ("conv1", "dw1", "pw1", "dw2", "pw2", "dw3", "pw3", "dw4", "pw4")
#: Export op -> soc.vectors kind of the layers the bench runs.
KINDS = {"conv2d": "conv2d", "depthwise_conv2d": "depthwise"}
PRECISIONS = (16, 8, 4)

#: Small layers for the fast test: a scaled-down DS-CNN first conv (10x4 kernel, stride 2, one input channel), a
#: pointwise conv and a 3x3 depthwise conv (more channels than MAC units, "same" padding).
SMALL_LAYERS = (
    vectors.LayerCase("small_conv1", "conv2d", 12, 4, 1, 8, k=(10, 4), stride=2, in_signed=True, seed=11),
    vectors.LayerCase("small_pw", "conv2d", 4, 4, 16, 8, k=1, seed=12),
    vectors.LayerCase("small_dw", "depthwise", 5, 4, 10, 10, k=3, seed=13),
)

_BENCH_LINE = re.compile(r"^BENCH (\w+) ((?:\w+=-?\d+ ?)+)\s*$")


def _node(net, name):
    for node in net.nodes:
        if node["name"] == name:
            return node
    raise ValueError(f"DS-CNN has no node {name!r}; its conv layers are {', '.join(DSCNN_LAYERS)}")


def _case(net, name, bits, sample):
    """The :class:`~soc.vectors.LayerCase` of conv2d or depthwise node ``name`` at ``bits`` (random seed: node
    index + 100 * sample, so layers of equal shape get different data)."""
    node = _node(net, name)
    seed = [n["name"] for n in net.nodes].index(name) + 100 * sample
    if node["op"] not in KINDS:
        raise ValueError(f"DS-CNN node {name!r} is a {node['op']}, not a conv2d or depthwise_conv2d (choose from "
                         f"{', '.join(DSCNN_LAYERS)})")
    kind = KINDS[node["op"]]
    x_desc, y_desc = net.tensors[node["inputs"][0]], net.tensors[name]
    kh, kw, cin, cout = net.arrays[node["weights"]].shape
    if kind == "depthwise":
        cout = cin                                     # depth multiplier 1: the kernel is (kh, kw, C, 1)
    h, w, _ = x_desc["shape"]
    strides = set(node["strides"])
    if len(strides) != 1:
        raise ValueError(f"DS-CNN node {name!r}: unequal strides {node['strides']} are not supported by LayerCase")
    return vectors.LayerCase(f"{name}_{bits}b", kind, h, w, cin, cout, k=(kh, kw), stride=strides.pop(),
                             padding=node["padding"], bits=bits, in_signed=x_desc["signed"], w_signed=True,
                             out_signed=y_desc["signed"], relu=node["relu"], seed=seed)


def layer_vectors(net, name, bits, sample=0):
    """``(LayerVectors, data)`` of DS-CNN conv2d or depthwise node ``name`` at ``bits``; ``data`` is ``"export"``
    (the export's own integers, its stored input vector number ``sample``) or ``"random"`` (same shape, random
    integers)."""
    if bits not in PRECISIONS:
        raise ValueError(f"bits must be one of {PRECISIONS}, not {bits!r}")
    node = _node(net, name)
    case = _case(net, name, bits, sample)
    widths = {net.tensors[node["inputs"][0]]["bits"], net.meta["arrays"][node["weights"]]["bits"],
              net.tensors[name]["bits"]}
    if widths != {bits}:                     # the export is not uniform at `bits` for this layer
        return vectors.make_layer(case), "random"
    a = net.arrays
    x = net.vectors(node["inputs"][0])[sample]
    v = vectors.LayerVectors(case, x, a[node["weights"]], a[node["bias"]], a[node["multiplier"]],
                             a[node["shift"]], None)
    v.y = golden.requantize(v.accumulate(), v.multiplier, v.shift, bits, case.out_signed, relu=case.relu)
    expected = net.vectors(name)[sample]
    if not np.array_equal(v.y, expected):
        raise AssertionError(f"DS-CNN {name}: hw.golden at acc_bits=32 differs from the export's stored output "
                             f"(the export's acc_bits={node['acc_bits']} accumulator wrapped?)")
    return v, "export"


def _fits_32_bits(net, name):
    """Whether the export's accumulator of node ``name`` fits the kernels' 32 bits (then golden at 32 bits is it)."""
    return _node(net, name)["acc_bits"] <= vectors.ACC_BITS


def dscnn_layers(names=DSCNN_LAYERS, precisions=PRECISIONS, model=MODEL, uniform=True):
    """``[(LayerVectors, data, model), ...]`` for every (layer, precision), layer-major; ``model`` is the export
    whose integers a ``data == "export"`` case holds (relative to the repository), else None.

    With ``uniform``, a (layer, bits) that ``model`` does not hold uniformly at ``bits`` takes the integers of the
    uniform export ``models/uniform<bits>/dscnn`` where it exists and its layer accumulates within 32 bits; random
    integers otherwise.
    """
    root = MODEL.parent.parent

    def relative(path):
        path = Path(path).resolve()
        return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)

    net = golden_net.load(model)
    uniform_nets = {}
    rows = []
    for name in names:
        for bits in precisions:
            v, data = layer_vectors(net, name, bits)
            source = relative(model) if data == "export" else None
            fallback = MODEL.parent / f"uniform{bits}" / MODEL.name
            if (data == "random" and uniform and fallback.with_suffix(".json").exists()
                    and relative(fallback) != relative(model)):
                if bits not in uniform_nets:
                    uniform_nets[bits] = golden_net.load(fallback)
                other = uniform_nets[bits]
                if _fits_32_bits(other, name):
                    found, found_data = layer_vectors(other, name, bits)
                    if found_data == "export":
                        v, data, source = found, found_data, relative(fallback)
            rows.append((v, data, source))
    return rows


def small_layers(precisions=PRECISIONS):
    """``[(LayerVectors, "random", None), ...]`` of :data:`SMALL_LAYERS` at each precision."""
    from dataclasses import replace
    return [(vectors.make_layer(replace(c, name=f"{c.name}_{bits}b", bits=bits)), "random", None)
            for c in SMALL_LAYERS for bits in precisions]


def parse_bench(uart):
    """The ``BENCH`` lines of the bench program as ``{name: {field: int}}``."""
    rows = {}
    for line in uart.splitlines():
        found = _BENCH_LINE.match(line)
        if found:
            rows[found.group(1)] = {k: int(v) for k, v in (f.split("=") for f in found.group(2).split())}
    return rows


def _macs(v):
    """Useful multiply-accumulates: per output element, the kernel window (x input channels for conv2d)."""
    window = v.wt.shape[:2] if v.case.kind == "depthwise" else v.wt.shape[:-1]
    return int(np.prod(v.y.shape)) * int(np.prod(window))


def run(layers, cpu="picorv32", engines=("conv", "dw"), build_dir="build/soc", max_cycles=400_000_000, log=print,
        corrupt=False):
    """Run every ``(LayerVectors, data, model)`` of ``layers`` through the bench program on the SoC; return the
    rows.

    Each row: ``layer``, ``bits``, ``cpu``, ``data`` and ``model`` (the export of the integers, or None), ``macs``,
    ``sw_cycles``, ``hw_cycles`` (CPU timer around the driver call: register writes, DMA, compute, polling),
    ``engine_cycles`` (the engine's CYCLES register),
    ``speedup`` = sw_cycles / hw_cycles, the mismatch counts against the golden output and between the two, the
    return codes, the simulation ``status`` and ``pass``. ``corrupt=True`` flips a bit of each embedded golden output
    (every row must then fail).
    """
    build = Path(build_dir)
    exe = sim.build_simulator(cpu, build / "sim", engines)
    rows = []
    for v, data, model in layers:
        name = v.case.name
        fw_dir = build / "fw" / "-".join([cpu, *engines]) / "bench" / name
        fw_dir.mkdir(parents=True, exist_ok=True)
        (fw_dir / "stacc_vectors.h").write_text(vectors.c_header([v], corrupt=corrupt))
        image, _ = firmware.build("bench", fw_dir, cpu, include_dirs=[fw_dir],
                                  defines=[f"STACC_N_ENGINES={len(engines)}"])
        result = sim.run(exe, image, max_cycles=max_cycles, timeout=3600)
        found = parse_bench(result.uart).get(name)
        row = {"layer": name.rsplit("_", 1)[0], "bits": v.case.bits, "cpu": cpu, "engines": list(engines),
               "data": data, "model": model, "macs": _macs(v), "status": result.status,
               "exit_reason": sim.EXIT_REASONS.get(result.status, "exit")}
        if found is None:
            row.update(pass_=False, uart=result.uart[-2000:])
        else:
            row.update({k: found[k] for k in ("sw_cycles", "hw_cycles", "engine_cycles", "sw_mismatches",
                                              "hw_mismatches", "sw_hw_diff", "words", "sw_rc", "hw_rc")})
            row["speedup"] = round(found["sw_cycles"] / found["hw_cycles"], 2) if found["hw_cycles"] else None
            row["sw_cycles_per_mac"] = round(found["sw_cycles"] / row["macs"], 2)
            row["pass_"] = (result.status == 0 and found["sw_rc"] == 0 and found["hw_rc"] == 0
                            and found["sw_mismatches"] == 0 and found["hw_mismatches"] == 0
                            and found["sw_hw_diff"] == 0)
        row["pass"] = row.pop("pass_")
        log(f"{cpu:9s} {name:16s} sw={row.get('sw_cycles')} hw={row.get('hw_cycles')} "
            f"engine={row.get('engine_cycles')} speedup={row.get('speedup')} {'PASS' if row['pass'] else 'FAIL'}")
        rows.append(row)
    return rows


def write(rows, out, command=None, merge=False):
    """Write ``rows`` (from :func:`run`) as the speed-up JSON ``out``; return the document. ``merge=True`` keeps the
    rows of an existing ``out`` for other (cpu, layer, bits) and records every command."""
    out = Path(out)
    commands = [command]
    if merge and out.exists():
        old = json.loads(out.read_text())
        key = lambda r: (r["cpu"], r["layer"], r["bits"])         # noqa: E731
        new = {key(r) for r in rows}
        rows = [r for r in old["rows"] if key(r) not in new] + list(rows)
        commands = old.get("commands", []) + commands
    doc = {"what": "cycles of DS-CNN conv and depthwise layers: software kernel vs engine (incl. driver) on the same "
                   "CPU, SoC in Verilator", "commands": commands,
           "pass": bool(rows) and all(r["pass"] for r in rows), "rows": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    return doc
