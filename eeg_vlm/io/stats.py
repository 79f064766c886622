"""Sleep statistics of a hypnogram, computed exactly as YASA's ``Hypnogram.sleep_statistics()``.

Reimplemented here (no YASA import) so that reading and exporting a night stays light; the test
suite checks the values against ``yasa.Hypnogram(stages, freq="30s").sleep_statistics()``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .stages import STAGES, UNSCORABLE, stage_runs, validate_stages

__all__ = ["sleep_statistics"]

_SLEEP = ("N1", "N2", "N3", "REM")


def sleep_statistics(stages: Sequence[str], *, epoch_sec: float = 30.0) -> dict[str, float]:
    """Standard sleep statistics (AASM definitions, as in YASA 0.8).

    Parameters
    ----------
    stages : sequence of str
        One label per epoch: ``W N1 N2 N3 REM`` or ``UNS`` (unscorable).
    epoch_sec : float
        Epoch length in seconds (30 s).

    Returns
    -------
    dict of str to float
        Durations in minutes unless stated, rounded to 4 decimals, NaN where undefined:

        - ``TIB``: time in bed, the whole hypnogram.
        - ``SPT``: sleep period time, first to last epoch that is neither W nor UNS.
        - ``WASO``: wake within SPT (NaN without sleep).
        - ``TST``: total sleep time, N1+N2+N3+REM within SPT (UNS excluded).
        - ``SE``: sleep efficiency, 100 * TST / TIB (%).
        - ``SME``: sleep maintenance efficiency, 100 * TST / SPT (%).
        - ``SFI``: sleep fragmentation index, sleep-to-wake transitions per hour of TST.
        - ``SOL``: sleep onset latency, from the start to the first sleep epoch.
        - ``SOL_5min``: latency to the first 5 min of uninterrupted sleep.
        - ``Lat_REM``: latency to the first REM epoch **from the start of the recording**
          (AASM REM latency = ``Lat_REM - SOL``).
        - ``WAKE``, ``N1``, ``N2``, ``N3``, ``REM`` (and ``UNS`` when present): minutes per stage.
        - ``%N1``, ``%N2``, ``%N3``, ``%REM``: percent of TST.
    """
    labels = validate_stages(stages)
    if isinstance(epoch_sec, bool) or not isinstance(epoch_sec, (int, float)) or not epoch_sec > 0:
        raise ValueError(f"epoch_sec: expected a positive number of seconds, got {epoch_sec!r}.")
    hypno = np.array(labels)
    n = hypno.size
    per_min = 60.0 / epoch_sec  # epochs per minute
    is_sleep = np.isin(hypno, _SLEEP)
    stats: dict[str, float] = {"TIB": n / per_min}
    idx_sleep = np.flatnonzero(~np.isin(hypno, ("W", UNSCORABLE)))
    has_sleep = idx_sleep.size > 0
    first, last = (idx_sleep[0], idx_sleep[-1]) if has_sleep else (0, n)
    spt = slice(first, last + 1)
    stats["SPT"] = (last + 1 - first) / per_min if has_sleep else 0.0
    stats["WASO"] = np.sum(hypno[spt] == "W") / per_min if has_sleep else np.nan
    stats["TST"] = np.sum(is_sleep[spt]) / per_min
    stats["SE"] = 100 * stats["TST"] / stats["TIB"]
    if stats["SPT"] == 0:
        stats["SME"] = stats["SFI"] = np.nan
    else:
        stats["SME"] = 100 * stats["TST"] / stats["SPT"]
        n_to_wake = np.count_nonzero(is_sleep[:-1] & (hypno[1:] == "W"))
        stats["SFI"] = n_to_wake / (stats["TST"] / 60)
    stats["SOL"] = first / per_min if stats["TST"] > 0 else np.nan
    # YASA rounds the 5-min threshold up to whole epochs (1e-9 guards float error at exact values).
    min_epochs = int(np.ceil(5 * per_min - 1e-9))
    long_runs = [s for s, k, asleep in stage_runs(is_sleep.tolist()) if asleep and k >= min_epochs]
    stats["SOL_5min"] = long_runs[0] / per_min if long_runs else np.nan
    idx_rem = np.flatnonzero(hypno == "REM")
    stats["Lat_REM"] = idx_rem[0] / per_min if idx_rem.size else np.nan
    for stage in STAGES:
        stats["WAKE" if stage == "W" else stage] = np.sum(hypno == stage) / per_min
    if (hypno == UNSCORABLE).any():
        stats[UNSCORABLE] = np.sum(hypno == UNSCORABLE) / per_min
    for stage in _SLEEP:
        stats[f"%{stage}"] = 100 * stats[stage] / stats["TST"] if stats["TST"] > 0 else np.nan
    return {key: float(np.round(value, 4)) for key, value in stats.items()}
