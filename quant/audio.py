"""Audio front ends of the MLPerf Tiny keyword-spotting and anomaly-detection benchmarks, in numpy/scipy.

Two feature extractors, each a faithful numpy re-implementation of the reference code, so that data loading needs
neither TensorFlow nor librosa:

* :func:`mfcc` — the KWS front end of the MLPerf Tiny reference (``keyword_spotting/get_dataset.py``, which uses
  ``tf.signal``): 16 kHz, 1 s clips, 30 ms Hann frames (480 samples) every 20 ms (320 samples), 512-point FFT
  magnitude, 40 HTK-mel bands from 20 to 4000 Hz (``tf.signal.linear_to_mel_weight_matrix``), ``log(mel + 1e-6)``,
  DCT-II scaled by ``1/sqrt(2 * 40)`` (``tf.signal.mfccs_from_log_mel_spectrograms``), the first 10 coefficients:
  a 49 x 10 matrix per clip.
* :func:`log_mel_vectors` — the DCASE 2020 task 2 baseline front end (``common.file_to_vector_array``, which uses
  librosa): power mel spectrogram with ``n_fft=1024``, ``hop=512``, 128 Slaney-mel bands with Slaney area
  normalization, centred frames with reflect padding (librosa < 0.10 default), ``10 * log10(mel + eps)``, and
  5 consecutive frames concatenated into 640-dimensional vectors.

:func:`read_wav` / :func:`write_wav` convert between 16-bit PCM wav files and float32 samples in [-1, 1).
"""

import numpy as np
import scipy.fft
import scipy.io.wavfile
import scipy.signal

__all__ = [
    "SAMPLE_RATE", "CLIP_SAMPLES", "read_wav", "write_wav", "resample",
    "mfcc", "htk_mel_matrix", "log_mel_vectors", "slaney_mel_matrix",
]

SAMPLE_RATE = 16000
"""Sample rate of both benchmarks' audio (Hz)."""
CLIP_SAMPLES = SAMPLE_RATE
"""Keyword clips are 1 s long."""

# KWS (MLPerf Tiny reference) parameters
KWS_FRAME = 480            # 30 ms
KWS_STEP = 320             # 20 ms
KWS_FFT = 512              # next power of two of the frame (tf.signal.stft fft_length=None)
KWS_MEL_BANDS = 40
KWS_MEL_RANGE = (20.0, 4000.0)
KWS_MFCCS = 10
KWS_LOG_OFFSET = 1e-6

# DCASE 2020 task 2 baseline parameters
AD_FFT = 1024
AD_HOP = 512
AD_MEL_BANDS = 128
AD_FRAMES = 5
AD_POWER = 2.0


def read_wav(path):
    """Read a wav file as float32 mono samples in [-1, 1).

    Parameters
    ----------
    path : str or pathlib.Path
        A PCM wav file (16-bit integer, 32-bit integer or float). Multichannel files are averaged to mono.

    Returns
    -------
    rate : int
        Sample rate in Hz.
    samples : numpy.ndarray
        1-D float32 array.
    """
    rate, data = scipy.io.wavfile.read(path)
    if data.dtype == np.int16:
        data = data.astype(np.float32) / 32768.0
    elif data.dtype == np.int32:
        data = data.astype(np.float32) / 2147483648.0
    elif data.dtype == np.uint8:
        data = (data.astype(np.float32) - 128.0) / 128.0
    else:
        data = data.astype(np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1)
    return rate, data


def write_wav(path, samples, rate=SAMPLE_RATE):
    """Write float samples (clipped to [-1, 1)) as a 16-bit mono PCM wav file."""
    pcm = np.clip(np.round(np.asarray(samples, np.float64) * 32768.0), -32768, 32767).astype(np.int16)
    scipy.io.wavfile.write(path, rate, pcm)


def resample(samples, rate_in, rate_out=SAMPLE_RATE):
    """Resample with a polyphase filter (``scipy.signal.resample_poly``); returns float32."""
    if rate_in == rate_out:
        return np.asarray(samples, np.float32)
    g = np.gcd(int(rate_in), int(rate_out))
    return scipy.signal.resample_poly(samples, rate_out // g, rate_in // g).astype(np.float32)


def _hertz_to_htk_mel(f):
    return 1127.0 * np.log1p(np.asarray(f, np.float64) / 700.0)


def htk_mel_matrix(num_bands=KWS_MEL_BANDS, num_bins=KWS_FFT // 2 + 1, rate=SAMPLE_RATE,
                   lower=KWS_MEL_RANGE[0], upper=KWS_MEL_RANGE[1]):
    """Triangular HTK-mel filter bank, as ``tf.signal.linear_to_mel_weight_matrix`` builds it.

    Returns
    -------
    numpy.ndarray
        ``(num_bins, num_bands)`` float64 weights; row 0 (the DC bin) is zero.
    """
    freqs = np.linspace(0.0, rate / 2.0, num_bins)[1:]
    bins_mel = _hertz_to_htk_mel(freqs)[:, None]
    edges = np.linspace(_hertz_to_htk_mel(lower), _hertz_to_htk_mel(upper), num_bands + 2)
    lo, centre, hi = edges[:-2][None, :], edges[1:-1][None, :], edges[2:][None, :]
    rising = (bins_mel - lo) / (centre - lo)
    falling = (hi - bins_mel) / (hi - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.vstack([np.zeros((1, num_bands)), weights])


def _frames(samples, length, step):
    count = 1 + (len(samples) - length) // step
    index = np.arange(length)[None, :] + step * np.arange(count)[:, None]
    return samples[index]


def _hann(length):
    """Periodic Hann window (``tf.signal.hann_window`` and ``scipy.signal.get_window('hann')`` default)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)


def mfcc(samples):
    """MLPerf Tiny KWS features of one clip.

    The clip is peak-normalized (divided by its largest absolute sample, as the reference divides by its maximum),
    zero-padded or cut to 16000 samples, then turned into MFCCs as described in the module docstring.

    Parameters
    ----------
    samples : array_like
        1-D float samples at 16 kHz.

    Returns
    -------
    numpy.ndarray
        ``(49, 10)`` float32 MFCC matrix (frames x coefficients).
    """
    x = np.zeros(CLIP_SAMPLES, np.float64)
    clip = np.asarray(samples, np.float64)[:CLIP_SAMPLES]
    x[:len(clip)] = clip
    peak = np.max(np.abs(x))
    if peak > 0:
        x /= peak
    spectrum = np.abs(np.fft.rfft(_frames(x, KWS_FRAME, KWS_STEP) * _hann(KWS_FRAME), n=KWS_FFT))
    log_mel = np.log(spectrum @ htk_mel_matrix() + KWS_LOG_OFFSET)
    coeffs = scipy.fft.dct(log_mel, type=2, axis=-1) / np.sqrt(2.0 * KWS_MEL_BANDS)
    return coeffs[:, :KWS_MFCCS].astype(np.float32)


def _hertz_to_slaney_mel(f):
    f = np.asarray(f, np.float64)
    linear = f / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log_part, linear)


def _slaney_mel_to_hertz(m):
    m = np.asarray(m, np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))


def slaney_mel_matrix(num_bands=AD_MEL_BANDS, n_fft=AD_FFT, rate=SAMPLE_RATE):
    """Slaney-mel filter bank with Slaney area normalization (``librosa.filters.mel`` defaults, fmin 0, fmax rate/2).

    Returns
    -------
    numpy.ndarray
        ``(num_bands, n_fft // 2 + 1)`` float64 weights.
    """
    fft_freqs = np.linspace(0.0, rate / 2.0, 1 + n_fft // 2)
    mel_freqs = _slaney_mel_to_hertz(np.linspace(0.0, _hertz_to_slaney_mel(rate / 2.0), num_bands + 2))
    widths = np.diff(mel_freqs)
    ramps = mel_freqs[:, None] - fft_freqs[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return weights * (2.0 / (mel_freqs[2:] - mel_freqs[:-2]))[:, None]


def log_mel_vectors(samples, frames=AD_FRAMES):
    """DCASE 2020 task 2 baseline features of one recording.

    Parameters
    ----------
    samples : array_like
        1-D float samples at 16 kHz, longer than ``n_fft // 2``.
    frames : int
        Number of consecutive log-mel frames concatenated into one vector.

    Returns
    -------
    numpy.ndarray
        ``(T - frames + 1, 128 * frames)`` float32 vectors, ``T = 1 + len(samples) // 512`` frames; vector ``t``
        holds frames ``t .. t + frames - 1``, frame-major (``[frame0 bands, frame1 bands, ...]``).
    """
    x = np.asarray(samples, np.float64)
    padded = np.pad(x, AD_FFT // 2, mode="reflect")
    power = np.abs(np.fft.rfft(_frames(padded, AD_FFT, AD_HOP) * _hann(AD_FFT), n=AD_FFT)) ** AD_POWER
    log_mel = 20.0 / AD_POWER * np.log10(power @ slaney_mel_matrix().T + np.finfo(np.float64).eps)
    count = log_mel.shape[0] - frames + 1
    if count < 1:
        raise ValueError(f"Recording of {len(x)} samples gives {log_mel.shape[0]} frames, fewer than the {frames} "
                         f"concatenated per vector; use recordings of at least {(frames - 1) * AD_HOP} samples")
    return np.hstack([log_mel[t:t + count] for t in range(frames)]).astype(np.float32)
