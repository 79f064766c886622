"""Physical units: convert EEG to microvolts (uV) and catch signals stored in the wrong unit.

EEG-VLM works in microvolts throughout. EDF files state each signal's physical dimension
(``uV``, ``mV``, ``V``...); :func:`unit_to_uv_factor` turns it into a multiplier, and
:func:`check_amplitude` catches the most common mistake, a signal in volts handed over as uV.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["unit_to_uv_factor", "check_amplitude", "VOLTS_P99_THRESHOLD"]

_FACTORS = {"uv": 1.0, "nv": 1e-3, "mv": 1e3, "v": 1e6}

#: A signal "claimed uV" whose 99th percentile of |x| is below this is taken to be in volts.
#: EEG is about 10-300 uV, i.e. 1e-5-3e-4 V, while even a quiet but connected EEG in uV has a
#: 99th percentile of |x| of several uV: 0.01 sits two decades from both.
VOLTS_P99_THRESHOLD = 0.01

# Above this robust amplitude (uV) the signal is implausible for scalp EEG (warn only).
_IMPLAUSIBLY_LARGE_UV = 5000.0
# Between VOLTS_P99_THRESHOLD and this (uV) the signal may be in mV (warn only: ambiguous
# with a nearly flat channel, which the flat-epoch check marks as unscorable anyway).
_IMPLAUSIBLY_SMALL_UV = 1.0


def unit_to_uv_factor(dimension: str, *, name: str = "signal") -> float:
    """Multiplier that converts a signal in ``dimension`` to microvolts.

    Parameters
    ----------
    dimension : str
        Physical dimension as written in an EDF header: ``"uV"``, ``"µV"`` (micro sign or Greek
        mu), ``"mV"``, ``"V"`` or ``"nV"``, compared case-insensitively (so ``"MV"`` means
        millivolts: megavolts never occur in EEG).
    name : str
        Channel name, used in the warning.

    Returns
    -------
    float
        1.0 for uV, 1e3 for mV, 1e6 for V, 1e-3 for nV. An unknown or empty dimension logs a
        warning and returns 1.0 (assume uV); :func:`check_amplitude` then still catches volts.
    """
    key = str(dimension).strip().replace("\u00b5", "u").replace("\u03bc", "u").lower()
    key = key.replace("volts", "v").replace("volt", "v")
    if key in _FACTORS:
        return _FACTORS[key]
    logger.warning(
        "Channel %r has physical dimension %r, not one of uV, mV, V, nV: assuming microvolts (uV). "
        "If this is wrong, convert the signal to uV and pass it as an array.", name, dimension,
    )
    return 1.0


def check_amplitude(x_uv: np.ndarray, *, name: str = "signal") -> np.ndarray:
    """Return the signal in uV, converting it when its amplitude shows it is in volts.

    The robust amplitude is the 99th percentile of ``|x|`` over finite samples. Below
    :data:`VOLTS_P99_THRESHOLD` (0.01) while non-zero, the signal is taken to be in volts:
    a warning is logged and ``x * 1e6`` is returned. Implausibly small (< 1 uV, maybe mV) or
    large (> 5000 uV) amplitudes only log a warning. An all-zero signal is returned unchanged
    (a flat channel is marked unscorable elsewhere, not rescaled).

    Parameters
    ----------
    x_uv : numpy.ndarray
        Signal that claims to be in microvolts. Never modified.
    name : str
        Channel name, used in the warnings.

    Returns
    -------
    numpy.ndarray
        A new float64 array in uV.
    """
    x = np.array(x_uv, dtype=np.float64, copy=True)
    finite = np.abs(x[np.isfinite(x)])
    if finite.size == 0:
        return x
    p99 = float(np.percentile(finite, 99))
    if 0.0 < p99 < VOLTS_P99_THRESHOLD:
        logger.warning(
            "Channel %r: 99th percentile of |x| is %.3g, far too small for EEG in microvolts; "
            "the signal looks like volts and was multiplied by 1e6. Pass data in uV to silence "
            "this warning.", name, p99,
        )
        return x * 1e6
    if VOLTS_P99_THRESHOLD <= p99 < _IMPLAUSIBLY_SMALL_UV:
        logger.warning(
            "Channel %r: 99th percentile of |x| is %.3g uV, very small for EEG. If the data are in "
            "millivolts, multiply them by 1000 (or fix the EDF physical dimension).", name, p99,
        )
    elif p99 > _IMPLAUSIBLY_LARGE_UV:
        logger.warning(
            "Channel %r: 99th percentile of |x| is %.3g uV, very large for scalp EEG. Check the "
            "units (nanovolts?) or the electrode.", name, p99,
        )
    return x
