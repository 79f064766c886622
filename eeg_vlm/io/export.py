"""Hypnogram exports: CSV table, EDF+ annotations (Sleep-EDFx style), PNG figure, JSON summary.

Every writer is atomic (temporary file in the target directory, then ``os.replace``) and refuses
to replace an existing file unless ``overwrite=True`` (CLI ``--overwrite``).

Example
-------
>>> from eeg_vlm.io import write_csv, write_hypnogram_edf, sleep_statistics
>>> stages = ["W", "W", "N1", "N2", "N2", "N3", "REM"]
>>> write_hypnogram_edf("night.hypnogram.edf", stages=stages)   # doctest: +SKIP
>>> sleep_statistics(stages)["TST"]
2.5
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import numpy as np

from .atomic import atomic_path
from .plot import plot_hypnogram
from .stages import STAGES, stage_runs, validate_probabilities, validate_stages
from .stats import sleep_statistics

__all__ = [
    "EDF_STAGE_LABELS",
    "write_csv",
    "write_hypnogram_edf",
    "write_hypnogram_png",
    "write_summary_json",
    "save_figure_png",
    "sleep_statistics",
    "plot_hypnogram",
]

#: EDF+ annotation text per stage, exactly as in the Sleep-EDFx ``*-Hypnogram.edf`` files.
EDF_STAGE_LABELS = {
    "W": "Sleep stage W",
    "N1": "Sleep stage 1",
    "N2": "Sleep stage 2",
    "N3": "Sleep stage 3",
    "REM": "Sleep stage R",
    "UNS": "Sleep stage ?",
}

# EDF stores dates with two-digit years read as 1985-2084; an unknown start is written as the
# EDF convention's earliest date (1985-01-01 00:00:00) so the file stays deterministic.
_EDF_FIRST_DATE = datetime(1985, 1, 1)
_EDF_LAST_YEAR = 2084


def _check_epoch_sec(epoch_sec) -> float:
    if isinstance(epoch_sec, bool) or not isinstance(epoch_sec, (int, float)):
        raise ValueError(f"epoch_sec: expected a positive number of seconds, got {epoch_sec!r}.")
    if not math.isfinite(epoch_sec) or epoch_sec <= 0:
        raise ValueError(f"epoch_sec: expected a positive number of seconds, got {epoch_sec!r}.")
    return float(epoch_sec)


def _check_start(start_datetime) -> datetime | None:
    if start_datetime is not None and not isinstance(start_datetime, datetime):
        raise ValueError(
            f"start_datetime: expected a datetime.datetime or None, got "
            f"{type(start_datetime).__name__} {start_datetime!r}."
        )
    return start_datetime


def _fmt(value: float) -> str:
    """Probability/confidence cell: 4 decimals, empty for NaN."""
    return "" if math.isnan(value) else f"{value:.4f}"


def write_csv(
    path,
    *,
    stages: Sequence[str],
    probabilities=None,
    confidence=None,
    epoch_sec: float = 30.0,
    start_datetime: datetime | None = None,
    overwrite: bool = False,
) -> None:
    """Write the hypnogram as a CSV table, one row per epoch.

    Parameters
    ----------
    path : str or pathlib.Path
        Output file (e.g. ``night.hypnogram.csv``).
    stages : sequence of str
        One label per epoch: ``W N1 N2 N3 REM`` or ``UNS``.
    probabilities : array-like of shape (n_epochs, 5) or None
        Stage probabilities (columns W, N1, N2, N3, REM); NaN rows allowed.
    confidence : array-like of shape (n_epochs,) or None
        Confidence in [0, 1] per epoch. When None but probabilities are given, the largest
        probability of each epoch is used.
    epoch_sec : float
        Epoch length in seconds (30 s).
    start_datetime : datetime.datetime or None
        Recording start; when given, a ``clock_time`` column (ISO 8601) is written.
    overwrite : bool
        Replace an existing file (default False: ValueError).

    Notes
    -----
    Columns: ``epoch`` (0-based), ``onset_s``, ``clock_time`` (only with a start),
    ``stage``, ``confidence`` (only when given or derived), ``p_W p_N1 p_N2 p_N3 p_REM`` (only
    with probabilities). Probabilities and confidence have 4 decimals; NaN is an empty cell.
    """
    labels = validate_stages(stages)
    n = len(labels)
    epoch_sec = _check_epoch_sec(epoch_sec)
    start = _check_start(start_datetime)
    p = None if probabilities is None else validate_probabilities(probabilities, n)
    conf = None
    if confidence is not None:
        conf = np.array(confidence, dtype=np.float64, copy=True)
        known = conf[~np.isnan(conf)]
        if conf.shape != (n,) or not np.all((known >= 0) & (known <= 1)):
            raise ValueError(
                f"confidence: expected {n} values in [0, 1] (one per epoch, NaN allowed), got an "
                f"array of shape {conf.shape} with range [{np.nanmin(conf, initial=np.inf):g}, "
                f"{np.nanmax(conf, initial=-np.inf):g}]."
            )
    elif p is not None:
        conf = np.full(n, np.nan)
        complete = ~np.isnan(p).any(axis=1)
        conf[complete] = p[complete].max(axis=1)
    header = ["epoch", "onset_s"] + (["clock_time"] if start else []) + ["stage"]
    header += ["confidence"] if conf is not None else []
    header += [f"p_{s}" for s in STAGES] if p is not None else []
    with atomic_path(path, overwrite=overwrite) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for i, stage in enumerate(labels):
                onset = round(i * epoch_sec, 6)
                row = [i, repr(float(onset))]
                if start:
                    row.append((start + timedelta(seconds=onset)).isoformat())
                row.append(stage)
                if conf is not None:
                    row.append(_fmt(conf[i]))
                if p is not None:
                    row.extend(_fmt(v) for v in p[i])
                writer.writerow(row)


def write_hypnogram_edf(
    path,
    *,
    stages: Sequence[str],
    epoch_sec: float = 30.0,
    start_datetime: datetime | None = None,
    overwrite: bool = False,
) -> None:
    """Write the hypnogram as an annotation-only EDF+ file, like Sleep-EDFx ``*-Hypnogram.edf``.

    Consecutive equal stages are merged into one annotation (onset and duration in seconds)
    labelled ``Sleep stage W/1/2/3/R`` (``Sleep stage ?`` for ``UNS``), see
    :data:`EDF_STAGE_LABELS`. pyedflib (``EdfReader.readAnnotations``) and MNE
    (``mne.read_annotations``) read it back.

    Parameters
    ----------
    path : str or pathlib.Path
        Output file (e.g. ``night.hypnogram.edf``).
    stages : sequence of str
        One label per epoch: ``W N1 N2 N3 REM`` or ``UNS``.
    epoch_sec : float
        Epoch length in seconds (30 s).
    start_datetime : datetime.datetime or None
        Recording start written in the header (1985-2084, the EDF date range). None writes
        1985-01-01 00:00:00, the earliest EDF date, as "unknown".
    overwrite : bool
        Replace an existing file (default False: ValueError).
    """
    import pyedflib  # lazy: keep `import eeg_vlm.io` light

    labels = validate_stages(stages)
    epoch_sec = _check_epoch_sec(epoch_sec)
    start = _check_start(start_datetime) or _EDF_FIRST_DATE
    if not _EDF_FIRST_DATE <= start.replace(tzinfo=None) < datetime(_EDF_LAST_YEAR + 1, 1, 1):
        raise ValueError(
            f"start_datetime: EDF can only store dates from 1985 to {_EDF_LAST_YEAR}, got "
            f"{start.isoformat()}; pass start_datetime=None if the date is unknown."
        )
    with atomic_path(path, overwrite=overwrite) as tmp:
        # 0 signals + FILETYPE_EDFPLUS: the annotation-only layout of Sleep-EDFx hypnograms.
        writer = pyedflib.EdfWriter(str(tmp), 0, file_type=pyedflib.FILETYPE_EDFPLUS)
        try:
            writer.setStartdatetime(start.replace(tzinfo=None))
            for first, length, stage in stage_runs(labels):
                writer.writeAnnotation(first * epoch_sec, length * epoch_sec, EDF_STAGE_LABELS[stage])
        finally:
            writer.close()


def write_hypnogram_png(
    path,
    *,
    stages: Sequence[str],
    probabilities=None,
    epoch_sec: float = 30.0,
    title: str | None = None,
    start_datetime: datetime | None = None,
    dpi: int = 100,
    overwrite: bool = False,
) -> None:
    """Save :func:`eeg_vlm.io.plot_hypnogram` as a PNG (atomically, no GUI backend).

    Parameters
    ----------
    path : str or pathlib.Path
        Output file (e.g. ``night.hypnogram.png``).
    stages, probabilities, epoch_sec, title, start_datetime
        As for :func:`eeg_vlm.io.plot_hypnogram` (``start_datetime``: a clock-time axis).
    dpi : int
        Resolution (100 dpi: a 1000 x 500 pixel image with probabilities).
    overwrite : bool
        Replace an existing file (default False: ValueError).
    """
    fig = plot_hypnogram(stages, probabilities, epoch_sec=epoch_sec, title=title, start_datetime=start_datetime)
    save_figure_png(fig, path, dpi=dpi, overwrite=overwrite)


def save_figure_png(fig, path, *, dpi: int = 100, overwrite: bool = False) -> None:
    """Save a matplotlib figure as a PNG atomically (temp file, then rename); refuse to overwrite by default."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)


def _jsonable(value):
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def write_summary_json(path, summary: Mapping, *, overwrite: bool = False) -> None:
    """Write a summary dict (e.g. :func:`sleep_statistics`) as indented JSON; NaN becomes null.

    Parameters
    ----------
    path : str or pathlib.Path
        Output file (e.g. ``night.summary.json``).
    summary : mapping
        JSON-compatible values; numpy scalars/arrays and datetimes are converted.
    overwrite : bool
        Replace an existing file (default False: ValueError).
    """
    if not isinstance(summary, Mapping):
        raise ValueError(f"summary: expected a dict, got {type(summary).__name__}.")
    try:
        text = json.dumps(_jsonable(summary), indent=2, allow_nan=False)
    except TypeError as error:
        raise ValueError(f"summary: holds a value JSON cannot store ({error}).") from None
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
