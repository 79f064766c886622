"""Grounded training and evaluation rows: each epoch's prompt carries its measured features and its neighbours', and
the night's staging around it (the expert stages in training, the model's in evaluation).

    python -m eeg_vlm.train sft --ground_prompts --drop_eog_emg 0.4 ...

A built dataset stores one row per 30-s epoch, in recording order, with the features ``features.py`` measured.
:func:`neighbour_context` finds each row's neighbours the way the builder did (the adjacent rows of the same
recording), :func:`grounded_columns` writes the grounded prompt of every row and its answer, rewritten by
``cot.make_cot`` from exactly the numbers the prompt states; for rows whose EOG / EMG are dropped at random (so the
model also learns to explain nights recorded without them, such as EEG-only montages) both say so.
"""

from __future__ import annotations

import math

import numpy as np

from ..dataset_builder.cot import STAGES, make_cot
from ..faithfulness import EEG_KEYS
from ..grounding import STAGED_NEIGHBOURS, grounded_prompt

#: how a dropped row loses its channels: both (an EEG-only recording) twice as often as either one alone
DROP_MODES = (("eye_movement_count", "emg_rms_uv"), ("eye_movement_count", "emg_rms_uv"), ("eye_movement_count",),
              ("emg_rms_uv",))


def _table(dataset) -> list[dict]:
    missing = [k for k in (*EEG_KEYS, "stage", "recording") if k not in dataset.column_names]
    if missing:
        raise ValueError(f"dataset: missing columns {missing}; expected a dataset built by "
                         "`python -m eeg_vlm.dataset_builder build` (it stores the measured features).")
    return dataset.select_columns([*EEG_KEYS, "stage", "recording"]).to_pandas().to_dict("records")


def neighbour_context(dataset) -> list[dict]:
    """Per row: ``prev_features``, ``next_features``, ``prev_stage``, ``next_stage`` (None at a recording's ends).

    Rows are neighbours when they are adjacent and belong to the same recording, as when the builder wrote the
    Chain-of-Thought labels.
    """
    return _neighbours(_table(dataset))


def _neighbours(rows: list[dict]) -> list[dict]:
    out = []
    for i, row in enumerate(rows):
        ctx = {}
        for side, j in (("prev", i - 1), ("next", i + 1)):
            near = rows[j] if 0 <= j < len(rows) and rows[j]["recording"] == row["recording"] else None
            ctx[f"{side}_features"] = None if near is None else {k: near[k] for k in EEG_KEYS}
            ctx[f"{side}_stage"] = None if near is None else STAGES[int(near["stage"])]
        out.append(ctx)
    return out


def spread_indices(n_rows: int, n: int | None) -> list[int]:
    """``n`` row indices spread evenly over ``n_rows`` (every row when ``n`` is None or large enough).

    The first rows of a split are one subject's first hours (mostly wake); an even spread samples every subject
    and stage.
    """
    if n is None or n >= n_rows:
        return list(range(n_rows))
    if n < 1:
        raise ValueError(f"n: received {n}, expected >= 1 rows to sample (or None for all).")
    return sorted({int(i) for i in np.linspace(0, n_rows - 1, n).round()})


def _staged_context(rows: list[dict], staged: list[str]) -> list[dict]:
    """Per row: its stage in ``staged`` and up to :data:`STAGED_NEIGHBOURS` staged neighbours each side (same
    recording), as ``grounded_prompt`` keywords."""
    out, k = [], STAGED_NEIGHBOURS
    for i, row in enumerate(rows):
        same = [j for j in range(i - k, i + k + 1) if 0 <= j < len(rows) and rows[j]["recording"] == row["recording"]]
        out.append({"stage": staged[i], "stages_before": [staged[j] for j in same if j < i],
                    "stages_after": [staged[j] for j in same if j > i]})
    return out


def grounded_columns(dataset, *, drop_eog_emg: float = 0.0, eeg_only: bool = False, counterfactual: float = 0.0,
                     staged=None, seed: int = 0) -> tuple[list[str], list[str]]:
    """The grounded prompt and the answer of every row.

    Parameters
    ----------
    dataset : datasets.Dataset
        A built split (rows in recording order).
    drop_eog_emg : float
        Fraction of rows (0-1) whose EOG and/or EMG are dropped (see :data:`DROP_MODES`): their prompt says "no
        EOG channel" / "no EMG channel" and their answer says so too.
    eeg_only : bool
        Drop EOG and EMG from every row (evaluation as on an EEG-only recording).
    counterfactual : float
        Fraction of rows (0-1) whose rule-deciding numbers (slow waves, alpha, spindles, K-complexes, eye
        movements, chin EMG, beta) are redrawn at random, prompt and answer alike, image and expert stage kept:
        the answer's rule step must then follow the stated numbers, not the look of the image. Training only.
    staged : sequence of int or str, optional
        The stage of every row as the night was staged (indices into W, N1, N2, N3, REM or names), stated in each
        prompt with its staged neighbours (``grounding.staged_sentence``). Default: the expert stages (training,
        where the answer's stage and neighbour stages are the expert's too). Evaluation passes the model's own.
    seed : int
        Seed of the drop draw (deterministic).

    Returns
    -------
    prompts, answers : list of str
    """
    for name, value in (("drop_eog_emg", drop_eog_emg), ("counterfactual", counterfactual)):
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{name}: received {value!r}, expected a fraction of rows between 0 and 1.")
    rows = _table(dataset)
    context = _neighbours(rows)
    staged = [row["stage"] for row in rows] if staged is None else list(staged)
    if len(staged) != len(rows):
        raise ValueError(f"staged: received {len(staged)} stages, expected one per row ({len(rows)}); pass the "
                         "staged night's stages in the dataset's row order.")
    staging = _staged_context(rows, [s if isinstance(s, str) else STAGES[int(s)] for s in staged])
    question = dataset[0]["messages"][0]["content"]
    question = next(part["text"] for part in question if part["type"] == "text")
    rng = np.random.default_rng(seed)
    draw, mode = rng.random(len(rows)), rng.integers(0, len(DROP_MODES), len(rows))
    redraw = rng.random(len(rows)) < counterfactual
    prompts, answers = [], []
    for i, row in enumerate(rows):
        feats = {k: float(row[k]) for k in EEG_KEYS}
        if redraw[i]:
            feats.update(_redrawn(rng))
        ctx = context[i]
        if eeg_only:
            feats.update(eye_movement_count=math.nan, emg_rms_uv=math.nan)
        elif draw[i] < drop_eog_emg:
            feats.update(dict.fromkeys(DROP_MODES[mode[i]], math.nan))
        # the answer is rewritten from the stored (float32) features the prompt states: the builder wrote the
        # `cot` column from float64 values, and ~2 % of rows round a half-percent the other way
        answers.append(make_cot(feats, STAGES[int(row["stage"])], **ctx))
        prompts.append(grounded_prompt(feats, question, prev_features=ctx["prev_features"],
                                       next_features=ctx["next_features"], **staging[i]))
    return prompts, answers


def _redrawn(rng) -> dict:
    """Two to four rule-deciding features redrawn over ranges that straddle the rules' thresholds."""
    draws = {
        "slow_wave_fraction": lambda: rng.uniform(0.0, 0.6),  # N3 at >= 20 %
        "alpha_fraction": lambda: rng.uniform(0.0, 1.0),  # W at > 50 %
        "spindle_count": lambda: float(rng.integers(0, 4)),  # N2 at >= 1
        "kcomplex_count": lambda: float(rng.integers(0, 3)),
        "eye_movement_count": lambda: float(rng.integers(0, 9)),  # REM needs >= 1
        "emg_rms_uv": lambda: rng.uniform(0.3, 8.0),  # REM below 1.0 uV, W above 2.5 uV
        "beta_rel": lambda: rng.uniform(0.0, 0.4),  # W at >= 25 %
    }
    keys = rng.choice(sorted(draws), size=int(rng.integers(2, 5)), replace=False)
    return {k: draws[k]() for k in keys}


def add_grounded_columns(dataset, **kwargs):
    """``dataset`` with ``grounded_prompt`` and ``grounded_answer`` columns (see :func:`grounded_columns`)."""
    prompts, answers = grounded_columns(dataset, **kwargs)
    return dataset.add_column("grounded_prompt", prompts).add_column("grounded_answer", answers)


__all__ = ["DROP_MODES", "add_grounded_columns", "grounded_columns", "neighbour_context", "spread_indices"]
