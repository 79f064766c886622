"""What real Sleep-EDF-20 labels alone reach on DREAMS: gradient boosting on the nine per-channel features.

The night model trains on simulated nights and on the 20 real Sleep-EDF-20 nights (features only, Fpz-Cz and
Pz-Oz). This script measures the reference that needs no simulator at all: a gradient-boosting classifier
(scikit-learn's ``HistGradientBoostingClassifier``) trained on the real nights' nine features of one derivation
(plus their centred 3-epoch mean and SD, as the feature files' context columns), then scoring DREAMS excerpts 1-4
(central derivations, never trained on), pooled and per excerpt, with Cohen's kappa. It answers: how far do the
real labels this workplace has carry to a central derivation of another laboratory?

    python benchmarks/real_ceiling.py [--channels "EEG Fpz-Cz" "EEG Pz-Oz" both] [--seed 0]

Per row: the training derivation(s) ("both": the two derivations' epochs pooled as separate samples), the 5-fold
subject-wise CV kappa on the real nights (in-domain, for reference) and the DREAMS kappas. DREAMS features are
measured with the project's ``EEGVLMFeatureExtractor`` (resampled to 100 Hz; a 50-Hz excerpt's beta, gamma and
mobility are "not measured": that excerpt is scored by a model trained without those columns). Nothing here is
tuned: the classifier keeps scikit-learn's defaults (and ``random_state``). DREAMS is evaluation only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import uniform_filter1d

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import real_eeg as dreams  # noqa: E402  (the DREAMS loader)
from eeg_vlm.configuration_eeg_vlm import STAGE_LABELS  # noqa: E402

CHANNELS = {"EEG Fpz-Cz": (0,), "EEG Pz-Oz": (1,), "both": (0, 1)}  # column block(s) of the feature files


def context_columns(x: np.ndarray) -> np.ndarray:
    """``(T, 9)`` features -> ``(T, 27)``: the features, their centred 3-epoch mean and SD (as the files' columns
    36-71 define them, edges repeating the nearest epoch; NaN columns stay NaN)."""
    padded = np.concatenate([x[:1], x, x[-1:]])  # mode="nearest"
    window = np.stack([padded[:-2], padded[1:-1], padded[2:]])  # (3, T, 9)
    # the SD from the window itself: sqrt(E[x^2] - E[x]^2) cancels catastrophically on log powers near -23
    return np.column_stack([x, uniform_filter1d(x, size=3, axis=0, mode="nearest"), window.std(axis=0)])


def real_samples(source, blocks):
    """Per-night ``(features (T, 27), stages (T,), subject)`` of every real night and derivation block."""
    from eeg_vlm.simulation.sleep_edf20 import load_nights

    out = []
    for night, (x, y) in load_nights(source).items():
        for b in blocks:
            out.append((context_columns(x[:, 9 * b : 9 * b + 9]), y, int(night[3:5])))
    return out


def fit(samples, columns, seed):
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = np.concatenate([s[0][:, columns] for s in samples])
    y = np.concatenate([s[1] for s in samples])
    return HistGradientBoostingClassifier(random_state=seed).fit(x, y)


def real_cv(samples, seed) -> float:
    """5-fold subject-wise CV kappa on the real nights (every column)."""
    from sklearn.metrics import cohen_kappa_score

    subjects = sorted({s[2] for s in samples})
    truth, pred = [], []
    cols = np.arange(samples[0][0].shape[1])
    for fold in range(5):
        held = set(subjects[fold::5])
        clf = fit([s for s in samples if s[2] not in held], cols, seed)
        for s in (s for s in samples if s[2] in held):
            truth.append(s[1])
            pred.append(clf.predict(s[0]))
    return float(cohen_kappa_score(np.concatenate(truth), np.concatenate(pred)))


def dreams_features(ex: dreams.Excerpt) -> np.ndarray:
    """``(T, 27)`` of one excerpt: the extractor's nine Sleep-EDF-20 features with their context columns."""
    from eeg_vlm.feature_extraction_eeg_vlm import EEGVLMFeatureExtractor

    f = EEGVLMFeatureExtractor()(ex.signal_uv, sampling_rate=ex.sampling_rate,
                                 recorded_rate=ex.sampling_rate)["features"][:, :9].astype(np.float64)
    return context_columns(f[: ex.n_epochs])


def main(argv=None) -> int:
    from sklearn.metrics import cohen_kappa_score

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--channels", nargs="+", default=list(CHANNELS), choices=list(CHANNELS))
    p.add_argument("--real-features", default=None, help="Sleep-EDF-20 feature folder (default ../shared)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        excerpts = [dreams.load_excerpt(n) for n in sorted(dreams.SAMPLING_RATES)]
    except dreams.DreamsMissingError as err:
        print(err)
        return 1
    feats = {ex.number: dreams_features(ex) for ex in excerpts}
    print(f"{'trained on':12s} {'real CV':>8s} " + " ".join(f"{'excerpt' + str(ex.number):>9s}" for ex in excerpts)
          + f" {'pooled':>7s}")
    for channel in args.channels:
        try:
            samples = real_samples(args.real_features, CHANNELS[channel])
        except ValueError as err:  # a missing or wrong folder: said as the option the user gave
            p.error(f"--real-features: {err}")
        models, kappas, truth, pred = {}, [], [], []
        for ex in excerpts:
            x = feats[ex.number]
            cols = tuple(np.flatnonzero(np.isfinite(x).all(axis=0)))  # the columns this excerpt measures
            if cols not in models:
                models[cols] = fit(samples, list(cols), args.seed)
            keep = ex.scored
            y = np.array([STAGE_LABELS.index(s) for s in np.asarray(ex.stages, dtype=object)[keep]])
            yhat = models[cols].predict(x[keep][:, list(cols)])
            kappas.append(cohen_kappa_score(y, yhat))
            truth.append(y)
            pred.append(yhat)
        pooled = cohen_kappa_score(np.concatenate(truth), np.concatenate(pred))
        print(f"{channel:12s} {real_cv(samples, args.seed):8.3f} " + " ".join(f"{k:9.3f}" for k in kappas)
              + f" {pooled:7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
