"""quant.proxy writes tiny proxy sets that the real loaders of quant.data read; python -m quant proxy."""

import hashlib
import re
import shutil

import numpy as np
import pytest

from quant import data, proxy
from quant.__main__ import main

TINY = {
    "dscnn": {"per_class": 2},
    "resnet8": {"per_batch": 10, "test": 6},
    "mobilenetv1": {"per_class": 6},
    "fcae": {"train_per_id": 2, "test_per_id": 2, "seconds": 1.0},
}
pytestmark = pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("flite")),
                                reason="espeak-ng and flite are needed (make setup installs them)")


def digest(root):
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("proxy")
    return {net: proxy.generate(net, base / net, seed=0, progress=False, **sizes) for net, sizes in TINY.items()}


@pytest.mark.parametrize("net, shape, classes, total", [
    ("dscnn", (49, 10, 1), 12, None),
    ("resnet8", (32, 32, 3), 10, 5 * 10 + 6),
    ("mobilenetv1", (96, 96, 3), 2, 12),
    ("fcae", (640,), 2, None),
])
def test_real_loaders_read_the_proxies(tiny, net, shape, classes, total):
    ds = data.load(net, tiny[net])
    assert ds.name == f"proxy (synthesized, not MLPerf): {tiny[net]}"
    assert ds.x_train.shape[1:] == shape and ds.x_train.dtype == np.float32
    assert len(ds.classes) == classes
    if total is not None:
        assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == total


def test_keyword_proxy_has_every_word_and_speaker_disjoint_splits(tiny):
    root = tiny["dscnn"]
    for word in data.KWS_WORDS:
        assert len(list((root / word).glob("*.wav"))) == 2
    for word in proxy.UNKNOWN_WORDS:
        assert len(list((root / word).glob("*.wav"))) == 1
    speaker = lambda name: re.sub(r"_nohash_.*$", "", name.split("/")[-1])  # noqa: E731
    held_out = (root / "validation_list.txt").read_text().split() + (root / "testing_list.txt").read_text().split()
    train = [f"{p.parent.name}/{p.name}" for p in root.glob("*/*_nohash_*.wav")
             if f"{p.parent.name}/{p.name}" not in held_out]
    assert {speaker(n) for n in held_out}.isdisjoint({speaker(n) for n in train})
    assert len(list((root / "_background_noise_").glob("*.wav"))) == 5


def test_machine_proxy_layout(tiny):
    machine = tiny["fcae"] / "SynthMachine"
    assert sorted(p.name for p in (machine / "test").iterdir())[:2] == ["anomaly_id_00_00000000.wav",
                                                                         "anomaly_id_00_00000001.wav"]
    assert len(list((machine / "train").glob("normal_id_*.wav"))) == 3 * 2


def test_generation_is_deterministic_and_seeded(tiny, tmp_path):
    again = proxy.generate("fcae", tmp_path / "a", seed=0, progress=False, **TINY["fcae"])
    other = proxy.generate("fcae", tmp_path / "b", seed=1, progress=False, **TINY["fcae"])
    assert digest(again) == digest(tiny["fcae"])
    assert digest(other) != digest(tiny["fcae"])


def test_ensure_reuses_a_matching_proxy_and_regenerates_otherwise(tmp_path):
    root = proxy.generate("resnet8", tmp_path / "r", progress=False, **TINY["resnet8"])
    stamp = (root / "test_batch").stat().st_mtime_ns
    assert proxy.ensure("resnet8", root, progress=False, **TINY["resnet8"]) == root
    assert (root / "test_batch").stat().st_mtime_ns == stamp
    proxy.ensure("resnet8", root, progress=False, per_batch=4, test=2)
    assert len(data.load_cifar10(root).x_test) == 2


def test_generate_rejects_bad_names(tmp_path):
    with pytest.raises(ValueError, match="valid NETs are: dscnn, resnet8, mobilenetv1, fcae"):
        proxy.generate("lenet", tmp_path)
    with pytest.raises(ValueError, match=r"Unknown size parameter\(s\) \['per_klass'\] for dscnn"):
        proxy.generate("dscnn", tmp_path, per_klass=3)


def test_cli_proxy_command(tmp_path, capsys):
    main(["proxy", "mobilenetv1", "--out", str(tmp_path / "v"), "--size", "per_class=3"])
    assert "proxy data set (synthesized, not MLPerf) written to" in capsys.readouterr().out
    assert len(list((tmp_path / "v" / "person").glob("*.jpg"))) == 3


def test_cli_help_and_unknown_net(capsys):
    for command in ([], ["proxy"], ["train"], ["search"]):
        with pytest.raises(SystemExit) as info:
            main(command + ["--help"])
        assert info.value.code == 0
    with pytest.raises(SystemExit):
        main(["train", "lenet"])
    assert "unknown NET 'lenet'; valid NETs are: dscnn, resnet8, mobilenetv1, fcae" in capsys.readouterr().err


def test_cli_net_list_matches_the_models():
    from quant import __main__, models
    assert __main__.NETS == tuple(models.NETS) == tuple(data.TASKS) == tuple(proxy.GENERATORS)
