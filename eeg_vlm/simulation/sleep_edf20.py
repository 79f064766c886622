"""The 18 per-epoch features of the real Sleep-EDF-20 feature files, and reading those files.

The real nights reach this project only as per-epoch features (``SCxxxxE0.npz``: ``X`` (n_epochs, 72), ``y``
0=W 1=N1 2=N2 3=N3 4=REM; github matteo-omizzolo/sleep-EDF, MIT; data: Sleep-EDF Expanded, PhysioNet, ODC-By 1.0,
Kemp et al. 2000, Goldberger et al. 2000).  To compare simulated nights with them, the same 18 features are
computed from the definitions (our own implementation, ``eeg_vlm.measurements_eeg_vlm``, behind the model's feature
extractor), nine per channel, on the signal in VOLTS:

- 0-4: ``log(m + 1e-10)``, m the mean Welch PSD (scipy defaults: Hann, nperseg 256, 50 % overlap, density,
  V^2/Hz) over the bins lo <= f <= hi for delta 0.5-4, theta 4-8, alpha 8-13, beta 13-30, gamma 30-50 Hz;
- 5: log theta / (log alpha + 1e-10); 6: log alpha / (log delta + 1e-10);
- 7: ``log(var(x) + 1e-10)``; 8: Hjorth mobility ``sqrt(var(diff(x)) / (var(x) + 1e-10))``.

Columns 0-8 are ``EEG Fpz-Cz``, 9-17 ``EEG Pz-Oz``.  The ``+1e-10`` dominates (a real N3 delta is ~1.8e-10 V^2/Hz),
so :func:`band_psd_uv2` undoes it: ``exp(col) - 1e-10`` in V^2/Hz, times 1e12 for uV^2/Hz.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..measurements_eeg_vlm import SEDF_BANDS as BANDS
from ..measurements_eeg_vlm import SEDF_EPS as EPS
from ..measurements_eeg_vlm import SEDF_PER_CHANNEL as _PER_CHANNEL
from ..measurements_eeg_vlm import sedf_channel_features, sedf_features_from_psd

__all__ = ["BANDS", "CHANNELS", "FEATURE_NAMES", "STAGES", "band_psd_uv2", "channel_features", "epoch_features",
           "load_night", "load_nights", "trim_to_sleep", "default_dir"]

log = logging.getLogger(__name__)
FS = 100  # Hz: the Sleep-EDF EEG rate the features were computed at
EPOCH = 30 * FS  # samples per 30-s epoch
CHANNELS = ("EEG Fpz-Cz", "EEG Pz-Oz")
STAGES = ("W", "N1", "N2", "N3", "REM")
FEATURE_NAMES = tuple(f"{ch.split()[1]}_{name}" for ch in CHANNELS for name in _PER_CHANNEL)


def channel_features(epochs_uv, *, fs=FS):
    """Nine features per 30-s epoch of one channel, exactly as the Sleep-EDF-20 files define them.

    The one implementation is the model's (its feature extractor's
    ``sedf_*`` columns): ``eeg_vlm.measurements_eeg_vlm.sedf_channel_features``.

    Parameters
    ----------
    epochs_uv : array_like, shape (n_epochs, n_samples)
        EEG in uV (converted to volts, as the definitions require).
    fs : float
        Sampling rate in Hz (100 for Sleep-EDF; nperseg stays 256 samples as in scipy's default).

    Returns
    -------
    numpy.ndarray, shape (n_epochs, 9)
        log band PSDs (delta, theta, alpha, beta, gamma), theta/alpha and alpha/delta log ratios, log variance,
        Hjorth mobility.
    """
    return sedf_channel_features(epochs_uv, fs=fs)


def features_from_psd(x, f, psd):
    """The nine features from epochs ``x`` in volts (n, n_samples) and their Welch PSD ``(f, psd)``."""
    return sedf_features_from_psd(x, f, psd)


def epoch_features(fpz_uv, pz_uv, *, fs=FS):
    """The 18 features (columns 0-17) of a night from its Fpz-Cz and Pz-Oz epochs (n_epochs, n_samples), uV."""
    return np.hstack([channel_features(fpz_uv, fs=fs), channel_features(pz_uv, fs=fs)])


def band_psd_uv2(features):
    """Band PSD means in uV^2/Hz from the log columns (..., 5): ``(exp(col) - 1e-10) * 1e12``."""
    return (np.exp(np.asarray(features, dtype=np.float64)) - EPS) * 1e12


def default_dir():
    """``../shared/data/sleep-edf20-features`` beside the project checkout (None when absent)."""
    path = Path(__file__).resolve().parents[3] / "shared" / "data" / "sleep-edf20-features"
    return path if path.is_dir() else None


def trim_to_sleep(y, *, margin=60):
    """Index of the epochs from ``margin`` epochs (30 min) before the first to after the last sleep epoch."""
    y = np.asarray(y)
    sleep = np.flatnonzero(y != 0)
    if len(sleep) == 0:
        log.warning("night holds no sleep epoch: nothing kept by the standard-protocol trim")
        return np.arange(0)
    return np.arange(max(sleep[0] - margin, 0), min(sleep[-1] + margin + 1, len(y)))


def load_night(path, *, trim=True):
    """One ``SCxxxxE0.npz``: (features (n, 18), stages (n,) 0-4) trimmed to the standard protocol by default."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path: got {str(path)!r}, which does not exist; expected a Sleep-EDF-20 feature file "
                         "SCxxxxE0.npz; see ../shared/README.md")
    with np.load(path) as data:
        if "X" not in data or "y" not in data or data["X"].ndim != 2 or data["X"].shape[1] < 18:
            raise ValueError(f"path: {path.name} lacks X (n_epochs, >= 18) and y; expected a Sleep-EDF-20 "
                             "feature file as described in ../shared/README.md")
        x, y = data["X"][:, :18].astype(np.float64), data["y"].astype(np.int64)
    if trim:
        keep = trim_to_sleep(y)
        x, y = x[keep], y[keep]
    return x, y


def load_nights(source=None, *, trim=True):
    """Every night of a folder (or one file): dict night name (``SC4001E0``) -> (features (n, 18), stages (n,)).

    The subject is ``int(name[3:5])`` (two nights per subject, as in Sleep-EDFx).
    """
    source = Path(source) if source is not None else default_dir()
    if source is None or not source.exists():
        raise ValueError(f"source: got {source!r}; expected a folder of Sleep-EDF-20 SCxxxxE0.npz files (e.g. "
                         "../shared/data/sleep-edf20-features, or the download of the public project)")
    files = [source] if source.is_file() else sorted(source.glob("SC4*.npz"))
    if not files:
        raise ValueError(f"source: {str(source)!r} holds no SC4*.npz file; expected Sleep-EDF-20 feature files")
    return {f.stem: load_night(f, trim=trim) for f in files}
