"""Rendering speed: EEG-VLM's vectorised renderer vs a matplotlib baseline of the kind EEG-image papers use.

    python benchmarks/render.py [--epochs 2000] [--baseline-epochs 60]

The baseline draws each 30-s epoch as a line plot in one 10 x 4 in figure at 100 dpi and saves it to an
in-memory PNG. Ours renders the same epochs with the default rendering (``layout="spectral"``, 224 px: the epoch
wrapped into 5 rows of 6 s, EOG/EMG bands left blank as for an EEG-only night, and a 0.5-30 Hz log-power strip of
the epoch with one neighbour per side) to uint8 RGB arrays; the embedded model's own rendering (what
``stage_night`` draws: spectral at 160 px) and the old ``trace`` layout are timed too, for reference. Prints epochs/s of each and a line `speedup: X` (the default layout over matplotlib).
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np

from eeg_vlm import EEGVLMImageProcessor, EEGVLMProcessor, default_model_path, epochs_with_context

FS = 100.0


def synthetic_night(n_epochs: int, seed: int = 0) -> np.ndarray:
    """1/f-like EEG in uV: integrated white noise, high-passed by a moving-average subtraction."""
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.standard_normal(n_epochs * int(30 * FS)))
    x -= np.convolve(x, np.ones(200) / 200, mode="same")
    return (x * 4.0).astype(np.float32)


def bench_ours(epochs: np.ndarray, processor: EEGVLMImageProcessor, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        processor.render(epochs, FS)
        best = min(best, time.perf_counter() - t0)
    return len(epochs) / best


def bench_matplotlib(epochs: np.ndarray) -> float:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.arange(epochs.shape[-1]) / FS
    t0 = time.perf_counter()
    for ep in epochs:
        fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
        ax.plot(t, ep[0], color="black", linewidth=0.5)
        ax.set_xlim(t[0], t[-1])
        ax.set_ylim(-200, 200)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
    return len(epochs) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2000, help="epochs rendered by ours (default 2000)")
    parser.add_argument("--baseline-epochs", type=int, default=60, help="epochs rendered by matplotlib (default 60)")
    args = parser.parse_args()
    processor = EEGVLMImageProcessor()  # default rendering: spectral, 224 px, 1 channel, 1 context epoch per side
    night = synthetic_night(args.epochs)
    with_context = epochs_with_context(night, FS, processor.context_epochs)  # (E, 1, 9000)
    plain = with_context[:, :, 3000:6000]  # the scored epochs alone, for the baseline
    ours = bench_ours(with_context, processor)
    trace = bench_ours(with_context, EEGVLMImageProcessor(layout="trace"))
    embedded = EEGVLMProcessor.from_pretrained(str(default_model_path())).image_processor
    staged = bench_ours(with_context, embedded)
    baseline = bench_matplotlib(plain[: args.baseline_epochs])
    print(f"eeg-vlm renderer : {ours:10.1f} epochs/s  ({processor.layout} layout, {processor.side} px, "
          f"{with_context.shape[1]} channel, context {processor.context_epochs})")
    print(f"eeg-vlm embedded : {staged:10.1f} epochs/s  (the embedded model's: {embedded.layout} layout, "
          f"{embedded.side} px)")
    print(f"eeg-vlm trace    : {trace:10.1f} epochs/s  (the old layout, for reference)")
    print(f"matplotlib 10x4in: {baseline:10.1f} epochs/s  (100 dpi PNG)")
    print(f"speedup: {ours / baseline:.1f}")


if __name__ == "__main__":
    main()
