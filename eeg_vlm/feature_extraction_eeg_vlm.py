"""EEG -> per-epoch feature vectors: the measurements a sleep technician reads, and the Sleep-EDF-20 features.

``EEGVLMFeatureExtractor`` is a transformers feature extractor (``AutoFeatureExtractor`` for ``model_type="eeg_vlm"``,
saved and loaded with the model). It turns EEG in uV at any rate >= 50 Hz (resampled to 100 Hz, polyphase, as the
rest of the package) into one row of ``F = len(feature_names)`` numbers per 30-s epoch:

- the nine per-channel features of the real Sleep-EDF-20 feature files (``sedf_*``, first; definitions in
  :func:`sedf_channel_features`), so that real Sleep-EDF-20 feature sequences and our nights share columns;
- the measurements the Chain-of-Thought cites (:data:`MEASUREMENT_NAMES`): relative band powers (Welch),
  amplitude, the share of the epoch in high-amplitude slow waves, sleep spindles, K-complex candidates, how much of
  the epoch alpha dominates, rapid eye movements on the EOG and chin-muscle tone on the EMG (uV, Hz). Without an
  EOG / EMG channel ``eye_movement_count`` / ``emg_rms_uv`` are NaN.

    from eeg_vlm.feature_extraction_eeg_vlm import EEGVLMFeatureExtractor
    extractor = EEGVLMFeatureExtractor()
    out = extractor(eeg_uv, sampling_rate=256)            # (n_samples,) night or (n_epochs, samples per epoch)
    out["features"].shape                                 # (n_epochs, 22), float32; extractor.feature_names
    extractor.measure(epochs_uv, 100)[0]["spindle_count"]  # the Chain-of-Thought's measurements as dicts

The numbers come from ``measurements_eeg_vlm.py``, the one implementation (``dataset_builder.features`` and
``simulation.sleep_edf20`` call it too). This file is part of the Hub remote-code unit: it imports only that file
and installed libraries.
"""

from __future__ import annotations

import numpy as np
from transformers.feature_extraction_utils import BatchFeature, FeatureExtractionMixin

from .measurements_eeg_vlm import (
    _MIN_RATE,
    _MIN_SECONDS,
    FEATURE_NAMES,
    MEASUREMENT_NAMES,
    SEDF_NAMES,
    SEDF_RATE,
    _check_2d,
    _fail,
    measure_epochs,
    resample_to,
    sedf_channel_features,
    unmeasurable_features,
)


class EEGVLMFeatureExtractor(FeatureExtractionMixin):
    r"""
    Per-epoch feature vectors of EEG (and optional EOG / chin EMG), for the stage model and the explanations.

    Parameters
    ----------
    sampling_rate : float
        The rate in Hz every EEG input is resampled to before measuring. Default 100 Hz: the rate of Sleep-EDFx and
        of the model's renderer, and the rate the Sleep-EDF-20 features are defined at.
    epoch_seconds : float
        Epoch length in seconds, at least 30. Default 30 (AASM).

    Attributes
    ----------
    feature_names : tuple of str
        The ``F`` columns of ``features``: the nine ``sedf_*`` Sleep-EDF-20 features of the EEG channel, then the
        measurements (:data:`MEASUREMENT_NAMES`).

    Examples
    --------
    >>> import numpy as np
    >>> extractor = EEGVLMFeatureExtractor()
    >>> night = 20 * np.random.default_rng(0).standard_normal(10 * 6000)  # 10 epochs at 200 Hz, in uV
    >>> extractor(night, sampling_rate=200)["features"].shape
    (10, 22)
    """

    model_input_names = ["features"]
    feature_names = FEATURE_NAMES

    def __init__(self, sampling_rate: float = SEDF_RATE, epoch_seconds: float = 30.0, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("sampling_rate", sampling_rate), ("epoch_seconds", epoch_seconds)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not (
                    np.isfinite(value) and value > 0):
                raise ValueError(f"{name}: received {value!r}, expected a positive number "
                                 f"({'Hz, e.g. 100' if name == 'sampling_rate' else 'seconds, e.g. 30'}).")
        if epoch_seconds < _MIN_SECONDS:
            raise ValueError(f"epoch_seconds: received {epoch_seconds!r}, expected >= {_MIN_SECONDS:g} s (the "
                             "measurements read a whole scoring epoch); keep the default 30.")
        if sampling_rate < _MIN_RATE:
            raise ValueError(f"sampling_rate: received {sampling_rate!r} Hz, expected >= {_MIN_RATE:g} Hz "
                             "(beta reaches 30 Hz); keep the default 100.")
        self.sampling_rate = float(sampling_rate)
        self.epoch_seconds = float(epoch_seconds)

    def _epochs(self, eeg, sampling_rate, name="eeg") -> np.ndarray:
        """EEG ``(n_samples,)`` night or ``(n_epochs, samples per epoch)`` at ``sampling_rate`` -> epochs at
        :attr:`sampling_rate`, float64 ``(n_epochs, epoch_seconds * sampling_rate)``."""
        try:
            fs = float(sampling_rate)
        except (TypeError, ValueError):
            _fail("sampling_rate", repr(sampling_rate), "the EEG sampling rate in Hz", "pass e.g. sampling_rate=100")
        if not np.isfinite(fs) or fs < _MIN_RATE:
            _fail("sampling_rate", f"{fs:g} Hz", f">= {_MIN_RATE:g} Hz", "record or export the EEG at 50 Hz or more")
        try:
            x = np.asarray(eeg, dtype=np.float64)
        except (TypeError, ValueError):
            _fail(name, type(eeg).__name__, "a numeric array in uV", "pass a numpy array")
        if x.ndim not in (1, 2) or not np.all(np.isfinite(x)):
            _fail(name, f"shape {x.shape} with {int(np.sum(~np.isfinite(x)))} NaN/inf values",
                  "finite values, (n_samples,) or (n_epochs, samples per epoch)",
                  "interpolate or drop bad samples, pass one channel")
        n_in = int(round(self.epoch_seconds * fs))
        if x.ndim == 1:  # a night: resample it whole, then cut (no filter edge inside the night)
            if len(x) < n_in:
                _fail(name, f"{len(x)} samples ({len(x) / fs:g} s at {fs:g} Hz)",
                      f"at least one {self.epoch_seconds:g}-s epoch", "pass a longer recording")
            n_epochs = len(x) // n_in
            x = resample_to(x[: n_epochs * n_in], fs, self.sampling_rate)
            return x.reshape(n_epochs, -1)
        if x.shape[1] != n_in:
            _fail(name, f"shape {x.shape}", f"(n_samples,) or (n_epochs, {n_in}) ({self.epoch_seconds:g} s at "
                  f"{fs:g} Hz)", "pass the night as one row, or cut it into epochs of that length")
        return resample_to(x, fs, self.sampling_rate)

    def _side(self, x, name, n_epochs, seconds):
        """EOG / EMG as ``(n_epochs, m)`` epochs: as given, or cut from a ``(n_samples,)`` night that spans the
        EEG's ``seconds`` (its rate follows from the two lengths)."""
        if x is None:
            return None
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim == 1:
            m = int(round(len(arr) / seconds * self.epoch_seconds))  # samples per epoch
            if m < 1 or m * n_epochs > len(arr):
                _fail(name, f"{len(arr)} samples", f"a recording spanning the EEG's {seconds:g} s",
                      f"pass {name} over the same recording, or as (n_epochs, samples per epoch)")
            return arr[: m * n_epochs].reshape(n_epochs, m)
        if arr.ndim != 2 or len(arr) != n_epochs:
            _fail(name, f"shape {arr.shape}", f"(n_samples,) or ({n_epochs}, samples per epoch) like the EEG",
                  "pass the same epochs for every channel")
        return arr

    def measure(self, eeg_epochs, sampling_rate, *, eog_epochs=None, emg_epochs=None) -> list[dict]:
        """The Chain-of-Thought's measurements, one dict per epoch (keys :data:`MEASUREMENT_NAMES`).

        Parameters
        ----------
        eeg_epochs : array_like, shape (n_epochs, samples per epoch)
            EEG in uV at ``sampling_rate`` Hz (>= 50); resampled to :attr:`sampling_rate` before measuring.
        sampling_rate : float
            Hz.
        eog_epochs, emg_epochs : array_like, shape (n_epochs, m), optional
            EOG / chin EMG in uV over the same epochs at their own rate (``m / epoch_seconds``). Without them
            ``eye_movement_count`` / ``emg_rms_uv`` are NaN.
        """
        epochs = self._epochs(_check_2d(eeg_epochs, "eeg_epochs", epochs=True), sampling_rate, "eeg_epochs")
        columns = measure_epochs(epochs, self.sampling_rate, eog_epochs=eog_epochs, emg_epochs=emg_epochs)
        return [dict(zip(columns, map(float, row))) for row in zip(*columns.values())]

    def __call__(self, eeg, sampling_rate=None, *, eog=None, emg=None, recorded_rate=None, return_tensors=None,
                 **kwargs) -> BatchFeature:
        """Feature vectors of every epoch.

        Parameters
        ----------
        eeg : array_like
            EEG in uV: a ``(n_samples,)`` night (a trailing partial epoch is dropped) or ``(n_epochs, samples per
            epoch)`` epochs. Never modified.
        sampling_rate : float
            Its rate in Hz (>= 50); resampled to :attr:`sampling_rate` (polyphase).
        eog, emg : array_like, optional
            EOG / chin EMG in uV, laid out as ``eeg`` (a night over the same seconds, or ``(n_epochs, m)``), at
            their own rate. Without them ``eye_movement_count`` / ``emg_rms_uv`` are NaN.
        recorded_rate : float, optional
            The rate in Hz the EEG was recorded at, when ``eeg`` was resampled since (e.g. a 50-Hz recording
            brought to 100 Hz). The features whose band reaches above its Nyquist frequency
            (:func:`~eeg_vlm.measurements_eeg_vlm.unmeasurable_features`: at 50 Hz ``sedf_beta``, ``sedf_gamma``,
            ``sedf_mobility``, ``beta_rel``) are then NaN, "not measured", instead of an empty band's floor.
            Default None: ``sampling_rate`` is taken as given and every feature is measured (the explanations'
            numbers keep their historic definition).
        return_tensors : str, optional
            ``"pt"`` / ``"np"``: as transformers' processors.

        Returns
        -------
        BatchFeature
            ``"features"``: float32 ``(n_epochs, len(feature_names))``.
        """
        if sampling_rate is None:
            _fail("sampling_rate", "None", "the EEG sampling rate in Hz", "pass e.g. sampling_rate=100")
        if kwargs:
            _fail(", ".join(sorted(kwargs)), "unknown option(s)",
                  "sampling_rate, eog, emg, recorded_rate, return_tensors", "remove them")
        epochs = self._epochs(eeg, sampling_rate)  # (E, S) at 100 Hz
        # seconds the EEG spans (a night's trailing partial epoch included): EOG/EMG nights span the same
        seconds = np.shape(eeg)[-1] / float(sampling_rate) if np.ndim(eeg) == 1 else len(epochs) * self.epoch_seconds
        eog = self._side(eog, "eog", len(epochs), seconds)
        emg = self._side(emg, "emg", len(epochs), seconds)
        measured = measure_epochs(epochs, self.sampling_rate, eog_epochs=eog, emg_epochs=emg)
        sedf = sedf_channel_features(epochs, fs=self.sampling_rate)  # (E, 9)
        features = np.column_stack([sedf, *measured.values()]).astype(np.float32)  # (E, F)
        if recorded_rate is not None:
            missing = [self.feature_names.index(name) for name in unmeasurable_features(recorded_rate)]
            features[:, missing] = np.nan
        return BatchFeature({"features": features}, tensor_type=return_tensors)


__all__ = ["EEGVLMFeatureExtractor", "FEATURE_NAMES", "MEASUREMENT_NAMES", "SEDF_NAMES"]
