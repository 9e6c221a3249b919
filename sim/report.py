"""The replay's results: per-layer rows, the summary, the table on the terminal, ``build/sim/<net>.json`` and the plot.

Utilization is ``hw.perf.LayerCycles``'s: useful MACs / (cycles x P x lanes), lanes = ``mul_width // bits``.
"""

import json
import platform
import time
from pathlib import Path

from hw.perf import LayerCycles

__all__ = ["rows", "summary", "table", "write_json", "plot"]


def rows(steps, measured, params, baseline=None, stopped=False):
    """One dict per step: name, type, shape, MACs, precision, where, cycles, utilization and the speed-up over the
    16-bit ``baseline`` rows (``{name: row}``) when given. With ``stopped`` (the replay stopped at a mismatch), RTL
    steps without a measurement say that they did not run."""
    out = []
    for step in steps:
        row = {"layer": step.name, "type": step.op, "shape": list(step.shape), "macs": step.macs, "where": step.label,
               "reason": step.reason, "bits": step.bits, "o_bits": step.o_bits, "cycles": None,
               "compute_cycles": None, "util": None, "util_compute": None, "speedup_vs_16": None}
        got = measured.get(step.name)
        if got is None and step.where == "rtl" and stopped:
            row["where"] = "not run (stopped at a mismatch)"
        if got is not None:
            lanes = params.mul_width // step.bits
            model = LayerCycles(got.cycles, got.compute_cycles, step.macs, params.macs * lanes)
            row.update(cycles=got.cycles, compute_cycles=got.compute_cycles, util=round(model.util_total, 4),
                       util_compute=round(model.util_compute, 4))
            ref = (baseline or {}).get(step.name)
            if ref and ref["cycles"]:
                row["speedup_vs_16"] = round(ref["cycles"] / got.cycles, 3)
        out.append(row)
    return out


def summary(by_prec, mismatch, final):
    """End-to-end RTL cycles per precision over the layers that ran on RTL at every precision, the layers left on the
    host, the mismatch count and the final-output check."""
    common = set.intersection(*({r["layer"] for r in rs if r["cycles"] is not None} for rs in by_prec.values()))
    totals = {prec: sum(r["cycles"] for r in rs if r["layer"] in common) for prec, rs in by_prec.items()}
    any_rows = next(iter(by_prec.values()))
    weighted = [r["layer"] for r in any_rows if r["bits"] is not None]
    host = sorted({r["layer"] for rs in by_prec.values() for r in rs if r["bits"] is not None and r["cycles"] is None})
    result = {"end_to_end_cycles": totals, "rtl_layers": sorted(common, key=weighted.index),
              "weighted_layers": len(weighted), "host_weighted_layers": host,
              "mismatches": 0 if mismatch is None else 1, "first_mismatch": None if mismatch is None else str(mismatch),
              "final_output": final}
    if "16" in totals and len(totals) > 1:
        result["speedup_vs_16"] = {p: round(totals["16"] / t, 3) for p, t in totals.items() if t and p != "16"}
    return result


def _fmt(value, spec=""):
    return "-" if value is None else format(value, spec)


def table(net_name, prec, how, rows_):
    """The per-layer table as text."""
    head = f"{net_name} @ PREC={prec}: {how}"
    cols = (("layer", 12, "s"), ("type", 16, "s"), ("shape", 14, "s"), ("MACs", 9, ","), ("prec", 7, "s"),
            ("cycles", 10, ","), ("util", 6, ".1%"), ("x16", 6, ".2f"), ("runs on", 28, "s"))
    lines = [head, "  ".join(f"{n:>{w}}" if f != "s" else f"{n:<{w}}" for n, w, f in cols)]
    for r in rows_:
        prec_txt = f"{r['bits']}->{r['o_bits']}" if r["bits"] else "-"
        values = (r["layer"], r["type"], "x".join(map(str, r["shape"])), r["macs"], prec_txt, r["cycles"], r["util"],
                  r["speedup_vs_16"], r["where"])
        lines.append("  ".join(f"{v:<{w}}" if f == "s" else f"{_fmt(v, f):>{w}}" for v, (_, w, f) in zip(values, cols)))
    return "\n".join(lines)


def write_json(path, net_name, command, params, runs, summary_, wall_seconds):
    """Write ``path`` (``build/sim/<net>.json``): parameters, machine, date, per-precision rows and the summary;
    return the data written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"net": net_name, "command": command, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{platform.node()} ({platform.machine()}, {platform.processor() or 'cpu'})",
            "wall_seconds": round(wall_seconds, 1), "engine_params": params.as_dict(), "runs": runs,
            "summary": summary_}
    path.write_text(json.dumps(data, indent=1) + "\n")
    return data


def plot(path, net_name, by_prec):
    """Grouped bars of RTL cycles per layer, one colour per precision (matplotlib, Agg backend)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = [r["layer"] for r in next(iter(by_prec.values())) if r["bits"] is not None]
    width = 0.8 / max(len(by_prec), 1)
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(layers) + 2), 4))
    for i, (prec, rs) in enumerate(by_prec.items()):
        cycles = {r["layer"]: r["cycles"] or 0 for r in rs}
        ax.bar([j + i * width for j in range(len(layers))], [cycles.get(n, 0) for n in layers], width,
               label=f"PREC={prec}")
    ax.set_xticks([j + width * (len(by_prec) - 1) / 2 for j in range(len(layers))], layers, rotation=45, ha="right")
    ax.set_ylabel("cycles (RTL, Verilator)")
    ax.set_title(f"{net_name}: cycles per layer (0 = ran on the host)")
    ax.legend()
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
