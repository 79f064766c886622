"""The simulator's physiology: the stage table, one subject's parameters, per-second trajectories, noise.

Stage table: continuous rhythm amplitudes (uV RMS at Fpz-Cz; alpha at Pz-Oz) and event rates (per min) for the
R&K codes W 1 2 3 4 R, M (movement time) and ? (unscored, simulated as active wake).  These hand-set levels give
the waveforms their morphology; the calibrated spectral shaping (``shaping.py``, ``target_model.py``) then sets
each epoch's band powers to the real Sleep-EDF-20 distributions.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, signal

from .hypnograms import EPOCH_S

FS = 100  # Hz, Sleep-EDFx EEG/EOG rate
COLS = ("bg", "sw", "delta", "theta", "alpha", "beta", "musc", "spindle", "kc", "vertex",
         "sawtooth", "saccade", "sem", "blink", "emg", "twitch", "move")
TABLE = {
    "W": (5.0, 2.0, 2.5, 3.0, 14.0, 3.0, 2.5, 0.0, 0.0, 0.0, 0.0, 8.0, 4.0, 8.0, 3.0, 0.0, 0.3),
    "1": (6.0, 4.0, 4.5, 4.5, 7.0, 2.2, 0.8, 0.3, 0.2, 2.5, 0.0, 0.3, 40.0, 0.5, 2.0, 0.0, 0.1),
    "2": (6.5, 11.0, 7.0, 4.5, 3.0, 0.9, 0.3, 4.0, 1.8, 0.3, 0.0, 0.0, 4.0, 0.0, 1.5, 0.0, 0.05),
    "3": (7.0, 28.0, 9.0, 5.5, 3.5, 0.6, 0.2, 2.0, 0.8, 0.0, 0.0, 0.0, 2.0, 0.0, 1.3, 0.0, 0.02),
    "4": (7.0, 36.0, 10.0, 5.5, 3.0, 0.5, 0.2, 1.0, 0.5, 0.0, 0.0, 0.0, 2.0, 0.0, 1.2, 0.0, 0.02),
    "R": (6.0, 5.0, 5.0, 4.0, 3.5, 1.8, 0.2, 0.2, 0.1, 0.0, 1.5, 12.0, 8.0, 0.0, 0.6, 3.0, 0.05),
    "M": (6.0, 3.0, 3.0, 3.0, 3.0, 2.5, 4.0, 0.0, 0.0, 0.0, 0.0, 6.0, 4.0, 8.0, 5.0, 0.0, 8.0),
    "?": (5.5, 3.0, 3.0, 3.0, 4.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 12.0, 4.0, 15.0, 4.0, 0.0, 1.0),
}
C = {name: i for i, name in enumerate(COLS)}
_FADE_S = 10      # s, Hann cross-fade between stages (transitions are not step functions)
_DRIFT_TAU = 60   # s, time constant of the slow within-stage amplitude fluctuation
_DRIFT_SD = 0.2   # log-amplitude SD of that fluctuation


def draw_subject_params(rng, *, age=None):
    """Draw one subject's physiology (used for all of its nights).

    Parameters
    ----------
    rng : numpy.random.Generator
    age : float, optional
        Years; drawn from 25-80 when None.  Older subjects get less slow-wave sleep amplitude
        and fewer, smaller spindles.

    Returns
    -------
    dict
        ``age``, ``sex``, ``amp_scale`` (overall EEG gain), ``alpha_freq`` (8.5-11.5 Hz),
        ``alpha_gain``, ``pz_alpha_ratio`` (Pz-Oz / Fpz-Cz alpha), ``spindle_freq``
        (11.5-14.5 Hz), ``spindle_density``, ``spindle_amp`` (uV peak), ``sw_density``,
        ``emg_scale``, ``eog_scale``.
    """
    age = float(rng.uniform(25, 80) if age is None else age)
    youth = np.clip(1.25 - 0.01 * (age - 25), 0.6, 1.25)  # slow waves & spindles fade with age
    return {
        "age": age, "sex": str(rng.choice(["Female", "Male"])),
        "amp_scale": float(np.clip(rng.lognormal(0, 0.15), 0.7, 1.4)),
        "alpha_freq": float(rng.uniform(8.5, 11.5)),
        "alpha_gain": float(np.clip(rng.lognormal(0, 0.35), 0.3, 2.5)),
        "pz_alpha_ratio": float(rng.uniform(1.8, 3.2)),
        "spindle_freq": float(rng.uniform(11.5, 14.5)),
        "spindle_density": float(youth * rng.lognormal(0, 0.25)),
        "spindle_amp": float(youth * 20.0 * rng.lognormal(0, 0.2)),
        "sw_density": float(youth ** 0.3 * rng.uniform(0.9, 1.1)),
        "emg_scale": float(rng.lognormal(0, 0.3)),
        "eog_scale": float(rng.lognormal(0, 0.2)),
    }


def _trajectories(codes, rng, params):
    """Per-second parameter trajectories (n_seconds, n_cols), cross-faded and fluctuating."""
    codes = np.asarray(codes)
    per_s = np.repeat(np.array([TABLE[c] for c in codes], dtype=float), int(EPOCH_S), axis=0)
    n = len(per_s)
    # Wake: eyes open/closed two-state process (mean dwell ~40 s).  Far from sleep (daytime,
    # active wake) eyes are mostly open; in bed around sleep they are mostly closed.
    sleep = np.flatnonzero(~np.isin(codes, ["W", "?", "M"]))
    idx = np.arange(len(codes))
    dist = (np.min(np.abs(idx[:, None] - sleep[None, :]), axis=1) if len(sleep)
            else np.full(len(codes), 10**6))
    p_closed = np.repeat(np.where(dist > 120, 0.15, 0.6), int(EPOCH_S))  # 120 epochs = 1 h
    state = np.empty(n)
    s, i = float(rng.random() < p_closed[0]), 0
    while i < n:
        dwell = int(rng.exponential(40)) + 5
        state[i:i + dwell] = s
        i += dwell
        s = float(rng.random() < p_closed[min(i, n - 1)])
    wake = np.repeat(np.isin(codes, ["W", "?"]), int(EPOCH_S))
    closed = np.where(wake, state, 0.0)
    per_s[:, C["alpha"]] *= np.where(wake, 0.2 + 0.8 * closed, 1.0)
    for col in ("saccade", "blink"):
        per_s[:, C[col]] *= np.where(wake, 1.0 - 0.85 * closed, 1.0)
    active = wake & (np.repeat(dist, int(EPOCH_S)) > 120)
    per_s[:, C["move"]] *= np.where(active, 3.0, 1.0)
    per_s[:, C["emg"]] *= np.where(active, 1.5, 1.0)
    # Subject scalings.
    amp = params["amp_scale"]
    for col in ("bg", "delta", "theta", "beta"):
        per_s[:, C[col]] *= amp
    # Slow waves scale only mildly with the subject: the scored stage (S3: 20-50 %, S4: > 50 %
    # of the epoch in >= 75 uV waves) must stay true to its definition.
    per_s[:, C["sw"]] *= amp ** 0.3 * params["sw_density"]
    per_s[:, C["alpha"]] *= amp * params["alpha_gain"]
    per_s[:, C["spindle"]] *= params["spindle_density"]
    per_s[:, C["emg"]] *= params["emg_scale"]
    # Cross-fade, then slow log-normal AR(1) fluctuation of every column.
    kernel = np.hanning(_FADE_S + 2)[1:-1]
    per_s = ndimage.convolve1d(per_s, kernel / kernel.sum(), axis=0, mode="nearest")
    a = np.exp(-1.0 / _DRIFT_TAU)
    shocks = rng.standard_normal((n, per_s.shape[1])) * _DRIFT_SD * np.sqrt(1 - a * a)
    drift = signal.lfilter([1.0], [1.0, -a], shocks, axis=0)
    return per_s * np.exp(drift - _DRIFT_SD ** 2 / 2)


def _noise(rng, n, sos):
    """White Gaussian noise through ``sos``, scaled to unit variance."""
    impulse = np.zeros(60 * FS)
    impulse[0] = 1.0
    gain = np.sqrt(np.sum(signal.sosfilt(sos, impulse) ** 2))
    return signal.sosfilt(sos, rng.standard_normal(n)) / gain


def _band(lo, hi, order=2):
    return signal.butter(order, [lo, hi], btype="bandpass", fs=FS, output="sos")


_PINK = np.vstack([signal.tf2sos([0.049922035, -0.095993537, 0.050612699, -0.004408786],
                                 [1.0, -2.494956002, 2.017265875, -0.522189400]),
                   _band(0.3, 40.0),
                   signal.butter(2, 20.0, fs=FS, output="sos")])
# Kellet's 1/f filter in the cassette's passband, steepened above 20 Hz (sleep EEG falls faster
# than 1/f there; wake beta comes from its own generator)
