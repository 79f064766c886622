"""Signal-quality steps of loading: NaN/inf gaps, flat and clipped epochs (thresholds documented).

Used by :func:`eeg_vlm.io.load_recording`; all functions return new arrays.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["MAX_INTERPOLATED_GAP_SEC", "FLAT_STD_UV", "CLIPPED_FRACTION", "fill_gaps", "clipped_epochs"]

#: NaN/inf runs shorter than this (seconds) are linearly interpolated (lost packets, a few
#: samples); longer runs are filled with zeros and their epochs marked bad: interpolating
#: over a second or more would invent EEG waves the model could stage.
MAX_INTERPOLATED_GAP_SEC = 1.0

#: An epoch with at least this fraction of its samples at the signal's extreme values is clipped
#: (amplifier saturation). Clipped epochs stay scorable (large N3 waves are often clipped), so
#: they are only reported in ``Recording.clipped_epochs`` with a warning.
CLIPPED_FRACTION = 0.01

#: An epoch whose standard deviation is below this (uV) is flat: a disconnected electrode or a
#: dead amplifier channel (connected EEG has an epoch SD of several uV even in quiet sleep).
FLAT_STD_UV = 0.5


def clipped_epochs(x: np.ndarray, rate: float, epoch_sec: float) -> set[int]:
    """Indices of clipped epochs: at least :data:`CLIPPED_FRACTION` of samples at the max or min.

    ``x`` is at ``rate`` Hz (NaN ignored); epochs are ``epoch_sec`` long from the first sample.
    Nothing is reported unless the extremes occur at least 10 times and in 0.1 % of the samples
    (an unclipped signal reaches them a handful of times) or when the signal is constant.
    """
    finite = np.isfinite(x)
    if not finite.any():
        return set()
    hi, lo = np.max(x[finite]), np.min(x[finite])
    at_rail = finite & ((x >= hi) | (x <= lo))
    # An unclipped signal reaches its extremes a handful of times; a flat one everywhere.
    if hi == lo or at_rail.sum() < max(10, 0.001 * x.size):
        return set()
    epoch_of_sample = (np.flatnonzero(at_rail) / rate // epoch_sec).astype(int)
    counts = np.bincount(epoch_of_sample)
    return {int(i) for i in np.flatnonzero(counts >= CLIPPED_FRACTION * epoch_sec * rate)}


def fill_gaps(x: np.ndarray, rate: float, name: str) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Repair NaN/inf samples of one channel.

    Parameters
    ----------
    x : numpy.ndarray
        Signal (any unit) at ``rate`` Hz. Not modified.
    rate : float
        Sampling rate in Hz.
    name : str
        Channel name, used in warnings and errors.

    Returns
    -------
    signal : numpy.ndarray
        Copy with runs shorter than :data:`MAX_INTERPOLATED_GAP_SEC` linearly interpolated
        (edges: nearest finite value) and longer runs set to 0.
    intervals : list of (float, float)
        (start, end) in seconds of the zero-filled runs, to mark their epochs as bad.
    """
    bad = ~np.isfinite(x)
    if not bad.any():
        return x, []
    if bad.all():
        raise ValueError(
            f"data: channel {name!r} holds no finite sample (all NaN/inf); pick another channel "
            f"with channel=."
        )
    edges = np.diff(np.concatenate(([0], bad.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    short = (ends - starts) < MAX_INTERPOLATED_GAP_SEC * rate
    out = x.copy()
    index = np.arange(x.size)
    good = ~bad
    out[bad] = np.interp(index[bad], index[good], x[good])
    intervals = []
    for s, e in zip(starts[~short], ends[~short]):
        out[s:e] = 0.0
        intervals.append((s / rate, e / rate))
    if short.any():
        logger.warning(
            "Channel %r: %d gap(s) of NaN/inf shorter than %g s (%d samples) were linearly "
            "interpolated.", name, int(short.sum()), MAX_INTERPOLATED_GAP_SEC,
            int(sum(e - s for s, e in zip(starts[short], ends[short]))),
        )
    if intervals:
        logger.warning(
            "Channel %r: %d gap(s) of NaN/inf of %g s or longer (%.1f s in all) were filled with "
            "zeros; their epochs are listed in Recording.bad_epochs.", name, len(intervals),
            MAX_INTERPOLATED_GAP_SEC, sum(e - s for s, e in intervals),
        )
    return out, intervals
