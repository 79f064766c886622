"""Calibrate the simulator against the real Sleep-EDF-20 nights (never DREAMS), and ship the parameters.

    python -m eeg_vlm.simulation.calibrate [--real DIR] [--nights 6] [--seed 0] [--out PATH]

1. Fit the per-stage feature model (:class:`~eeg_vlm.simulation.target_model.TargetModel`: stage means, the
   spread of real nights' levels, per-stage Gaussian-mixture residuals, their persistence and AR(1) from epoch
   to epoch) to the 20 real nights, trimmed to the standard protocol, for each candidate number of mixture
   components and variance scales.
2. Pick the candidate with the smallest distance between its features and the real ones, on the real
   hypnograms: **distance = mean over stages and the 18 features of W1 / real SD + mean per-stage |real-vs-
   simulated discriminator AUC - 0.5|** (``eeg_vlm.simulation.realism.distance``; 0 for identical
   distributions).
3. Print the distance of whole simulated nights (free-running: random hypnograms, waveforms + shaping, features
   measured on the signals) before (hand-set generator) and after (calibrated), and write the parameters
   (``calibrated.npz`` in the package by default, atomically), which the generator then uses by default.

Needs scikit-learn (``pip install eeg-vlm[train]``) and the Sleep-EDF-20 feature files
(``../shared/data/sleep-edf20-features``; the public source is github matteo-omizzolo/sleep-EDF, MIT, data
ODC-By 1.0: Kemp et al. 2000, Goldberger et al. 2000).
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np

from . import realism, sleep_edf20
from .target_model import FREE_COLUMNS, TargetModel, default_path

log = logging.getLogger(__name__)
CANDIDATES = [(8, 1.0), (8, 0.9)]  # (mixture components, residual SD scale) tried


def _with_ratios(targets):
    """Fill the derived columns 5, 6 (and 14, 15) of (n, 18) targets from their log band PSDs."""
    out = targets.copy()
    for base in (0, 9):
        out[:, base + 5] = out[:, base + 1] / (out[:, base + 2] + sleep_edf20.EPS)
        out[:, base + 6] = out[:, base + 2] / (out[:, base + 0] + sleep_edf20.EPS)
    return out


def _fake(model, nights, seed):
    """The model's targets on the real hypnograms, stacked like the real nights (same groups)."""
    rng = np.random.default_rng(seed)
    return realism.stack({name: (_with_ratios(model.sample(y, rng)), y) for name, (_, y) in nights.items()})


def target_distance(model, nights, *, seed=0):
    """Distance between the model's targets on the real hypnograms and the real features."""
    return realism.distance(realism.stack(nights), _fake(model, nights, seed), seed=seed)


def simulated_nights(n, seed, calibration):
    """``n`` free-running nights (random hypnograms), features measured on the simulated signals."""
    from .generator import draw_subject_params, simulate_epochs
    from .hypnograms import random_hypnogram

    rng = np.random.default_rng(seed)
    out = {}
    for k in range(n):
        params = draw_subject_params(rng)
        codes = random_hypnogram(rng)
        sig = simulate_epochs(codes, rng, params, calibration=calibration)
        out[f"SIM{k:02d}0"] = realism.simulated_features(sig, codes)
    return out


def calibrate(real_dir=None, *, nights=6, seed=0, out=None):
    """Fit, select, report before/after, write. Returns a dict of the distances and the chosen candidate."""
    real = sleep_edf20.load_nights(real_dir)
    t0 = time.perf_counter()
    best = None
    for k, scale in CANDIDATES:
        model = TargetModel.fit(real, components=k, seed=seed).with_scales(1.0, scale)
        d, w1, aucs = target_distance(model, real, seed=seed)
        log.info("components %d, residual scale %.2f: distance %.3f (W1 %.3f, AUC %s)", k, scale, d, w1,
                 np.round(aucs, 3))
        w1_table = realism.wasserstein_table(*realism.stack(real)[:2], *_fake(model, real, seed)[:2])
        worst = np.argsort(np.nanmax(w1_table, axis=0))[::-1][:3]
        print(f"candidate components={k} residual_scale={scale:.2f}: target distance {d:.3f} "
              f"(W1/SD {w1:.3f}, max AUC {np.nanmax(aucs):.3f}; largest W1/SD: "
              + ", ".join(f"{sleep_edf20.FEATURE_NAMES[j]} {np.nanmax(w1_table[:, j]):.2f}" for j in worst) + ")",
              flush=True)
        if best is None or d < best[0]:
            best = (d, k, scale, model)
    d_fit, k, scale, model = best
    print(f"chosen: components={k} residual_scale={scale:.2f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    stacked = realism.stack(real)
    result = {"components": k, "residual_scale": scale, "target_distance": d_fit}
    for label, calibration in (("before (hand-set generator)", None), ("after (calibrated)", model)):
        sim = realism.stack(simulated_nights(nights, seed, calibration))
        d, w1, aucs = realism.distance(stacked, sim, seed=seed)
        result[label.split()[0]] = {"distance": d, "w1": w1, "auc": aucs.tolist()}
        print(f"distance {label}: {d:.3f} = W1/SD {w1:.3f} + mean |AUC - 0.5| {d - w1:.3f}; "
              f"per-stage AUC {np.round(aucs, 3).tolist()}", flush=True)
    path = model.save(out or default_path())
    print(f"wrote {path}")
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m eeg_vlm.simulation.calibrate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--real", default=None, help="folder of Sleep-EDF-20 SCxxxxE0.npz (default ../shared/data/...)")
    ap.add_argument("--nights", type=int, default=6, help="free-running nights simulated for before/after")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help=f"parameter file (default: the package's {default_path().name})")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        calibrate(args.real, nights=args.nights, seed=args.seed, out=args.out)
    except ValueError as err:
        print(f"error: {err}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


