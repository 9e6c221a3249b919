"""Speed-up of the accelerator engines over the software kernels on the same CPU: DS-CNN's conv layers in the SoC.

:func:`dscnn_layers` takes DS-CNN's conv2d layers (``conv1``: 10x4 kernel, stride 2 on the 49x10x1 input;
``pw1``..``pw4``: 1x1 convs 64 -> 64 on 25x5) from the shipped export ``models/dscnn.{json,npz}`` (``hw.golden.net``).
Where the export's layer is uniformly at the requested precision (input, weights and output), the bench uses the
export's own integers (weights, bias, requantization and the stored input vector of sample 0; its golden output,
recomputed with ``hw.golden`` at ``acc_bits=32`` as the kernels accumulate, is checked against the export's stored
output vector; ``data: "export"`` in the JSON); otherwise a layer of the same shape, signedness, ReLU and padding
with seeded random integers from :func:`soc.vectors.make_layer` (``data: "random"``). ``--model`` selects another
export (e.g. a uniform-precision one). The depthwise layers are left out: hw.accel has no depthwise engine yet.

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
#: DS-CNN's conv2d nodes (the engine-accelerable conv layers), in execution order.
DSCNN_LAYERS = ("conv1", "pw1", "pw2", "pw3", "pw4")
PRECISIONS = (16, 8, 4)

#: Small layers for the fast test: a scaled-down DS-CNN first conv (10x4 kernel, stride 2, one input channel) and
#: a pointwise conv.
SMALL_LAYERS = (
    vectors.LayerCase("small_conv1", "conv2d", 12, 4, 1, 8, k=(10, 4), stride=2, in_signed=True, seed=11),
    vectors.LayerCase("small_pw", "conv2d", 4, 4, 16, 8, k=1, seed=12),
)

_BENCH_LINE = re.compile(r"^BENCH (\w+) ((?:\w+=-?\d+ ?)+)\s*$")


def _node(net, name):
    for node in net.nodes:
        if node["name"] == name:
            return node
    raise ValueError(f"DS-CNN has no node {name!r}; its conv2d layers are {', '.join(DSCNN_LAYERS)}")


def _case(net, name, bits, sample):
    """The :class:`~soc.vectors.LayerCase` of conv2d node ``name`` at ``bits`` (random seed: node index + 100 *
    sample, so layers of equal shape get different data)."""
    node = _node(net, name)
    seed = [n["name"] for n in net.nodes].index(name) + 100 * sample
    if node["op"] != "conv2d":
        raise ValueError(f"DS-CNN node {name!r} is a {node['op']}, not a conv2d (choose from {DSCNN_LAYERS})")
    x_desc, y_desc = net.tensors[node["inputs"][0]], net.tensors[name]
    kh, kw, cin, cout = net.arrays[node["weights"]].shape
    h, w, _ = x_desc["shape"]
    strides = set(node["strides"])
    if len(strides) != 1:
        raise ValueError(f"DS-CNN node {name!r}: unequal strides {node['strides']} are not supported by LayerCase")
    return vectors.LayerCase(f"{name}_{bits}b", "conv2d", h, w, cin, cout, k=(kh, kw), stride=strides.pop(),
                             padding=node["padding"], bits=bits, in_signed=x_desc["signed"], w_signed=True,
                             out_signed=y_desc["signed"], relu=node["relu"], seed=seed)


def layer_vectors(net, name, bits, sample=0):
    """``(LayerVectors, data)`` of DS-CNN conv2d node ``name`` at ``bits``; ``data`` is ``"export"`` (the export's
    own integers, its stored input vector number ``sample``) or ``"random"`` (same shape, random integers)."""
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


def dscnn_layers(names=DSCNN_LAYERS, precisions=PRECISIONS, model=MODEL):
    """``[(LayerVectors, data), ...]`` for every (layer, precision), layer-major."""
    net = golden_net.load(model)
    return [layer_vectors(net, name, bits) for name in names for bits in precisions]


def small_layers(precisions=PRECISIONS):
    """``[(LayerVectors, "random"), ...]`` of :data:`SMALL_LAYERS` at each precision."""
    from dataclasses import replace
    return [(vectors.make_layer(replace(c, name=f"{c.name}_{bits}b", bits=bits)), "random")
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
    return int(np.prod(v.y.shape)) * int(np.prod(v.wt.shape[:3]))


def run(layers, cpu="picorv32", engines=("conv",), build_dir="build/soc", max_cycles=400_000_000, log=print,
        corrupt=False):
    """Run every ``(LayerVectors, data)`` of ``layers`` through the bench program on the SoC; return the rows.

    Each row: ``layer``, ``bits``, ``cpu``, ``data``, ``macs``, ``sw_cycles``, ``hw_cycles`` (CPU timer around the
    driver call: register writes, DMA, compute, polling), ``engine_cycles`` (the engine's CYCLES register),
    ``speedup`` = sw_cycles / hw_cycles, the mismatch counts against the golden output and between the two, the
    return codes, the simulation ``status`` and ``pass``. ``corrupt=True`` flips a bit of each embedded golden output
    (every row must then fail).
    """
    build = Path(build_dir)
    exe = sim.build_simulator(cpu, build / "sim", engines)
    rows = []
    for v, data in layers:
        name = v.case.name
        fw_dir = build / "fw" / "-".join([cpu, *engines]) / "bench" / name
        fw_dir.mkdir(parents=True, exist_ok=True)
        (fw_dir / "stacc_vectors.h").write_text(vectors.c_header([v], corrupt=corrupt))
        image, _ = firmware.build("bench", fw_dir, cpu, include_dirs=[fw_dir],
                                  defines=[f"STACC_N_ENGINES={len(engines)}"])
        result = sim.run(exe, image, max_cycles=max_cycles, timeout=3600)
        found = parse_bench(result.uart).get(name)
        row = {"layer": name.rsplit("_", 1)[0], "bits": v.case.bits, "cpu": cpu, "engines": list(engines),
               "data": data, "macs": _macs(v), "status": result.status,
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
    doc = {"what": "cycles of DS-CNN conv layers: software kernel vs engine (incl. driver) on the same CPU, SoC in "
                   "Verilator", "commands": commands, "model": str(MODEL.relative_to(MODEL.parent.parent)),
           "pass": bool(rows) and all(r["pass"] for r in rows), "rows": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    return doc
