"""Simulated nights in the Sleep-EDFx format: generator, hypnograms, calibration to real nights, replay.

``python -m eeg_vlm.simulation --help`` lists the commands.
"""

from .generator import CHANNELS, FS, draw_subject_params, emg_envelope, simulate_epochs
from .nights import simulate_from_hypnogram, simulate_random
from .hypnograms import EPOCH_S, RK_CODES, random_hypnogram, read_hypnogram, write_hypnogram

__all__ = ["CHANNELS", "EPOCH_S", "FS", "RK_CODES", "draw_subject_params", "emg_envelope", "random_hypnogram",
           "read_hypnogram", "simulate_epochs", "simulate_from_hypnogram", "simulate_random", "write_hypnogram"]
