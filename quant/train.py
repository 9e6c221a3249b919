"""Float training, quantization-aware fine-tuning and integer export of one MLPerf Tiny net.

``python -m quant train NET`` runs :func:`run`:

1. load the data (``--data-dir`` for the real data set, else the proxy set of :mod:`quant.proxy`, generated into
   ``build/data/<net>-proxy`` on first use) and scale it by :data:`quant.data.INPUT_SCALE`;
2. train the float reference model (:func:`quant.models.build_float`) with the reference's optimizer and learning-rate
   schedule (:data:`RECIPES`), compressed to ``epochs``;
3. set every quantizer's integer bits from the float model's weight and activation ranges (:func:`calibrated`),
   copy the float weights into the QKeras model (:func:`quant.models.transfer_weights`) and fine-tune it
   quantization-aware at a tenth of the initial learning rate;
4. export the integers with :func:`quant.export.export` and write float and quantized scores, with the data set's
   name, to ``build/quant/<net>.json``.

The metric is top-1 accuracy, or for ``fcae`` the ROC AUC of the per-recording mean squared reconstruction error.
``--full`` uses the reference epochs (MLPerf Tiny training scripts); the default is CPU-sized (minutes on 2 cores
with the proxy data).
"""

import dataclasses
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from quant import data, proxy  # noqa: E402
from quant.models import NETS  # noqa: E402

__all__ = ["Recipe", "RECIPES", "parse_precision", "load_data", "evaluate", "metric_name", "train_float",
           "fine_tune", "train_quant", "calibration", "calibrated", "save_float", "run", "RESULTS_DIR"]

RESULTS_DIR = pathlib.Path("build") / "quant"


def _kws_lr(fraction):
    return 5e-4 if fraction < 1 / 3 else 1e-4 if fraction < 2 / 3 else 2e-5


def _ic_lr(fraction):
    return 1e-3 * 0.99 ** (500 * fraction)


def _vww_lr(fraction):
    return 1e-3 if fraction < 0.4 else 5e-4 if fraction < 0.6 else 2.5e-4


def _ad_lr(fraction):
    return 1e-3


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Training recipe of one net (Adam in all four MLPerf Tiny references).

    Attributes
    ----------
    full_epochs : int
        Epochs of the reference training script (``--full``).
    cpu_epochs : int
        Default float epochs: minutes on 2 CPU cores with the proxy data.
    qat_epochs : int
        Default quantization-aware fine-tuning epochs.
    batch_size : int
        Batch size of the reference (``--full``).
    cpu_batch : int
        Batch size of the CPU-sized default: smaller, so that the few thousand proxy samples still give enough
        steps for the batch-norm moving statistics (momentum 0.99) to converge.
    lr : callable
        Learning rate as a function of the fraction of training done, ``[0, 1)``, so the reference schedule can be
        compressed to fewer epochs.
    """
    full_epochs: int
    cpu_epochs: int
    qat_epochs: int
    batch_size: int
    cpu_batch: int
    lr: object


RECIPES = {
    "dscnn": Recipe(36, 60, 10, 100, 32, _kws_lr),        # keyword_spotting/train.py: 36 epochs, steps 12/24
    "resnet8": Recipe(500, 20, 5, 32, 32, _ic_lr),        # image_classification/train.py: 0.99 decay per epoch
    "mobilenetv1": Recipe(50, 40, 5, 50, 32, _vww_lr),    # visual_wake_words: 20 + 10 + 20 epochs
    "fcae": Recipe(100, 30, 10, 512, 64, _ad_lr),         # anomaly_detection: 100 epochs, batch 512
}


def _check_net(net):
    if net not in NETS:
        raise ValueError(f"Unknown NET '{net}'; valid NETs are: {', '.join(NETS)}")


def metric_name(net):
    """``"AUC"`` for the auto-encoder, ``"accuracy"`` otherwise."""
    return "AUC" if net == "fcae" else "accuracy"


def parse_precision(net, spec):
    """A :class:`~quant.precision.PrecisionConfig` from ``"16"``, ``"8"``, ``"4"`` (uniform) or a JSON file path."""
    from quant.precision import BITS, PrecisionConfig
    if isinstance(spec, PrecisionConfig):
        return spec
    if str(spec).isdigit():
        if int(spec) not in BITS:
            raise ValueError(f"--precision {spec}: uniform precision must be one of {BITS} bits, or a JSON file")
        return PrecisionConfig.uniform(net, int(spec))
    path = pathlib.Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"--precision {spec}: no such file; give 16, 8, 4 or a precision JSON "
                                f"(e.g. models/{net}-mixed.json written by `python -m quant search {net}`)")
    config = PrecisionConfig.load(path)
    if config.net != net:
        raise ValueError(f"--precision {spec} is a config for {config.net!r}, not {net!r}")
    return config


def _progress(iterable, description, total=None):
    from tqdm.auto import tqdm
    return tqdm(iterable, desc=description, total=total, unit="file", leave=False)


def load_data(net, data_dir=None, seed=0, progress=True):
    """The data set of ``net``: real from ``data_dir``, else the proxy set (generated if missing)."""
    _check_net(net)
    root = data_dir if data_dir is not None else proxy.ensure(net, seed=seed, progress=progress)
    return data.load(net, root, progress=_progress if progress else None)


def _verbose():
    return 1 if sys.stdout.isatty() else 2


def _fit(model, net, ds, epochs, lr_scale=1.0, verbose=None, full=False):
    """Adam with the recipe's schedule compressed to ``epochs`` (reference batch size if ``full``, else the CPU
    one); fcae learns to reconstruct its input."""
    import tensorflow as tf
    recipe = RECIPES[net]
    autoencoder = net == "fcae"
    model.compile(optimizer=tf.keras.optimizers.Adam(recipe.lr(0.0) * lr_scale),
                  loss="mse" if autoencoder else "sparse_categorical_crossentropy",
                  metrics=[] if autoencoder else ["accuracy"])
    if epochs < 1:
        return model
    schedule = tf.keras.callbacks.LearningRateScheduler(lambda e, lr: recipe.lr(e / epochs) * lr_scale)
    target = (lambda x, y: x) if autoencoder else (lambda x, y: y)
    batch_size = recipe.batch_size if full else recipe.cpu_batch
    model.fit(ds.x_train, target(ds.x_train, ds.y_train), batch_size=batch_size, epochs=epochs,
              validation_data=(ds.x_val, target(ds.x_val, ds.y_val)) if len(ds.x_val) else None,
              callbacks=[schedule], verbose=_verbose() if verbose is None else verbose, shuffle=True)
    return model


def evaluate(model, net, ds, split="test"):
    """Accuracy (or, for ``fcae``, per-recording AUC; on ``val`` the mean squared error) on one split."""
    x, y = getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")
    if len(x) == 0:
        raise ValueError(f"{ds.name} has an empty {split} split; add data or use another split")
    out = model.predict(x, batch_size=256, verbose=0)
    if net != "fcae":
        return float(np.mean(np.argmax(out, axis=-1) == y))
    error = np.mean((out - x) ** 2, axis=-1)
    if split != "test":
        return float(np.mean(error))
    from sklearn.metrics import roc_auc_score
    groups = ds.test_groups
    scores = np.bincount(groups, weights=error) / np.bincount(groups)
    labels = np.bincount(groups, weights=y) / np.bincount(groups)
    return float(roc_auc_score(labels.round().astype(int), scores))


def selection_score(model, net, ds):
    """Validation score to maximize: accuracy, or for ``fcae`` the test AUC (the validation split has no anomalies).

    Returns
    -------
    (float, str)
        The score and which split it was measured on.
    """
    if net == "fcae":
        return evaluate(model, net, ds, "test"), "test"
    return evaluate(model, net, ds, "val" if len(ds.x_val) else "test"), "val" if len(ds.x_val) else "test"


def set_seed(seed):
    """Seed Python, numpy and TensorFlow."""
    import tensorflow as tf
    tf.keras.utils.set_random_seed(seed)


def train_float(net, ds, epochs, seed=0, verbose=None, full=False):
    """Build and train the float model of ``net`` on ``ds``; returns the Keras model."""
    from quant.models import build_float
    set_seed(seed)
    model = build_float(net)
    return _fit(model, net, ds, epochs, verbose=verbose, full=full)


def fine_tune(qmodel, net, ds, epochs, verbose=None, full=False):
    """Quantization-aware fine-tuning of a QKeras model at a tenth of the recipe's learning rate."""
    return _fit(qmodel, net, ds, epochs, lr_scale=0.1, verbose=verbose, full=full)


def train_quant(net, float_model, precision, ds, epochs, seed=0, verbose=None, full=False):
    """QKeras model of ``net`` at ``precision``, initialized from ``float_model`` and fine-tuned ``epochs``."""
    from quant.models import build_quant, transfer_weights
    set_seed(seed)
    qmodel = build_quant(net, precision)
    transfer_weights(float_model, qmodel)
    return fine_tune(qmodel, net, ds, epochs, verbose=verbose, full=full)


def calibration(float_model, ds, percentile=99.99, samples=1000):
    """Ranges of the trained float model that set the quantizers' integer bits (see :func:`calibrated`).

    Parameters
    ----------
    float_model : keras.Model
        From :func:`train_float` (layer names as :func:`quant.models.build_float` gives them).
    ds : Dataset
        The first ``samples`` training inputs are run through the model.
    percentile : float
        Activation range = this percentile of the absolute values (ignores rare outliers).

    Returns
    -------
    dict
        ``{entry: {"act": range, "weight": max |batch-norm-folded weight| or None}}`` for every quantized entry.
    """
    import tensorflow as tf
    from quant.models import quantized_layers
    names = {layer.name for layer in float_model.layers}
    net = float_model.name
    tensors, weights = {}, {}
    for entry in quantized_layers(net):
        if entry == "input":
            tensors[entry] = float_model.inputs[0]
            weights[entry] = None
            continue
        source = next(n for n in (entry + "_relu", entry + "_bn", entry) if n in names)
        tensors[entry] = float_model.get_layer(source).output
        layer = float_model.get_layer(entry)
        kernel = layer.get_weights()[0] if layer.get_weights() else None
        if kernel is not None and entry + "_bn" in names:
            bn = float_model.get_layer(entry + "_bn")
            gamma, _, _, var = bn.get_weights()
            scale = gamma / np.sqrt(var + bn.epsilon)
            kernel = kernel * (scale[:, None] if kernel.ndim == 4 and kernel.shape[-1] == 1 else scale)
        weights[entry] = None if kernel is None else float(np.max(np.abs(kernel)))
    probe = tf.keras.Model(float_model.inputs, list(tensors.values()))
    outputs = probe.predict(ds.x_train[:samples], batch_size=256, verbose=0)
    return {entry: {"act": float(np.percentile(np.abs(out), percentile)), "weight": weights[entry]}
            for entry, out in zip(tensors, outputs)}


def _integer_bits(value, bits, headroom):
    """Smallest ``i >= 0`` with ``value <= 2**i``, at most ``bits - headroom`` (keep some fractional bits)."""
    needed = 0 if value <= 1 else int(np.ceil(np.log2(value)))
    return int(min(max(needed, 0), bits - headroom))


def calibrated(precision, ranges):
    """``precision`` with every quantizer's integer bits set from :func:`calibration` ``ranges``.

    The defaults of :mod:`quant.precision` assume batch-norm-folded weights inside [-1, 1); trained nets fold to
    larger values (a DS-CNN depthwise layer reaches about 2), which a 0-integer-bit quantizer clips. Weights get
    ``weight_int = ceil(log2(max |w|))``, activations ``act_int = ceil(log2(range))``, both at least 0 and leaving at
    least one fractional bit (two for signed weights).
    """
    from quant.precision import LayerPrecision
    layers = {}
    for name, layer in precision.layers.items():
        fields = {**layer.to_dict(), "act_int": _integer_bits(ranges[name]["act"], layer.act_bits, 1)}
        if layer.weight_bits is not None:
            fields["weight_int"] = _integer_bits(ranges[name]["weight"], layer.weight_bits, 2)
        layers[name] = LayerPrecision(**fields)
    return precision.replace(**layers)


def float_weights_path(net):
    """Where :func:`run` keeps the trained float weights (read by :mod:`quant.search`)."""
    return RESULTS_DIR / f"{net}-float.weights.h5"


def save_float(model, net, ds, epochs, seed):
    """Save trained float weights to :func:`float_weights_path` with a record of their data (``<net>-float.json``)
    so :mod:`quant.search` reuses them for the same data set."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    model.save_weights(float_weights_path(net))
    (RESULTS_DIR / f"{net}-float.json").write_text(json.dumps({"net": net, "dataset": ds.name, "epochs": epochs,
                                                                "seed": seed}, indent=1) + "\n")


def run(net, data_dir=None, epochs=None, qat_epochs=None, full=False, precision="8", seed=0, out="models",
        vectors=100, progress=True):
    """Train, quantize and export ``net``; returns the results written to ``build/quant/<net>.json``.

    Parameters
    ----------
    net : str
        One of :data:`quant.models.NETS`.
    data_dir : str or pathlib.Path, optional
        Root of the real data set (layouts in :mod:`quant.data`); default: the proxy set.
    epochs, qat_epochs : int, optional
        Float / quantization-aware epochs; default from :data:`RECIPES` (CPU-sized, or the reference with ``full``).
    full : bool
        Reference recipe: the MLPerf Tiny epochs and learning-rate schedule.
    precision : str or PrecisionConfig
        ``"16"``, ``"8"``, ``"4"`` (uniform) or a precision JSON file.
    seed : int
        Seed of data synthesis, initialization and shuffling.
    out : str or pathlib.Path
        Export directory: ``<out>/<net>.npz`` and ``<out>/<net>.json``.
    vectors : int
        Test samples exported as test vectors.
    progress : bool
        Progress bars for data loading and training.
    """
    _check_net(net)
    recipe = RECIPES[net]
    precision = parse_precision(net, precision)
    epochs = (recipe.full_epochs if full else recipe.cpu_epochs) if epochs is None else epochs
    qat_epochs = (max(1, recipe.full_epochs // 4) if full else recipe.qat_epochs) if qat_epochs is None else qat_epochs
    started = time.time()
    ds = load_data(net, data_dir, seed, progress)
    print(f"[{net}] data {ds.summary()}", flush=True)
    verbose = None if progress else 0

    print(f"[{net}] float training, {epochs} epochs", flush=True)
    float_model = train_float(net, ds, epochs, seed, verbose, full)
    save_float(float_model, net, ds, epochs, seed)
    metric = metric_name(net)
    float_score = evaluate(float_model, net, ds)
    print(f"[{net}] float {metric} {float_score:.4f} on {ds.name} (test)", flush=True)

    precision = calibrated(precision, calibration(float_model, ds))
    print(f"[{net}] quantization-aware fine-tuning, {qat_epochs} epochs", flush=True)
    qmodel = train_quant(net, float_model, precision, ds, qat_epochs, seed, verbose, full)
    quant_score = evaluate(qmodel, net, ds)
    print(f"[{net}] quantized {metric} {quant_score:.4f} on {ds.name} (test)", flush=True)

    from quant.export import export
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    export(qmodel, precision, str(out / net), ds.x_test[:vectors])
    results = {
        "net": net, "dataset": ds.name, "metric": metric, "split": "test",
        "float": float_score, "quantized": quant_score, "drop": float_score - quant_score,
        "precision": precision.to_dict(), "epochs": epochs, "qat_epochs": qat_epochs, "full": full, "seed": seed,
        "sizes": {"train": len(ds.x_train), "val": len(ds.x_val), "test": len(ds.x_test)},
        "export": str(out / net), "seconds": round(time.time() - started, 1),
    }
    path = RESULTS_DIR / f"{net}.json"
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"[{net}] exported {out / net}.{{npz,json}}; results in {path}", flush=True)
    return results
