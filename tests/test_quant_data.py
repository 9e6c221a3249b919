"""quant.audio front ends and quant.data loaders on tiny hand-made fixtures in the real layouts."""

import pickle

import numpy as np
import pytest

from quant import audio, data

RATE = audio.SAMPLE_RATE


def tone(freq, seconds=1.0, amplitude=0.5):
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# ---------------------------------------------------------------------------------------------- audio front ends
def test_mfcc_of_silence_is_the_dct_of_a_constant():
    # log(0 + 1e-6) in every band: DCT-II of a constant c is 2 * 40 * c at k = 0, zero elsewhere; scaled by 1/sqrt(80)
    out = audio.mfcc(np.zeros(RATE, np.float32))
    assert out.shape == (49, 10) and out.dtype == np.float32
    expected = np.zeros((49, 10), np.float32)
    expected[:, 0] = 2 * 40 * np.log(1e-6) / np.sqrt(80)
    np.testing.assert_allclose(out, expected, atol=1e-4)


def test_mfcc_pads_short_clips_and_normalizes_the_peak():
    short = tone(1000, 0.5)
    padded = np.concatenate([short, np.zeros(RATE // 2, np.float32)])
    np.testing.assert_array_equal(audio.mfcc(short), audio.mfcc(padded))
    np.testing.assert_array_equal(audio.mfcc(short), audio.mfcc(0.25 * short))  # power of two: exact


def _tf_mfcc(samples):
    """The MLPerf Tiny reference front end (keyword_spotting/get_dataset.py), with tf.signal."""
    import tensorflow as tf
    wav = tf.constant(samples / np.max(np.abs(samples)), tf.float32)
    stfts = tf.signal.stft(wav, frame_length=480, frame_step=320, fft_length=None, window_fn=tf.signal.hann_window)
    spectrograms = tf.abs(stfts)
    matrix = tf.signal.linear_to_mel_weight_matrix(40, stfts.shape[-1], RATE, 20.0, 4000.0)
    log_mel = tf.math.log(tf.tensordot(spectrograms, matrix, 1) + 1e-6)
    return tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., :10].numpy()


@pytest.mark.ml
def test_mfcc_matches_the_tf_signal_reference_on_a_chirp_plus_noise():
    t = np.arange(RATE) / RATE
    rng = np.random.default_rng(1)
    signal = np.sin(2 * np.pi * (200 * t + 1500 * t ** 2)) + 0.05 * rng.standard_normal(RATE)
    np.testing.assert_allclose(audio.mfcc(signal), _tf_mfcc(signal), rtol=1e-3, atol=2e-3)


@pytest.mark.ml
def test_htk_mel_matrix_equals_tf_signal():
    import tensorflow as tf
    expected = tf.signal.linear_to_mel_weight_matrix(40, 257, RATE, 20.0, 4000.0).numpy()
    np.testing.assert_allclose(audio.htk_mel_matrix(), expected, atol=1e-5)  # tf computes in float32


def test_slaney_filters_have_unit_area_and_a_tone_lands_in_its_band():
    weights = audio.slaney_mel_matrix()
    assert weights.shape == (128, 513)
    area = weights.sum(axis=1) * (RATE / 1024)          # Slaney normalization: each triangle has area 1 (in Hz)
    np.testing.assert_allclose(area[64:], 1.0, rtol=0.02)  # the wide upper bands are sampled finely enough
    centres = np.argmax(weights, axis=1) * RATE / 1024
    vectors = audio.log_mel_vectors(tone(3000.0))
    band = int(np.argmax(vectors[0, :128]))
    assert band == int(np.argmin(np.abs(centres - 3000.0)))


def test_log_mel_vectors_concatenate_five_consecutive_frames():
    x = np.random.default_rng(0).standard_normal(RATE).astype(np.float32) * 0.1
    vectors = audio.log_mel_vectors(x)
    frames = 1 + RATE // 512                              # centred frames: 32
    assert vectors.shape == (frames - 4, 640) and vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors[1:, :512], vectors[:-1, 128:])
    with pytest.raises(ValueError, match="fewer than the 5"):
        audio.log_mel_vectors(x[:1000])


def test_wav_round_trip_is_16_bit_exact(tmp_path):
    x = np.arange(-32768, 32768, 256, dtype=np.int64) / 32768.0
    audio.write_wav(tmp_path / "a.wav", x)
    rate, y = audio.read_wav(tmp_path / "a.wav")
    assert rate == RATE and y.dtype == np.float32
    np.testing.assert_array_equal(y, x.astype(np.float32))


# ---------------------------------------------------------------------------------------------- Speech Commands
def make_speech_commands(root, unknown=4):
    """One clip per keyword in train, 'yes'/'no' also in val/test; ``unknown`` 'bed' clips, one in val, one in test."""
    root.mkdir()
    for i, word in enumerate(data.KWS_WORDS):
        (root / word).mkdir()
        audio.write_wav(root / word / "aaaa0000_nohash_0.wav", tone(300 + 100 * i))
    for word in ("yes", "no"):
        audio.write_wav(root / word / "bbbb0000_nohash_0.wav", tone(250, 0.7))
        audio.write_wav(root / word / "cccc0000_nohash_0.wav", tone(350, 0.7))
    (root / "bed").mkdir()
    for k in range(unknown):
        audio.write_wav(root / "bed" / f"dddd000{k}_nohash_0.wav", tone(2000 + 50 * k))
    (root / "validation_list.txt").write_text("yes/bbbb0000_nohash_0.wav\nno/bbbb0000_nohash_0.wav\n"
                                              "bed/dddd0000_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("yes/cccc0000_nohash_0.wav\nno/cccc0000_nohash_0.wav\n"
                                           "bed/dddd0001_nohash_0.wav\n")
    (root / "_background_noise_").mkdir()
    audio.write_wav(root / "_background_noise_" / "white_noise.wav",
                    np.random.default_rng(0).uniform(-0.5, 0.5, 3 * RATE))
    return root


def test_speech_commands_splits_labels_and_features(tmp_path):
    root = make_speech_commands(tmp_path / "sc")
    ds = data.load_speech_commands(root)
    assert ds.name == f"real ({root})"
    assert ds.classes[-2:] == ("_silence_", "_unknown_") and len(ds.classes) == 12
    # train: 10 keywords + ceil(10 % of 10) = 1 unknown + 1 silence; val/test: 2 keywords + 1 unknown + 1 silence
    assert ds.x_train.shape == (12, 49, 10, 1) and ds.x_train.dtype == np.float32
    assert ds.x_val.shape == ds.x_test.shape == (4, 49, 10, 1)
    np.testing.assert_array_equal(ds.y_train, list(range(10)) + [11, 10])
    yes, no = data.KWS_LABELS.index("yes"), data.KWS_LABELS.index("no")
    np.testing.assert_array_equal(ds.y_val, [no, yes, 11, 10])
    assert ds.y_train.dtype == np.int64
    _, clip = audio.read_wav(root / "yes" / "bbbb0000_nohash_0.wav")
    np.testing.assert_array_equal(ds.x_val[1, :, :, 0], audio.mfcc(clip))


def test_speech_commands_is_deterministic_per_seed(tmp_path):
    root = make_speech_commands(tmp_path / "sc")
    a, b = data.load_speech_commands(root, seed=3), data.load_speech_commands(root, seed=3)
    np.testing.assert_array_equal(a.x_train, b.x_train)


@pytest.mark.parametrize("missing, message", [
    ("validation_list.txt", "split file not found"),
    ("_background_noise_", "background noise wavs"),
    ("stop", r"keyword folders \['stop'\]"),
])
def test_speech_commands_layout_errors_name_the_missing_part(tmp_path, missing, message):
    import shutil
    root = make_speech_commands(tmp_path / "sc")
    path = root / missing
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    with pytest.raises(data.DataLayoutError, match=message) as info:
        data.load_speech_commands(root)
    assert "Expected layout" in str(info.value) and "--data-dir" in str(info.value)


def test_speech_commands_refuses_other_sample_rates(tmp_path):
    root = make_speech_commands(tmp_path / "sc")
    audio.write_wav(root / "go" / "aaaa0000_nohash_0.wav", tone(300), rate=8000)
    with pytest.raises(ValueError, match="8000 Hz.*16000 Hz"):
        data.load_speech_commands(root)


# ---------------------------------------------------------------------------------------------- CIFAR-10
def make_cifar(root, per_batch=4):
    root.mkdir()
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b"labels": list(rng.integers(0, 10, per_batch))}
        with open(root / name, "wb") as f:
            pickle.dump(batch, f)
        batches[name] = batch
    return batches


def test_cifar10_layout_channels_and_split(tmp_path):
    batches = make_cifar(tmp_path / "cifar-10-batches-py")
    ds = data.load_cifar10(tmp_path, val_fraction=0.25)  # the parent directory is accepted too
    assert ds.classes == data.CIFAR10_LABELS
    assert ds.x_train.shape == (15, 32, 32, 3) and ds.x_val.shape == (5, 32, 32, 3)
    assert ds.x_test.shape == (4, 32, 32, 3) and ds.x_test.dtype == np.float32
    raw = batches["test_batch"][b"data"][2]
    # pickled rows are channel-major: R plane, G plane, B plane, each row-major 32 x 32
    assert ds.x_test[2, 5, 7, 1] == np.float32(raw[1024 + 5 * 32 + 7] / 255.0)
    np.testing.assert_array_equal(ds.y_test, batches["test_batch"][b"labels"])
    train_labels = np.concatenate([batches[f"data_batch_{i}"][b"labels"] for i in range(1, 6)])
    assert sorted(np.concatenate([ds.y_train, ds.y_val])) == sorted(train_labels)


def test_cifar10_missing_batch(tmp_path):
    make_cifar(tmp_path / "c")
    (tmp_path / "c" / "data_batch_3").unlink()
    with pytest.raises(data.DataLayoutError, match="CIFAR-10 batch 'data_batch_3'"):
        data.load_cifar10(tmp_path / "c")


# ---------------------------------------------------------------------------------------------- VWW
def make_vww(root, count=10):
    from PIL import Image
    for cls, value in (("person", 200), ("non_person", 40)):
        (root / cls).mkdir(parents=True)
        for i in range(count):
            size = (120 + i, 80 + 2 * i)
            Image.new("RGB", size, (value, value // 2, 10)).save(root / cls / f"{cls}_{i}.{'png' if i % 2 else 'jpg'}")


def test_vww_resizes_labels_and_splits_by_name(tmp_path):
    make_vww(tmp_path)
    ds = data.load_vww(tmp_path)
    assert ds.classes == ("non_person", "person")
    assert ds.x_train.shape[1:] == (96, 96, 3) and ds.x_train.dtype == np.float32
    assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 20
    expected = sorted(data._split_by_key([f"person/person_{i}.{'png' if i % 2 else 'jpg'}" for i in range(10)],
                                         0.1, 0.1)[0])
    assert int(np.sum(ds.y_train == 1)) == len(expected)
    person = ds.x_train[ds.y_train == 1]
    np.testing.assert_array_equal(person[:, 10, 10, 0], np.float32(200 / 255))  # flat PNG/JPEG colour survives


def test_vww_missing_class_folder(tmp_path):
    make_vww(tmp_path)
    for f in (tmp_path / "non_person").iterdir():
        f.unlink()
    with pytest.raises(data.DataLayoutError, match="'non_person' image folder"):
        data.load_vww(tmp_path)


# ---------------------------------------------------------------------------------------------- DCASE
def make_dcase(root, machine="ToyCar"):
    for split, names in (("train", [f"normal_id_00_{k:08d}" for k in range(4)]),
                         ("test", ["normal_id_00_00000000", "anomaly_id_00_00000000", "anomaly_id_00_00000001"])):
        (root / machine / split).mkdir(parents=True)
        for k, name in enumerate(names):
            audio.write_wav(root / machine / split / f"{name}.wav", tone(200 + 10 * k, 1.0, 0.3))


def test_dcase_vectors_groups_and_labels(tmp_path):
    make_dcase(tmp_path)
    ds = data.load_dcase(tmp_path)
    per_file = 1 + RATE // 512 - 4                        # 28 vectors of 1 s
    assert ds.x_test.shape == (3 * per_file, 640) and ds.x_train.dtype == np.float32
    assert len(ds.x_train) + len(ds.x_val) == 4 * per_file
    np.testing.assert_array_equal(ds.test_groups, np.repeat([0, 1, 2], per_file))
    np.testing.assert_array_equal(ds.y_test, np.repeat([0, 1, 1], per_file))  # normal_* first, then anomaly_*
    _, clip = audio.read_wav(tmp_path / "ToyCar" / "test" / "anomaly_id_00_00000001.wav")
    np.testing.assert_array_equal(ds.x_test[2 * per_file:], audio.log_mel_vectors(clip))


def test_dcase_machine_type_choice_and_errors(tmp_path):
    make_dcase(tmp_path, "fan")
    make_dcase(tmp_path, "pump")
    with pytest.raises(ValueError, match=r"several machine types \['fan', 'pump'\]"):
        data.load_dcase(tmp_path)
    with pytest.raises(data.DataLayoutError, match="machine type 'valve'"):
        data.load_dcase(tmp_path, "valve")
    for f in (tmp_path / "pump" / "test").glob("anomaly_*"):
        f.unlink()
    with pytest.raises(data.DataLayoutError, match="anomaly_"):
        data.load_dcase(tmp_path, "pump")
    assert data.load_dcase(tmp_path, "fan").x_test.shape[1] == 640


# ---------------------------------------------------------------------------------------------- load()
def test_load_scales_features_and_rejects_unknown_nets(tmp_path):
    make_dcase(tmp_path)
    raw, scaled = data.load_dcase(tmp_path), data.load("fcae", tmp_path)
    np.testing.assert_array_equal(scaled.x_test, raw.x_test * np.float32(1 / 16))
    with pytest.raises(ValueError, match="valid NETs are: dscnn, resnet8, mobilenetv1, fcae"):
        data.load("lenet", tmp_path)
