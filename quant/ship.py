"""Train and export the shipped integer nets: ``models/<net>`` (mixed precision) and ``models/uniform<B>/<net>``.

``python -m quant.ship dscnn`` regenerates, from one seeded float training:

* ``<out>/<net>.{json,npz}``: the mixed-precision net (the first of :data:`MIXED_CANDIDATES` whose quantized
  validation accuracy stays within ``--tolerance`` of the float model's, else the one with the best validation
  accuracy, ties to the later, more conservative one), the export that
  ``make sim NET=<net>`` replays;
* ``<out>/uniform<B>/<net>.{json,npz}`` for B = 16, 8, 4: the uniform baselines ``make sim PREC=<B>`` uses;
* ``<out>/<net>-mixed.json``: the chosen precision config (bit-widths only; integer bits are re-calibrated from
  the float model on every run).

Every export is quantization-aware fine-tuned from the same float model and carries a ``"training"`` entry (data set
name, epochs, seed, float and quantized accuracy on validation and test). Only a few test vectors are stored
(``--vectors``) so the shipped npz files stay small. Accuracies name their data: by default the synthesized proxy set
(not MLPerf).
"""

import argparse
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__all__ = ["MIXED_CANDIDATES", "mixed_config", "run", "main"]

#: Mixed-precision maps for DS-CNN, most aggressive first. The hardware runs a layer at max(input activation bits,
#: weight bits) lanes, so a pointwise layer only gains 4 lanes if its input (the depthwise output) is 4-bit too. All
#: keep the published map (first conv 16-bit weights -- it has one input channel, so lanes would not help --, dense 8,
#: depthwise 8, pointwise 4-bit weights and 4-bit input activations, so every pointwise layer runs at 4 lanes);
#: they differ in the pointwise outputs: ``pw4a4`` 4 bit, ``pw4a8`` 8 bit (depthwise layers then read 8 bits).
MIXED_CANDIDATES = {"dscnn": (
    ("pw4a4", {"dw": (8, 4), "pw": (4, 4)}),
    ("pw4a8", {"dw": (8, 4), "pw": (4, 8)}),
)}


def mixed_config(net, spec):
    """A DS-CNN :class:`~quant.precision.PrecisionConfig` from ``{"dw": (w, a), "pw": (w, a)}``: input 8 bit, first
    conv 16-bit weights with 8-bit output, pooling 8, dense 8/8, biases 32."""
    from quant.precision import DEFAULT_BIAS_BITS as B
    from quant.precision import LayerPrecision, PrecisionConfig
    if net != "dscnn":
        raise ValueError(f"no mixed-precision map for {net!r}; quant.ship knows: {', '.join(MIXED_CANDIDATES)}")
    layers = {"input": LayerPrecision(8), "conv1": LayerPrecision(8, 16, B), "pool": LayerPrecision(8),
              "fc": LayerPrecision(8, 8, B)}
    for i in range(1, 5):
        for kind in ("dw", "pw"):
            w, a = spec[kind]
            layers[f"{kind}{i}"] = LayerPrecision(a, w, B)
    return PrecisionConfig(net, layers)


def _frac(bits, integer, signed):
    return bits - 1 - integer if signed else bits - integer


def no_left_shift(config):
    """``config`` (of a sequential net such as DS-CNN) with every weighted layer's output grid no finer than its
    accumulator's, i.e. a requant right shift ``acc_frac - f_out >= 0`` (the engines have no left shift).

    Raising such a layer's ``act_int`` loses nothing: its output is an exact accumulator value anyway, so the extra
    fractional bits would always be zero; it only gains range. Signedness follows :mod:`quant.models` (signed input
    and classifier, ReLU elsewhere).
    """
    from quant.models import net_spec
    from quant.precision import LayerPrecision
    names = list(config.layers)
    classifier = [n for n in names if config[n].weight_bits is not None][-1]
    frac, changes = None, {}
    for name in names:
        p = config[name]
        signed = (name == names[0] and net_spec(config.net).input_signed) or name == classifier
        f_out = _frac(p.act_bits, p.act_integer, signed)
        if p.weight_bits is not None:
            acc = frac + _frac(p.weight_bits, p.weight_integer, True)
            if f_out > acc:
                p = LayerPrecision(**{**p.to_dict(), "act_int": p.act_integer + f_out - acc})
                changes[name] = p
                f_out = acc
        frac = f_out
    return config.replace(**changes)


def _train_and_export(net, label, precision, float_model, ranges, ds, qat_epochs, seed, prefix, vectors, record,
                      verbose):
    from quant import train
    from quant.export import export
    config = no_left_shift(train.calibrated(precision, ranges))
    print(f"[{net} {label}] quantization-aware fine-tuning, {qat_epochs} epochs", flush=True)
    qmodel = train.train_quant(net, float_model, config, ds, qat_epochs, seed, verbose)
    scores = {"val": train.evaluate(qmodel, net, ds, "val"), "test": train.evaluate(qmodel, net, ds, "test")}
    training = {**record, "precision": label, "quantized_accuracy": scores,
                "summary": f"trained on {ds.name}: {record['epochs']} float + {qat_epochs} QAT epochs, seed {seed}; "
                           f"accuracy float {record['float_accuracy']['test']:.2%} / quantized {scores['test']:.2%} "
                           f"(test split)"}
    training["qat_epochs"] = qat_epochs
    loaded = export(qmodel, config, prefix, ds.x_test[:vectors], extra={"training": training})
    print(f"[{net} {label}] quantized accuracy val {scores['val']:.4f}, test {scores['test']:.4f} on {ds.name}; "
          f"exported {prefix}.{{json,npz}}", flush=True)
    return scores, loaded


def run(net, out="models", seed=0, epochs=None, qat_epochs=None, qat4_epochs=None, vectors=8, tolerance=0.01,
        data_dir=None, uniform=(16, 8, 4), progress=True):
    """Train ``net`` once in float, then fine-tune and export the mixed and uniform nets; returns a summary dict.

    ``qat_epochs`` (default: the recipe's) fine-tune the uniform 16/8-bit nets, ``qat4_epochs`` (default:
    ``qat_epochs``) every net with 4-bit layers. On the DS-CNN proxy set 30 epochs did not help the 4-bit nets (the
    mixed net lost 1.5 pp test accuracy against 10: it overfits the 983 training samples)."""
    from quant import train
    from quant.precision import PrecisionConfig
    if net not in MIXED_CANDIDATES:
        raise ValueError(f"quant.ship has no mixed-precision map for {net!r}; it knows: {', '.join(MIXED_CANDIDATES)}")
    recipe = train.RECIPES[net]
    epochs = recipe.cpu_epochs if epochs is None else epochs
    qat_epochs = recipe.qat_epochs if qat_epochs is None else qat_epochs
    qat4_epochs = qat_epochs if qat4_epochs is None else qat4_epochs
    started = time.time()
    out = pathlib.Path(out)
    ds = train.load_data(net, data_dir, seed, progress)
    print(f"[{net}] data {ds.summary()}", flush=True)
    verbose = None if progress else 0
    print(f"[{net}] float training, {epochs} epochs, seed {seed}", flush=True)
    float_model = train.train_float(net, ds, epochs, seed, verbose)
    float_acc = {split: train.evaluate(float_model, net, ds, split) for split in ("val", "test")}
    print(f"[{net}] float accuracy val {float_acc['val']:.4f}, test {float_acc['test']:.4f} on {ds.name}", flush=True)
    ranges = train.calibration(float_model, ds)
    record = {"dataset": ds.name, "metric": "accuracy", "epochs": epochs, "seed": seed,
              "float_accuracy": float_acc, "command": f"python -m quant.ship {net} --out {out} --seed {seed} "
                                                      f"--epochs {epochs} --qat-epochs {qat_epochs} "
                                                      f"--qat4-epochs {qat4_epochs}"}
    summary = {"net": net, "dataset": ds.name, "float": float_acc, "mixed_candidates": {}, "uniform": {}}

    chosen = None
    for label, spec in MIXED_CANDIDATES[net]:
        precision = mixed_config(net, spec)
        scores, _ = _train_and_export(net, f"mixed {label}", precision, float_model, ranges, ds, qat4_epochs, seed,
                                      out / net, vectors, record, verbose)
        summary["mixed_candidates"][label] = scores
        if float_acc["val"] - scores["val"] <= tolerance:
            chosen = (label, precision)
            break
        print(f"[{net}] mixed {label}: validation drop {float_acc['val'] - scores['val']:.4f} > {tolerance}; "
              f"trying the next candidate", flush=True)
    if chosen is None:                   # none within tolerance: ship the best (re-exported: the last one is written)
        done = list(summary["mixed_candidates"])
        label = max(reversed(done), key=lambda k: summary["mixed_candidates"][k]["val"])
        precision = mixed_config(net, dict(MIXED_CANDIDATES[net])[label])
        if label != done[-1]:
            _train_and_export(net, f"mixed {label}", precision, float_model, ranges, ds, qat4_epochs, seed, out / net,
                              vectors, record, verbose)
        chosen = (label, precision)
        print(f"[{net}] no mixed candidate within {tolerance} of float on validation; shipping the best, {label}",
              flush=True)
    summary["mixed"] = chosen[0]
    chosen[1].save(out / f"{net}-mixed.json")

    for bits in uniform:
        scores, _ = _train_and_export(net, f"uniform {bits}", PrecisionConfig.uniform(net, bits), float_model, ranges,
                                      ds, qat4_epochs if bits == 4 else qat_epochs, seed, out / f"uniform{bits}" / net,
                                      vectors, record, verbose)
        summary["uniform"][bits] = scores
    summary["seconds"] = round(time.time() - started, 1)
    results = train.RESULTS_DIR / f"{net}-ship.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"[{net}] shipped mixed ({chosen[0]}) and uniform {', '.join(map(str, uniform))} exports under {out}; "
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
    parser.add_argument("--vectors", type=int, default=8, help="test samples stored as test vectors per export")
    parser.add_argument("--tolerance", type=float, default=0.01, help="allowed validation accuracy drop of the mixed "
                                                                       "net from float (0.01 = 1 pp)")
    parser.add_argument("--data-dir", help="real data set root (default: the synthesized proxy set)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        run(args.net, args.out, args.seed, args.epochs, args.qat_epochs, args.qat4_epochs, args.vectors, args.tolerance,
            args.data_dir, progress=not args.quiet)
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
