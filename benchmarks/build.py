"""Dataset-build speed: seconds to render one night into dataset rows, and peak RSS.

    python benchmarks/build.py [--hours 8] [--seed 0]

Simulates one Sleep-EDFx-format night (about 8 h of scored sleep plus the wake margins), then times
`build_dataset` on it (read EDF, measure features, write the Chain-of-Thought, render, PNG-encode, save).
Goal: < 10 s per night on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from eeg_vlm.dataset_builder.build import build_dataset
from eeg_vlm.simulation import simulate_random


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=None, help="hours kept per night (default: whole night)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "sim"
        simulate_random(src, n_subjects=1, seed=args.seed, nights_per_subject=1, hours=args.hours)
        t0 = time.perf_counter()
        ds = build_dataset(src, Path(tmp) / "ds", progress=False)
        seconds = time.perf_counter() - t0
    n = sum(len(d) for d in ds.values())
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"epochs: {n}")
    print(f"build seconds per night: {seconds:.2f}")
    print(f"epochs/s: {n / seconds:.0f}")
    print(f"peak RSS: {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
