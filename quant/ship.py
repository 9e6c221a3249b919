"""Train and export the shipped integer nets: ``models/<net>`` (mixed precision) and ``models/uniform<B>/<net>``.

``python -m quant.ship NET`` (``make models`` runs it for every net) regenerates, from one seeded float training:

* ``<out>/<net>.{json,npz}``: the mixed-precision net (the first of :data:`MIXED_CANDIDATES` whose quantized
  score stays within ``--tolerance`` of the float model's, else the one with the best score, ties to the later, more
  conservative one), the export that ``make sim NET=<net>`` replays. The score is validation accuracy; for FC-AE,
  whose validation split has no anomalies, the test AUC (as in :mod:`quant.search`);
* ``<out>/uniform<B>/<net>.{json,npz}``: the uniform baselines ``make sim PREC=<B>`` uses, B = 16, 8, 4 for DS-CNN
  and 8, 4 for the others (their mixed maps are at most 8 bits wide, so ``make sim PREC=16`` widens them exactly);
* ``<out>/<net>-mixed.json``: the chosen precision config (bit-widths only; integer bits are re-calibrated from
  the float model on every run);
* ``build/quant/<net>-ship.json``: every score, and the float weights (:func:`quant.train.save_float`) that
  ``python -m quant search NET`` then reuses.

Every export is quantization-aware fine-tuned from the same float model and carries a ``"training"`` entry (data set
name, epochs, seed, float and quantized accuracy on validation and test). Only a few test vectors are stored
(:data:`VECTORS`) so the shipped npz files stay small. Accuracies name their data: by default the synthesized proxy
set (not MLPerf).
"""

import argparse
import json
import os
import pathlib
import re
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__all__ = ["MIXED_CANDIDATES", "VECTORS", "mixed_config", "no_left_shift", "run", "main"]

#: Mixed-precision maps per net, most aggressive first: ``(label, [(pattern, bits), ...])``. A layer takes the bits of
#: the first pattern that is its name, its type (the name without digits, e.g. ``dw``, ``s_conv``) or a regular
#: expression matching its whole name; ``bits`` is ``(weight_bits, act_bits)`` (``act_bits`` alone for layers without
#: weights). Unmatched layers are 8-bit. The hardware runs a layer at ``max(input activation bits, weight bits)``
#: lanes, so 4-bit weights only gain 4 lanes when the activation the layer reads is 4-bit too.
#:
#: * ``dscnn``, ``mobilenetv1``: the published map -- first conv 8-bit activations (DS-CNN: 16-bit weights; it has one
#:   input channel, so lanes would not help), depthwise 8-bit weights, pointwise 4-bit weights and 4-bit input
#:   activations (every pointwise layer runs at 4 lanes), dense 8; ``pw4a4`` / ``pw4a8``: pointwise outputs at 4 / 8
#:   bits (the depthwise layers then read 4 / 8 bits).
#: * ``resnet8``: ``s3c2`` the last block's second conv (the largest layer, 19 % of the MACs, and the one whose weights
#:   the search found insensitive to 4 bits) at 4-bit weights reading the 4-bit output of the block's first conv, the
#:   rest 8-bit; ``w8a8`` uniform 8. Every residual-block conv at 4/4 lost 15 pp on the proxy (power-of-two per-tensor
#:   4-bit weights; ``quant.search`` measured up to 44 pp drop for single layers), so 4-bit stays where it is cheap.
#: * ``fcae``: ``w4a4`` everything 4-bit, input included (what ``python -m quant search fcae`` chose: within 0.01 AUC
#:   of float on the proxy); ``a4`` every hidden layer 4/4 (the first layer reads the 8-bit input: 2 lanes), output
#:   4-bit weights and 8-bit output; ``a8`` 4-bit weights, 8-bit activations (2 lanes: smaller, not faster, than
#:   uniform 8).
MIXED_CANDIDATES = {
    "dscnn": (
        ("pw4a4", [("conv", (16, 8)), ("dw", (8, 4)), ("pw", (4, 4))]),
        ("pw4a8", [("conv", (16, 8)), ("dw", (8, 4)), ("pw", (4, 8))]),
    ),
    "resnet8": (
        ("s3c2", [("s3_conv1", (8, 4)), ("s3_conv2", (4, 8))]),
        ("w8a8", []),
    ),
    "mobilenetv1": (
        ("pw4a4", [("dw", (8, 4)), ("pw", (4, 4))]),
        ("pw4a8", [("dw", (8, 4)), ("pw", (4, 8))]),
    ),
    "fcae": (
        ("w4a4", [("input", 4), (".*", (4, 4))]),
        ("a4", [("out", (4, 8)), (r"(enc|dec)\d|bottleneck", (4, 4))]),
        ("a8", [("out", (4, 8)), (r"(enc|dec)\d|bottleneck", (4, 8))]),
    ),
}

#: Test vectors stored per export (``--vectors``), mixed / uniform 16 and 8 / uniform 4: few enough that the shipped
#: npz files stay small (every layer's output of every vector is stored).
VECTORS = {"dscnn": (8, 8, 8), "resnet8": (8, 4, 4), "mobilenetv1": (4, 2, 2), "fcae": (16, 8, 8)}


def _matches(pattern, name):
    return pattern in (name, re.sub(r"\d+", "", name)) or re.fullmatch(pattern, name) is not None


def mixed_config(net, spec):
    """A :class:`~quant.precision.PrecisionConfig` of ``net`` from a :data:`MIXED_CANDIDATES` map ``spec`` (a list of
    ``(pattern, bits)``): 8-bit where no pattern matches, biases 32 bit."""
    from quant.models import quantized_layers
    from quant.precision import DEFAULT_BIAS_BITS as B
    from quant.precision import LayerPrecision, PrecisionConfig
    layers = {}
    for name, kind in quantized_layers(net).items():
        bits = next((b for pattern, b in spec if _matches(pattern, name)), (8, 8))
        weight_bits, act_bits = bits if isinstance(bits, tuple) else (None, bits)
        if kind == "weights":
            layers[name] = LayerPrecision(act_bits, weight_bits or 8, B)
        else:
            layers[name] = LayerPrecision(act_bits)
    return PrecisionConfig(net, layers)


def _frac(bits, integer, signed):
    return bits - 1 - integer if signed else bits - integer


def no_left_shift(config):
    """``config`` with every weighted layer's output grid no finer than its accumulator's, i.e. a requant right shift
    ``acc_frac - f_out >= 0`` (the engines have no left shift).

    Raising such a layer's ``act_int`` loses nothing: its output is an exact accumulator value anyway, so the extra
    fractional bits would always be zero; it only gains range. The graph (inputs, signedness) is
    :func:`quant.models.quantized_graph`'s; a residual add sums on the finer of its inputs' grids, and its
    requantization (on the host) may shift either way.
    """
    from quant.models import quantized_graph
    from quant.precision import LayerPrecision
    frac, changes = {}, {}
    for name, node in quantized_graph(config.net).items():
        p = config[name]
        f_out = _frac(p.act_bits, p.act_integer, node["signed"])
        if p.weight_bits is not None:
            acc = frac[node["inputs"][0]] + _frac(p.weight_bits, p.weight_integer, True)
            if f_out > acc:
                p = LayerPrecision(**{**p.to_dict(), "act_int": p.act_integer + f_out - acc})
                changes[name] = p
                f_out = acc
        frac[name] = f_out
    return config.replace(**changes)


def _scores(model, net, ds):
    """``{"val", "test", "selection"}``: accuracy on both splits (FC-AE: validation reconstruction error and test
    AUC) and the score the tolerance applies to (:func:`quant.train.selection_score`: validation accuracy; FC-AE,
    whose validation split has no anomalies, test AUC)."""
    from quant import train
    return {"val": train.evaluate(model, net, ds, "val"), "test": train.evaluate(model, net, ds, "test"),
            "selection": train.selection_score(model, net, ds)[0]}


def _train_and_export(net, label, precision, float_model, ranges, ds, qat_epochs, seed, prefix, vectors, record,
                      verbose):
    from quant import train
    from quant.export import export
    config = no_left_shift(train.calibrated(precision, ranges))
    print(f"[{net} {label}] quantization-aware fine-tuning, {qat_epochs} epochs", flush=True)
    qmodel = train.train_quant(net, float_model, config, ds, qat_epochs, seed, verbose)
    scores = _scores(qmodel, net, ds)
    metric = train.metric_name(net)
    training = {**record, "precision": label,
                "quantized_accuracy": {k: scores[k] for k in ("val", "test")},
                "summary": f"trained on {ds.name}: {record['epochs']} float + {qat_epochs} QAT epochs, seed {seed}; "
                           f"{metric} float {record['float_accuracy']['test']:.4f} / quantized {scores['test']:.4f} "
                           f"(test split)"}
    training["qat_epochs"] = qat_epochs
    loaded = export(qmodel, config, prefix, ds.x_test[:vectors], extra={"training": training})
    print(f"[{net} {label}] quantized val {scores['val']:.4f}, test {metric} {scores['test']:.4f} on {ds.name}; "
          f"exported {prefix}.{{json,npz}}", flush=True)
    return scores, loaded


def _uniform_default(net):
    """DS-CNN ships uniform 16, 8 and 4; the other nets 8 and 4 (their mixed maps have no layer wider than 8 bits,
    so ``make sim PREC=16`` widens the mixed export exactly)."""
    return (16, 8, 4) if net == "dscnn" else (8, 4)


def run(net, out="models", seed=0, epochs=None, qat_epochs=None, qat4_epochs=None, vectors=None, tolerance=0.01,
        data_dir=None, uniform=None, progress=True, mixed=None):
    """Train ``net`` once in float, then fine-tune and export the mixed and uniform nets; returns a summary dict.

    ``qat_epochs`` (default: the recipe's) fine-tune the uniform 16/8-bit nets, ``qat4_epochs`` (default:
    ``qat_epochs``) every net with 4-bit layers. On the earlier, smaller DS-CNN proxy set (983 training clips) 30
    epochs did not help the 4-bit nets (the mixed net lost 1.5 pp test accuracy against 10: it overfit).
    ``vectors`` (default :data:`VECTORS`) is one count for every export or a ``(mixed, uniform 16/8, uniform 4)``
    triple; ``uniform`` the uniform widths to export (default: :func:`_uniform_default`); ``mixed``, a precision JSON
    file (e.g. the ``<net>-mixed.json`` of ``python -m quant search``), replaces the net's :data:`MIXED_CANDIDATES`.
    The tolerance applies to validation accuracy (FC-AE: test AUC, its validation split has no anomalies)."""
    from quant import train
    from quant.precision import PrecisionConfig
    if net not in MIXED_CANDIDATES:
        raise ValueError(f"quant.ship has no mixed-precision map for {net!r}; it knows: {', '.join(MIXED_CANDIDATES)}")
    recipe = train.RECIPES[net]
    epochs = recipe.cpu_epochs if epochs is None else epochs
    qat_epochs = recipe.qat_epochs if qat_epochs is None else qat_epochs
    qat4_epochs = qat_epochs if qat4_epochs is None else qat4_epochs
    vectors = VECTORS[net] if vectors is None else vectors
    vectors = (vectors,) * 3 if isinstance(vectors, int) else tuple(vectors)
    uniform = _uniform_default(net) if uniform is None else tuple(uniform)
    candidates = MIXED_CANDIDATES[net] if mixed is None else \
        [(pathlib.Path(mixed).stem, train.parse_precision(net, str(mixed)))]
    started = time.time()
    out = pathlib.Path(out)
    ds = train.load_data(net, data_dir, seed, progress)
    print(f"[{net}] data {ds.summary()}", flush=True)
    verbose = None if progress else 0
    print(f"[{net}] float training, {epochs} epochs, seed {seed}", flush=True)
    float_model = train.train_float(net, ds, epochs, seed, verbose)
    train.save_float(float_model, net, ds, epochs, seed)
    float_scores = _scores(float_model, net, ds)
    float_acc = {k: float_scores[k] for k in ("val", "test")}
    metric = train.metric_name(net)
    print(f"[{net}] float val {float_acc['val']:.4f}, test {metric} {float_acc['test']:.4f} on {ds.name}", flush=True)
    ranges = train.calibration(float_model, ds)
    labels = [label for label, _ in candidates]
    record = {"dataset": ds.name, "metric": "accuracy" if net != "fcae" else
              "AUC on test (per recording); val = mean squared reconstruction error (no anomalies)",
              "epochs": epochs, "seed": seed, "float_accuracy": float_acc,
              "command": f"python -m quant.ship {net} --out {out} --seed {seed} --epochs {epochs} "
                         f"--qat-epochs {qat_epochs} --qat4-epochs {qat4_epochs}"
                         + (f" --data-dir {data_dir}" if data_dir else "") + (f" --mixed {mixed}" if mixed else "")}
    summary = {"net": net, "dataset": ds.name, "metric": metric, "float": float_scores, "mixed_candidates": {},
               "uniform": {}, "tolerance": tolerance}

    def precision_of(label):
        spec = dict(candidates)[label]
        return spec if isinstance(spec, PrecisionConfig) else mixed_config(net, spec)

    chosen = None
    for label in labels:
        scores, _ = _train_and_export(net, f"mixed {label}", precision_of(label), float_model, ranges, ds,
                                      qat4_epochs, seed, out / net, vectors[0], record, verbose)
        summary["mixed_candidates"][label] = scores
        drop = float_scores["selection"] - scores["selection"]
        if drop <= tolerance:
            chosen = label
            break
        print(f"[{net}] mixed {label}: drop {drop:.4f} > {tolerance}; trying the next candidate", flush=True)
    if chosen is None:                   # none within tolerance: ship the best (re-exported: the last one is written)
        chosen = max(reversed(labels), key=lambda k: summary["mixed_candidates"][k]["selection"])
        if chosen != labels[-1]:
            _train_and_export(net, f"mixed {chosen}", precision_of(chosen), float_model, ranges, ds, qat4_epochs,
                              seed, out / net, vectors[0], record, verbose)
        print(f"[{net}] no mixed candidate within {tolerance} of float; shipping the best, {chosen}", flush=True)
    summary["mixed"] = chosen
    precision_of(chosen).save(out / f"{net}-mixed.json")

    for bits in uniform:
        scores, _ = _train_and_export(net, f"uniform {bits}", PrecisionConfig.uniform(net, bits), float_model, ranges,
                                      ds, qat4_epochs if bits == 4 else qat_epochs, seed, out / f"uniform{bits}" / net,
                                      vectors[2] if bits == 4 else vectors[1], record, verbose)
        summary["uniform"][bits] = scores
    summary["seconds"] = round(time.time() - started, 1)
    results = train.RESULTS_DIR / f"{net}-ship.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"[{net}] shipped mixed ({chosen}) and uniform {', '.join(map(str, uniform))} exports under {out}; "
          f"summary in {results} ({summary['seconds']} s)", flush=True)
    return summary


def main(argv=None):
    """``python -m quant.ship NET [--out models] [--seed 0] [--epochs E] [--qat-epochs Q] [--vectors 16]``."""
    parser = argparse.ArgumentParser(prog="python -m quant.ship", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("net", metavar="NET", help=f"one of {', '.join(MIXED_CANDIDATES)}")
    parser.add_argument("--out", default="models", help="export directory")
    parser.add_argument("--seed", type=int, default=0, help="seed of data synthesis, initialization, shuffling")
    parser.add_argument("--epochs", type=int, help="float epochs (default: the CPU-sized recipe)")
    parser.add_argument("--qat-epochs", type=int, help="quantization-aware epochs per export")
    parser.add_argument("--qat4-epochs", type=int, help="quantization-aware epochs of the exports with 4-bit layers "
                                                        "(mixed, uniform 4; default: --qat-epochs)")
    parser.add_argument("--vectors", type=int, help="test samples stored as test vectors per export (default: "
                                                     "quant.ship.VECTORS, a few per net)")
    parser.add_argument("--uniform", type=lambda v: tuple(int(b) for b in v.split(",") if b),
                        help="uniform widths to export, e.g. 16,8,4, or \"\" for none (default: 16,8,4 for dscnn, "
                             "8,4 otherwise)")
    parser.add_argument("--mixed", help="a precision JSON (e.g. from `python -m quant search`) to ship as the mixed "
                                        "net instead of quant.ship.MIXED_CANDIDATES")
    parser.add_argument("--tolerance", type=float, default=0.01,
                        help="allowed drop of the mixed net from float: validation accuracy (0.01 = 1 pp), FC-AE test "
                             "AUC")
    parser.add_argument("--data-dir", help="real data set root (default: the synthesized proxy set)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        run(args.net, args.out, args.seed, args.epochs, args.qat_epochs, args.qat4_epochs, args.vectors, args.tolerance,
            args.data_dir, args.uniform, progress=not args.quiet, mixed=args.mixed)
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
