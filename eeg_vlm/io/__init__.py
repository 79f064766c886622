"""Torch-free I/O for EEG-VLM: read a night, choose its EEG channel, units, resampling, exports.

Reading: :func:`load_recording` (EDF/EDF+/BDF path, ``mne.io.Raw`` or numpy array in uV) returns a
:class:`Recording` (one EEG channel in uV at 100 Hz, whole 30-s epochs, ``bad_epochs``);
:func:`epochs` views it as ``(n_epochs, 3000)``.
Exports: :func:`write_csv`, :func:`write_hypnogram_edf` (Sleep-EDFx style EDF+ annotations),
:func:`write_hypnogram_png`, :func:`write_summary_json`, :func:`sleep_statistics` (as YASA),
:func:`plot_hypnogram`.

Tests: ``cd /work/main && python -m pytest tests/test_io_read.py tests/test_io_export.py -q``
"""

from .channels import EEG_PREFERENCE, looks_like_eeg, normalise_channel_name, pick_eeg_channel
from .export import (
    EDF_STAGE_LABELS,
    write_csv,
    write_hypnogram_edf,
    write_hypnogram_png,
    write_summary_json,
)
from .plot import plot_hypnogram
from .read import CLIPPED_FRACTION, FLAT_STD_UV, MAX_INTERPOLATED_GAP_SEC, Recording, epochs, load_recording
from .resample import MIN_SAMPLING_RATE, resample_to
from .stages import STAGES, UNSCORABLE
from .stats import sleep_statistics
from .units import check_amplitude, unit_to_uv_factor

__all__ = [
    "CLIPPED_FRACTION",
    "EEG_PREFERENCE",
    "EDF_STAGE_LABELS",
    "FLAT_STD_UV",
    "MAX_INTERPOLATED_GAP_SEC",
    "MIN_SAMPLING_RATE",
    "STAGES",
    "UNSCORABLE",
    "Recording",
    "check_amplitude",
    "epochs",
    "load_recording",
    "looks_like_eeg",
    "normalise_channel_name",
    "pick_eeg_channel",
    "plot_hypnogram",
    "resample_to",
    "sleep_statistics",
    "unit_to_uv_factor",
    "write_csv",
    "write_hypnogram_edf",
    "write_hypnogram_png",
    "write_summary_json",
]
