"""Spectral visual side + night model: the step after the rendering ablation, measured, not shipped.

    python benchmarks/spectral_night.py --sim runs/rd/sim --night-cache runs/night/cache \
        --eeg-cache runs/ablation-render/eeg-fpz-cz.npz --out runs/spec160

1. Trains the embedded model's ``small`` visual side + stage head (phase 1 of ``default-model``) on every training
   epoch of ``--sim`` (EEG Fpz-Cz, subject-wise split as the builder's, seed 0) rendered with the ablation's best
   layout, ``EEGVLMImageProcessor(layout="spectral", size=160, row_seconds=3.75)``, 2 passes;
2. recomputes the pooled visual tokens of every cached night-derivation of ``python -m eeg_vlm.train night``
   (``--night-cache``; its measured features are reused) with that visual side;
3. trains the night encoder as the shipped recipe does (simulated nights + the 20 real Sleep-EDF-20 feature
   sequences, 15 passes) and prints the held-out simulated kappa of the per-epoch head and of the night model, and
   DREAMS 1-4 (evaluation only, nothing written from it) pooled kappa and wake called REM.
The words (LM, projector) are not trained here: the result is a stage model, not a shippable explainer.
"""
import argparse, sys, json, time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import ablation_render as ab  # noqa: E402
from eeg_vlm import EEGVLMImageProcessor  # noqa: E402
from eeg_vlm.dataset_builder.build import split_subjects  # noqa: E402
from eeg_vlm.dataset_builder.sleep_edfx import pair_files, read_night  # noqa: E402
from eeg_vlm.train import modeling_setup  # noqa: E402
from eeg_vlm.train import night as N  # noqa: E402
from eeg_vlm.train import night_data as nd  # noqa: E402
from eeg_vlm.train.default_model import train_visual_side  # noqa: E402

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
windows, stages, subjects = ab.load_nights(Path(args.sim), Path(args.eeg_cache))
sp = split_subjects(subjects, seed=0); split = np.array([sp[int(s)] for s in subjects])
renderer = EEGVLMImageProcessor(layout="spectral", size=160, row_seconds=3.75)
if not (vis / "model.safetensors").exists():
    torch.manual_seed(0)
    corpus = ["Stage: W", "Stage: N1", "Stage: N2", "Stage: N3", "Stage: REM"] * 4
    model, processor = modeling_setup.build_from_preset("small", corpus, renderer.to_dict(), split_digits=False)
    tr, va = np.nonzero(split == "train")[0], np.nonzero(split == "validation")[0]
    t0 = time.time()
    info = train_visual_side(model, processor, ab.RenderedEpochs(windows[tr], stages[tr], renderer),
                             ab.RenderedEpochs(windows[va], stages[va], renderer), epochs=2, batch_size=64, seed=0)
    print("phase1 min", (time.time() - t0) / 60, flush=True)
    model.save_pretrained(vis); processor.save_pretrained(vis)
del windows
from eeg_vlm import EEGVLMForConditionalGeneration, EEGVLMProcessor
model = EEGVLMForConditionalGeneration.from_pretrained(vis).eval()
processor = EEGVLMProcessor.from_pretrained(vis)
cache = out / "cache"; cache.mkdir(exist_ok=True)
t0 = time.time()
for files in pair_files(args.sim):
    for ch in nd.SIM_CHANNELS:
        name = f"{files.psg.name.split('-')[0]}__{ch.replace(' ', '_')}.npz"
        if (cache / name).exists(): continue
        old = nd._load(Path(args.night_cache) / name)
        night = read_night(files.psg, files.hypnogram, channels=(ch,))
        old.image_embeds = nd._pooled(model, processor.image_processor, night, ch)
        nd._save(cache / name, old)
print("cache min", (time.time() - t0) / 60, flush=True)
sims = [nd._load(p) for p in sorted(cache.glob("*.npz"))]
reals = nd.real_feature_sequences()
s = N.split_sequences(sims + reals)
test = [x for x in s["test"] if x.source == "sim"]
y = np.concatenate([x.stages for x in test])
from eeg_vlm.train.evaluate import classification_metrics
head = classification_metrics(y, np.concatenate([N.stage_head_probs(model, x).argmax(-1) for x in test]))
N.add_night_encoder(model, seed=0)
rec = N.train_night_encoder(model, s["train"], s["validation"], epochs=15, seed=0, progress=False)
res = {"head": head, "night": N.score(model, test), "best_val": rec["best_val_kappa"]}
model.save_pretrained(out / "night"); processor.save_pretrained(out / "night")
res["dreams_head"] = ab.dreams_scores(EEGVLMForConditionalGeneration.from_pretrained(vis).eval(), processor, args.threads)
res["dreams_night"] = ab.dreams_scores(model, processor, args.threads)
for k in ("head", "night"):
    print(k, "held-out kappa", round(res[k]["cohen_kappa"], 3), "mF1", round(res[k]["macro_f1"], 3))
for k in ("dreams_head", "dreams_night"):
    print(k, {a: res[k][a] for a in ("cohen_kappa", "wake_to_rem", "wake_n")})
(out / "result.json").write_text(json.dumps(res, indent=1, default=str))
