"""Synthesis of small proxy data sets in the real data sets' layouts (the MLPerf Tiny data cannot be downloaded here).

Each generator writes ``build/data/<net>-proxy/`` in exactly the layout :mod:`quant.data` reads for the real data
set, plus the marker file :data:`quant.data.PROXY_MARKER` describing the synthesis, so the real loader loads the
proxy and names it ``"proxy (synthesized, not MLPerf): <dir>"``. Everything is seeded: the same seed and sizes
give the same files. The tasks are honest stand-ins, not the benchmarks; accuracies on them say nothing about
MLPerf accuracy.

* ``dscnn`` — Speech Commands v2 folders. The ten keywords and ten "unknown" words (the real data set's auxiliary
  words) spoken by ``espeak-ng`` (several English voices, speeds 120-200 wpm, pitches 20-80) and ``flite`` (voices
  slt, rms, awb, kal16, kal; stretched durations and shifted pitch), trimmed, resampled to 16 kHz, placed at a
  random offset in a 1 s clip with random gain and, in 80 % of clips, background noise at 5-30 dB SNR. The
  "speaker" (engine, voice, speed, pitch) is the part of the file name before ``_nohash_`` and decides the split with
  the Speech Commands ``which_set`` hash, so splits are speaker-disjoint as in the real set. ``_background_noise_``
  holds white, pink, brown, mains-hum and babble-like noise.
* ``resnet8`` — CIFAR-10 python pickles of 32x32x3 "coloured digits": ``sklearn`` 8x8 digits, scaled and tinted,
  blended over random crops of ``skimage.data`` photographs; 10 classes (digit_0 .. digit_9). Test images use
  digits that no training image uses.
* ``mobilenetv1`` — VWW folders of 128x128 JPEGs (the loader resizes to 96x96). ``person``: a face from the
  ``skimage.data.lfw_subset`` faces or a stick figure in a random pose, on a random crop of a photograph with no
  people in it; ``non_person``: the same backgrounds with an LFW non-face patch or random distractor shapes.
  Faces and non-face patches used by validation/test files are disjoint from those used by training files.
* ``fcae`` — DCASE 2020 task 2 folders for one machine type ``SynthMachine`` with three machine ids: harmonic
  machines (fundamental 80-300 Hz per id, eight decaying harmonics, slow amplitude modulation, coloured noise),
  2 s per recording (the real ones are 10 s). Anomalies inject click trains, a shift of the fundamental or an
  inharmonic 2-4 kHz whine, scaled by ``severity`` (default 0.15: a 0.75-2.25 % shift; at 1 every anomaly is obvious
  and the AUC saturates at 1.0).
"""

import hashlib
import json
import pathlib
import re
import shutil
import subprocess
import tempfile

import numpy as np

from quant import audio, data

__all__ = ["GENERATORS", "DEFAULT_SIZES", "default_dir", "ensure", "generate"]

ESPEAK_VOICES = ("en+m1", "en+m3", "en+m7", "en+f2", "en+f4", "en-us+m2", "en-us+f3", "en-gb-x-rp+m4")
FLITE_VOICES = ("slt", "rms", "awb", "kal16", "kal")
UNKNOWN_WORDS = ("bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow")
PEOPLE_FREE_SCENES = ("coffee", "chelsea", "rocket", "coins", "moon", "brick", "grass", "gravel",
                      "immunohistochemistry", "hubble_deep_field", "colorwheel", "page", "text")

DEFAULT_SIZES = {
    "dscnn": {"per_class": 300},
    "resnet8": {"per_batch": 500, "test": 500},
    "mobilenetv1": {"per_class": 2000},
    "fcae": {"train_per_id": 20, "test_per_id": 24, "seconds": 2.0, "severity": 0.15},
}
"""Default proxy sizes per NET: minutes of CPU training (MobileNetV1: about half an hour on 2 shared cores; with 250
images per class it stayed at chance). DS-CNN: 2949 / 279 / 376 train / val / test clips, so 1 pp of validation
accuracy is about 3 clips; FC-AE: 144 test recordings, anomalies at 0.15 severity (float AUC about 0.94)."""


def default_dir(net):
    """``build/data/<net>-proxy``."""
    return pathlib.Path("build") / "data" / f"{net}-proxy"


def _progress(iterable, description, total=None, enabled=True):
    from tqdm.auto import tqdm
    return tqdm(iterable, desc=description, total=total, disable=not enabled, unit="file", leave=False)


# ---------------------------------------------------------------------------------------------- keyword spotting
def _which_set(filename, validation_percentage=10.0, testing_percentage=10.0):
    """Speech Commands' own split rule (``input_data.which_set``): a SHA-1 of the speaker part of the name."""
    speaker = re.sub(r"_nohash_.*$", "", pathlib.Path(filename).name)
    percentage = (int(hashlib.sha1(speaker.encode()).hexdigest(), 16) % (2 ** 27)) * (100.0 / (2 ** 27 - 1))
    if percentage < validation_percentage:
        return "validation"
    if percentage < validation_percentage + testing_percentage:
        return "testing"
    return "training"


def _speak(word, speaker, workdir):
    """Synthesize ``word`` with ``speaker = (engine, voice, speed, pitch)``; returns 16 kHz float samples."""
    engine, voice, speed, pitch = speaker
    out = pathlib.Path(workdir) / "word.wav"
    if engine == "espeak-ng":
        cmd = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(out), word]
    else:
        cmd = ["flite", "-voice", voice, "--setf", f"duration_stretch={150 / speed:.3f}",
               "--setf", f"int_f0_target_mean={70 + 2 * pitch}", "-t", word, "-o", str(out)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rate, samples = audio.read_wav(out)
    samples = audio.resample(samples, rate)
    loud = np.flatnonzero(np.abs(samples) > 0.02 * (np.abs(samples).max() + 1e-9))
    return samples[loud[0]:loud[-1] + 1] if len(loud) else samples


def _noise(kind, n, rng):
    """One of the background noises, unit peak."""
    white = rng.standard_normal(n)
    if kind == "white":
        x = white
    elif kind in ("pink", "brown"):
        spectrum = np.fft.rfft(white)
        f = np.maximum(np.arange(len(spectrum)), 1.0)
        x = np.fft.irfft(spectrum / (np.sqrt(f) if kind == "pink" else f), n)
    elif kind == "hum":
        t = np.arange(n) / audio.SAMPLE_RATE
        x = sum(np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 8)) + 0.3 * white
    else:  # babble: a few band-limited, slowly modulated noise bands
        t = np.arange(n) / audio.SAMPLE_RATE
        spectrum = np.fft.rfft(white)
        freqs = np.fft.rfftfreq(n, 1 / audio.SAMPLE_RATE)
        x = np.zeros(n)
        for centre in rng.uniform(200, 3000, 6):
            band = np.fft.irfft(spectrum * np.exp(-((freqs - centre) / 150.0) ** 2), n)
            x += band * (1 + np.sin(2 * np.pi * rng.uniform(2, 6) * t + rng.uniform(0, 6.3)))
    return (x / np.abs(x).max()).astype(np.float32)


def _speech_commands(root, rng, per_class, progress):
    noise_dir = root / "_background_noise_"
    noise_dir.mkdir(parents=True)
    noises = []
    for kind in ("white", "pink", "brown", "hum", "babble"):
        noises.append(_noise(kind, 10 * audio.SAMPLE_RATE, rng))
        audio.write_wav(noise_dir / f"{kind}_noise.wav", 0.5 * noises[-1])
    speakers = [("espeak-ng", v, s, p) for v in ESPEAK_VOICES for s in (120, 140, 160, 180, 200)
                for p in (20, 35, 50, 65, 80)]
    speakers += [("flite", v, s, p) for v in FLITE_VOICES for s in (120, 150, 180) for p in (20, 50, 80)]
    jobs = [(w, per_class) for w in data.KWS_WORDS] + [(w, max(1, per_class // 4)) for w in UNKNOWN_WORDS]
    jobs = [(word, i) for word, count in jobs for i in range(count)]
    lists = {"validation": [], "testing": []}
    with tempfile.TemporaryDirectory() as tmp:
        for word, i in progress(jobs, "speech", total=len(jobs)):
            speaker = speakers[rng.integers(len(speakers))]
            speech = _speak(word, speaker, tmp)[:audio.CLIP_SAMPLES]
            clip = np.zeros(audio.CLIP_SAMPLES, np.float32)
            start = rng.integers(audio.CLIP_SAMPLES - len(speech) + 1)
            clip[start:start + len(speech)] = speech / (np.abs(speech).max() + 1e-9) * rng.uniform(0.3, 0.9)
            if rng.random() < 0.8:
                noise = noises[rng.integers(len(noises))]
                offset = rng.integers(len(noise) - audio.CLIP_SAMPLES)
                segment = noise[offset:offset + audio.CLIP_SAMPLES]
                gain = np.sqrt(np.mean(clip ** 2) / np.mean(segment ** 2)) / 10 ** (rng.uniform(5, 30) / 20)
                clip = clip + gain * segment
            clip *= 0.95 / max(1.0, np.abs(clip).max())
            speaker_id = hashlib.sha1(repr(speaker).encode()).hexdigest()[:8]
            name = f"{word}/{speaker_id}_nohash_{i}.wav"
            (root / word).mkdir(exist_ok=True)
            audio.write_wav(root / name, clip)
            split = _which_set(name)
            if split in lists:
                lists[split].append(name)
    for split, names in lists.items():
        (root / f"{split}_list.txt").write_text("".join(n + "\n" for n in sorted(names)))


# ---------------------------------------------------------------------------------------------- images
def _scenes():
    import skimage.data
    scenes = []
    for name in PEOPLE_FREE_SCENES:
        img = np.asarray(getattr(skimage.data, name)())
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        scenes.append(img[..., :3].astype(np.float32) / (255.0 if img.dtype == np.uint8 else img.max()))
    return scenes


def _background(scenes, size, rng):
    from PIL import Image
    scene = scenes[rng.integers(len(scenes))]
    crop = int(rng.uniform(0.2, 0.9) * min(scene.shape[:2]))
    y, x = rng.integers(scene.shape[0] - crop + 1), rng.integers(scene.shape[1] - crop + 1)
    patch = Image.fromarray((scene[y:y + crop, x:x + crop] * 255).astype(np.uint8))
    return np.asarray(patch.resize((size, size), Image.BILINEAR), np.float32) / 255.0


def _paste(background, shape, rng, colour=None):
    """Blend a [0, 1] grayscale ``shape`` (used as alpha) tinted with ``colour`` at a random place."""
    h, w = shape.shape
    y, x = rng.integers(background.shape[0] - h + 1), rng.integers(background.shape[1] - w + 1)
    colour = rng.uniform(0, 1, 3) if colour is None else colour
    alpha = shape[..., None]
    region = background[y:y + h, x:x + w]
    background[y:y + h, x:x + w] = region * (1 - alpha) + alpha * colour
    return background


def _paste_patch(background, gray, rng):
    """Paste a tinted grayscale photograph ``gray`` (opaque) at a random place."""
    h, w = gray.shape
    y, x = rng.integers(background.shape[0] - h + 1), rng.integers(background.shape[1] - w + 1)
    background[y:y + h, x:x + w] = gray[..., None] * rng.uniform(0.6, 1.0, 3)
    return background


def _resized(gray, size):
    from PIL import Image
    img = Image.fromarray((np.clip(gray, 0, 1) * 255).astype(np.uint8))
    return np.asarray(img.resize((size, size), Image.BILINEAR), np.float32) / 255.0


def _cifar10(root, rng, per_batch, test, progress):
    import pickle
    from sklearn.datasets import load_digits
    digits = load_digits()
    images, targets = digits.images / 16.0, digits.target
    held_out = np.arange(len(images)) >= int(0.8 * len(images))  # test images draw from the last 20 % of digits
    scenes = _scenes()

    def batch(count, pool, name):
        choice = rng.choice(np.flatnonzero(pool), count)
        pixels = []
        for i in choice:
            img = _background(scenes, 32, rng) * rng.uniform(0.3, 0.8)
            digit = _resized(images[i], int(rng.integers(18, 31)))
            img = _paste(img, digit, rng, colour=rng.uniform(0.5, 1.0, 3))
            img = np.clip(img + rng.normal(0, 0.03, img.shape), 0, 1)
            pixels.append((img * 255).round().astype(np.uint8).transpose(2, 0, 1).reshape(-1))
        with open(root / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": [int(t) for t in targets[choice]],
                         b"data": np.stack(pixels), b"filenames": [f"{name}_{k}.png".encode()
                                                                   for k in range(count)]}, f)

    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in progress(names, "CIFAR-10 batches", total=len(names)):
        test_batch = name == "test_batch"
        batch(test if test_batch else per_batch, held_out if test_batch else ~held_out, name)
    with open(root / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"digit_{d}".encode() for d in range(10)], b"num_vis": 3072,
                     b"num_cases_per_batch": per_batch}, f)


def _stick_figure(size, rng):
    """A stick figure in a random pose as a ``size x size`` [0, 1] mask."""
    from PIL import Image, ImageDraw
    img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    cx, s = size / 2, size / 8.0
    width = max(1, int(s * rng.uniform(0.35, 0.7)))
    head_y, neck_y, hip_y = s * 1.2, s * 2.4, s * 5.0
    draw.ellipse([cx - s * 0.8, head_y - s * 0.8, cx + s * 0.8, head_y + s * 0.8], fill=255)
    draw.line([cx, neck_y - s * 0.4, cx, hip_y], fill=255, width=width)
    for side in (-1, 1):
        arm = np.deg2rad(rng.uniform(20, 160))
        draw.line([cx, neck_y, cx + side * 2.4 * s * np.sin(arm), neck_y + 2.4 * s * np.cos(arm)], fill=255,
                  width=width)
        leg = np.deg2rad(rng.uniform(5, 40))
        draw.line([cx, hip_y, cx + side * 2.8 * s * np.sin(leg), hip_y + 2.8 * s * np.cos(leg)], fill=255,
                  width=width)
    return np.asarray(img, np.float32) / 255.0


def _distractor(size, rng):
    """Random rectangles, polygons and lines (not a figure) as a ``size x size`` [0, 1] mask."""
    from PIL import Image, ImageDraw
    img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    for _ in range(rng.integers(1, 4)):
        pts = rng.uniform(0, size, (int(rng.integers(2, 6)), 2))
        kind = rng.integers(3)
        if kind == 0:
            draw.rectangle([*pts[:2].min(0), *pts[:2].max(0)], fill=255)
        elif kind == 1 and len(pts) >= 3:
            draw.polygon([tuple(p) for p in pts], fill=255)
        else:
            draw.line([tuple(p) for p in pts], fill=255, width=int(rng.integers(1, 5)))
    return np.asarray(img, np.float32) / 255.0


def _vww(root, rng, per_class, progress, size=128):
    from PIL import Image
    import skimage.data
    lfw = np.asarray(skimage.data.lfw_subset(), np.float32)  # 100 faces then 100 non-faces, 25 x 25
    faces, patches = lfw[:100], lfw[100:]
    scenes = _scenes()
    held_out_fraction = 0.2  # the loader's default val + test share
    jobs = [(cls, i) for cls in data.VWW_LABELS for i in range(per_class)]
    for cls, i in progress(jobs, "VWW images", total=len(jobs)):
        name = f"{cls}_{i:05d}.jpg"
        held_out = data._stable_fraction(f"{cls}/{name}") < held_out_fraction
        pool = slice(80, 100) if held_out else slice(0, 80)
        img = _background(scenes, size, rng)
        extent = int(rng.uniform(0.35, 0.9) * size)
        photos = faces if cls == "person" else patches
        if rng.random() < 0.5:
            img = _paste_patch(img, _resized(photos[pool][rng.integers(20 if held_out else 80)], extent), rng)
        else:
            img = _paste(img, (_stick_figure if cls == "person" else _distractor)(extent, rng), rng)
        (root / cls).mkdir(parents=True, exist_ok=True)
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(root / cls / name, quality=90)


# ---------------------------------------------------------------------------------------------- machine sounds
def _machine(f0, seconds, rng, anomaly=None, severity=1.0):
    """One recording of a harmonic machine; ``anomaly`` in (None, "clicks", "shift", "whine"), its strength scaled by
    ``severity`` (1: clicks of amplitude 0.5-1.5, a 5-15 % shift, a whine of amplitude 0.2)."""
    n = int(seconds * audio.SAMPLE_RATE)
    t = np.arange(n) / audio.SAMPLE_RATE
    f0 = f0 * rng.uniform(0.99, 1.01) * (1 + severity * rng.uniform(0.05, 0.15) if anomaly == "shift" else 1.0)
    x = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3)) / k ** 1.2 for k in range(1, 9))
    x *= 1 + 0.2 * np.sin(2 * np.pi * rng.uniform(2, 8) * t)
    x /= np.abs(x).max()
    x += 0.3 * _noise("brown", n, rng) + 0.05 * _noise("white", n, rng)
    if anomaly == "clicks":
        decay = np.exp(-np.arange(200) / 30.0) * np.sign(rng.standard_normal(200))
        for start in rng.integers(0, n - 200, int(rng.uniform(5, 20) * seconds)):
            x[start:start + 200] += severity * rng.uniform(0.5, 1.5) * decay
    elif anomaly == "whine":
        x += severity * 0.2 * np.sin(2 * np.pi * rng.uniform(2000, 4000) * t)
    return 0.5 * x / np.abs(x).max()


def _dcase(root, rng, train_per_id, test_per_id, seconds, severity, progress):
    machine = root / "SynthMachine"
    (machine / "train").mkdir(parents=True)
    (machine / "test").mkdir()
    f0s = {0: 97.0, 2: 151.0, 4: 233.0}
    jobs = [("train", "normal", m, k) for m in f0s for k in range(train_per_id)]
    jobs += [("test", cls, m, k) for m in f0s for cls in data.AD_LABELS for k in range(test_per_id)]
    for split, cls, m, k in progress(jobs, "machine sounds", total=len(jobs)):
        anomaly = ("clicks", "shift", "whine")[k % 3] if cls == "anomaly" else None
        audio.write_wav(machine / split / f"{cls}_id_{m:02d}_{k:08d}.wav",
                        _machine(f0s[m], seconds, rng, anomaly, severity))


GENERATORS = {"dscnn": _speech_commands, "resnet8": _cifar10, "mobilenetv1": _vww, "fcae": _dcase}
"""NET -> generator ``(root, rng, **sizes, progress)``."""


def _marker_text(net, seed, sizes):
    return (f"Proxy data set for {net}, synthesized by quant.proxy (see its docstring); NOT the MLPerf Tiny data.\n"
            f"params: {json.dumps({'net': net, 'seed': seed, 'sizes': sizes}, sort_keys=True)}\n")


def generate(net, root=None, seed=0, progress=True, **sizes):
    """Synthesize the proxy data set of ``net`` into ``root`` (default :func:`default_dir`), replacing it.

    Parameters
    ----------
    net : str
        One of :data:`GENERATORS`.
    root : str or pathlib.Path, optional
        Output directory; it is deleted first.
    seed : int
        Seed of every random choice.
    progress : bool
        Show a progress bar.
    **sizes
        Override :data:`DEFAULT_SIZES` entries, e.g. ``per_class=5``.

    Returns
    -------
    pathlib.Path
        ``root``.
    """
    if net not in GENERATORS:
        raise ValueError(f"Unknown NET '{net}'; valid NETs are: {', '.join(GENERATORS)}")
    unknown = set(sizes) - set(DEFAULT_SIZES[net])
    if unknown:
        raise ValueError(f"Unknown size parameter(s) {sorted(unknown)} for {net}; valid: {sorted(DEFAULT_SIZES[net])}")
    sizes = {**DEFAULT_SIZES[net], **sizes}
    root = pathlib.Path(root if root is not None else default_dir(net))
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    bar = lambda it, desc, total=None: _progress(it, f"proxy {net}: {desc}", total, progress)  # noqa: E731
    GENERATORS[net](root, rng, progress=bar, **sizes)
    (root / data.PROXY_MARKER).write_text(_marker_text(net, seed, sizes))
    return root


def ensure(net, root=None, seed=0, progress=True, **sizes):
    """Return the proxy directory of ``net``, generating it unless it exists with the same seed and sizes."""
    root = pathlib.Path(root if root is not None else default_dir(net))
    marker = root / data.PROXY_MARKER
    if net in DEFAULT_SIZES and marker.is_file() and \
            marker.read_text() == _marker_text(net, seed, {**DEFAULT_SIZES[net], **sizes}):
        return root
    return generate(net, root, seed, progress, **sizes)
