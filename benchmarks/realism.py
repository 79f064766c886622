"""Simulator realism against the real Sleep-EDF-20 nights, on their 18 per-epoch features.

Run (from the project root; needs ../shared/data/sleep-edf20-features and scikit-learn):

    python benchmarks/realism.py [--nights 8] [--seed 0] [--generator calibrated|hand]

Simulated side: ``--nights`` free-running nights (random hypnograms, one subject each, NOT replayed), channels
EEG Fpz-Cz and EEG Pz-Oz, the 18 features computed from their definitions (``eeg_vlm.simulation.sleep_edf20``),
both sides trimmed to the standard protocol (30 min of wake around the sleep period).  Prints:

- per-stage medians in physical units, real | simulated: band PSD means in uV^2/Hz, SD in uV, Hjorth mobility;
- real->real kappa: gradient boosting, 5-fold subject-wise cross-validation on the 20 real nights (the ceiling);
- real->sim kappa (trained on the real nights, tested on the simulated ones) and sim->real kappa;
- per-stage real-vs-simulated discriminator AUC, trained on half the nights of each side, scored on the other half.

The last two lines are ``sim->real kappa: X`` and ``max discriminator AUC: Y``.
``--generator hand`` runs the uncalibrated generator (no shaping to the fitted real distributions).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from eeg_vlm.simulation import realism, sleep_edf20  # noqa: E402
from eeg_vlm.simulation.calibrate import simulated_nights  # noqa: E402


def median_table(x, y, label):
    """Per-stage medians in physical units: band PSDs in uV^2/Hz, SD in uV, mobility."""
    rows = {}
    for c, ch in enumerate(("Fpz", "Pz")):
        cols = x[:, 9 * c:9 * c + 9]
        for b, band in enumerate(sleep_edf20.BANDS):
            rows[f"{ch} {band} uV2/Hz"] = sleep_edf20.band_psd_uv2(cols[:, b])
        rows[f"{ch} SD uV"] = np.sqrt(np.maximum(np.exp(cols[:, 7]) - sleep_edf20.EPS, 0)) * 1e6
        rows[f"{ch} mobility"] = cols[:, 8]
    frame = pd.DataFrame(rows)
    return pd.DataFrame({(label, s): frame[y == i].median() for i, s in enumerate(sleep_edf20.STAGES)})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nights", type=int, default=8, help="free-running simulated nights (default 8)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--generator", choices=("calibrated", "hand"), default="calibrated",
                    help="calibrated (default, the shipped parameters) or hand (no calibration)")
    ap.add_argument("--real", default=None, help="folder of Sleep-EDF-20 SCxxxxE0.npz (default ../shared/data/...)")
    args = ap.parse_args(argv)
    if args.real is None and sleep_edf20.default_dir() is None:
        raise SystemExit("../shared/data/sleep-edf20-features not found: pass --real DIR")
    real = realism.stack(sleep_edf20.load_nights(args.real))
    t0 = time.perf_counter()
    sim = realism.stack(simulated_nights(args.nights, args.seed, "default" if args.generator == "calibrated" else None))
    print(f"simulated ({args.generator}): {args.nights} nights, {len(sim[1])} epochs after the trim "
          f"({time.perf_counter() - t0:.0f} s); real: 20 nights, {len(real[1])} epochs")
    pd.set_option("display.width", 250)
    table = pd.concat([median_table(real[0], real[1], "real"), median_table(sim[0], sim[1], "sim")], axis=1)
    table = table[[(src, s) for s in sleep_edf20.STAGES for src in ("real", "sim")]]
    table.columns = [f"{s} {src}" for src, s in table.columns]
    print("\nmedian per stage, real | simulated")
    print(table.to_string(float_format=lambda v: f"{v:.3g}"))
    counts = {src: np.bincount(d[1], minlength=5) for src, d in (("real", real), ("sim", sim))}
    print("epochs per stage:", {src: dict(zip(sleep_edf20.STAGES, c.tolist())) for src, c in counts.items()})
    w1 = realism.wasserstein_table(real[0], real[1], sim[0], sim[1])
    print("\nmean W1 / real SD per stage:", dict(zip(sleep_edf20.STAGES, np.round(np.nanmean(w1, axis=1), 3))))
    aucs = realism.discriminator_auc(*real, *sim, seed=args.seed)
    print("discriminator AUC per stage:", dict(zip(sleep_edf20.STAGES, np.round(aucs, 3))))
    print(f"real->real kappa (5-fold subject-wise CV): {realism.subject_cv_kappa(*real, seed=args.seed):.3f}")
    print(f"real->sim kappa: {realism.transfer_kappa(real[0], real[1], sim[0], sim[1], seed=args.seed):.3f}")
    # AUC below 0.5 on the held-out half is night-level structure that flips between halves, not realism: this
    # line reads separability in either direction
    print(f"max |AUC - 0.5| + 0.5 (separable either way): {0.5 + np.nanmax(np.abs(aucs - 0.5)):.3f}")
    print(f"sim->real kappa: {realism.transfer_kappa(sim[0], sim[1], real[0], real[1], seed=args.seed):.3f}")
    print(f"max discriminator AUC: {np.nanmax(aucs):.3f}")


if __name__ == "__main__":
    main()
