"""Stage labels shared by the exports: ``W N1 N2 N3 REM`` (index 0..4) and ``UNS`` (unscorable)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["STAGES", "UNSCORABLE", "validate_stages", "validate_probabilities", "stage_runs"]

#: The five AASM stages, in the order of the model's probability columns.
STAGES: tuple[str, ...] = ("W", "N1", "N2", "N3", "REM")
#: Label of an epoch that could not be scored (flat signal, long gap).
UNSCORABLE = "UNS"
_ALLOWED = frozenset(STAGES) | {UNSCORABLE}


def validate_stages(stages: Sequence[str], *, arg: str = "stages") -> list[str]:
    """Return ``stages`` as a new list of str, refusing unknown labels or an empty hypnogram.

    Parameters
    ----------
    stages : sequence of str
        One label per epoch among ``W N1 N2 N3 REM UNS``.
    arg : str
        Argument name used in error messages.

    Returns
    -------
    list of str
    """
    if isinstance(stages, (str, bytes)):
        raise ValueError(f"{arg}: expected a sequence of stage labels, got the string {stages!r}.")
    try:
        labels = [str(s) for s in stages]
    except TypeError:
        raise ValueError(
            f"{arg}: expected a sequence of stage labels, got {type(stages).__name__}."
        ) from None
    if not labels:
        raise ValueError(f"{arg}: expected at least one epoch, got an empty sequence.")
    unknown = sorted({s for s in labels if s not in _ALLOWED})
    if unknown:
        first = next(i for i, s in enumerate(labels) if s not in _ALLOWED)
        raise ValueError(
            f"{arg}: unknown stage label(s) {unknown} (first at epoch {first}); expected one of "
            f"{', '.join(STAGES)} or {UNSCORABLE} (unscorable). Map other labels (e.g. 'R' -> 'REM', "
            f"'S3'/'S4' -> 'N3') before exporting."
        )
    return labels


def validate_probabilities(probabilities, n_epochs: int, *, arg: str = "probabilities") -> np.ndarray:
    """Return probabilities as a new float64 ``(n_epochs, 5)`` array (columns W, N1, N2, N3, REM).

    NaN is allowed (e.g. unscorable epochs); other values must lie in [0, 1] and complete rows
    must sum to 1 within 1e-3.
    """
    p = np.array(probabilities, dtype=np.float64, copy=True)
    if p.shape != (n_epochs, len(STAGES)):
        raise ValueError(
            f"{arg}: expected shape ({n_epochs}, {len(STAGES)}) (one row per epoch, columns "
            f"{', '.join(STAGES)}), got {p.shape}."
        )
    finite = p[~np.isnan(p)]
    if np.isinf(p).any() or (finite.size and (finite.min() < 0 or finite.max() > 1)):
        raise ValueError(f"{arg}: values must lie in [0, 1] (NaN allowed for unscored epochs).")
    complete = ~np.isnan(p).any(axis=1)
    sums = p[complete].sum(axis=1)
    if sums.size and np.abs(sums - 1).max() > 1e-3:
        row = int(np.flatnonzero(complete)[np.argmax(np.abs(sums - 1))])
        raise ValueError(
            f"{arg}: each row must sum to 1, row {row} sums to {p[row].sum():.4f}; pass softmax "
            f"outputs."
        )
    return p


def stage_runs(stages: Sequence[str]) -> list[tuple[int, int, str]]:
    """Consecutive equal stages as ``(first_epoch, n_epochs, stage)`` runs."""
    runs: list[tuple[int, int, str]] = []
    for i, stage in enumerate(stages):
        if runs and runs[-1][2] == stage:
            first, n, _ = runs[-1]
            runs[-1] = (first, n + 1, stage)
        else:
            runs.append((i, 1, stage))
    return runs
