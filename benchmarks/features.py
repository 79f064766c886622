"""Speed of the per-epoch measurements (band powers, slow waves, spindles, K-complexes, EOG, EMG) on one night.

Run (from the project root)::

    python benchmarks/features.py [--epochs 1000] [--repeats 3]

``measure_epochs`` on ``--epochs`` 30-s epochs of 1/f noise at 100 Hz, with EOG and a 1-Hz EMG envelope, as
``stage_night`` and the dataset builder call it; then the whole feature vector of the model's feature extractor
(``EEGVLMFeatureExtractor``: the nine Sleep-EDF-20 features + the measurements) on the same epochs. Goal: < 2 s per ~1,000-epoch night on 2 cores (it used to be a
timed assertion in tests/test_features.py, which failed on busy machines; timings belong here). The median of
``--repeats`` runs and the 1-minute load average are printed: other processes on the same cores slow every run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, for `import eeg_vlm`

GOAL_SEC = 2.0
FS = 100.0


def pink(rng, n: int) -> np.ndarray:
    """1/f noise of ``n`` samples, about 20 uV RMS."""
    spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    spectrum /= np.sqrt(np.arange(n // 2 + 1) + 1.0)
    x = np.fft.irfft(spectrum, n)
    return 20.0 * x / x.std()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=1000, help="30-s epochs to measure (default 1000)")
    ap.add_argument("--repeats", type=int, default=3, help="runs; the median is reported (default 3)")
    args = ap.parse_args(argv)
    if args.epochs < 1 or args.repeats < 1:
        ap.error("--epochs and --repeats: expected positive integers")
    from eeg_vlm.dataset_builder.features import measure_epochs
    from eeg_vlm.feature_extraction_eeg_vlm import EEGVLMFeatureExtractor

    rng = np.random.default_rng(0)
    eeg = np.stack([pink(rng, int(30 * FS)) for _ in range(args.epochs)])
    emg = np.abs(eeg[:, :30])  # a 1-Hz envelope, as Sleep-EDFx stores the chin EMG
    extractor = EEGVLMFeatureExtractor()
    for name, run in (("measure_epochs", lambda: measure_epochs(eeg, FS, eog_epochs=eeg, emg_epochs=emg)),
                      ("EEGVLMFeatureExtractor", lambda: extractor(eeg, sampling_rate=FS, eog=eeg, emg=emg))):
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        median = float(np.median(times))
        print(f"{name}: {median:.2f} s for {args.epochs} epochs (median of {args.repeats}: "
              f"{', '.join(f'{t:.2f}' for t in times)} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
              f"cores) [goal < {GOAL_SEC:g} s per 1,000 epochs: "
              f"{'met' if median * 1000 / args.epochs < GOAL_SEC else 'NOT met'}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
