"""Mixed-precision search: per-layer weight and activation bits in {4, 8, 16}, a Pareto set, and the chosen config.

``python -m quant search NET`` trains (or reuses, see :func:`quant.train.float_weights_path`) the float model,
evaluates candidate :class:`~quant.precision.PrecisionConfig` s with short quantization-aware fine-tuning, and writes

* ``build/quant/<net>-pareto.json`` — every candidate with its validation and test score and three costs, and the
  Pareto-optimal ones for each cost;
* ``models/<net>-mixed.json`` — the cheapest candidate (by predicted cycles) whose validation score is within
  ``tolerance`` (1 percentage point of accuracy, 0.01 AUC for ``fcae``) of the float model's.

Costs (:func:`costs`)
---------------------
``avg_weight_bits``
    weight-count-weighted mean weight width;
``size_bits``
    model size, ``sum(weights * weight_bits + biases * bias_bits)``;
``cycles``
    predicted Sum-Together MAC cycles, ``sum(MACs * max(weight_bits, input_act_bits) / 16)``: a 16-bit ST multiplier
    computes 16 / b products per cycle when its wider operand has b bits;
``hw_cycles``
    cycles of the stacc engines (P = 4 ST MACs, 32-bit bus, DMA included) predicted by :mod:`hw.perf` for every
    weighted layer (:func:`hw_cycles`), the number ``make sim`` measures on the RTL. The chosen config is the cheapest
    by this cost.

Strategies
----------
``greedy`` (default)
    Sensitivity-ordered greedy descent. Quantization-aware models at uniform 16, 8 and 4 bits are trained first.
    Then every *move* (one layer's, or with ``granularity="type"`` one layer type's, weights or activations one
    step down: 16 -> 8 on the 16-bit model, 8 -> 4 on the 8-bit model) is scored by post-training quantization of
    the uniform model's weights: priority = validation-score drop per relative cost saved (share of model size plus
    share of cycles, with each operand's width counting half: :func:`_priority_costs`). The moves are applied
    cumulatively in that order; every ``step`` moves make a candidate, fine-tuned for ``ft_epochs`` starting from
    the previous candidate's weights; the path stops once a candidate scores more than ``max(0.1, 5 x tolerance)``
    below the float model. This costs ``2 x moves`` cheap
    evaluations and ``max_candidates`` short fine-tunings. AutoQKeras (a keras-tuner search that trains every trial
    for several epochs, and whose JSON reload needs a ``registered_name`` patch with keras-tuner 1.3.5) needs tens of
    trainings to reach a comparable point; on 2 CPU cores that is the difference between minutes and hours, and the
    greedy path is deterministic and gives a Pareto curve from one run.
``tuner``
    keras-tuner (``RandomSearch`` or ``BayesianOptimization`` oracle) over the same per-layer choices, each trial
    fine-tuned ``ft_epochs`` from the uniform 8-bit model, objective ``val_score + forgiving * log2(cycles16 /
    cycles)`` in the spirit of AutoQKeras' forgiving factor. Use it to spread the search over several machines.

Running the ``tuner`` strategy on several machines
--------------------------------------------------
keras-tuner's distributed mode needs no code changes: start the same command on every machine with three
environment variables. One process is the *chief*: it only serves the oracle (the search state) over gRPC; every
*worker* asks it for the next trial, runs it and reports the score. ::

    # chief (serves the oracle; writes the Pareto set and models/<net>-mixed.json when the trials are done)
    KERASTUNER_TUNER_ID=chief KERASTUNER_ORACLE_IP=0.0.0.0 KERASTUNER_ORACLE_PORT=8000 \\
        python -m quant search dscnn --strategy tuner --trials 64
    # each worker (a unique tuner id; IP of the chief)
    KERASTUNER_TUNER_ID=tuner1 KERASTUNER_ORACLE_IP=10.0.0.1 KERASTUNER_ORACLE_PORT=8000 \\
        python -m quant search dscnn --strategy tuner --trials 64

The workers need the same data (``--data-dir``) and the same float weights (run ``python -m quant train NET`` once
and copy ``build/quant/<net>-float.weights.h5``, or let each worker train it with the same seed). keras-tuner writes
trial state under ``build/quant/tuner/<net>``; a shared directory lets a restarted worker resume. In distributed
mode that state is kept between runs (a finished search reloads and ends at once): delete the directory to start
over. Tested on one machine with a chief and one worker on 127.0.0.1.
"""

import dataclasses
import json
import math
import os
import pathlib
import re
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from quant import train  # noqa: E402
from quant.precision import BITS, LayerPrecision, PrecisionConfig  # noqa: E402

__all__ = ["LayerCost", "layer_costs", "costs", "groups", "pareto_front", "choose", "greedy_candidates",
           "tuner_candidates", "COST_KEYS", "run"]

COST_KEYS = ("avg_weight_bits", "size_bits", "cycles", "hw_cycles")
ST_WIDTH = 16


@dataclasses.dataclass(frozen=True)
class LayerCost:
    """What one weighted layer costs: MACs per inference, weight and bias counts, the activation it reads, and (for
    :func:`hw_cycles`) its geometry.

    Attributes
    ----------
    macs, weights, biases : int
    input : str
        The quantized entry (a key of the precision config) whose activation the layer multiplies.
    op : str or None
        ``"conv2d"``, ``"depthwise_conv2d"`` or ``"dense"``; ``None`` if the geometry is unknown.
    in_shape : tuple of int or None
        Input shape without the batch axis (``(H, W, C)``, or ``(N,)`` for dense).
    kernel, strides : tuple of int or None
    out_channels : int or None
    """
    macs: int
    weights: int
    biases: int
    input: str
    op: str = None
    in_shape: tuple = None
    kernel: tuple = None
    strides: tuple = None
    out_channels: int = None


def _inbound(layer):
    nodes = layer._inbound_nodes[0].inbound_layers
    return nodes if isinstance(nodes, (list, tuple)) else [nodes]


def layer_costs(net):
    """``{layer: LayerCost}`` for the weighted layers of ``net`` (from its QKeras graph at uniform 8 bits)."""
    import qkeras
    from quant.models import build_quant, quantized_layers
    entries = quantized_layers(net)
    model = build_quant(net, 8)
    out = {}
    for name, kind in entries.items():
        if kind != "weights":
            continue
        layer = model.get_layer(name)
        source = _inbound(layer)[0]
        while source.name not in entries:
            source = _inbound(source)[0]
        kernel = int(np.prod(layer.weights[0].shape))
        positions = int(np.prod(layer.output_shape[1:-1])) if len(layer.output_shape) > 2 else 1
        macs = positions * kernel
        in_shape = tuple(int(d) for d in layer.input_shape[1:])
        if isinstance(layer, qkeras.QDense):
            geometry = dict(op="dense", kernel=(1, 1), strides=(1, 1))
        else:
            depthwise = isinstance(layer, (qkeras.QDepthwiseConv2D, qkeras.QDepthwiseConv2DBatchnorm))
            geometry = dict(op="depthwise_conv2d" if depthwise else "conv2d",
                            kernel=tuple(int(k) for k in layer.kernel_size),
                            strides=tuple(int(s) for s in layer.strides))
        out[name] = LayerCost(macs, kernel, int(layer.weights[1].shape[0]), source.name, in_shape=in_shape,
                              out_channels=int(layer.output_shape[-1]), **geometry)
    return out


#: Engine parameters of the predicted cycles (:func:`hw_cycles`): ``hw.params.EngineParams`` defaults (4 ST MACs,
#: 16-bit multiplier with 1/2/4 lanes, 32-bit bus) with the buffers and 40-bit accumulator ``make sim`` uses, so
#: the prediction is that of the replayed engines.
HW_PARAMS = {"weight_words": 32768, "act_words": 32768, "out_words": 32768, "acc_bits": 40}


def hw_cycles(precision, table, params=None):
    """Cycles of the weighted layers on the stacc engines, predicted by :mod:`hw.perf` (``None`` without geometry).

    Each layer runs at the narrowest engine precision holding ``max(weight_bits, input act_bits)`` and writes its
    ``act_bits`` output; conv2d / depthwise layers run with "same" padding in as many row bands as the buffers need
    (a conv2d with one input channel on the depthwise engine, ``hw.perf.conv2d_engine``), dense layers are tiled as
    ``hw.accel.driver`` tiles them (:func:`hw.perf.fc_layer_cycles`). Host work (pooling, residual adds) is not
    counted, as in ``make sim``.
    """
    from hw import perf
    from hw.params import EngineParams
    if any(c.op is None for c in table.values()):
        return None
    p = params if params is not None else EngineParams(**HW_PARAMS)
    layers = precision.layers
    total = 0
    for name, c in table.items():
        need = max(layers[name].weight_bits, layers[c.input].act_bits)
        bits = min(b for b in p.precisions if b >= need)
        o_bits = min(b for b in p.precisions if b >= layers[name].act_bits)
        if c.op == "dense":
            total += perf.fc_layer_cycles(p, c.in_shape[-1], c.out_channels, bits, o_bits).total
        elif c.op == "conv2d" and perf.conv2d_engine(c.in_shape) == "conv2d":
            total += perf.conv2d_layer_cycles(p, c.in_shape, c.kernel, c.out_channels, bits, o_bits,
                                              strides=c.strides, padding="same").total
        elif c.op == "conv2d":                       # one input channel: on the depthwise engine, as make sim runs it
            total += perf.depthwise_conv2d_layer_cycles(p, c.in_shape, c.kernel, bits, o_bits, strides=c.strides,
                                                        padding="same", n_out=c.out_channels).total
        else:
            total += perf.depthwise_conv2d_layer_cycles(p, c.in_shape, c.kernel, bits, o_bits, strides=c.strides,
                                                        padding="same").total
    return int(total)


def costs(precision, table):
    """The costs (see the module docstring) of ``precision`` given :func:`layer_costs` ``table``; ``hw_cycles`` only
    when the table has the layers' geometry."""
    layers = precision.layers
    size = sum(c.weights * layers[n].weight_bits + c.biases * layers[n].bias_bits for n, c in table.items())
    cycles = sum(c.macs * max(layers[n].weight_bits, layers[c.input].act_bits) / ST_WIDTH for n, c in table.items())
    avg = precision.average_weight_bits({n: c.weights for n, c in table.items()})
    out = {"avg_weight_bits": float(avg), "size_bits": int(size), "cycles": float(cycles)}
    predicted = hw_cycles(precision, table)
    if predicted is not None:
        out["hw_cycles"] = predicted
    return out


def _priority_costs(precision, table):
    """Costs that rank the greedy moves: model size, and cycles with each operand's width counting half.

    The true ST cycles follow ``max(weight_bits, act_bits)``, so narrowing one operand alone saves nothing and the
    greedy order could never start; ``(weight_bits + act_bits) / 2`` credits each half of a joint saving.
    """
    layers = precision.layers
    smooth = sum(c.macs * (layers[n].weight_bits + layers[c.input].act_bits) / 2 for n, c in table.items())
    return {"smooth_cycles": smooth, "size_bits": costs(precision, table)["size_bits"]}


def groups(net, granularity="layer"):
    """``{group: [entries]}``: one group per quantized entry, or per layer type (the name without digits)."""
    from quant.models import quantized_layers
    if granularity not in ("layer", "type"):
        raise ValueError(f"granularity must be 'layer' or 'type', not {granularity!r}")
    out = {}
    for name in quantized_layers(net):
        out.setdefault(name if granularity == "layer" else re.sub(r"\d+", "", name), []).append(name)
    return out


def _with_bits(precision, members, field, bits, lower_only=False):
    """``precision`` with ``field`` of ``members`` set to ``bits`` (or to ``min(current, bits)``)."""
    changes = {}
    for name in members:
        layer = precision.layers[name]
        current = getattr(layer, field)
        if current is None:
            continue
        changes[name] = LayerPrecision(**{**layer.to_dict(), field: min(current, bits) if lower_only else bits})
    return precision.replace(**changes) if changes else precision


def _moves(net, granularity, search_acts):
    """``[(field, group, members)]``: the knobs the search turns."""
    from quant.models import quantized_layers
    kinds = quantized_layers(net)
    out = []
    for group, members in groups(net, granularity).items():
        if any(kinds[m] == "weights" for m in members):
            out.append(("weight_bits", group, members))
        if search_acts:
            out.append(("act_bits", group, members))
    return out


def _quant_like(net, precision, weights):
    """QKeras model at ``precision`` holding ``weights`` (quantizer choice does not change the variables)."""
    from quant.models import build_quant
    model = build_quant(net, precision)
    model.set_weights(weights)
    return model


class _Recorder:
    """Evaluates candidates and keeps them, with costs and scores, as JSON-ready dicts.

    ``ranges`` (:func:`quant.train.calibration` of the float model) set every candidate's integer bits.
    """

    def __init__(self, net, ds, table, ranges):
        self.net, self.ds, self.table, self.ranges = net, ds, table, ranges
        self.candidates = []

    def calibrate(self, precision):
        """``precision`` with the integer bits :func:`quant.train.calibrated` gives it."""
        return train.calibrated(precision, self.ranges)

    def model(self, precision, weights):
        """QKeras model at the calibrated ``precision`` holding ``weights``."""
        return _quant_like(self.net, self.calibrate(precision), weights)

    def record(self, label, precision, model):
        score, split = train.selection_score(model, self.net, self.ds)
        test = train.evaluate(model, self.net, self.ds, "test")
        entry = {"label": label, "val": score, "val_split": split, "test": test, **costs(precision, self.table),
                 "precision": self.calibrate(precision).to_dict()}
        self.candidates.append(entry)
        print(f"  [{len(self.candidates):3d}] {label:40s} {split} {score:.4f} test {test:.4f} "
              f"cycles {entry['cycles']:.0f} hw {entry.get('hw_cycles', 0)} avg w bits {entry['avg_weight_bits']:.2f}",
              flush=True)
        return entry


def greedy_candidates(recorder, float_model, bits=BITS, granularity="layer", search_acts=True, qat_epochs=2,
                      ft_epochs=1, max_candidates=8, seed=0, floor=None):
    """Run the ``greedy`` strategy (module docstring); candidates go to ``recorder``.

    The path stops early once a candidate's validation score falls below ``floor`` (further moves only narrow).
    """
    net, ds = recorder.net, recorder.ds
    bits = sorted(set(bits), reverse=True)
    uniform = {}
    for b in bits:
        precision = PrecisionConfig.uniform(net, b)
        model = train.train_quant(net, float_model, recorder.calibrate(precision), ds, qat_epochs, seed, verbose=0)
        uniform[b] = (model.get_weights(), recorder.record(f"uniform {b}", precision, model)["val"])

    moves = []
    for hi, lo in zip(bits, bits[1:]):
        base = PrecisionConfig.uniform(net, hi)
        weights, base_score = uniform[hi]
        base_costs = _priority_costs(base, recorder.table)
        for field, group, members in _moves(net, granularity, search_acts):
            trial = _with_bits(base, members, field, lo)
            trial_costs = _priority_costs(trial, recorder.table)
            saved = sum(1 - trial_costs[k] / base_costs[k] for k in base_costs)
            score, _ = train.selection_score(recorder.model(trial, weights), net, ds)
            drop = max(base_score - score, 0.0)
            moves.append(((drop + 1e-4) / max(saved, 1e-9), field, group, members, lo, drop))
            print(f"  sensitivity {field:11s} {group:14s} {hi:2d}->{lo:<2d} drop {drop:+.4f} "
                  f"cost saved {saved:.3f}", flush=True)
    moves.sort(key=lambda m: m[0])

    precision = PrecisionConfig.uniform(net, bits[0])
    weights = uniform[bits[0]][0]
    step = max(1, math.ceil(len(moves) / max(1, max_candidates)))
    for start in range(0, len(moves), step):
        applied = []
        for _, field, group, members, lo, _ in moves[start:start + step]:
            precision = _with_bits(precision, members, field, lo, lower_only=True)  # 16->8 after 8->4: no-op
            applied.append(f"{field[0]}:{group}->{lo}")
        model = train.fine_tune(recorder.model(precision, weights), net, ds, ft_epochs, verbose=0)
        weights = model.get_weights()
        if floor is not None and recorder.record(" ".join(applied)[:40], precision, model)["val"] < floor:
            print(f"  stopping: validation score below {floor:.4f}", flush=True)
            break


def tuner_candidates(recorder, float_model, trials=16, oracle="random", qat_epochs=2, ft_epochs=1,
                     granularity="layer", search_acts=True, bits=BITS, forgiving=0.01, seed=0,
                     directory=None):
    """Run the ``tuner`` strategy (module docstring) with keras-tuner; candidates go to ``recorder``.

    Returns ``False`` on a distributed worker (the chief records the candidates), ``True`` otherwise.
    """
    import keras_tuner
    from keras_tuner.distribute import utils as dist_utils
    net, ds = recorder.net, recorder.ds
    base_precision = PrecisionConfig.uniform(net, 8)
    base = train.train_quant(net, float_model, recorder.calibrate(base_precision), ds, qat_epochs, seed,
                             verbose=0).get_weights()
    ref_cycles = costs(PrecisionConfig.uniform(net, 16), recorder.table)["cycles"]
    moves = _moves(net, granularity, search_acts)
    space = keras_tuner.HyperParameters()
    for field, group, _ in moves:
        space.Choice(f"{field}:{group}", sorted(set(bits)), default=8 if 8 in bits else max(bits))

    def config(hp):
        precision = base_precision
        for field, group, members in moves:
            precision = _with_bits(precision, members, field, hp.get(f"{field}:{group}"))
        return precision

    class Tuner(keras_tuner.Tuner):
        def run_trial(self, trial, *args, **kwargs):
            precision = config(trial.hyperparameters)
            model = train.fine_tune(recorder.model(precision, base), net, ds, ft_epochs, verbose=0)
            score, _ = train.selection_score(model, net, ds)
            cycles = costs(precision, recorder.table)["cycles"]
            return {"objective": score + forgiving * math.log2(ref_cycles / cycles), "val": score,
                    "test": train.evaluate(model, net, ds, "test")}

    objective = keras_tuner.Objective("objective", "max")
    kwargs = dict(objective=objective, max_trials=trials, hyperparameters=space, tune_new_entries=False,
                  allow_new_entries=False, seed=seed)
    oracles = {"random": keras_tuner.oracles.RandomSearchOracle,
               "bayesian": keras_tuner.oracles.BayesianOptimizationOracle}
    if oracle not in oracles:
        raise ValueError(f"oracle must be one of {sorted(oracles)}, not {oracle!r}")
    directory = directory or str(train.RESULTS_DIR / "tuner")
    tuner = Tuner(oracle=oracles[oracle](**kwargs), directory=directory, project_name=net,
                  overwrite=not dist_utils.has_chief_oracle())
    tuner.search()
    if dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle():
        return False
    for trial in sorted(tuner.oracle.trials.values(), key=lambda t: t.trial_id):
        if trial.status != "COMPLETED":
            continue
        precision = config(trial.hyperparameters)
        metrics = {k: trial.metrics.get_last_value(k) for k in ("val", "test")}
        split = "test" if net == "fcae" else "val"
        recorder.candidates.append({"label": f"trial {trial.trial_id}", "val": metrics["val"], "val_split": split,
                                    "test": metrics["test"], **costs(precision, recorder.table),
                                    "precision": recorder.calibrate(precision).to_dict()})
    return True


def pareto_front(candidates, cost):
    """Indices of the candidates no other candidate beats (higher ``val`` and lower ``cost``, one strictly)."""
    front = []
    for i, c in enumerate(candidates):
        dominated = any(o["val"] >= c["val"] and o[cost] <= c[cost] and (o["val"] > c["val"] or o[cost] < c[cost])
                        for o in candidates)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: candidates[i][cost])


def choose(candidates, float_score, tolerance):
    """Index of the cheapest (``hw_cycles`` if every candidate has it, else ``cycles``; then size) candidate with
    ``val >= float_score - tolerance``.

    Returns
    -------
    (int, bool)
        The index and whether it met the tolerance; if none does, the best-scoring candidate and ``False``.
    """
    ok = [i for i, c in enumerate(candidates) if c["val"] >= float_score - tolerance - 1e-12]
    cost = "hw_cycles" if all("hw_cycles" in c for c in candidates) else "cycles"
    if ok:
        return min(ok, key=lambda i: (candidates[i][cost], candidates[i]["size_bits"])), True
    return max(range(len(candidates)), key=lambda i: candidates[i]["val"]), False


def _float_model(net, ds, seed, progress, epochs=None):
    """Trained float model: the weights :func:`quant.train.run` or :mod:`quant.ship` saved for this data set (see
    :func:`quant.train.save_float`), else a fresh training
    of ``epochs`` (default: the recipe's CPU-sized epochs)."""
    from quant.models import build_float
    record = train.RESULTS_DIR / f"{net}-float.json"
    results = record if record.is_file() else train.RESULTS_DIR / f"{net}.json"
    weights = train.float_weights_path(net)
    if weights.is_file() and results.is_file() and json.loads(results.read_text()).get("dataset") == ds.name:
        model = build_float(net)
        model.load_weights(weights)
        train._fit(model, net, ds, 0)  # compile only
        print(f"[{net}] float weights from {weights}", flush=True)
        return model
    epochs = train.RECIPES[net].cpu_epochs if epochs is None else epochs
    print(f"[{net}] no float weights for {ds.name}; training {epochs} epochs", flush=True)
    return train.train_float(net, ds, epochs, seed, None if progress else 0)


def run(net, data_dir=None, strategy="greedy", tolerance=0.01, max_candidates=8, trials=16, oracle="random",
        granularity="layer", search_acts=True, bits=BITS, qat_epochs=2, ft_epochs=1, seed=0, out="models",
        float_epochs=None, progress=True):
    """Search ``net``; write ``build/quant/<net>-pareto.json`` and ``<out>/<net>-mixed.json``; return the summary.

    Parameters mirror ``python -m quant search --help``. ``tolerance`` is in score units (0.01 = 1 pp accuracy or
    0.01 AUC). ``float_epochs`` applies only when no saved float weights match the data set. Returns ``None`` on a
    keras-tuner worker.
    """
    train._check_net(net)
    if strategy not in ("greedy", "tuner"):
        raise ValueError(f"strategy must be 'greedy' or 'tuner', not {strategy!r}")
    bad = [b for b in bits if b not in BITS]
    if bad or not bits:
        raise ValueError(f"bits {list(bits)}: choose a non-empty subset of {BITS}")
    started = time.time()
    ds = train.load_data(net, data_dir, seed, progress)
    print(f"[{net}] data {ds.summary()}", flush=True)
    float_model = _float_model(net, ds, seed, progress, float_epochs)
    float_val, split = train.selection_score(float_model, net, ds)
    float_test = train.evaluate(float_model, net, ds, "test")
    print(f"[{net}] float {train.metric_name(net)}: {split} {float_val:.4f}, test {float_test:.4f} on {ds.name}",
          flush=True)
    recorder = _Recorder(net, ds, layer_costs(net), train.calibration(float_model, ds))
    common = dict(granularity=granularity, search_acts=search_acts, bits=bits, qat_epochs=qat_epochs,
                  ft_epochs=ft_epochs, seed=seed)
    if strategy == "greedy":
        floor = float_val - max(0.1, 5 * tolerance)
        greedy_candidates(recorder, float_model, max_candidates=max_candidates, floor=floor, **common)
    elif not tuner_candidates(recorder, float_model, trials=trials, oracle=oracle, forgiving=tolerance, **common):
        print(f"[{net}] keras-tuner worker done; the chief writes the results", flush=True)
        return None

    candidates = recorder.candidates
    index, within = choose(candidates, float_val, tolerance)
    chosen = candidates[index]
    reference = costs(PrecisionConfig.uniform(net, 16), recorder.table)
    summary = {
        "net": net, "dataset": ds.name, "metric": train.metric_name(net), "strategy": strategy,
        "selection_split": split, "tolerance": tolerance, "float": {"val": float_val, "test": float_test},
        "cost_model": "cycles = sum(MACs * max(w_bits, a_bits) / 16) (Sum-Together lanes); hw_cycles = hw.perf "
                      "engine cycles of the weighted layers (quant.search.HW_PARAMS)",
        "uniform16": reference, "chosen": index, "within_tolerance": within,
        "reduction_vs_16bit": {k: reference[k] / chosen[k] for k in COST_KEYS if k in chosen},
        "drop": {"val": float_val - chosen["val"], "test": float_test - chosen["test"]},
        "pareto": {k: pareto_front(candidates, k) for k in COST_KEYS if all(k in c for c in candidates)},
        "candidates": candidates, "seconds": round(time.time() - started, 1),
    }
    train.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = train.RESULTS_DIR / f"{net}-pareto.json"
    path.write_text(json.dumps(summary, indent=1) + "\n")
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    PrecisionConfig.from_dict(chosen["precision"]).save(out / f"{net}-mixed.json")
    verdict = "within" if within else "NOT within"
    print(f"[{net}] chose '{chosen['label']}' ({verdict} {tolerance} of float): {split} {chosen['val']:.4f} "
          f"(float {float_val:.4f}), test {chosen['test']:.4f} (float {float_test:.4f}) on {ds.name}", flush=True)
    red = summary["reduction_vs_16bit"]
    print(f"[{net}] vs uniform 16-bit: size {red['size_bits']:.2f}x smaller, cycles {red['cycles']:.2f}x fewer "
          f"(hw.perf {red.get('hw_cycles', float('nan')):.2f}x), "
          f"avg weight bits {chosen['avg_weight_bits']:.2f}; wrote {path} and {out / f'{net}-mixed.json'}",
          flush=True)
    return summary
