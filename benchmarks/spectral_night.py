"""Spectral visual side + night model: the step after the rendering ablation, measured, not shipped.

    python benchmarks/spectral_night.py --sim runs/rd/sim --night-cache runs/night/cache \
        --eeg-cache runs/ablation-render/eeg-fpz-cz.npz --out runs/spec160

1. Trains the embedded model's ``small`` visual side + stage head (phase 1 of ``default-model``) on every training
   epoch of ``--sim`` (EEG Fpz-Cz, subject-wise split as the builder's, seed 0) rendered with the ablation's best
   layout, ``EEGVLMImageProcessor(layout="spectral", size=160, row_seconds=3.75)``, 2 passes;
2. recomputes the pooled visual tokens of every cached night-derivation of ``python -m eeg_vlm.train night``
   (``--night-cache``; its measured features are reused) with that visual side;
3. trains the night encoder as the shipped recipe did then (simulated nights + the 20 real Sleep-EDF-20 feature
   sequences once per pass, 15 passes) and prints the held-out simulated kappa of the per-epoch head and of the
   night model, and
   DREAMS 1-4 (evaluation only, nothing written from it) pooled kappa and wake called REM.
The words (LM, projector) are not trained here: the result is a stage model, not a shippable explainer.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, for `import eeg_vlm`
sys.path.insert(0, str(Path(__file__).resolve().parent))
import ablation_render as ab

from eeg_vlm import EEGVLMForConditionalGeneration, EEGVLMImageProcessor, EEGVLMProcessor
from eeg_vlm.dataset_builder.build import split_subjects
from eeg_vlm.dataset_builder.sleep_edfx import pair_files, read_night
from eeg_vlm.train import modeling_setup
from eeg_vlm.train import night as N
from eeg_vlm.train import night_data as nd
from eeg_vlm.train.default_model import train_visual_side
from eeg_vlm.train.evaluate import classification_metrics

RENDERER = {"layout": "spectral", "size": 160, "row_seconds": 3.75}  # the rendering ablation's best arm


def train_spectral_side(args, vis: Path) -> None:
    """Phase 1 (visual side + stage head) on every training epoch, 2 passes, saved to ``vis``."""
    windows, stages, subjects = ab.load_nights(Path(args.sim), Path(args.eeg_cache))
    assignment = split_subjects(subjects, seed=0)
    split = np.array([assignment[int(s)] for s in subjects])
    renderer = EEGVLMImageProcessor(**RENDERER)
    torch.manual_seed(0)
    corpus = ["Stage: W", "Stage: N1", "Stage: N2", "Stage: N3", "Stage: REM"] * 4  # the LM is not trained here
    model, processor = modeling_setup.build_from_preset("small", corpus, renderer.to_dict(), split_digits=False)
    tr, va = np.nonzero(split == "train")[0], np.nonzero(split == "validation")[0]
    t0 = time.time()
    train_visual_side(model, processor, ab.RenderedEpochs(windows[tr], stages[tr], renderer),
                      ab.RenderedEpochs(windows[va], stages[va], renderer), epochs=2, batch_size=64, seed=0)
    print("phase1 min", (time.time() - t0) / 60, flush=True)
    model.save_pretrained(vis)
    processor.save_pretrained(vis)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sim", required=True)
    p.add_argument("--night-cache", required=True, help="the cache folder of `python -m eeg_vlm.train night`")
    p.add_argument("--eeg-cache", required=True, help="benchmarks/ablation_render.py's EEG cache (.npz; made if absent)")
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    vis = out / "visual"
    if not (vis / "model.safetensors").exists():
        train_spectral_side(args, vis)
    model = EEGVLMForConditionalGeneration.from_pretrained(vis).eval()
    processor = EEGVLMProcessor.from_pretrained(vis)
    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    for files in pair_files(args.sim):  # new pooled tokens; the measured features are the night run's
        for ch in nd.SIM_CHANNELS:
            name = f"{files.psg.name.split('-')[0]}__{ch.replace(' ', '_')}.npz"
            if (cache / name).exists():
                continue
            seq = nd._load(Path(args.night_cache) / name)
            night = read_night(files.psg, files.hypnogram, channels=(ch,))
            seq.image_embeds = nd._pooled(model, processor.image_processor, night, ch)
            nd._save(cache / name, seq)
    print("cache min", (time.time() - t0) / 60, flush=True)
    sims = [nd._load(f) for f in sorted(cache.glob("*.npz"))]
    split = N.split_sequences(sims + nd.real_feature_sequences())
    test = [s for s in split["test"] if s.source == "sim"]
    y = np.concatenate([s.stages for s in test])
    head = classification_metrics(y, np.concatenate([N.stage_head_probs(model, s).argmax(-1) for s in test]))
    # the night recipe of the time of its README figures: real sequences once per pass, no montage gain, no
    # per-night scaled features (today's defaults: 3 repeats, REAL_GAIN, night_feature_scale)
    nd.REAL_GAIN = nd.REAL_TILT = 0.0
    N.add_night_encoder(model, feature_scale=False, seed=0)
    record = N.train_night_encoder(model, split["train"], split["validation"], epochs=15, seed=0, real_repeats=1,
                                   progress=False)
    res = {"head": head, "night": N.score(model, test), "best_val": record["best_val_kappa"]}
    model.save_pretrained(out / "night")
    processor.save_pretrained(out / "night")
    per_epoch = EEGVLMForConditionalGeneration.from_pretrained(vis).eval()
    res["dreams_head"] = ab.dreams_scores(per_epoch, processor, args.threads)
    res["dreams_night"] = ab.dreams_scores(model, processor, args.threads)
    for k in ("head", "night"):
        print(k, "held-out kappa", round(res[k]["cohen_kappa"], 3), "mF1", round(res[k]["macro_f1"], 3))
    for k in ("dreams_head", "dreams_night"):
        print(k, {a: res[k][a] for a in ("cohen_kappa", "wake_to_rem", "wake_n")})
    (out / "result.json").write_text(json.dumps(res, indent=1, default=str))


if __name__ == "__main__":
    main()
