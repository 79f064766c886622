"""Load one EEG channel of a night, in microvolts at the model's rate, cut into 30-s epochs.

Accepts an EDF/EDF+/BDF path, an ``mne.io.Raw`` or a numpy array (see :func:`load_recording`).

Example
-------
>>> from eeg_vlm.io import load_recording, epochs
>>> rec = load_recording("SC4001E0-PSG.edf")          # doctest: +SKIP
>>> rec.channel_name, rec.sampling_rate, rec.n_epochs  # doctest: +SKIP
('EEG Fpz-Cz', 100.0, 2650)
>>> epochs(rec).shape                                  # doctest: +SKIP
(2650, 3000)
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from .channels import pick_eeg_channel
from .edf import read_edf_channel
from .quality import CLIPPED_FRACTION, FLAT_STD_UV, MAX_INTERPOLATED_GAP_SEC, clipped_epochs, fill_gaps
from .resample import MIN_SAMPLING_RATE, resample_to
from .units import check_amplitude

logger = logging.getLogger(__name__)

__all__ = [
    "Recording", "load_recording", "epochs", "MAX_INTERPOLATED_GAP_SEC", "FLAT_STD_UV", "CLIPPED_FRACTION",
]

@dataclass(eq=False)
class Recording:
    """One EEG channel of a night, ready to cut into epochs.

    Attributes
    ----------
    data : numpy.ndarray
        float32 signal in uV, shape ``(n_epochs * samples_per_epoch,)``, at ``sampling_rate``.
    sampling_rate : float
        Rate of ``data`` in Hz (the model's rate, 100 Hz by default).
    channel_name : str
        Label of the chosen channel as written in the source (``"EEG"`` for an unnamed array).
    original_sampling_rate : float
        Rate of the source channel in Hz, before resampling.
    start_datetime : datetime.datetime or None
        Wall-clock start of the recording (naive, as written in the EDF header), if known.
    source : str
        File path, ``"mne.io.Raw"`` (with its file name when it has one) or ``"array"``.
    epoch_sec : float
        Epoch length in seconds (30 s).
    bad_epochs : frozenset of int
        Epochs that cannot be scored from the signal: long NaN/inf gaps (zero-filled) or a flat
        channel (SD < :data:`FLAT_STD_UV`).
    clipped_epochs : frozenset of int
        Epochs with >= 1 % of samples stuck at the signal's extremes (saturated amplifier);
        still scored, reported for information.
    """

    data: np.ndarray
    sampling_rate: float
    channel_name: str
    original_sampling_rate: float
    start_datetime: datetime | None
    source: str
    epoch_sec: float = 30.0
    bad_epochs: frozenset[int] = field(default_factory=frozenset)
    clipped_epochs: frozenset[int] = field(default_factory=frozenset)

    @property
    def samples_per_epoch(self) -> int:
        """Samples in one epoch (3000 for 30 s at 100 Hz)."""
        return int(round(self.epoch_sec * self.sampling_rate))

    @property
    def n_epochs(self) -> int:
        """Number of whole epochs in ``data``."""
        return int(self.data.shape[0] // self.samples_per_epoch)

    @property
    def duration(self) -> float:
        """Length of ``data`` in seconds."""
        return float(self.data.shape[0] / self.sampling_rate)

    def __repr__(self) -> str:
        return (
            f"Recording(channel_name={self.channel_name!r}, n_epochs={self.n_epochs}, "
            f"sampling_rate={self.sampling_rate:g}, original_sampling_rate="
            f"{self.original_sampling_rate:g}, start_datetime={self.start_datetime!r}, "
            f"bad_epochs={len(self.bad_epochs)}, source={self.source!r})"
        )


def epochs(recording: Recording) -> np.ndarray:
    """View of a recording's data as ``(n_epochs, samples_per_epoch)`` (no copy).

    Parameters
    ----------
    recording : Recording
        As returned by :func:`load_recording`.

    Returns
    -------
    numpy.ndarray
        float32 array in uV sharing memory with ``recording.data``.
    """
    n, spe = recording.n_epochs, recording.samples_per_epoch
    return recording.data[: n * spe].reshape(n, spe)


def _check_positive(arg: str, value, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{arg}: expected a positive number in {unit}, got {value!r}.")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{arg}: expected a positive, finite number in {unit}, got {value!r}.")
    return float(value)


def _is_mne_raw(obj) -> bool:
    """True for an ``mne.io.BaseRaw`` instance, without importing MNE."""
    return any(
        cls.__name__ == "BaseRaw" and cls.__module__.startswith("mne.") for cls in type(obj).__mro__
    )


def _from_mne(raw, channel):
    from mne.io.constants import FIFF  # lazy: MNE is only needed when the user passes a Raw

    index = pick_eeg_channel(raw.ch_names, channel=channel)
    x = raw.get_data(picks=[index])[0]
    name = raw.ch_names[index]
    if raw.info["chs"][index]["unit"] == FIFF.FIFF_UNIT_V:
        x = x * 1e6  # MNE stores EEG in volts
    else:
        logger.warning("MNE channel %r is not in volts; assuming its values are microvolts.", name)
    start = raw.info["meas_date"]
    if start is not None:
        # MNE labels the EDF wall-clock start as UTC; keep the wall-clock time, as pyedflib does.
        start = start.replace(tzinfo=None)
    filenames = [str(f) for f in getattr(raw, "filenames", ()) if f]
    source = f"mne.io.Raw({filenames[0]})" if filenames else "mne.io.Raw"
    return x, float(raw.info["sfreq"]), name, start, source


def _from_array(data, sampling_rate, channel, channel_names):
    arr = np.asarray(data)
    if arr.dtype.kind not in "iuf":
        raise ValueError(
            f"data: expected a real numeric array in uV, got dtype {arr.dtype}. Convert it with "
            f"numpy.asarray(data, dtype=float)."
        )
    if arr.ndim == 1:
        arr = arr[np.newaxis, :]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(
            f"data: expected an array of shape (n_channels, n_samples) or (n_samples,), got shape "
            f"{np.shape(data)}."
        )
    if arr.shape[0] > arr.shape[1]:
        raise ValueError(
            f"data: shape {arr.shape} has more rows than samples; expected (n_channels, n_samples). "
            f"If rows are samples, pass data.T."
        )
    if sampling_rate is None:
        raise ValueError(
            "sampling_rate: required when data is an array (got None); pass the rate in Hz, "
            "e.g. sampling_rate=256."
        )
    n_rows = arr.shape[0]
    if channel_names is None:
        if isinstance(channel, str):
            raise ValueError(
                f"channel: cannot find {channel!r} because the array's rows have no names; pass "
                f"channel_names=[...] ({n_rows} names) or a row index such as channel=0."
            )
        if n_rows > 1 and channel is None:
            raise ValueError(
                f"channel_names: the array has {n_rows} rows but no channel_names; pass "
                f"channel_names=[...] with {n_rows} names (e.g. ['EEG Fpz-Cz', 'EOG']) so the EEG "
                f"row can be found, or channel=<row index>."
            )
        index = pick_eeg_channel([f"row {i}" for i in range(n_rows)], channel=channel or 0)
        name = "EEG"
    else:
        names = [str(n) for n in channel_names] if not isinstance(channel_names, str) else None
        if names is None or len(names) != n_rows:
            raise ValueError(
                f"channel_names: expected a list of {n_rows} names (one per row of data), got "
                f"{channel_names!r}."
            )
        index = pick_eeg_channel(names, channel=channel)
        name = names[index]
    return arr[index].astype(np.float64), float(sampling_rate), name, None, "array"


def load_recording(
    data,
    *,
    sampling_rate: float | None = None,
    channel: str | int | None = None,
    channel_names=None,
    target_rate: float = 100.0,
    epoch_sec: float = 30.0,
) -> Recording:
    """Load the EEG channel of a night in uV at ``target_rate``, trimmed to whole epochs.

    Parameters
    ----------
    data : str, pathlib.Path, mne.io.BaseRaw or numpy.ndarray
        A path to an EDF, EDF+ (continuous) or BDF file; an MNE Raw (volts, converted to uV);
        or an array in uV of shape ``(n_channels, n_samples)`` or ``(n_samples,)``. Never modified.
    sampling_rate : float or None
        Rate of an array in Hz (required for arrays, at least 50 Hz). Files and Raws carry their
        own rate; passing a different one is an error.
    channel : str, int or None
        EEG channel to use: a name (matched ignoring case, spaces, ``EEG`` prefix, ``-REF``
        suffix, ``:``/``-``) or a row index; ``None`` picks the first channel of the preference
        list :data:`eeg_vlm.io.channels.EEG_PREFERENCE`, else any EEG-looking channel.
    channel_names : list of str or None
        Names of the rows of an array (a one-row array needs none). Not used for files/Raws.
    target_rate : float
        Output rate in Hz (100 Hz: the model's rate). Resampling is polyphase.
    epoch_sec : float
        Epoch length in seconds (30 s). ``epoch_sec * target_rate`` must be a whole number.

    Returns
    -------
    Recording
        float32 data in uV; ``bad_epochs`` lists epochs with long gaps or a flat signal.

    Notes
    -----
    Processing order: read the chosen channel only; convert the EDF physical dimension to uV;
    NaN/inf runs < 1 s are interpolated and longer runs zero-filled (warning); a signal that
    looks like volts is multiplied by 1e6 (warning, see :func:`eeg_vlm.io.units.check_amplitude`);
    resample; drop an incomplete last epoch (warning); mark flat epochs (SD < 0.5 uV) as bad;
    report clipped epochs (>= 1 % of samples at the signal's extremes) with a warning.

    Raises
    ------
    ValueError
        For a missing/unreadable/discontinuous file, an absent or non-EEG channel, a rate below
        50 Hz, a recording shorter than one epoch, or inconsistent arguments. The message says
        how to fix it.
    """
    target_rate = _check_positive("target_rate", target_rate, "Hz")
    epoch_sec = _check_positive("epoch_sec", epoch_sec, "seconds")
    spe_exact = epoch_sec * target_rate
    spe = int(round(spe_exact))
    if spe < 1 or abs(spe - spe_exact) > 1e-6:
        raise ValueError(
            f"epoch_sec: epoch_sec * target_rate must be a whole number of samples, got "
            f"{epoch_sec:g} s * {target_rate:g} Hz = {spe_exact:g}; use e.g. epoch_sec=30."
        )
    if sampling_rate is not None:
        sampling_rate = _check_positive("sampling_rate", sampling_rate, "Hz")
    if isinstance(data, (str, os.PathLike)):
        if channel_names is not None:
            raise ValueError(
                "channel_names: only names the rows of an array; an EDF file carries its own "
                "channel names. Drop channel_names= (use channel='NAME' to choose a channel)."
            )
        x, rate, name, start, source = read_edf_channel(Path(data), channel=channel)
    elif _is_mne_raw(data):
        if channel_names is not None:
            raise ValueError(
                "channel_names: only names the rows of an array; an MNE Raw carries its own "
                "channel names (raw.ch_names). Drop channel_names=."
            )
        x, rate, name, start, source = _from_mne(data, channel)
    elif isinstance(data, (np.ndarray, list, tuple)):
        x, rate, name, start, source = _from_array(data, sampling_rate, channel, channel_names)
    else:
        raise ValueError(
            f"data: expected a path to an EDF/BDF file, an mne.io.Raw or a numpy array in uV, got "
            f"{type(data).__name__}."
        )
    if sampling_rate is not None and not np.isclose(sampling_rate, rate):
        raise ValueError(
            f"sampling_rate: {source} gives channel {name!r} at {rate:g} Hz but sampling_rate="
            f"{sampling_rate:g} was passed; drop sampling_rate= for files and MNE Raws."
        )
    if rate < MIN_SAMPLING_RATE:
        raise ValueError(
            f"data: channel {name!r} of {source} is sampled at {rate:g} Hz, below the minimum of "
            f"{MIN_SAMPLING_RATE:g} Hz needed to see sleep spindles (11-16 Hz). Pick another "
            f"channel with channel='NAME' or record/export the EEG at 100 Hz or more."
        )
    x = np.array(x, dtype=np.float64, copy=True)
    clipped = clipped_epochs(x, rate, epoch_sec)
    x, gaps = fill_gaps(x, rate, name)
    x = check_amplitude(x, name=name)
    x = resample_to(x, rate, target_rate)
    n_epochs = x.shape[0] // spe
    if n_epochs == 0:
        raise ValueError(
            f"data: channel {name!r} of {source} lasts {x.shape[0] / target_rate:.1f} s, shorter "
            f"than one {epoch_sec:g}-s epoch; pass a recording of at least {epoch_sec:g} s."
        )
    tail = x.shape[0] - n_epochs * spe
    if tail:
        logger.warning(
            "Channel %r: the last %.2f s do not fill a %g-s epoch and were dropped (%d epochs kept).",
            name, tail / target_rate, epoch_sec, n_epochs,
        )
    data_uv = x[: n_epochs * spe].astype(np.float32)
    bad: set[int] = set()
    for t0, t1 in gaps:
        first, last = int(np.floor(t0 / epoch_sec)), int(np.ceil(t1 / epoch_sec)) - 1
        bad.update(range(first, min(last, n_epochs - 1) + 1))
    flat = np.flatnonzero(data_uv.reshape(n_epochs, spe).std(axis=1, dtype=np.float64) < FLAT_STD_UV)
    if flat.size:
        logger.warning(
            "Channel %r: %d of %d epoch(s) are flat (SD < %g uV: disconnected electrode?); they "
            "are listed in Recording.bad_epochs.", name, flat.size, n_epochs, FLAT_STD_UV,
        )
        bad.update(int(i) for i in flat)
    clipped = {i for i in clipped if i < n_epochs}
    if clipped:
        logger.warning(
            "Channel %r: %d epoch(s) are clipped (>= %g %% of samples at the signal's extremes: "
            "amplifier saturation); they are still staged and listed in Recording.clipped_epochs.",
            name, len(clipped), 100 * CLIPPED_FRACTION,
        )
    return Recording(
        data=data_uv,
        sampling_rate=target_rate,
        channel_name=name,
        original_sampling_rate=float(rate),
        start_datetime=start,
        source=source,
        epoch_sec=epoch_sec,
        bad_epochs=frozenset(bad),
        clipped_epochs=frozenset(clipped),
    )
