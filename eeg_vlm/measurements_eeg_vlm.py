"""The numbers behind ``EEGVLMFeatureExtractor``: one implementation of every per-epoch measurement.

Two families, both on one EEG channel in uV:

- :func:`sedf_channel_features`: the nine per-channel features of the real Sleep-EDF-20 feature files (log band
  PSDs, two log ratios, log variance, Hjorth mobility), exactly as those files define them;
- :func:`measure_epochs`: the measurements the Chain-of-Thought cites (:data:`MEASUREMENT_NAMES`), computed the way
  a sleep technician reads the trace: relative band powers (Welch), amplitude, the share of the epoch in
  high-amplitude slow waves, sleep spindles, K-complex candidates, how much of the epoch alpha dominates, rapid eye
  movements on the EOG and chin-muscle tone on the EMG. Amplitudes in uV, rates in Hz.

EOG and EMG may be sampled at other rates than the EEG: their rate is inferred from their length (an epoch of the
EEG and of the EOG/EMG span the same seconds), so a Sleep-EDFx night with a 1-Hz EMG envelope works as-is.

Part of the Hub remote-code unit (copied beside the weights with ``feature_extraction_eeg_vlm.py``): numpy and scipy
only, and no transformers, so that ``eeg_vlm.simulation`` and ``eeg_vlm.dataset_builder.features``, which call it,
import without transformers or torch. Measure its speed: ``python benchmarks/features.py``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy import ndimage, signal

# ----------------------------------------------------------------------------- the Chain-of-Thought's measurements
MEASUREMENT_NAMES = (
    "delta_rel", "theta_rel", "alpha_rel", "sigma_rel", "beta_rel",
    "amplitude_uv", "rms_uv", "slow_wave_fraction", "spindle_count", "kcomplex_count",
    "alpha_fraction", "eye_movement_count", "emg_rms_uv",
)
#: Band edges in Hz (lower inclusive, upper exclusive); sigma overlaps alpha by convention.
BANDS = {"delta": (0.5, 4.0), "theta": (4.0, 8.0), "alpha": (8.0, 12.0),
         "sigma": (11.0, 16.0), "beta": (16.0, 30.0)}
_TOTAL = (0.5, 30.0)             # denominator of the relative powers
_MIN_RATE = 50.0                 # Hz; beta (16-30 Hz) needs a Nyquist frequency near 25 Hz or more
_MIN_SECONDS = 30.0              # one scoring epoch
_SW_PTP = 75.0                   # uV, AASM slow-wave amplitude criterion (peak-to-peak)
_SW_PERIOD = (0.4, 2.5)          # s; 0.5-2 Hz waves with some tolerance for filter ringing
_SP_DUR = (0.5, 2.0)             # s, AASM-like spindle duration
# Spindle thresholds, multiples of the epoch's median sigma envelope (robust to the spindles themselves), fitted to no
# recording. Extent: Nir et al. 2011 (Neuron 70:153) take a spindle's extent down to the Hilbert envelope's mean + 1 SD;
# on a Gaussian background the envelope is Rayleigh(s) (mean s*sqrt(pi/2), SD s*sqrt(2 - pi/2), median s*sqrt(2 ln 2)),
# which is 1.62x the median. Detection: Nir's mean + 3 SD (2.73x) fires 0.4 times per 30-s epoch of spindle-free 1/f
# noise, because their mean and SD come from whole nights, spindles included; 3.5x is the smallest half-unit multiple
# whose false-alarm rate on that background is under 1 per 20 epochs (0.025; tests/test_features.py checks it).
_RAYLEIGH_MEAN, _RAYLEIGH_SD, _RAYLEIGH_MEDIAN = np.sqrt(np.pi / 2), np.sqrt(2 - np.pi / 2), np.sqrt(2 * np.log(2))
_SP_HI = 3.5                     # x median sigma envelope: detection
_SP_LO = (_RAYLEIGH_MEAN + _RAYLEIGH_SD) / _RAYLEIGH_MEDIAN  # 1.62 x median sigma envelope: extent (Nir et al. 2011)
_SP_FLOOR = 4.0                  # uV envelope (~8 uV peak-to-peak): weakest spindle we accept
_SP_REL = 0.2                    # min sigma share of 1-30 Hz power inside a spindle (YASA's default)
_KC_PTP, _KC_DUR = 75.0, (0.5, 1.5)  # uV, s
_KC_CONTRAST = 2.5               # x median wave peak-to-peak of the epoch: "stands out"
_EM_SLOPE = 250.0                # uV/s on 0.5-5 Hz EOG; 1-Hz slow-wave leakage stays below it
_EM_EXCURSION = 40.0             # uV, smallest deflection counted as an eye movement


def _fail(name, got, expected, fix):
    raise ValueError(f"{name}: got {got}, expected {expected}; {fix}")


def _check_2d(x, name, *, epochs):
    arr = np.asarray(x, dtype=float)
    want = 2 if epochs else 1
    if arr.ndim != want:
        _fail(name, f"an array with ndim={arr.ndim} (shape {arr.shape})",
              "(n_epochs, n_samples)" if epochs else "a 1-D array of samples",
              "use measure_epochs for several epochs" if not epochs
              else "reshape to (n_epochs, n_samples) or use measure_epoch for one epoch")
    if not np.all(np.isfinite(arr)):
        _fail(name, f"{int(np.sum(~np.isfinite(arr)))} NaN/inf values", "finite values in uV",
              "interpolate or drop the bad samples first")
    return np.atleast_2d(arr).copy()


def _side_rate(arr, name, n_epochs, seconds, *, min_rate):
    """Validate an EOG/EMG array and infer its sampling rate (Hz) from its length."""
    if arr is None:
        return None, None
    arr = _check_2d(arr, name, epochs=True)
    if arr.shape[0] != n_epochs:
        _fail(name, f"{arr.shape[0]} epochs", f"{n_epochs} epochs like the EEG",
              "pass the same epochs for every channel")
    rate = arr.shape[1] / seconds
    if rate < min_rate:
        _fail(name, f"{arr.shape[1]} samples per {seconds:g}-s epoch ({rate:g} Hz)",
              f">= {min_rate:g} Hz", "pass the channel at its recorded rate")
    return arr, rate


def _sos(low, high, fs, order=3):
    high = min(high, 0.45 * fs)  # keep the upper edge safely below Nyquist at 50 Hz
    return signal.butter(order, [low, high], btype="bandpass", fs=fs, output="sos")


def _runs(mask):
    """Start/end (exclusive) flat indices of True runs in each row of a 2-D boolean mask."""
    padded = np.pad(mask, ((0, 0), (1, 1))).astype(np.int8)
    d = np.diff(padded, axis=1)
    n = mask.shape[1]
    rs, cs = np.nonzero(d == 1)
    _, ce = np.nonzero(d == -1)
    return rs, rs * n + cs, rs * n + ce


def _band_powers(x, fs):
    nperseg = min(x.shape[1], int(4 * fs))  # 4-s windows: 0.25-Hz resolution
    f, pxx = signal.welch(x, fs=fs, nperseg=nperseg, axis=-1)
    top = min(_TOTAL[1], fs / 2)
    total = pxx[:, (f >= _TOTAL[0]) & (f < top)].sum(axis=1)
    total = np.where(total > 0, total, np.nan)
    return {f"{b}_rel": pxx[:, (f >= lo) & (f < min(hi, top))].sum(axis=1) / total
            for b, (lo, hi) in BANDS.items()}


def _waves(x):
    """Full waves of one filtered epoch: start, end (samples) and peak-to-peak (uV)."""
    z = np.flatnonzero(np.diff(np.signbit(x).astype(np.int8))) + 1
    if len(z) < 3:
        return np.empty(0, int), np.empty(0, int), np.empty(0)
    hi = np.maximum.reduceat(x, z)[:-1]
    lo = np.minimum.reduceat(x, z)[:-1]
    ext = np.where(np.abs(hi) > np.abs(lo), hi, lo)  # extremum of each half-wave
    ptp = np.abs(ext[:-1]) + np.abs(ext[1:])
    return z[:-2], z[2:], ptp


def _slow_wave_fraction(x, fs):
    out = np.zeros(len(x))
    for i, row in enumerate(x):
        start, end, ptp = _waves(row)
        period = (end - start) / fs
        keep = (ptp >= _SW_PTP) & (period >= _SW_PERIOD[0]) & (period <= _SW_PERIOD[1])
        cover = np.zeros(len(row) + 1)
        np.add.at(cover, start[keep], 1)
        np.add.at(cover, end[keep], -1)
        out[i] = np.mean(np.cumsum(cover)[:-1] > 0)
    return out


def _kcomplexes(x, fs):
    """K-complex candidates: a negative half-wave then a positive one, 0.5-1.5 s, >= 75 uV."""
    out = np.zeros(len(x))
    for i, row in enumerate(x):
        start, end, ptp = _waves(row)
        if len(ptp) == 0:
            continue
        # the wave opens with its negative half, and that sharp negative part dominates
        neg = np.array([-row[a:b].min() for a, b in zip(start, end)])
        neg_first = (row[start] < 0) & (neg >= 0.5 * ptp)
        dur = (end - start) / fs
        background = np.median(ptp)
        keep = (neg_first & (ptp >= _KC_PTP) & (ptp >= _KC_CONTRAST * background)
                & (dur >= _KC_DUR[0]) & (dur <= _KC_DUR[1]))
        out[i] = np.sum(keep)
    return out


def _spindles(x, fs):
    rows, keep = _spindle_events(x, fs)[:2]
    return np.bincount(rows[keep], minlength=len(x)).astype(float)


def _spindle_events(x, fs):
    """Candidate runs (row, kept?, start, end in flat samples) of the sigma envelope."""
    sigma = signal.sosfiltfilt(_sos(*BANDS["sigma"], fs, order=4), x, axis=-1)
    broad = signal.sosfiltfilt(_sos(1.0, 30.0, fs), x, axis=-1)
    env = ndimage.uniform_filter1d(np.abs(signal.hilbert(sigma, axis=-1)),
                                   max(1, int(0.1 * fs)), axis=-1)  # 0.1-s smoothing
    med = np.median(env, axis=1, keepdims=True)
    hi = np.maximum(_SP_HI * med, _SP_FLOOR)
    lo = np.maximum(_SP_LO * med, 0.6 * _SP_FLOOR)
    # close gaps < 0.2 s so one waxing-waning spindle is not split in two
    mask = ndimage.binary_closing(env > lo, structure=np.ones((1, max(1, int(0.2 * fs)))))
    rows, s, e = _runs(mask)
    if len(s) == 0:
        return rows, np.zeros(0, bool), s, e
    # max over [start_i, start_i+1): outside the runs the envelope is zeroed, so it is the run's max
    peak = np.maximum.reduceat(np.where(mask, env, 0.0).ravel(), s)
    cs_sig = np.concatenate([[0], np.cumsum(sigma.ravel() ** 2)])
    cs_bro = np.concatenate([[0], np.cumsum(broad.ravel() ** 2)])
    rel = (cs_sig[e] - cs_sig[s]) / np.maximum(cs_bro[e] - cs_bro[s], 1e-12)
    dur = (e - s) / fs
    keep = ((dur >= _SP_DUR[0]) & (dur <= _SP_DUR[1]) & (peak > hi.ravel()[rows])
            & (rel >= _SP_REL))
    return rows, keep, s, e


def _alpha_fraction(x, fs):
    win = int(round(2 * fs))
    frames = np.lib.stride_tricks.sliding_window_view(x, win, axis=-1)[:, ::int(round(fs))]
    frames = frames - frames.mean(axis=-1, keepdims=True)
    p = np.abs(np.fft.rfft(frames * np.hanning(win), axis=-1)) ** 2
    f = np.fft.rfftfreq(win, 1 / fs)
    top = min(_TOTAL[1], fs / 2)
    # non-overlapping bands for dominance: delta, theta, alpha, then everything 12-30 Hz
    edges = [(0.5, 4.0), (4.0, 8.0), (8.0, 12.0), (12.0, top)]
    bp = np.stack([p[..., (f >= lo) & (f < hi)].sum(-1) for lo, hi in edges], axis=-1)
    dominant = np.argmax(bp, axis=-1) == 2
    return dominant.mean(axis=1)


def _eye_movements(eog, fs):
    y = signal.sosfiltfilt(_sos(0.5, 5.0, fs, order=2), eog, axis=-1)
    slope = np.gradient(y, axis=-1) * fs
    # merge steep stretches closer than 0.2 s into one movement
    mask = ndimage.binary_closing(np.abs(slope) >= _EM_SLOPE,
                                  structure=np.ones((1, max(1, int(0.2 * fs)))))
    rows, s, e = _runs(mask)
    if len(s) == 0:
        return np.zeros(len(eog))
    excursion = (np.maximum.reduceat(np.where(mask, y, -np.inf).ravel(), s)
                 - np.minimum.reduceat(np.where(mask, y, np.inf).ravel(), s))
    keep = excursion >= _EM_EXCURSION
    return np.bincount(rows[keep], minlength=len(eog)).astype(float)


def _emg_rms(emg, fs):
    # A rectified envelope (Sleep-EDFx cassette: 'HP:16Hz Rectification LP:0.7Hz', 1 Hz) is
    # already an amplitude: take its RMS as is.  A raw EMG is high-passed at 10 Hz first.
    envelope = (np.mean(emg < 0, axis=1) < 0.05) | (fs < 25.0)
    out = np.sqrt(np.mean(emg ** 2, axis=1))
    if not np.all(envelope):
        raw = signal.sosfiltfilt(signal.butter(4, 10.0, btype="highpass", fs=fs, output="sos"),
                                 emg[~envelope], axis=-1)
        out[~envelope] = np.sqrt(np.mean(raw ** 2, axis=1))
    return out


def measure_epochs(eeg_epochs, sampling_rate, *, eog_epochs=None, emg_epochs=None) -> dict:
    """The Chain-of-Thought's measurements of many epochs, at the rate given (no resampling).

    Parameters
    ----------
    eeg_epochs : array_like, shape (n_epochs, n_samples)
        EEG in uV, one row per epoch (>= 30 s each). Never modified.
    sampling_rate : float
        EEG sampling rate in Hz (>= 50 Hz).
    eog_epochs, emg_epochs : array_like, shape (n_epochs, m), optional
        EOG / chin EMG in uV over the same epochs; their rate is ``m / epoch seconds`` (EOG >= 20 Hz; EMG any
        rate, e.g. the 1-Hz Sleep-EDFx envelope).

    Returns
    -------
    dict of str to numpy.ndarray
        One float64 array ``(n_epochs,)`` per name of :data:`MEASUREMENT_NAMES`, in that order;
        ``eye_movement_count`` / ``emg_rms_uv`` are NaN without EOG / EMG.
    """
    try:
        fs = float(sampling_rate)
    except (TypeError, ValueError):
        _fail("sampling_rate", repr(sampling_rate), "a number in Hz", "pass e.g. 100.0")
    if not np.isfinite(fs) or fs < _MIN_RATE:
        _fail("sampling_rate", fs, f">= {_MIN_RATE:g} Hz", "resample the EEG to 100 Hz first")
    x = _check_2d(eeg_epochs, "eeg_epochs", epochs=True)
    seconds = x.shape[1] / fs
    if seconds < _MIN_SECONDS - 1e-9:
        _fail("eeg_epochs", f"{x.shape[1]} samples ({seconds:g} s at {fs:g} Hz)",
              f">= {_MIN_SECONDS:g} s per epoch", "cut the night into 30-s epochs")
    eog, eog_fs = _side_rate(eog_epochs, "eog_epochs", len(x), seconds, min_rate=20.0)
    emg, emg_fs = _side_rate(emg_epochs, "emg_epochs", len(x), seconds, min_rate=0.5)
    x = x - x.mean(axis=1, keepdims=True)  # DC offsets carry no physiology

    feats = _band_powers(x, fs)
    feats["amplitude_uv"] = np.percentile(x, 99, axis=1) - np.percentile(x, 1, axis=1)
    feats["rms_uv"] = np.sqrt(np.mean(x ** 2, axis=1))
    slow = signal.sosfiltfilt(_sos(0.5, 2.0, fs, order=2), x, axis=-1)
    feats["slow_wave_fraction"] = _slow_wave_fraction(slow, fs)
    feats["spindle_count"] = _spindles(x, fs)
    kc = signal.sosfiltfilt(_sos(0.5, 4.0, fs, order=2), x, axis=-1)
    feats["kcomplex_count"] = _kcomplexes(kc, fs)
    feats["alpha_fraction"] = _alpha_fraction(x, fs)
    nan = np.full(len(x), np.nan)
    feats["eye_movement_count"] = nan if eog is None else _eye_movements(eog, eog_fs)
    feats["emg_rms_uv"] = nan.copy() if emg is None else _emg_rms(emg, emg_fs)
    return {k: np.asarray(feats[k], dtype=float) for k in MEASUREMENT_NAMES}


# ----------------------------------------------------------------------------- the Sleep-EDF-20 features
#: Bands of the Sleep-EDF-20 feature files (Hz, both edges inclusive): not the measurement bands above.
SEDF_BANDS = {"delta": (0.5, 4.0), "theta": (4.0, 8.0), "alpha": (8.0, 13.0), "beta": (13.0, 30.0),
              "gamma": (30.0, 50.0)}
SEDF_EPS = 1e-10  # the definition's additive constant (V^2/Hz and V^2)
SEDF_RATE = 100.0  # Hz: the Sleep-EDF EEG rate the files were computed at
SEDF_PER_CHANNEL = (*SEDF_BANDS, "theta_alpha", "alpha_delta", "log_var", "mobility")
SEDF_NAMES = tuple(f"sedf_{name}" for name in SEDF_PER_CHANNEL)


def sedf_channel_features(epochs_uv, *, fs=SEDF_RATE) -> np.ndarray:
    """Nine features per 30-s epoch of one channel, exactly as the Sleep-EDF-20 feature files define them.

    On the signal in VOLTS: 0-4 ``log(m + 1e-10)``, m the mean Welch PSD (scipy defaults: Hann, nperseg 256, 50 %
    overlap, density, V^2/Hz) over the bins lo <= f <= hi of :data:`SEDF_BANDS`; 5 log theta / (log alpha + 1e-10);
    6 log alpha / (log delta + 1e-10); 7 ``log(var(x) + 1e-10)``; 8 Hjorth mobility
    ``sqrt(var(diff(x)) / (var(x) + 1e-10))``.

    Parameters
    ----------
    epochs_uv : array_like, shape (n_epochs, n_samples)
        EEG in uV (converted to volts here, as the definitions require).
    fs : float
        Sampling rate in Hz (100 for Sleep-EDF; nperseg stays 256 samples as in scipy's default).

    Returns
    -------
    numpy.ndarray, shape (n_epochs, 9)
        Columns in the order of :data:`SEDF_PER_CHANNEL`.
    """
    x = np.asarray(epochs_uv, dtype=np.float64) * 1e-6  # uV -> V
    if x.ndim != 2 or x.shape[1] < 256:
        raise ValueError(f"epochs_uv: got shape {x.shape}; expected (n_epochs, n_samples) with >= 256 samples "
                         "per epoch; reshape the signal into 30-s epochs first")
    f, psd = signal.welch(x, fs=fs, axis=-1)  # Hann, nperseg 256, 50 % overlap, density (V^2/Hz)
    return sedf_features_from_psd(x, f, psd)


def sedf_features_from_psd(x, f, psd) -> np.ndarray:
    """The nine features from epochs ``x`` in volts (n, n_samples) and their Welch PSD ``(f, psd)``."""
    out = np.empty((len(x), 9))
    for i, (lo, hi) in enumerate(SEDF_BANDS.values()):
        out[:, i] = np.log(psd[:, (f >= lo) & (f <= hi)].mean(axis=1) + SEDF_EPS)
    out[:, 5] = out[:, 1] / (out[:, 2] + SEDF_EPS)
    out[:, 6] = out[:, 2] / (out[:, 0] + SEDF_EPS)
    var = x.var(axis=1)
    out[:, 7] = np.log(var + SEDF_EPS)
    out[:, 8] = np.sqrt(np.diff(x, axis=1).var(axis=1) / (var + SEDF_EPS))
    return out


#: Features that read frequencies near the top of the 100-Hz analysis band, with the highest frequency each needs
#: (Hz). EEG recorded at ``fs`` holds nothing above ``fs / 2``: upsampled to 100 Hz, these read an empty band
#: (e.g. a 50-Hz recording's 30-50 Hz "gamma" is the 1e-10 floor), a number no real 100-Hz epoch ever has.
FEATURE_TOP_HZ = {"sedf_beta": SEDF_BANDS["beta"][1], "sedf_gamma": SEDF_BANDS["gamma"][1],
                  "sedf_mobility": SEDF_RATE / 2,  # Hjorth mobility weighs the whole band up to Nyquist
                  "beta_rel": 30.0}


def unmeasurable_features(recorded_rate: float) -> tuple:
    """Names of the features an EEG recorded at ``recorded_rate`` Hz cannot measure (their band reaches above its
    Nyquist frequency ``recorded_rate / 2``); empty at 100 Hz and above."""
    try:
        rate = float(recorded_rate)
    except (TypeError, ValueError):
        _fail("recorded_rate", repr(recorded_rate), "the rate the EEG was recorded at, in Hz",
              "pass e.g. recorded_rate=50")
    if not np.isfinite(rate) or rate <= 0:
        _fail("recorded_rate", rate, "a positive rate in Hz", "pass e.g. recorded_rate=50")
    return tuple(name for name, top in FEATURE_TOP_HZ.items() if top > rate / 2 + 1e-9)


# ----------------------------------------------------------------------------- resampling
def resample_to(x, from_rate: float, to_rate: float) -> np.ndarray:
    """Polyphase resampling along the last axis, as ``eeg_vlm.io.resample_to`` (which this unit cannot import).

    ``scipy.signal.resample_poly`` with up/down ``Fraction(to / from)`` limited to a denominator of 1000 (exact for
    50, 128, 200, 250, 256, 500, 512 Hz ...), ``padtype="line"``, trimmed or edge-padded to
    ``round(n * to / from)`` samples. Same rates return a float64 copy.
    """
    data = np.array(x, dtype=np.float64, copy=True)
    if float(from_rate) == float(to_rate):
        return data
    n_out = int(round(data.shape[-1] * float(to_rate) / float(from_rate)))
    ratio = (Fraction(float(to_rate)) / Fraction(float(from_rate))).limit_denominator(1000)
    out = signal.resample_poly(data, ratio.numerator, ratio.denominator, axis=-1, padtype="line")
    if out.shape[-1] >= n_out:
        return out[..., :n_out]
    return np.pad(out, [(0, 0)] * (out.ndim - 1) + [(0, n_out - out.shape[-1])], mode="edge")


#: Columns of ``EEGVLMFeatureExtractor``'s output, in order.
FEATURE_NAMES = SEDF_NAMES + MEASUREMENT_NAMES


__all__ = ["BANDS", "FEATURE_NAMES", "FEATURE_TOP_HZ", "MEASUREMENT_NAMES", "SEDF_BANDS", "SEDF_EPS", "SEDF_NAMES",
           "SEDF_PER_CHANNEL", "SEDF_RATE", "measure_epochs", "resample_to", "sedf_channel_features",
           "sedf_features_from_psd", "unmeasurable_features"]
