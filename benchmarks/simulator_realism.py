"""Simulator realism: per-stage feature medians of simulated nights next to real DREAMS EEG.

Run (from the project root):

    python benchmarks/simulator_realism.py [--nights 4] [--seed 0]

Simulated side: ``--nights`` random nights (simulate_epochs + random_hypnogram), channel
EEG Fpz-Cz (+ EOG, 1-Hz EMG envelope).  Real side: the four DREAMS Sleep Spindles excerpts in
``../shared/data/dreams-spindles`` (C3-A1 / CZ-A1 at 50-200 Hz, 5-s R&K stages, majority of six
-> 30-s epochs; no REM, EOG or EMG in these excerpts).  DREAMS is central and referential while
Sleep-EDFx is frontal bipolar (Fpz-Cz), so amplitudes are not expected to match exactly.
Also prints the spindle detector's agreement with the two DREAMS experts.

DREAMS is CC BY-NC-ND: this script only prints numbers; it writes nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from eeg_vlm import measurements_eeg_vlm  # noqa: E402
from eeg_vlm.dataset_builder import features  # noqa: E402
from eeg_vlm.simulation import generator as simulate  # noqa: E402
from eeg_vlm.simulation.hypnograms import random_hypnogram  # noqa: E402

DREAMS = Path(__file__).resolve().parents[2] / "shared" / "data" / "dreams-spindles"
RATES = {1: 100, 2: 200, 3: 50, 4: 200}  # Hz, from ../shared/README.md
RK_DREAMS = {5: "W", 4: "REM", 3: "N1", 2: "N2", 1: "N3", 0: "N3"}
RK_SIM = {"W": "W", "1": "N1", "2": "N2", "3": "N3", "4": "N3", "R": "REM"}
STAGES = ("W", "N1", "N2", "N3", "REM")


def simulated(n_nights, seed):
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n_nights):
        params = simulate.draw_subject_params(rng)
        codes = random_hypnogram(rng)
        sig = simulate.simulate_epochs(codes, rng, params)
        n = len(codes)
        df = features.measure_epochs(
            sig["EEG Fpz-Cz"].reshape(n, -1), simulate.FS,
            eog_epochs=sig["EOG horizontal"].reshape(n, -1),
            emg_epochs=simulate.emg_envelope(sig["EMG submental"]).reshape(n, -1))
        df["stage"] = [RK_SIM.get(c) for c in codes]  # movement time -> None (dropped)
        frames.append(df.dropna(subset=["stage"]))
    return pd.concat(frames, ignore_index=True)


def dreams_excerpt(i):
    fs = RATES[i]
    x = np.loadtxt(DREAMS / f"excerpt{i}.txt", skiprows=1)
    hyp = np.loadtxt(DREAMS / f"Hypnogram_excerpt{i}.txt", skiprows=1).astype(int)
    n = min(len(hyp) // 6, len(x) // (30 * fs))
    stages = []
    for k in range(n):
        vals, counts = np.unique(hyp[6 * k:6 * k + 6], return_counts=True)
        stages.append(RK_DREAMS.get(int(vals[np.argmax(counts)])))  # -1/-2 unknown -> None
    return x[: n * 30 * fs].reshape(n, 30 * fs), fs, stages


def real():
    frames = []
    for i in RATES:
        epochs, fs, stages = dreams_excerpt(i)
        df = features.measure_epochs(epochs, fs)
        df["stage"] = stages
        frames.append(df.dropna(subset=["stage"]))
    return pd.concat(frames, ignore_index=True)


def _hit(a, b):
    """Does event ``a`` (start, end in s) overlap any row of ``b``?"""
    return bool(np.any((b[:, 0] < a[1]) & (b[:, 1] > a[0]))) if len(b) else False


def spindle_agreement():
    """Event-level recall/precision/F1 of the spindle detector against each DREAMS expert."""
    rows = []
    for i in RATES:
        epochs, fs, _ = dreams_excerpt(i)
        epochs = epochs - epochs.mean(axis=1, keepdims=True)
        _, keep, s, e = measurements_eeg_vlm._spindle_events(epochs, fs)
        det = np.c_[s[keep], e[keep]] / fs
        for scorer in (1, 2):
            path = DREAMS / f"Visual_scoring{scorer}_excerpt{i}.txt"
            if not path.is_file():
                continue
            marks = np.loadtxt(path, skiprows=1, ndmin=2)
            if len(marks) == 0:
                continue
            truth = np.c_[marks[:, 0], marks[:, 0] + marks[:, 1]]
            rec = np.mean([_hit(t, det) for t in truth])
            prec = np.mean([_hit(d, truth) for d in det]) if len(det) else 0.0
            f1 = 2 * rec * prec / (rec + prec) if rec + prec else 0.0
            rows.append({"excerpt": i, "scorer": scorer, "expert": len(truth),
                         "detected": len(det), "recall": rec, "precision": prec, "f1": f1})
    return pd.DataFrame(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nights", type=int, default=4, help="random simulated nights (default 4)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    t0 = time.perf_counter()
    sim = simulated(args.nights, args.seed)
    print(f"simulated: {args.nights} nights, {len(sim)} epochs "
          f"({time.perf_counter() - t0:.1f} s incl. features), EEG Fpz-Cz")
    table = {("sim", s): sim[sim.stage == s][list(features.FEATURE_NAMES)].median()
             for s in STAGES}
    counts = {"sim": sim.stage.value_counts()}
    if DREAMS.is_dir():
        rl = real()
        counts["DREAMS"] = rl.stage.value_counts()
        table.update({("DREAMS", s): rl[rl.stage == s][list(features.FEATURE_NAMES)].median()
                      for s in STAGES if (rl.stage == s).any()})
    else:
        print(f"../shared/data missing: {DREAMS} not found, simulated side only")
    out = pd.DataFrame(table)
    out.loc["n_epochs"] = [counts[src].get(stage, 0) for src, stage in out.columns]
    print("\nmedian per stage (uV, fractions, counts per 30-s epoch)")
    print(out.round(3).to_string())
    if DREAMS.is_dir():
        agree = spindle_agreement()
        print("\nspindle detector vs DREAMS experts (event overlap)")
        print(agree.round(2).to_string(index=False))
        print(f"mean F1 {agree.f1.mean():.2f}")


if __name__ == "__main__":
    main()
