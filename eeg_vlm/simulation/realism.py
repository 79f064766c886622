"""How far simulated nights are from real ones, on the 18 Sleep-EDF-20 features (needs scikit-learn).

Used by ``python -m eeg_vlm.simulation.calibrate`` and ``python benchmarks/realism.py``:

- :func:`wasserstein_table`: per-stage, per-feature 1-D Wasserstein distance, in units of the real feature's SD;
- :func:`discriminator_auc`: per stage, a gradient-boosting classifier trained to tell real from simulated epochs
  on one half of the nights (real nights split by subject) and scored on the other half (0.5 = indistinguishable);
- :func:`transfer_kappa`: Cohen's kappa of a staging classifier trained on one source and tested on another;
- :func:`subject_cv_kappa`: 5-fold subject-wise cross-validated kappa within the real nights (the ceiling).
"""

from __future__ import annotations

import zlib

import numpy as np
from scipy.stats import wasserstein_distance

from .sleep_edf20 import STAGES

__all__ = ["simulated_features", "wasserstein_table", "discriminator_auc", "transfer_kappa", "subject_cv_kappa",
           "distance", "stack"]



def stack(nights):
    """dict name -> (X, y) to (X, y, groups) with the night's subject (``int(name[3:5])``) as group."""
    xs, ys, gs = [], [], []
    for name, (x, y) in sorted(nights.items()):
        xs.append(x)
        ys.append(y)
        # Sleep-EDFx names carry the subject in characters 3-4; other names are their own group (crc32: the same
        # number in every process, unlike hash())
        gs.append(np.full(len(y), int(name[3:5]) if name[3:5].isdigit() else 1000 + zlib.crc32(name.encode()) % 10**6))
    return np.vstack(xs), np.concatenate(ys), np.concatenate(gs)


def simulated_features(signals, codes, *, trim=True):
    """18 features and AASM stages (0-4) of one simulated night (dict of uV arrays at 100 Hz + R&K codes)."""
    from .generator import stage_indices
    from .sleep_edf20 import epoch_features, trim_to_sleep

    n = len(codes)
    x = epoch_features(signals["EEG Fpz-Cz"][: n * 3000].reshape(n, -1),
                       signals["EEG Pz-Oz"][: n * 3000].reshape(n, -1))
    y = stage_indices(codes)  # M and ? -> -1, dropped
    keep = y >= 0
    x, y = x[keep], y[keep]
    if trim:
        idx = trim_to_sleep(y)
        x, y = x[idx], y[idx]
    return x, y


def _gbm(seed):
    from sklearn.ensemble import HistGradientBoostingClassifier

    # 100 rounds of depth-limited boosting, fixed seed: the same numbers on every run, minutes not tens of minutes
    return HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, max_leaf_nodes=31, random_state=seed)


def wasserstein_table(real_x, real_y, sim_x, sim_y):
    """(5, n_features) 1-D Wasserstein distances per stage and feature, divided by the real SD (NaN if a stage
    is missing on either side)."""
    out = np.full((len(STAGES), real_x.shape[1]), np.nan)
    for s in range(len(STAGES)):
        r, m = real_x[real_y == s], sim_x[sim_y == s]
        if len(r) < 2 or len(m) < 2:
            continue
        sd = r.std(axis=0) + 1e-12
        out[s] = [wasserstein_distance(r[:, j], m[:, j]) / sd[j] for j in range(real_x.shape[1])]
    return out


def discriminator_auc(real_x, real_y, real_groups, sim_x, sim_y, sim_groups, *, seed=0):
    """Per-stage AUC of real-vs-simulated classifiers, trained on half of each side's groups, tested on the rest."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    halves = []
    for groups in (real_groups, sim_groups):
        g = rng.permutation(np.unique(groups))
        halves.append(np.isin(groups, g[: len(g) // 2]))
    aucs = np.full(len(STAGES), np.nan)
    for s in range(len(STAGES)):
        parts = []
        for train in (True, False):
            r = (real_y == s) & (halves[0] == train)
            m = (sim_y == s) & (halves[1] == train)
            parts.append((np.vstack([real_x[r], sim_x[m]]), np.r_[np.ones(r.sum()), np.zeros(m.sum())]))
        (xa, ya), (xb, yb) = parts
        if min(np.bincount(ya.astype(int), minlength=2).min(), np.bincount(yb.astype(int), minlength=2).min()) < 5:
            continue
        clf = _gbm(seed).fit(xa, ya)
        aucs[s] = roc_auc_score(yb, clf.predict_proba(xb)[:, 1])
    return aucs


def transfer_kappa(train_x, train_y, test_x, test_y, *, seed=0):
    """Cohen's kappa on ``test`` of a staging classifier trained on ``train``."""
    from sklearn.metrics import cohen_kappa_score

    return float(cohen_kappa_score(test_y, _gbm(seed).fit(train_x, train_y).predict(test_x)))


def subject_cv_kappa(x, y, groups, *, folds=5, seed=0):
    """Pooled kappa of ``folds``-fold subject-wise cross-validation (every subject predicted once, held out)."""
    from sklearn.metrics import cohen_kappa_score

    subjects = np.random.default_rng(seed).permutation(np.unique(groups))
    pred = np.empty_like(y)
    for k in range(folds):
        test = np.isin(groups, subjects[k::folds])
        pred[test] = _gbm(seed).fit(x[~test], y[~test]).predict(x[test])
    return float(cohen_kappa_score(y, pred))


def distance(real, sim, *, seed=0):
    """The calibration distance between two stacked feature sets ``(x, y, groups)``.

    ``mean per-stage-and-feature W1 / real SD`` + ``mean per-stage |discriminator AUC - 0.5|`` (both 0 when the
    two sides are the same distribution). Returns (distance, W1 mean, per-stage AUCs).
    """
    w1 = float(np.nanmean(wasserstein_table(real[0], real[1], sim[0], sim[1])))
    aucs = discriminator_auc(*real, *sim, seed=seed)
    return w1 + float(np.nanmean(np.abs(aucs - 0.5))), w1, aucs
