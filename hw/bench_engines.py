"""Engine benchmark: cycles, useful MACs and lane utilization of the real TinyML layer shapes at 16/8/4 bit.

``python -m hw.bench_engines`` writes ``build/bench_engines.json`` and prints a Markdown table. Every layer gets the
analytic cycle model (``hw.perf``); with ``--rtl`` (the default for the layers up to ``--rtl-max-macs``) the engine's
RTL is also simulated (amaranth.sim, Wishbone memory model of ``hw.accel.sim``), its outputs checked bit-exactly
against ``hw.golden`` and its ``CYCLES``/``COMPUTE_CYCLES`` registers recorded next to the model.

Depthwise layers (DS-CNN and MobileNetV1-0.25 at 96 x 96, all 3 x 3) get the model, and the RTL for those up to
``--rtl-max-dw-macs`` MACs that fit one engine run. Conv2D layers get the model only (their RTL runs in
``cocotb_tests/test_engine_conv.py`` on Verilator, which checks the model within 5 %, as
``cocotb_tests/test_engine_dwconv.py`` does for the depthwise shapes); a conv layer with one input channel also gets a
depthwise-engine row (``hw.perf.conv2d_engine``: where ``make sim`` runs it). ``runs`` is the number of engine runs the
driver splits a layer into (``hw.perf.row_bands``: bands of output rows when the input or output exceeds the buffers;
``no`` when the weights exceed them, in which case the model is of one run on an engine with large enough buffers).
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from .params import EngineParams
from .perf import (conv2d_cycles, conv2d_engine, conv2d_layer_cycles, conv2d_runs, depthwise_conv2d_cycles,
                   depthwise_conv2d_layer_cycles, depthwise_conv2d_runs, fc_layer_cycles, fc_tiles)

__all__ = ["DENSE_LAYERS", "CONV_LAYERS", "DEPTHWISE_LAYERS", "bench", "markdown", "main"]

#: (net, layer, In, Out) of every dense layer of the four nets.
DENSE_LAYERS = (
    ("dscnn", "fc", 64, 12),
    ("resnet8", "fc", 64, 10),
    ("mobilenetv1", "fc", 256, 2),
    ("fcae", "enc1", 640, 128), ("fcae", "enc2", 128, 128), ("fcae", "enc3", 128, 128), ("fcae", "enc4", 128, 128),
    ("fcae", "bottleneck", 128, 8), ("fcae", "dec1", 8, 128), ("fcae", "dec2", 128, 128), ("fcae", "dec3", 128, 128),
    ("fcae", "dec4", 128, 128), ("fcae", "out", 128, 640),
)


#: (net, layer, input shape, kernel, Cout, strides, padding) of conv layers (depthwise excluded).
CONV_LAYERS = (
    ("dscnn", "conv1", (49, 10, 1), (10, 4), 64, (2, 2), "same"),
    ("dscnn", "pw1..4", (25, 5, 64), (1, 1), 64, (1, 1), "same"),
    ("resnet8", "conv1", (32, 32, 3), (3, 3), 16, (1, 1), "same"),
    ("resnet8", "s1", (32, 32, 16), (3, 3), 16, (1, 1), "same"),
    ("resnet8", "s2a", (32, 32, 16), (3, 3), 32, (2, 2), "same"),
    ("resnet8", "s2b", (16, 16, 32), (3, 3), 32, (1, 1), "same"),
    ("resnet8", "s2sc", (32, 32, 16), (1, 1), 32, (2, 2), "same"),
    ("resnet8", "s3a", (16, 16, 32), (3, 3), 64, (2, 2), "same"),
    ("resnet8", "s3b", (8, 8, 64), (3, 3), 64, (1, 1), "same"),
    ("resnet8", "s3sc", (16, 16, 32), (1, 1), 64, (2, 2), "same"),
    ("mobilenetv1", "conv1", (96, 96, 3), (3, 3), 8, (2, 2), "same"),
    ("mobilenetv1", "pw1", (48, 48, 8), (1, 1), 16, (1, 1), "same"),
    ("mobilenetv1", "pw2", (24, 24, 16), (1, 1), 32, (1, 1), "same"),
    ("mobilenetv1", "pw4", (12, 12, 32), (1, 1), 64, (1, 1), "same"),
    ("mobilenetv1", "pw6", (6, 6, 64), (1, 1), 128, (1, 1), "same"),
    ("mobilenetv1", "pw7..11", (6, 6, 128), (1, 1), 128, (1, 1), "same"),
    ("mobilenetv1", "pw13", (3, 3, 256), (1, 1), 256, (1, 1), "same"),
)


#: (net, layer, input shape, kernel, strides, padding) of the depthwise layers (depth multiplier 1).
DEPTHWISE_LAYERS = (
    ("dscnn", "dw1..4", (25, 5, 64), (3, 3), (1, 1), "same"),
    ("mobilenetv1", "dw1", (48, 48, 8), (3, 3), (1, 1), "same"),
    ("mobilenetv1", "dw2", (48, 48, 16), (3, 3), (2, 2), "same"),
    ("mobilenetv1", "dw3", (24, 24, 32), (3, 3), (1, 1), "same"),
    ("mobilenetv1", "dw4", (24, 24, 32), (3, 3), (2, 2), "same"),
    ("mobilenetv1", "dw5", (12, 12, 64), (3, 3), (1, 1), "same"),
    ("mobilenetv1", "dw6", (12, 12, 64), (3, 3), (2, 2), "same"),
    ("mobilenetv1", "dw7..11", (6, 6, 128), (3, 3), (1, 1), "same"),
    ("mobilenetv1", "dw12", (6, 6, 128), (3, 3), (2, 2), "same"),
    ("mobilenetv1", "dw13", (3, 3, 256), (3, 3), (1, 1), "same"),
)


def _measure(engine, what, job, expected):
    """Simulate one layer's job on the RTL; return summed (cycles, compute cycles) after checking the outputs."""
    from .accel.driver import read_output
    from .accel.sim import run_engine

    memory, results = run_engine(engine, [job], max_cycles=2_000_000)
    if any(r["status"]["done"] != 1 for r in results):
        raise RuntimeError(f"{what}: engine reported {results}")
    if not np.array_equal(read_output(job, memory.words), expected):
        raise RuntimeError(f"{what}: RTL output differs from hw.golden")
    return sum(r["cycles"] for r in results), sum(r["compute_cycles"] for r in results)


def _rtl_record(model, cycles, compute):
    return {"cycles": cycles, "compute_cycles": compute,
            "util_compute": model.macs / (compute * model.peak_macs_per_cycle),
            "util_total": model.macs / (cycles * model.peak_macs_per_cycle),
            "model_error": abs(model.total - cycles) / cycles}


def bench(params, *, rtl_max_macs=1024, rtl_max_dw_macs=80_000, precisions=None):
    """One record per (layer, precision): model cycles/utilization, and RTL cycles for small layers (dense layers up
    to ``rtl_max_macs`` MACs, depthwise layers up to ``rtl_max_dw_macs`` that fit one engine run)."""
    from .accel.dwconv import DepthwiseConv2dEngine
    from .accel.fc import FullyConnectedEngine
    from .accel.sim import random_dense_layer, random_depthwise_layer

    rows = []
    for net, layer, n_in, n_out in DENSE_LAYERS:
        for bits in precisions or params.precisions:
            model = fc_layer_cycles(params, n_in, n_out, bits)
            row = {"engine": "dense", "net": net, "layer": layer, "shape": [n_in, n_out], "bits": bits,
                   "model": model.as_dict(), "rtl": None, "runs": len(fc_tiles(params, n_in, n_out, bits))}
            if n_in * n_out <= rtl_max_macs:
                job, expected = random_dense_layer(np.random.default_rng(n_in * n_out + bits), params, n_in, n_out,
                                                   bits)
                row["rtl"] = _rtl_record(model, *_measure(FullyConnectedEngine(params),
                                                          f"dense {n_in}x{n_out} @ {bits} bit", job, expected))
            rows.append(row)
    for net, layer, shape, kernel, strides, padding in DEPTHWISE_LAYERS:
        for bits in precisions or params.precisions:
            kw = dict(strides=strides, padding=padding)
            runs = depthwise_conv2d_runs(params, shape, kernel, bits, **kw)
            model = (depthwise_conv2d_layer_cycles if runs else depthwise_conv2d_cycles)(params, shape, kernel, bits,
                                                                                           **kw)
            row = {"engine": "depthwise", "net": net, "layer": layer, "shape": [*shape, *kernel],
                   "strides": list(strides), "bits": bits, "model": model.as_dict(), "rtl": None, "runs": runs}
            if runs == 1 and model.macs <= rtl_max_dw_macs:
                job, expected = random_depthwise_layer(np.random.default_rng(model.macs + bits), params, shape,
                                                       kernel, bits, relu=True, **kw)
                row["rtl"] = _rtl_record(model, *_measure(DepthwiseConv2dEngine(params),
                                                          f"depthwise {shape} @ {bits} bit", job, expected))
            rows.append(row)
    for net, layer, shape, kernel, cout, strides, padding in CONV_LAYERS:
        for bits in precisions or params.precisions:
            kw = dict(strides=strides, padding=padding)
            runs = conv2d_runs(params, shape, kernel, cout, bits, **kw)
            model = (conv2d_layer_cycles if runs else conv2d_cycles)(params, shape, kernel, cout, bits, **kw)
            rows.append({"engine": "conv2d", "net": net, "layer": layer, "shape": [*shape, *kernel, cout],
                         "strides": list(strides), "bits": bits, "model": model.as_dict(), "rtl": None,
                         "runs": runs})
            if conv2d_engine(shape) == "depthwise":          # where make sim runs it: taps on the lanes
                kw["n_out"] = cout
                runs = depthwise_conv2d_runs(params, shape, kernel, bits, **kw)
                model = (depthwise_conv2d_layer_cycles if runs else depthwise_conv2d_cycles)(params, shape, kernel,
                                                                                               bits, **kw)
                rows.append({"engine": "depthwise", "net": net, "layer": f"{layer} (cin=1)",
                             "shape": [*shape, *kernel, cout], "strides": list(strides), "bits": bits,
                             "model": model.as_dict(), "rtl": None, "runs": runs})
    return rows


def markdown(rows):
    """A Markdown table of :func:`bench` records."""
    out = ["| engine | layer | shape | bits | cycles (model) | cycles (RTL) | compute util. | end-to-end util. "
           "| runs |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m, rtl = r["model"], r["rtl"]
        util = rtl or m
        out.append(f"| {r['engine']} | {r['net']}/{r['layer']} | {'x'.join(map(str, r['shape']))} | {r['bits']} | "
                   f"{m['total']} | {rtl['cycles'] if rtl else '-'} | {util['util_compute']:.1%} | "
                   f"{util['util_total']:.1%} | {r['runs'] or 'no'} |")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m hw.bench_engines", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("build/bench_engines.json"))
    ap.add_argument("--rtl-max-macs", type=int, default=1024,
                    help="simulate the RTL of dense layers with at most this many MACs (0: model only; default 1024)")
    ap.add_argument("--rtl-max-dw-macs", type=int, default=80_000,
                    help="simulate the RTL of depthwise layers with at most this many MACs that fit one engine run "
                         "(0: model only; default 80000: DS-CNN and the late MobileNet layers)")
    args = ap.parse_args(argv)
    params = EngineParams()
    t0 = time.time()
    rows = bench(params, rtl_max_macs=args.rtl_max_macs, rtl_max_dw_macs=args.rtl_max_dw_macs)
    record = {"command": "python -m hw.bench_engines " + " ".join(argv if argv is not None else sys.argv[1:]),
              "params": params.as_dict(), "memory_model": "hw.accel.sim.WishboneMemory, wait=0",
              "machine": f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}",
              "seconds": round(time.time() - t0, 1), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1))
    print(markdown(rows))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
