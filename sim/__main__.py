"""``python -m sim NET``: replay an exported integer net through the RTL engines on Verilator, bit-exact vs hw/golden.

For every conv2d / depthwise / dense node the matching engine is configured through its CSRs (``hw.accel.driver``
jobs), its packed tensors are placed in the testbench memory model and the RTL runs free; each layer's output is
compared with hw/golden bit for bit, and the net's final output (host layers recomputed from the RTL outputs) with
the test vectors stored in the export. Nodes whose engine does not exist yet, or that do not fit the engine, run on
the host and are listed as such: they are never counted as RTL-verified.

Writes ``build/sim/<net>.json`` and ``build/sim/<net>.png`` (``<net>-prec<B>.*`` for a uniform ``--prec``); exits 1
on a mismatch, 2 on a usage error.
"""

import argparse
import sys
import time
from pathlib import Path

from .plan import NETS, PRECS, ROOT, SIM_BUFFERS, assemble, plan, resolve, sim_params

OUT = ROOT / "build" / "sim"


def _net(value):
    if value != "all" and value not in NETS:
        raise argparse.ArgumentTypeError(f"unknown NET {value!r}; valid NETs are: {', '.join(NETS)}, all")
    return value


def _parser():
    p = argparse.ArgumentParser(prog="python -m sim", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("net", type=_net, metavar="NET", help=f"one of {', '.join(NETS)}, or all")
    p.add_argument("--prec", choices=PRECS, default="mixed",
                   help="mixed = as exported; 16/8/4 = uniform (a models/uniform<B>/<NET> export, or the export "
                        "widened when all its layers are narrower)")
    p.add_argument("--no-baseline", dest="baseline", action="store_false",
                   help="do not also run the uniform 16-bit baseline (needed for the speed-up columns)")
    p.add_argument("--sample", type=int, default=0, help="which stored test vector to replay")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="engine parameter (hw.params.EngineParams field, or mul_pipeline), e.g. macs=8; the buffers "
                        f"default to {', '.join(f'{k}={v}' for k, v in SIM_BUFFERS.items())}")
    p.add_argument("--models", type=Path, default=ROOT / "models", help="directory of the exports")
    p.add_argument("--out", type=Path, default=OUT, help="directory for <NET>.json and <NET>.png")
    p.add_argument("--waves", action="store_true", help="trace every layer to an FST waveform (slower)")
    p.add_argument("--plan-only", action="store_true", help="print where each layer would run; no simulation")
    return p


def _engine_params(assignments):
    from hw import tops

    values = tops.parse_params("fc_engine", assignments)
    mul_pipeline = values.pop("mul_pipeline", 1)
    return sim_params(**values), mul_pipeline


def _final_check(net, steps, measured, values, vectors_apply, sample):
    """Compare the net output assembled from the RTL layers with golden and (if they apply) the stored vectors."""
    from .rtl import first_difference

    out = assemble(net, steps, {s.name: measured[s.name].output for s in steps if s.name in measured}, values)
    name = net.outputs[0]
    diff = first_difference(values[name], out)
    if diff:
        return f"MISMATCH vs golden at {list(diff[0])}: expected {diff[1]}, observed {diff[2]}"
    if not vectors_apply:
        return "matches golden (derived net: the export's stored vectors do not apply)"
    diff = first_difference(net.vectors(name)[sample], out)
    if diff:
        return f"MISMATCH vs the export's test vector at {list(diff[0])}: expected {diff[1]}, observed {diff[2]}"
    return f"matches the export's test vector {sample}"


def simulate(name, prec, params, *, mul_pipeline=1, baseline=True, sample=0, models=ROOT / "models", out=OUT,
             waves=False, plan_only=False, corrupt=None, echo=print):
    """Plan, simulate and report one net; returns the JSON dict written (or the plan when ``plan_only``)."""
    from . import report
    from .rtl import run_steps

    started = time.time()
    precs = [prec] + (["16"] if baseline and prec != "16" else [])
    nets, plans = {}, {}
    for p in precs:
        net, how, vectors_apply = resolve(name, p, models, params.acc_bits)
        nets[p] = (net, how, vectors_apply)
        plans[p] = plan(net, params, sample)
        host = [s for s in plans[p][0] if s.reason]
        for s in host:
            echo(f"  WARNING {name} PREC={p}: {s.name} runs on the HOST, not RTL: {s.reason}")
    if plan_only:
        for p in precs:
            echo(report.table(name, p, nets[p][1], report.rows(plans[p][0], {}, params)))
        return {p: [s.label for s in plans[p][0]] for p in precs}
    keyed = [(f"{p}/{s.name}", s) for p in precs for s in plans[p][0]]
    echo(f"{name}: simulating {sum(s.where == 'rtl' for _, s in keyed)} layer runs on Verilator "
         f"(PREC={', '.join(precs)})")
    measured, mismatch = run_steps(keyed, params, out / "work" / name, mul_pipeline=mul_pipeline, waves=waves,
                                   corrupt=corrupt)
    by_prec, runs = {}, {}
    for p in reversed(precs):                              # the 16-bit baseline first: the others refer to it
        mine = {k.split("/", 1)[1]: v for k, v in measured.items() if k.startswith(f"{p}/")}
        base = {r["layer"]: r for r in by_prec.get("16", [])} if p != "16" else None
        by_prec[p] = report.rows(plans[p][0], mine, params, base, stopped=mismatch is not None)
        net, how, vectors_apply = nets[p]
        final = "not checked (a layer mismatched)" if mismatch else _final_check(
            net, plans[p][0], mine, plans[p][1], vectors_apply, sample)
        runs[p] = {"how": how, "layers": by_prec[p], "final_output": final}
    by_prec = {p: by_prec[p] for p in precs}
    for p in precs:
        echo(report.table(name, p, runs[p]["how"], by_prec[p]))
    summary = report.summary(by_prec, mismatch, {p: runs[p]["final_output"] for p in precs})
    stem = out / (name if prec == "mixed" else f"{name}-prec{prec}")
    data = report.write_json(stem.with_suffix(".json"), name, f"make sim NET={name} PREC={prec}", params, runs,
                             summary, time.time() - started)
    png = report.plot(stem.with_suffix(".png"), name, by_prec)
    _echo_summary(echo, name, summary, stem.with_suffix(".json"), png)
    return data


def _echo_summary(echo, name, s, path, png):
    echo(f"{name} summary: RTL layers {len(s['rtl_layers'])} of {s['weighted_layers']} weighted layers; "
         f"end-to-end RTL cycles {s['end_to_end_cycles']}" +
         (f", speed-up vs uniform 16 bit {s['speedup_vs_16']}" if s.get("speedup_vs_16") else ""))
    if s["host_weighted_layers"]:
        echo(f"  on the HOST (not RTL-verified): {', '.join(s['host_weighted_layers'])}")
    echo(f"  mismatches: {s['mismatches']}" + (f" -- {s['first_mismatch']}" if s["first_mismatch"] else ""))
    for p, final in s["final_output"].items():
        echo(f"  final output (PREC={p}): {final}")
    echo(f"  wrote {path} and {png}")


def main(argv=None):
    args = _parser().parse_args(argv)
    from .rtl import SimError
    try:
        params, mul_pipeline = _engine_params(args.param)
    except (KeyError, TypeError, ValueError) as err:
        raise SystemExit(f"error: --param: {err}") from None
    failed = []
    for name in NETS if args.net == "all" else (args.net,):
        try:
            data = simulate(name, args.prec, params, mul_pipeline=mul_pipeline, baseline=args.baseline,
                            sample=args.sample, models=args.models, out=args.out, waves=args.waves,
                            plan_only=args.plan_only)
        except (ValueError, FileNotFoundError, SimError) as err:
            print(f"error: {name}: {err}", file=sys.stderr)
            failed.append(name)
            continue
        if not args.plan_only and (data["summary"]["mismatches"] or any(
                "MISMATCH" in f for f in data["summary"]["final_output"].values())):
            failed.append(name)
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
