"""Compare a staged night with a scorer's hypnogram: agreement, Cohen's kappa, per-stage F1, confusion matrix.

    import eeg_vlm
    from eeg_vlm.reference import compare_with_reference, read_reference
    night = eeg_vlm.sample_night_path()
    result = eeg_vlm.stage_night(night)
    ref = read_reference(night.with_name("SC4991EX-Hypnogram.edf"), n_epochs=len(result),
                         start_datetime=result.start_datetime)
    print(compare_with_reference(result.stages, ref.stages)["cohen_kappa"])

The reference is a Sleep-EDFx-style EDF+ hypnogram (read with ``dataset_builder.sleep_edfx``: R&K stages mapped to
AASM, ``Movement time`` / ``Sleep stage ?`` not scored, aligned on the header start times) or a CSV with a
``stage`` column (the CSV ``eeg-vlm stage`` and the Space write, or any table with one row per 30-s epoch).
Epochs the reference does not score and unscorable epochs of the model are left out of the comparison.
Tests: ``python -m pytest tests/test_reference.py -q``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from .io.stages import STAGES

logger = logging.getLogger(__name__)

__all__ = ["ReferenceHypnogram", "compare_with_reference", "read_reference"]

# CSV labels accepted, upper-cased (AASM, R&K and Sleep-EDFx spellings); anything else is "not scored"
_CSV_LABELS = {"W": "W", "WAKE": "W", "N1": "N1", "S1": "N1", "N2": "N2", "S2": "N2", "N3": "N3", "S3": "N3",
               "S4": "N3", "N4": "N3", "REM": "REM", "R": "REM", "SLEEP STAGE W": "W", "SLEEP STAGE 1": "N1",
               "SLEEP STAGE 2": "N2", "SLEEP STAGE 3": "N3", "SLEEP STAGE 4": "N3", "SLEEP STAGE R": "REM"}
_EXPECTED = ("Expected a Sleep-EDFx-style EDF+ hypnogram (annotations 'Sleep stage W/1/2/3/4/R') or a CSV with one row "
             "per 30-s epoch and a 'stage' column (W, N1, N2, N3, REM), such as the CSV downloaded from this page.")


@dataclass
class ReferenceHypnogram:
    """A scorer's hypnogram on the staged night's epochs.

    Attributes
    ----------
    stages : list of (str or None)
        One AASM stage per epoch of the night, None where the reference does not score it.
    not_scored : dict
        Epochs without a usable label, per label (``Movement time``, ``Sleep stage ?``, unknown, or "missing").
    name : str
        File name of the reference.
    """

    stages: list
    not_scored: dict = field(default_factory=dict)
    name: str = ""

    @property
    def n_scored(self) -> int:
        return sum(s is not None for s in self.stages)


def read_reference(path, *, n_epochs: int, start_datetime: datetime | None = None,
                   epoch_sec: float = 30.0) -> ReferenceHypnogram:
    """Read a scorer's hypnogram (EDF+ or CSV) onto the ``n_epochs`` epochs of a staged night.

    Parameters
    ----------
    path : str or Path
        ``*-Hypnogram.edf`` (EDF+ annotations) or ``.csv``.
    n_epochs : int, keyword-only
        Epochs of the staged night.
    start_datetime : datetime, optional
        Start of the staged recording; an EDF+ hypnogram starting at another time is shifted onto it.
    epoch_sec : float, keyword-only
        Epoch length, s.

    Returns
    -------
    ReferenceHypnogram
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"reference: no file named {path.name!r}. {_EXPECTED}")
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head == b"0       ":
        stages, not_scored = _from_edf(path, n_epochs, start_datetime, epoch_sec)
    else:
        stages, not_scored = _from_csv(path, n_epochs, epoch_sec)
    ref = ReferenceHypnogram(stages, not_scored, path.name)
    if not ref.n_scored:
        raise ValueError(f"reference: {path.name!r} scores none of this night's {n_epochs} epochs "
                         f"(labels not used: {not_scored}). Check that it belongs to this night. {_EXPECTED}")
    return ref


def _from_edf(path: Path, n_epochs: int, start: datetime | None, epoch_sec: float):
    from .dataset_builder.sleep_edfx import RK_TO_AASM, open_edf, read_hypnogram

    annotations = read_hypnogram(path, _arg="reference")
    with open_edf(path, "reference") as reader:
        if reader.signals_in_file:
            raise ValueError(f"reference: {path.name!r} holds signals: it is a recording, not a hypnogram. Upload "
                             f"the scorer's hypnogram file (e.g. '*-Hypnogram.edf'). {_EXPECTED}")
        hyp_start = reader.getStartdatetime()
    offset = 0.0 if start is None else (hyp_start - start).total_seconds()
    stages: list = [None] * n_epochs
    not_scored: dict = {}
    for onset, duration, label in annotations:
        stage = RK_TO_AASM.get(label)
        first = (onset + offset) / epoch_sec
        count = int(round(duration / epoch_sec))
        if abs(first - round(first)) > 1e-3:
            logger.warning("reference: %r at %.1f s does not start on a 30-s epoch of the recording; rounded.",
                           label, onset + offset)
        for i in range(int(round(first)), int(round(first)) + count):
            if 0 <= i < n_epochs:
                if stage is None:
                    not_scored[label] = not_scored.get(label, 0) + 1
                else:
                    stages[i] = stage
    return stages, not_scored


def _from_csv(path: Path, n_epochs: int, epoch_sec: float):
    import pandas as pd

    try:
        table = pd.read_csv(path, comment="#", dtype=str, skipinitialspace=True)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ValueError(f"reference: {path.name!r} is neither an EDF file nor a readable CSV ({err}). "
                         f"{_EXPECTED}") from err
    columns = {c.strip().lower(): c for c in table.columns}
    if "stage" not in columns:
        raise ValueError(f"reference: {path.name!r} has no 'stage' column (its columns: "
                         f"{', '.join(map(str, table.columns[:8]))}). {_EXPECTED}")
    labels = table[columns["stage"]].fillna("").str.strip()
    if "epoch" in columns:
        index = pd.to_numeric(table[columns["epoch"]], errors="coerce")
    elif "onset_s" in columns:
        index = pd.to_numeric(table[columns["onset_s"]], errors="coerce") / epoch_sec
    else:
        index = pd.Series(np.arange(len(table)), dtype=float)
    stages: list = [None] * n_epochs
    not_scored: dict = {}
    for i, label in zip(index, labels):
        stage = _CSV_LABELS.get(label.upper())
        if np.isnan(i) or not 0 <= round(i) < n_epochs:
            continue
        if stage is None:
            not_scored[label or "missing"] = not_scored.get(label or "missing", 0) + 1
        else:
            stages[int(round(i))] = stage
    return stages, not_scored


def compare_with_reference(stages, reference) -> dict:
    """Agreement of ``stages`` (the model's) with ``reference`` on the epochs both score.

    Returns ``classification_metrics`` (``eeg_vlm.train.evaluate``): ``n``, ``accuracy`` (the agreement),
    ``macro_f1``, ``cohen_kappa``, ``per_stage`` precision/recall/F1 (reference = truth), ``confusion_matrix``
    (rows: reference, columns: EEG-VLM), ``labels``; plus ``n_left_out`` epochs not compared.
    """
    from .train.evaluate import classification_metrics

    if len(stages) != len(reference):
        raise ValueError(f"reference: has {len(reference)} epochs, expected {len(stages)} (one per staged epoch).")
    pairs = [(STAGES.index(r), STAGES.index(s)) for s, r in zip(stages, reference) if r in STAGES and s in STAGES]
    truth, pred = zip(*pairs) if pairs else ((), ())
    return {**classification_metrics(truth, pred, labels=STAGES), "n_left_out": len(stages) - len(pairs)}
