"""Spectral shaping: give each 30-s epoch of a simulated channel the band powers, variance and mobility asked for.

The simulated signal (rhythms + discrete events) is split exactly into ten frequency parts by FFT masks
(< 0.25 Hz drift, 0.25-0.5 Hz, then the feature bands delta 0.5-2-4, theta 4-8, alpha 8-13, beta 13-21-30,
gamma 30-40-50 Hz, delta, beta and gamma in two halves; the parts sum back to the signal).  Each band gets a per-epoch gain, held over the epoch and cross-faded over ``fade_s`` at
epoch boundaries, so a spindle or a K-complex keeps its shape and only its band's level changes.  The gains are
refined a few times against the measured features (Welch leakage and the cross-fades move them a little):

- bands 1-5: ``sqrt(target band PSD / measured band PSD)``;
- below 0.5 Hz: what is left of the target variance once the five bands are in place; 0.25-0.5 Hz never gets
  more gain than the lower half of delta (a 2.56-s Hann window leaks it into the 0.78-Hz delta bin), the drift
  below 0.25 Hz (which barely leaks) takes the rest;
- Hjorth mobility: the balance between the lower and upper halves of delta, beta and gamma (``tilt``), the band
  means kept; mobility grows with the high-frequency share because the first difference weighs power by ~f^2.

Used by the free-running generator (targets drawn from the calibrated model) and by replay (targets = a real
night's features).  ``python -m eeg_vlm.simulation --replay PATH`` shows it end to end.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, signal

from .sleep_edf20 import EPS, features_from_psd

__all__ = ["EDGES", "TARGET_COLUMNS", "band_split", "shape_channel", "apply_gains"]

EDGES = np.array([0.0, 0.25, 0.5, 2.0, 4.0, 8.0, 13.0, 21.0, 30.0, 40.0, np.inf])  # Hz: the ten parts
_PART_BAND = np.array([-1, -1, 0, 0, 1, 2, 3, 3, 4, 4])  # feature band of each part (-1: below delta)
TARGET_COLUMNS = (0, 1, 2, 3, 4, 7, 8)  # of a channel's nine features: the five log band PSDs, log var, mobility


def band_split(x, *, fs=100):
    """(10, N) parts of ``x`` (N,), an exact FFT partition at :data:`EDGES` (they sum to ``x``)."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / fs)
    out = np.empty((len(EDGES) - 1, len(x)), dtype=np.float32)
    for b in range(len(EDGES) - 1):
        out[b] = np.fft.irfft(np.where((f >= EDGES[b]) & (f < EDGES[b + 1]), spec, 0), n=len(x))
    return out


def _per_sample(gains, epoch, fade):
    """(n_epochs, P) gains -> (P, n_epochs * epoch) curves, held per epoch, cross-faded over ``fade`` samples."""
    g = np.repeat(gains.T.astype(np.float32), epoch, axis=1)
    return ndimage.uniform_filter1d(g, size=fade, axis=1, mode="nearest") if fade > 1 else g


def apply_gains(parts, gains, *, fs=100, fade_s=1.0):
    """Recombine parts (P, N) with per-epoch ``gains`` (n_epochs, P)."""
    epoch = parts.shape[1] // len(gains)
    return np.einsum("bn,bn->n", parts, _per_sample(gains, epoch, int(fade_s * fs)), dtype=np.float64)


def _part_psd(y, n, epoch, fs):
    """Welch PSD means (V^2/Hz) per epoch over each part's bins, plus the nine features."""
    x = y.reshape(n, epoch) * 1e-6
    f, psd = signal.welch(x, fs=fs, axis=-1)
    means = np.stack([psd[:, (f >= EDGES[b]) & ((f < EDGES[b + 1]) if b < len(EDGES) - 2 else (f <= 50.0))]
                      .mean(axis=1) for b in range(1, len(EDGES) - 1)], axis=1)
    return means, features_from_psd(x, f, psd)


def shape_channel(x_uv, targets, *, fs=100, iterations=12, fade_s=0.3, max_gain=50.0):
    """Shape a channel so each 30-s epoch has the target features.

    Parameters
    ----------
    x_uv : numpy.ndarray, shape (n_epochs * 30 * fs,)
        The simulated channel in uV.
    targets : numpy.ndarray, shape (n_epochs, 7)
        Per epoch: the five log band PSDs, log variance and Hjorth mobility as the Sleep-EDF-20 files define
        them (columns 0-4, 7, 8 of a channel; volts). NaN rows are left as simulated.
    iterations : int
        Refinement passes (12 bring band powers within ~1 % and mobility within a few % on typical epochs).
    fade_s : float
        Seconds over which gains cross-fade at epoch boundaries (no steps in the signal).
    max_gain : float
        Largest amplitude factor per part and pass (a near-empty band cannot be blown up without limit).

    Returns
    -------
    y : numpy.ndarray
        The shaped channel in uV.
    gains : numpy.ndarray, shape (n_epochs, 10)
        The gains applied per part (sub-delta first), e.g. to shape a derived channel consistently.
    """
    targets = np.asarray(targets, dtype=np.float64)
    n = len(targets)
    epoch = len(x_uv) // n
    parts = band_split(np.asarray(x_uv, dtype=np.float64), fs=fs)
    free = np.isnan(targets).any(axis=1)
    t_psd = np.exp(targets[:, :5]) - EPS  # V^2/Hz
    t_var = np.exp(targets[:, 5]) - EPS  # V^2
    t_mob = targets[:, 6]
    gains = np.ones((n, len(EDGES) - 1))
    tilt = None  # factor on the simulated upper / lower half PSD ratio of delta, beta and gamma, per epoch
    ratio0 = {}  # the simulated signal's own upper / lower ratio per band (before shaping)
    f = np.fft.rfftfreq(256, 1 / fs)  # Welch bins (nperseg 256): how many fall in each part
    n_bins = np.array([((f >= EDGES[b]) & ((f < EDGES[b + 1]) | (b == len(EDGES) - 2) & (f <= 50.0))).sum()
                       for b in range(1, len(EDGES) - 1)])
    y = np.asarray(x_uv, dtype=np.float64)
    fade = int(fade_s * fs)
    for it in range(iterations):
        part, feats = _part_psd(y, n, epoch, fs)
        if tilt is None:
            tilt = np.ones(n)
        elif it < iterations - 3:  # more high-frequency share -> more mobility; the last three passes settle bands
            tilt *= np.clip(t_mob / np.maximum(feats[:, 8], 1e-6), 0.6, 1.6) ** 4
            tilt = np.clip(tilt, 1e-3, 1e3)
        want = part.copy()  # PSD asked of each part (V^2/Hz)
        for b in range(5):
            idx = np.flatnonzero(_PART_BAND == b) - 1
            band_t = np.maximum(t_psd[:, b], 1e-22)
            if len(idx) == 1:
                want[:, idx[0]] = band_t
                continue
            if b not in ratio0:
                ratio0[b] = np.maximum(part[:, idx[1]], 1e-24) / np.maximum(part[:, idx[0]], 1e-24)
            # asked upper/lower ratio; delta tilts less (its lower half sits next to the sub-0.5-Hz leakage)
            t = np.clip(tilt, 0.05, 20) if b == 0 else tilt
            q = t * ratio0[b]
            nl, nh = n_bins[idx[0]], n_bins[idx[1]]
            want[:, idx[0]] = band_t * (nl + nh) / (nl + q * nh)
            want[:, idx[1]] = q * want[:, idx[0]]
        step = np.sqrt(want / np.maximum(part, 1e-24))
        step[free] = 1.0
        step = np.clip(step, 1 / max_gain, max_gain)
        gains[:, 2:] *= step[:, 1:]
        # below 0.5 Hz: the variance the five bands leave, per epoch (the parts are near-orthogonal); 0.25-0.5 Hz
        # scales with the drift but never above the lower half of delta (it leaks into that half's Welch bins)
        rest = np.einsum("bn,bn->n", parts[2:], _per_sample(gains[:, 2:], epoch, fade), dtype=np.float64)
        gains[:, 1] = np.minimum(gains[:, 1] * step[:, 0], gains[:, 2])
        sub = np.einsum("bn,bn->n", parts[:2], _per_sample(gains[:, :2], epoch, fade), dtype=np.float64)
        rest_var, sub_var = (v.reshape(n, epoch).var(axis=1) * 1e-12 for v in (rest, sub))
        want_sub = np.maximum(np.maximum(t_var - rest_var, 0.02 * t_var), 1e-30)
        sub_step = np.clip(np.sqrt(want_sub / np.maximum(sub_var, 1e-30)), 1 / max_gain, max_gain)
        sub_step[free] = 1.0
        gains[:, 0] *= sub_step
        gains[:, 1] = np.minimum(gains[:, 1] * sub_step, gains[:, 2])
        y = rest + np.einsum("bn,bn->n", parts[:2], _per_sample(gains[:, :2], epoch, fade), dtype=np.float64)
    return y, gains
