"""Loaders for the four MLPerf Tiny data sets, in the layouts the data sets are distributed in.

=========== ===================== ==========================================================================
NET         data set              expected layout under ``--data-dir``
=========== ===================== ==========================================================================
dscnn       Speech Commands v2    ``<word>/*.wav`` (16 kHz mono, 1 s), ``validation_list.txt``,
                                  ``testing_list.txt``, ``_background_noise_/*.wav``
resnet8     CIFAR-10 (python)     ``data_batch_1`` .. ``data_batch_5``, ``test_batch`` (pickles; also accepted
                                  inside ``cifar-10-batches-py/``)
mobilenetv1 Visual Wake Words     ``person/*.{jpg,jpeg,png}``, ``non_person/*.{jpg,jpeg,png}``
fcae        DCASE 2020 task 2     ``<machine_type>/train/normal_*.wav``,
            (ToyADMOS / MIMII)    ``<machine_type>/test/{normal,anomaly}_*.wav``
=========== ===================== ==========================================================================

Every loader returns a :class:`Dataset` whose ``name`` says where the data came from: a directory holding the
marker file written by :mod:`quant.proxy` is ``"proxy (synthesized, not MLPerf): <dir>"``, anything else
``"real (<dir>)"``. Print that name next to every accuracy.

Splits follow the references: Speech Commands uses its list files plus 10 % silence and 10 % unknown per split
(as TensorFlow's ``speech_commands/input_data.py``); CIFAR-10 and VWW hold out a seeded 10 % of the training files
for validation (VWW also 10 % for test, as it ships no test split); DCASE holds out 10 % of the normal training
files for validation and keeps the test recordings whole (``test_groups`` maps vectors to recordings for the
per-recording anomaly score).
"""

import dataclasses
import pathlib
import pickle
import zlib

import numpy as np

from quant import audio

__all__ = ["Dataset", "DataLayoutError", "TASKS", "INPUT_SCALE", "PROXY_MARKER", "dataset_name", "load",
           "load_speech_commands", "load_cifar10", "load_vww", "load_dcase", "KWS_LABELS", "CIFAR10_LABELS"]

PROXY_MARKER = "PROXY.txt"
"""File that :mod:`quant.proxy` writes at the root of every synthesized data set."""

KWS_WORDS = ("down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes")
KWS_LABELS = KWS_WORDS + ("_silence_", "_unknown_")
"""Class order of the MLPerf Tiny KWS reference (the TensorFlow Datasets ``speech_commands`` order)."""
CIFAR10_LABELS = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
VWW_LABELS = ("non_person", "person")
AD_LABELS = ("normal", "anomaly")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
VWW_SIZE = 96

LAYOUTS = {
    "speech_commands": "<dir>/<word>/*.wav (words include yes no up down left right on off stop go), "
                       "<dir>/validation_list.txt, <dir>/testing_list.txt, <dir>/_background_noise_/*.wav",
    "cifar10": "<dir>/data_batch_1 .. data_batch_5 and <dir>/test_batch (the CIFAR-10 python version)",
    "vww": "<dir>/person/*.jpg and <dir>/non_person/*.jpg (.jpeg/.png also read)",
    "dcase": "<dir>/<machine_type>/train/normal_*.wav and <dir>/<machine_type>/test/{normal,anomaly}_*.wav",
}


class DataLayoutError(FileNotFoundError):
    """A data directory does not have the layout its loader expects."""


def _missing(what, path, layout):
    return DataLayoutError(f"{what} not found: {path}. Expected layout: {LAYOUTS[layout]}. Pass the data set root "
                           f"with --data-dir, or omit --data-dir to synthesize the proxy set.")


@dataclasses.dataclass
class Dataset:
    """Features and labels of one data set, split three ways.

    Attributes
    ----------
    name : str
        ``"real (<dir>)"`` or ``"proxy (synthesized, not MLPerf): <dir>"``; print it next to every accuracy.
    classes : tuple of str
        Class names, indexed by label.
    x_train, x_val, x_test : numpy.ndarray
        float32 inputs with the network's input shape after the batch axis.
    y_train, y_val, y_test : numpy.ndarray
        int64 labels (for ``fcae``: 0 normal, 1 anomaly, per vector).
    test_groups : numpy.ndarray or None
        For ``fcae``: the test recording each test vector comes from (anomaly scores are averaged per recording).
    """
    name: str
    classes: tuple
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    test_groups: np.ndarray = None

    def summary(self):
        """One line: name, split sizes and input shape."""
        return (f"{self.name}: train {len(self.x_train)}, val {len(self.x_val)}, test {len(self.x_test)}, "
                f"input {tuple(self.x_train.shape[1:])}, {len(self.classes)} classes")


def dataset_name(root):
    """``"proxy (synthesized, not MLPerf): <root>"`` if :mod:`quant.proxy` made ``root``, else ``"real (<root>)"``."""
    root = pathlib.Path(root)
    if (root / PROXY_MARKER).is_file():
        return f"proxy (synthesized, not MLPerf): {root}"
    return f"real ({root})"


def _stable_fraction(key):
    """A number in [0, 1) that depends only on ``key`` (so splits do not change when files are added)."""
    return (zlib.crc32(key.encode()) & 0xFFFFFFFF) / 2.0 ** 32


def _split_by_key(keys, val_fraction, test_fraction=0.0):
    """Indices of train / val / test, assigning each key by its stable hash."""
    fractions = np.array([_stable_fraction(k) for k in keys])
    val = fractions < val_fraction
    test = (fractions >= val_fraction) & (fractions < val_fraction + test_fraction)
    return np.flatnonzero(~val & ~test), np.flatnonzero(val), np.flatnonzero(test)


def _read_list(path, layout):
    if not path.is_file():
        raise _missing("split file", path, layout)
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def _clip(path):
    rate, samples = audio.read_wav(path)
    if rate != audio.SAMPLE_RATE:
        raise ValueError(f"{path} is sampled at {rate} Hz; Speech Commands clips must be {audio.SAMPLE_RATE} Hz "
                         f"mono wav (resample it, e.g. `sox in.wav -r 16000 out.wav`)")
    return samples


def load_speech_commands(root, seed=0, silence_percentage=10.0, unknown_percentage=10.0, progress=None):
    """Speech Commands v2, 12 classes (:data:`KWS_LABELS`), as MFCC matrices (``N x 49 x 10 x 1``).

    Parameters
    ----------
    root : str or pathlib.Path
        Directory with one folder per word, ``validation_list.txt``, ``testing_list.txt`` (paths relative to
        ``root``, e.g. ``yes/0a7c2a8d_nohash_0.wav``) and ``_background_noise_/*.wav``.
    seed : int
        Seed for the choice of unknown-word clips and for the silence clips cut from the background noise.
    silence_percentage, unknown_percentage : float
        Size of the ``_silence_`` / ``_unknown_`` class in each split, in percent of that split's keyword clips.
    progress : callable, optional
        ``progress(iterable, description, total=...)`` wrapper (e.g. a tqdm factory) for the feature extraction.
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise _missing("Speech Commands directory", root, "speech_commands")
    val_list = _read_list(root / "validation_list.txt", "speech_commands")
    test_list = _read_list(root / "testing_list.txt", "speech_commands")
    noise_dir = root / "_background_noise_"
    noise_files = sorted(noise_dir.glob("*.wav"))
    if not noise_files:
        raise _missing("background noise wavs (_background_noise_/*.wav)", noise_dir, "speech_commands")
    noises = [_clip(p) for p in noise_files]
    words = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != "_background_noise_")
    absent = [w for w in KWS_WORDS if w not in words]
    if absent:
        raise _missing(f"keyword folders {absent}", root, "speech_commands")

    rng = np.random.default_rng(seed)
    splits = {"train": ([], []), "val": ([], []), "test": ([], [])}
    for word in words:
        for path in sorted((root / word).glob("*.wav")):
            rel = f"{word}/{path.name}"
            split = "test" if rel in test_list else "val" if rel in val_list else "train"
            splits[split][0 if word in KWS_WORDS else 1].append(path)

    out = {}
    for split, (keyword_paths, unknown_paths) in splits.items():
        n_unknown = min(len(unknown_paths), int(np.ceil(len(keyword_paths) * unknown_percentage / 100)))
        n_silence = int(np.ceil(len(keyword_paths) * silence_percentage / 100))
        chosen = [unknown_paths[i] for i in sorted(rng.choice(len(unknown_paths), n_unknown, replace=False))]
        paths = keyword_paths + chosen
        labels = [KWS_LABELS.index(p.parent.name) for p in keyword_paths] + [KWS_LABELS.index("_unknown_")] * n_unknown
        clips = (_clip(p) for p in paths)
        if progress is not None:
            clips = progress(clips, f"MFCC {split}", total=len(paths))
        features = [audio.mfcc(c) for c in clips]
        for _ in range(n_silence):
            noise = noises[rng.integers(len(noises))]
            start = rng.integers(max(1, len(noise) - audio.CLIP_SAMPLES))
            features.append(audio.mfcc(noise[start:start + audio.CLIP_SAMPLES] * rng.uniform(0.0, 1.0)))
            labels.append(KWS_LABELS.index("_silence_"))
        x = np.stack(features)[..., None] if features else np.zeros((0, 49, 10, 1), np.float32)
        out[split] = (x.astype(np.float32), np.asarray(labels, np.int64))
    return Dataset(dataset_name(root), KWS_LABELS, *out["train"], *out["val"], *out["test"])


def _unpickle(path):
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    data = np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return data, np.asarray(batch[b"labels"], np.int64)


def load_cifar10(root, val_fraction=0.1, seed=0, progress=None):
    """CIFAR-10 python batches as float32 ``N x 32 x 32 x 3`` images in [0, 1].

    ``val_fraction`` of the five training batches (a seeded random choice) becomes the validation split; the test
    split is ``test_batch``. Class names come from ``batches.meta`` when present (a proxy set names its own
    classes there), else :data:`CIFAR10_LABELS`. ``progress`` wraps the list of batch files.
    """
    root = pathlib.Path(root)
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        if not (root / name).is_file():
            raise _missing(f"CIFAR-10 batch '{name}'", root / name, "cifar10")
    files = names[:5] if progress is None else progress(names[:5], "CIFAR-10 batches", total=5)
    train = [_unpickle(root / n) for n in files]
    x, y = np.concatenate([b[0] for b in train]), np.concatenate([b[1] for b in train])
    x_test, y_test = _unpickle(root / "test_batch")
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = int(round(len(x) * val_fraction))
    val, tr = order[:n_val], np.sort(order[n_val:])
    scale = lambda a: a.astype(np.float32) / 255.0  # noqa: E731
    classes = CIFAR10_LABELS
    if (root / "batches.meta").is_file():
        with open(root / "batches.meta", "rb") as f:
            classes = tuple(n.decode() for n in pickle.load(f, encoding="bytes")[b"label_names"])
    return Dataset(dataset_name(root), classes, scale(x[tr]), y[tr], scale(x[val]), y[val],
                   scale(x_test), y_test)


def _image(path, size=VWW_SIZE):
    from PIL import Image
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB").resize((size, size), Image.BILINEAR), np.float32) / 255.0


def load_vww(root, val_fraction=0.1, test_fraction=0.1, progress=None):
    """Visual Wake Words image folders, resized to float32 ``N x 96 x 96 x 3`` in [0, 1]; label 1 = person.

    Files go to the validation / test split by a stable hash of their name (``val_fraction`` / ``test_fraction``).
    ``progress`` wraps the image decoding.
    """
    root = pathlib.Path(root)
    paths, labels = [], []
    for label, cls in enumerate(VWW_LABELS):
        folder = root / cls
        files = sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
        if not files:
            raise _missing(f"'{cls}' image folder (or it has no .jpg/.jpeg/.png)", folder, "vww")
        paths += files
        labels += [label] * len(files)
    items = paths if progress is None else progress(paths, "VWW images", total=len(paths))
    x = np.stack([_image(p) for p in items])
    y = np.asarray(labels, np.int64)
    tr, val, te = _split_by_key([f"{p.parent.name}/{p.name}" for p in paths], val_fraction, test_fraction)
    return Dataset(dataset_name(root), VWW_LABELS, x[tr], y[tr], x[val], y[val], x[te], y[te])


def _machine_dir(root, machine_type):
    machines = sorted(p.name for p in root.iterdir() if (p / "train").is_dir()) if root.is_dir() else []
    if machine_type is None:
        if "ToyCar" in machines:
            return root / "ToyCar"
        if len(machines) == 1:
            return root / machines[0]
        if not machines:
            raise _missing("machine type folder with train/", root, "dcase")
        raise ValueError(f"{root} holds several machine types {machines}; choose one with machine_type=...")
    if machine_type not in machines:
        raise _missing(f"machine type '{machine_type}' (found: {machines or 'none'})", root / machine_type, "dcase")
    return root / machine_type


def _recording(path):
    rate, samples = audio.read_wav(path)
    if rate != audio.SAMPLE_RATE:
        raise ValueError(f"{path} is sampled at {rate} Hz; DCASE recordings must be {audio.SAMPLE_RATE} Hz wav")
    return audio.log_mel_vectors(samples)


def load_dcase(root, machine_type=None, val_fraction=0.1, progress=None):
    """DCASE 2020 task 2 recordings as 640-dimensional log-mel vectors for the FC autoencoder.

    Parameters
    ----------
    root : str or pathlib.Path
        Directory holding ``<machine_type>/train`` and ``<machine_type>/test``.
    machine_type : str, optional
        Folder to read; default ``ToyCar`` (the MLPerf Tiny choice) or the only machine type present.
    val_fraction : float
        Share of the normal training recordings (by stable hash of the file name) held out for validation.
    progress : callable, optional
        ``progress(iterable, description, total=...)`` wrapper for the feature extraction.

    Returns
    -------
    Dataset
        ``x_*`` are vectors, ``y_*`` their recording's label (0 normal, 1 anomaly); ``test_groups`` numbers the
        test recordings.
    """
    root = pathlib.Path(root)
    machine = _machine_dir(root, machine_type)
    train_files = sorted((machine / "train").glob("normal_*.wav"))
    if not train_files:
        raise _missing("normal training recordings (normal_*.wav)", machine / "train", "dcase")
    test_dir = machine / "test"
    test_files = sorted(test_dir.glob("normal_*.wav")) + sorted(test_dir.glob("anomaly_*.wav"))
    if not test_files or not any(p.name.startswith("anomaly_") for p in test_files):
        raise _missing("test recordings with both normal_*.wav and anomaly_*.wav", test_dir, "dcase")

    def vectors(files, what):
        items = files if progress is None else progress(files, f"log-mel {what}", total=len(files))
        return [_recording(p) for p in items]

    tr, val, _ = _split_by_key([p.name for p in train_files], val_fraction)
    train = vectors(train_files, "train")
    test = vectors(test_files, "test")
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros((0, 640), np.float32)  # noqa: E731
    x_train, x_val = cat([train[i] for i in tr]), cat([train[i] for i in val])
    labels = [int(p.name.startswith("anomaly_")) for p in test_files]
    y_test = np.concatenate([np.full(len(v), lab, np.int64) for v, lab in zip(test, labels)])
    groups = np.concatenate([np.full(len(v), i, np.int64) for i, v in enumerate(test)])
    return Dataset(dataset_name(root), AD_LABELS, x_train, np.zeros(len(x_train), np.int64), x_val,
                   np.zeros(len(x_val), np.int64), cat(test), y_test, test_groups=groups)


TASKS = {
    "dscnn": ("speech_commands", load_speech_commands),
    "resnet8": ("cifar10", load_cifar10),
    "mobilenetv1": ("vww", load_vww),
    "fcae": ("dcase", load_dcase),
}
"""NET name -> (data set layout key, loader)."""

INPUT_SCALE = {"dscnn": 1 / 16, "resnet8": 1.0, "mobilenetv1": 1.0, "fcae": 1 / 16}
"""Power-of-two factor :func:`load` applies to the features so they fit the nets' fixed-point input grids.

MFCCs (about -130 .. 30) and log-mel dB values (about -100 .. 30) become about -8 .. 2, inside the 8-bit input range
[-8, 8) of ``quantized_bits(8, 3)``; images stay in [0, 1]. A power of two keeps the scaling exact in integers.
"""


def load(net, data_dir, **kwargs):
    """Load the data set of ``net`` from ``data_dir`` and scale it by :data:`INPUT_SCALE`.

    ``kwargs`` go to the data set's loader (see the module docstring for the layouts).
    """
    if net not in TASKS:
        raise ValueError(f"Unknown NET '{net}'; valid NETs are: {', '.join(TASKS)}")
    ds = TASKS[net][1](data_dir, **kwargs)
    scale = np.float32(INPUT_SCALE[net])
    if scale != 1:
        ds.x_train, ds.x_val, ds.x_test = ds.x_train * scale, ds.x_val * scale, ds.x_test * scale
    return ds
