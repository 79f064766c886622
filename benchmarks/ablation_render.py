"""Rendering ablation: the same visual side + stage head, trained with the same data and budget on each layout.

    nice -n 10 python benchmarks/ablation_render.py --sim runs/rd/sim --out runs/ablation-render \
        [--arms trace spectral spectral-nostrip spectral-160] [--train-epochs 12000] [--passes 2] [--threads 1]

Each arm builds the embedded model's ``small`` preset (CLIP-style tower, enhancement, alignment, stage head) with
that arm's image processor and trains it with phase 1 of ``eeg_vlm.train.default_model``
(:func:`~eeg_vlm.train.default_model.train_visual_side`, class-weighted stage loss + alignment loss, best
validation macro-F1 kept) on the same seeded subset of training epochs for the same number of passes. The
nights (Sleep-EDFx layout, e.g. the 20 replayed Sleep-EDF-20 nights + calibrated simulated subjects) are split
subject-wise exactly as ``python -m eeg_vlm.dataset_builder build`` splits them (seed 0, 70/15/15), and the
epochs are rendered on the fly from EEG Fpz-Cz with one neighbour per side (EEG only: ``stage_night`` renders
the EEG alone).

Reported per arm: held-out (test subjects) simulated macro-F1 and Cohen's kappa; DREAMS excerpts 1-4 (evaluation
only, read where they lie by ``benchmarks/real_eeg.py``, never trained or tuned on, nothing written from them)
staged by ``eeg_vlm.stage_night`` with the arm's model: pooled kappa and the number of wake epochs called REM;
and the staging cost (render + stage head, ms per epoch, ``--threads`` torch threads, measured for all arms
together at the end, interleaved, best of 3, so a shared machine's load falls on each alike). Resumable: each
arm's result is written to ``OUT/<arm>.json`` and skipped when present; the table is printed at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, for `import eeg_vlm`
sys.path.insert(0, str(Path(__file__).resolve().parent))

logger = logging.getLogger("ablation_render")

# arm -> (image processor options, patch size); the small preset's tower otherwise
ARMS = {
    "trace": (dict(layout="trace"), 32),  # the shipped model's rendering (0.25 s/px, one line)
    "spectral": (dict(layout="spectral"), 32),  # the new default: 5 rows of 6 s + EOG/EMG bands + strip
    "spectral-nostrip": (dict(layout="spectral", spectrogram_height=0), 32),  # rows only: is the strip needed?
    "spectral-160": (dict(layout="spectral", size=160, row_seconds=3.75), 32),  # 8 rows, 43 px/s; 25 patches
    "spectral-p16": (dict(layout="spectral"), 16),  # 196 patches: finer, ~4x the tower's cost
}
CHANNEL = "EEG Fpz-Cz"


class RenderedEpochs:
    """The part of ``datasets.Dataset`` that phase 1 uses (``len``, ``["stage"]``, ``select``), rendering each
    selected epoch on the fly with the arm's image processor instead of decoding stored PNGs."""

    def __init__(self, windows: np.ndarray, stages: np.ndarray, renderer):
        self.windows, self.stages, self.renderer = windows, stages, renderer  # (N, 1, S), (N,)

    def __len__(self) -> int:
        return len(self.stages)

    def __getitem__(self, key):
        if key != "stage":
            raise KeyError(key)
        return [int(s) for s in self.stages]

    def select(self, indices):
        return _Rows(self, np.asarray(list(indices), dtype=np.int64))


class _Rows:
    def __init__(self, parent: RenderedEpochs, idx: np.ndarray):
        self.parent, self.idx = parent, idx
        self._images = None

    def images(self):
        if self._images is None:
            self._images = list(self.parent.renderer.render(self.parent.windows[self.idx], 100.0))
        return self._images

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, key):
        if key == "image":
            return self.images()
        if key == "stage":
            return [int(s) for s in self.parent.stages[self.idx]]
        raise KeyError(key)

    def __iter__(self):
        return iter({"image": im} for im in self.images())


def load_nights(sim: Path, cache: Path):
    """EEG windows (N, 1, 9000) float32 with one neighbour per side, stages (N,), subjects (N,); cached as .npz."""
    from eeg_vlm.configuration_eeg_vlm import STAGE_LABELS
    from eeg_vlm.dataset_builder.sleep_edfx import pair_files, read_night

    if cache.exists():
        d = np.load(cache)
        return d["windows"], d["stages"], d["subjects"]
    windows, stages, subjects = [], [], []
    for files in pair_files(sim):
        night = read_night(files.psg, files.hypnogram, channels=(CHANNEL,))
        if night.sampling_rates[CHANNEL] != 100:
            raise ValueError(f"sim: {files.psg.name} has {CHANNEL} at {night.sampling_rates[CHANNEL]} Hz, expected 100.")
        windows.append(np.stack([night.epoch_with_context(CHANNEL, i, context=1) for i in range(len(night))])[:, None])
        stages.append(np.array([STAGE_LABELS.index(s) for s in night.stages]))
        subjects.append(np.full(len(night), files.subject))
        logger.info("read %s: %d epochs", files.name, len(night))
    out = dict(windows=np.concatenate(windows), stages=np.concatenate(stages), subjects=np.concatenate(subjects))
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, **out)
    os.replace(tmp, cache)  # atomic
    return out["windows"], out["stages"], out["subjects"]


def dreams_scores(model, processor, threads: int) -> dict:
    """DREAMS 1-4 staged by ``stage_night`` with this model: pooled kappa, macro-F1, wake->REM count, seconds."""
    import real_eeg as dreams
    from compare_yasa import metrics

    import eeg_vlm

    truth, pred, t0 = [], [], time.perf_counter()
    for number in sorted(dreams.SAMPLING_RATES):
        ex = dreams.load_excerpt(number)
        res = eeg_vlm.stage_night(ex.signal_uv, sampling_rate=ex.sampling_rate, channel_names=[ex.channel],
                                  model=(model, processor), progress=False, num_threads=threads)
        keep = ex.scored
        truth += [s for s, k in zip(ex.stages, keep) if k]
        pred += [s for s, k in zip(res.stages, keep) if k]
    m = metrics(truth, pred)
    m["wake_to_rem"] = int(sum(t == "W" and p == "REM" for t, p in zip(truth, pred)))
    m["wake_n"] = int(sum(t == "W" for t in truth))
    m["seconds"] = round(time.perf_counter() - t0, 1)
    return m


def run_arm(name, windows, stages, split, args) -> dict:
    import torch

    from eeg_vlm import EEGVLMImageProcessor
    from eeg_vlm.train import modeling_setup
    from eeg_vlm.train.default_model import train_visual_side
    from eeg_vlm.train.evaluate import classification_metrics, stage_head_predictions

    options, patch = ARMS[name]
    renderer = EEGVLMImageProcessor(**options)
    preset = "small" if patch == 32 else f"small-p{patch}"
    if preset not in modeling_setup.PRESETS:  # the small preset with another patch size (same tower otherwise)
        modeling_setup.PRESETS[preset] = dict(modeling_setup.PRESETS["small"], patch_size=patch)
    torch.manual_seed(args.seed)
    corpus = ["Stage: W", "Stage: N1", "Stage: N2", "Stage: N3", "Stage: REM"] * 4  # the LM is not trained here
    model, processor = modeling_setup.build_from_preset(preset, corpus, renderer.to_dict(), split_digits=False)
    rng = np.random.default_rng(args.seed)
    train_idx = np.nonzero(split == "train")[0]
    if args.train_epochs and args.train_epochs < len(train_idx):  # the same seeded subset for every arm
        train_idx = np.sort(rng.choice(train_idx, args.train_epochs, replace=False))
    val_idx, test_idx = np.nonzero(split == "validation")[0], np.nonzero(split == "test")[0]
    train = RenderedEpochs(windows[train_idx], stages[train_idx], renderer)
    val = RenderedEpochs(windows[val_idx], stages[val_idx], renderer)
    test = RenderedEpochs(windows[test_idx], stages[test_idx], renderer)
    t0 = time.perf_counter()
    info = train_visual_side(model, processor, train, val, epochs=args.passes, batch_size=64, seed=args.seed,
                             progress=not args.quiet)
    train_min = (time.perf_counter() - t0) / 60
    model.eval()
    t0 = time.perf_counter()
    with torch.inference_mode():
        probs = stage_head_predictions(model, processor, test, batch_size=64, progress=False)
    ms_per_epoch = (time.perf_counter() - t0) / len(test) * 1e3
    held_out = classification_metrics(test.stages, probs.argmax(-1))
    result = {"arm": name, "image_processor": options, "patch_size": patch, "image_size": renderer.side,
              "train_epochs": len(train), "passes": args.passes, "train_minutes": round(train_min, 1),
              "staging_ms_per_epoch": round(ms_per_epoch, 2), "threads": args.threads,
              "held_out": {k: held_out[k] for k in ("n", "accuracy", "macro_f1", "cohen_kappa", "confusion_matrix")},
              "phase1": info, "test_subjects": sorted({int(s) for s in args.subjects[test_idx]})}
    try:
        result["dreams_1_4"] = dreams_scores(model, processor, args.threads)
    except FileNotFoundError as err:  # a clone without ../shared/data: the simulated figures still stand
        logger.warning("DREAMS skipped: %s", err)
        result["dreams_1_4"] = None
    return result


def staging_costs(arms, windows: np.ndarray, threads: int, rounds: int = 3) -> dict:
    """ms per epoch of render + stage head for each arm's renderer and (untrained: the cost is the same) tower on
    the same 256 epochs, the arms interleaved and the best of ``rounds`` kept, so that a shared machine's changing
    load falls on every arm alike."""
    import torch

    from eeg_vlm import EEGVLMImageProcessor
    from eeg_vlm.train import modeling_setup

    built = {}
    for name in arms:
        options, patch = ARMS[name]
        preset = "small" if patch == 32 else f"small-p{patch}"
        modeling_setup.PRESETS.setdefault(preset, dict(modeling_setup.PRESETS["small"], patch_size=patch))
        model, processor = modeling_setup.build_from_preset(preset, ["Stage: W"] * 4,
                                                            EEGVLMImageProcessor(**options).to_dict(),
                                                            split_digits=False)
        built[name] = (model.eval(), processor.image_processor)
    batch = windows[:256]
    best = {name: float("inf") for name in arms}
    with torch.inference_mode():
        for _ in range(rounds):
            for name, (model, renderer) in built.items():
                t0 = time.perf_counter()
                for i in range(0, len(batch), 64):
                    pixels = torch.from_numpy(renderer.to_pixel_values(renderer.render(batch[i : i + 64], 100.0)))
                    model.classify(pixels)
                best[name] = min(best[name], (time.perf_counter() - t0) / len(batch) * 1e3)
    return {name: round(v, 2) for name, v in best.items()}


def print_table(results: list[dict]) -> None:
    print("| arm | image / patch | held-out macro-F1 | held-out kappa | DREAMS 1-4 kappa | DREAMS W->REM | "
          "render + stage head ms/epoch | train min |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        d = r["dreams_1_4"] or {}
        print(f"| {r['arm']} | {r['image_size']} / {r['patch_size']} | {r['held_out']['macro_f1']:.3f} | "
              f"{r['held_out']['cohen_kappa']:.3f} | {d.get('cohen_kappa', float('nan')):.3f} | "
              f"{d.get('wake_to_rem', '-')} of {d.get('wake_n', '-')} | {r.get('cost_ms', float('nan')):.2f} | "
              f"{r['train_minutes']:.1f} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n")[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sim", required=True, help="folder of Sleep-EDFx-layout nights (PSG + hypnogram EDF)")
    p.add_argument("--out", required=True, help="work folder: the EEG cache and one result JSON per arm")
    p.add_argument("--arms", nargs="+", default=["trace", "spectral", "spectral-nostrip", "spectral-160"],
                   choices=sorted(ARMS))
    p.add_argument("--train-epochs", type=int, default=12000, help="training epochs (seeded subset; 0: all)")
    p.add_argument("--passes", type=int, default=2, help="passes over them (phase-1 epochs)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    import torch

    from eeg_vlm.dataset_builder.build import split_subjects

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    windows, stages, subjects = load_nights(Path(args.sim), out / "eeg-fpz-cz.npz")
    args.subjects = subjects
    which = split_subjects(subjects, seed=args.seed)  # as the dataset builder: subject-wise, 70/15/15
    split = np.array([which[int(s)] for s in subjects])
    logger.info("epochs: %s", {k: int((split == k).sum()) for k in ("train", "validation", "test")})
    results = []
    for name in args.arms:
        path = out / f"{name}.json"
        if not path.exists():
            logger.info("arm %s", name)
            result = run_arm(name, windows, stages, split, args)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(result, indent=1))
            os.replace(tmp, path)
        results.append(json.loads(path.read_text()))
    costs = staging_costs(args.arms, windows, args.threads)  # measured together: the same load for every arm
    for r in results:
        r["cost_ms"] = costs[r["arm"]]
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
