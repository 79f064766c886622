"""Measured per-epoch sleep EEG features (the evidence the Chain-of-Thought labels cite).

One row of numbers per 30-s epoch, computed the way a sleep technician reads the trace:
relative band powers (Welch), amplitude, the share of the epoch in high-amplitude slow waves,
sleep spindles, K-complex candidates, how much of the epoch alpha dominates, rapid eye movements
on the EOG and chin-muscle tone on the EMG.  All amplitudes are in uV, rates in Hz.

Example
-------
>>> import numpy as np
>>> from eeg_vlm.dataset_builder.features import measure_epoch
>>> t = np.arange(3000) / 100.0
>>> feats = measure_epoch(100.0 * np.sin(2 * np.pi * 1.0 * t), 100.0)
>>> feats["slow_wave_fraction"] > 0.9
True

The measurements are implemented once, in ``eeg_vlm.measurements_eeg_vlm`` (behind the model's feature extractor,
part of the Hub remote-code unit); this module keeps their table interface.

EOG and EMG may be sampled at other rates than the EEG: their rate is inferred from their length
(an epoch of the EEG and of the EOG/EMG span the same seconds), so a Sleep-EDFx night with a 1-Hz
EMG envelope and 100-Hz EEG works as-is.
"""

from __future__ import annotations

import pandas as pd

from ..measurements_eeg_vlm import BANDS, MEASUREMENT_NAMES, _check_2d
from ..measurements_eeg_vlm import measure_epochs as _measure_columns

__all__ = ["FEATURE_NAMES", "BANDS", "measure_epoch", "measure_epochs"]

FEATURE_NAMES = MEASUREMENT_NAMES


def measure_epochs(eeg_epochs, sampling_rate, *, eog_epochs=None, emg_epochs=None):
    """Measure the features of many epochs at once (at the rate given: no resampling).

    Parameters
    ----------
    eeg_epochs : array_like, shape (n_epochs, n_samples)
        EEG in uV, one row per epoch (>= 30 s each).
    sampling_rate : float
        EEG sampling rate in Hz (>= 50 Hz).
    eog_epochs, emg_epochs : array_like, shape (n_epochs, m), optional
        EOG / chin EMG in uV over the same epochs; their rate is ``m / epoch seconds``
        (EOG >= 20 Hz; EMG any rate, e.g. the 1-Hz Sleep-EDFx envelope).

    Returns
    -------
    pandas.DataFrame
        One row per epoch, one column per name in :data:`FEATURE_NAMES`.
        ``eye_movement_count`` / ``emg_rms_uv`` are NaN without EOG / EMG.
    """
    return pd.DataFrame(_measure_columns(eeg_epochs, sampling_rate, eog_epochs=eog_epochs, emg_epochs=emg_epochs))


def measure_epoch(eeg_uv, sampling_rate, *, eog_uv=None, emg_uv=None):
    """Measure the features of one epoch.

    Parameters
    ----------
    eeg_uv : array_like, shape (n_samples,)
        One epoch (>= 30 s) of EEG in uV.
    sampling_rate : float
        EEG sampling rate in Hz (>= 50 Hz).
    eog_uv, emg_uv : array_like, shape (m,), optional
        EOG / chin EMG in uV over the same seconds (their rate is inferred from ``m``).

    Returns
    -------
    dict of str to float
        Keys are exactly :data:`FEATURE_NAMES`; NaN where the needed channel is absent.
    """
    eeg = _check_2d(eeg_uv, "eeg_uv", epochs=False)
    eog = None if eog_uv is None else _check_2d(eog_uv, "eog_uv", epochs=False)
    emg = None if emg_uv is None else _check_2d(emg_uv, "emg_uv", epochs=False)
    row = measure_epochs(eeg, sampling_rate, eog_epochs=eog, emg_epochs=emg).iloc[0]
    return {k: float(row[k]) for k in FEATURE_NAMES}
