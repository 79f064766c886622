"""Polyphase resampling of EEG to the model's rate (100 Hz, the Sleep-EDFx EEG rate).

Any rate >= 50 Hz is accepted. Below 50 Hz the 0.5-30 Hz band used for staging (spindles reach
16 Hz, beta 30 Hz) is not represented, so such signals are refused rather than upsampled.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = ["resample_to", "MIN_SAMPLING_RATE"]

#: Lowest accepted input rate (Hz): its Nyquist frequency (25 Hz) still covers spindles (11-16 Hz).
MIN_SAMPLING_RATE = 50.0

# Largest denominator of the up/down ratio: exact for every usual EEG rate (e.g. 100/256 = 25/64),
# and within 0.1 % for odd rates such as 99.9 Hz, while keeping the polyphase filter short.
_MAX_DENOMINATOR = 1000


def resample_to(x: np.ndarray, from_rate: float, to_rate: float = 100.0) -> np.ndarray:
    """Resample a signal along its last axis with a polyphase filter.

    Parameters
    ----------
    x : numpy.ndarray
        Signal, shape ``(n_samples,)`` or ``(..., n_samples)``. Must be finite (fill gaps first:
        the anti-aliasing filter spreads a NaN over its whole length). Never modified.
    from_rate : float
        Sampling rate of ``x`` in Hz, at least 50 Hz.
    to_rate : float
        Wanted sampling rate in Hz (default 100 Hz, the model's rate).

    Returns
    -------
    numpy.ndarray
        float64 array with ``round(n_samples * to_rate / from_rate)`` samples on the last axis.
        Same rates return a float64 copy.

    Notes
    -----
    ``scipy.signal.resample_poly`` with ``up/down = Fraction(to_rate / from_rate)`` limited to a
    denominator of 1000 (exact for 50, 128, 200, 250, 256, 500, 512 Hz...) and ``padtype="line"``
    (edges extrapolated linearly, so no ringing from an implicit zero padding). When the rational
    approximation changes the length by a sample, the output is trimmed or edge-padded to the
    exact length.
    """
    for arg, rate in (("from_rate", from_rate), ("to_rate", to_rate)):
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)):
            raise ValueError(f"{arg}: expected a sampling rate in Hz (a number), got {rate!r}.")
        if not np.isfinite(rate) or rate <= 0:
            raise ValueError(f"{arg}: expected a positive, finite sampling rate in Hz, got {rate!r}.")
    if from_rate < MIN_SAMPLING_RATE:
        raise ValueError(
            f"from_rate: {from_rate:g} Hz is below the minimum of {MIN_SAMPLING_RATE:g} Hz; at that "
            f"rate the EEG has no content above {from_rate / 2:g} Hz, where sleep spindles "
            f"(11-16 Hz) live. Record or export the EEG at 50 Hz or more (100 Hz or higher is best)."
        )
    data = np.array(x, dtype=np.float64, copy=True)
    if data.ndim == 0:
        raise ValueError("x: expected a signal array with at least one dimension, got a scalar.")
    n_in = data.shape[-1]
    n_out = int(round(n_in * float(to_rate) / float(from_rate)))
    if float(from_rate) == float(to_rate):
        return data
    ratio = (Fraction(float(to_rate)) / Fraction(float(from_rate))).limit_denominator(_MAX_DENOMINATOR)
    from scipy.signal import resample_poly  # lazy: scipy.signal costs a second to import, the CLI checks none

    out = resample_poly(data, ratio.numerator, ratio.denominator, axis=-1, padtype="line")
    if out.shape[-1] > n_out:
        out = out[..., :n_out]
    elif out.shape[-1] < n_out:
        pad = [(0, 0)] * (out.ndim - 1) + [(0, n_out - out.shape[-1])]
        out = np.pad(out, pad, mode="edge")
    return out
