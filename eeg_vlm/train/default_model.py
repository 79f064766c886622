"""Reproduce the embedded default model end to end (simulate -> build -> train -> evaluate).

    python -m eeg_vlm.train default-model --out runs/rds [--subjects 6] [--seed 0] [--install]
        [--real-features ../shared/data/sleep-edf20-features] [--words-from eeg_vlm/default_model]
        [--visual-from eeg_vlm/default_model]                           # keep phase 1, retrain only the words
        [--layout spectral --image-size 160 --row-seconds 3.75]     # the defaults: the embedded model's rendering

1. The training nights: the 20 real Sleep-EDF-20 nights replayed epoch by epoch (their real stages and band powers;
   the feature files are downloaded from their public source, pinned commit, SHA-256 checked, unless
   ``--real-features`` names a local copy) plus ``--subjects`` calibrated free-running simulated subjects (1-2
   nights each, fixed seed, numbered from 20); build the rendered dataset with the embedded model's renderer
   (``layout="spectral"``, 160 px, 3.75-s rows, the rendering ablation's best arm; one EEG channel, the epoch's
   neighbours in the spectrogram strip). Splits are subject-wise: a replayed subject whose night is
   held out never trains.
2. Phase 1, the visual side: a small CLIP-style tower + enhancement + alignment + stage head, trained on every
   training epoch with the class-weighted stage loss and the alignment loss (the LM is not run: minutes, not hours).
   Amplitude robustness comes from the simulator's per-subject amplitude spread.
3. Phase 2 and 3, the words: TRL SFT of the projector and a fresh small LM (tokenizer trained on the CoT corpus,
   one token per digit so that cited numbers are copied digit by digit) on
   grounded prompts (each epoch's measured features and its neighbours' in the prompt; EOG/EMG dropped from 40 % of
   the rows so EEG-only nights are in-distribution), 300 steps on 3,000 answers then 1,600 steps on 12,800, the
   visual side frozen so the stage head keeps its phase-1 weights.
4. Evaluation on the held-out test subjects (stage head on all epochs, the generated CoT on a sample), saved as
   ``metrics.json`` next to the model. ``--install`` copies the model into the package (``eeg_vlm/default_model``)
   only when its held-out macro-F1 beats the shipped one. Never trained on DREAMS data (licence).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "default_model"


def _pixels(processor, rows) -> torch.Tensor:
    return processor.image_processor(images=list(rows["image"]), return_tensors="pt")["pixel_values"]


def train_visual_side(model, processor, train, validation, *, epochs=4, batch_size=64, lr=1e-3, seed=0,
                      progress=True) -> dict:
    """Phase 1: stage head + enhancement + alignment + vision tower with the stage and alignment losses."""
    from .evaluate import classification_metrics, stage_head_predictions

    torch.manual_seed(seed)
    model.train()
    for p in model.parameters():
        p.requires_grad_(False)
    visual = [model.model.vision_tower, model.model.stage_head]
    visual += [getattr(model.model, m) for m in ("enhancement", "alignment", "cnn") if hasattr(model.model, m)]
    params = [p for module in visual for p in module.parameters()]
    for p in params:
        p.requires_grad_(True)
    counts = np.bincount(np.asarray(train["stage"]), minlength=5).astype(float)
    # inverse square-root frequency: N1 (rare, hard) counts more without letting it dominate
    weights = torch.tensor((counts.sum() / np.maximum(counts, 1)) ** 0.5, dtype=torch.float32)
    weights = weights / weights.mean()
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.05)
    steps = epochs * math.ceil(len(train) / batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    rng = np.random.default_rng(seed)
    best, best_state, history = -1.0, None, []
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(train))
        bar = tqdm(range(0, len(order), batch_size), desc=f"phase 1 epoch {epoch + 1}/{epochs}", disable=not progress)
        for start in bar:
            rows = train.select(order[start : start + batch_size])
            visual_out = model.model.encode_images(_pixels(processor, rows))
            labels = torch.tensor(rows["stage"])
            loss = F.cross_entropy(visual_out["stage_logits"], labels, weight=weights)
            if visual_out["alignment_loss"] is not None:
                loss = loss + model.config.alignment_loss_weight * visual_out["alignment_loss"]
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        model.eval()
        probs = stage_head_predictions(model, processor, validation, batch_size=128, progress=False)
        metrics = classification_metrics(validation["stage"], probs.argmax(-1))
        history.append({"epoch": epoch + 1, "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
                        "cohen_kappa": metrics["cohen_kappa"]})
        logger.info("phase 1 epoch %d: validation %s", epoch + 1, history[-1])
        if metrics["macro_f1"] > best:
            best = metrics["macro_f1"]
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    for p in model.parameters():
        p.requires_grad_(True)
    return {"phase1_history": history, "phase1_best_validation_macro_f1": best}


def simulate_training_nights(sim: Path, *, subjects: int, seed: int, hours=None, replay: bool = True,
                             real_features=None, progress: bool = True) -> None:
    """The training nights in ``sim`` (resumable): the 20 real Sleep-EDF-20 nights replayed (subjects 0-19, their
    real numbers) and ``subjects`` calibrated free-running subjects numbered from 20, so subject-wise splits never
    mix a replayed subject with a simulated one of the same number. ``real_features``: a folder of the
    Sleep-EDF-20 ``SCxxxxE0.npz``; None downloads them (pinned commit, SHA-256 checked) next to ``sim``."""
    from ..simulation import simulate_random
    from ..simulation.replay import replay as replay_nights

    sim.mkdir(parents=True, exist_ok=True)
    if replay and not (sim / ".done-replay").exists():
        if real_features is None:
            from ..dataset_builder.download import download_features

            real_features = download_features(out_dir=sim.parent / "sleep-edf20-features", progress=progress)[0].parent
        replay_nights(real_features, sim, seed=seed, progress=progress)
        (sim / ".done-replay").write_text("ok")
    if not (sim / ".done").exists():
        simulate_random(sim, n_subjects=subjects, seed=seed, hours=hours, first_subject=20 if replay else 0)
        (sim / ".done").write_text("ok")


VISUAL_SIDE = ("model.vision_tower.", "model.enhancement.", "model.alignment.", "model.stage_head.", "model.cnn.")


def _with_visual_side(visual, model, processor, dest: Path, *, name: str, source, fix: str) -> None:
    """Save ``model`` (with ``processor``) to ``dest`` after loading the :data:`VISUAL_SIDE` weights of ``visual``."""
    state = {k: v for k, v in visual.state_dict().items() if k.startswith(VISUAL_SIDE)}
    missing = [k for k in state if k not in model.state_dict()]
    if missing:
        raise ValueError(f"{name}: {source} has another visual architecture (missing {missing[:3]}); {fix}.")
    model.load_state_dict(state, strict=False)
    model.save_pretrained(dest)
    processor.save_pretrained(dest)


def visual_side_from(source: Path, model, processor, dest: Path) -> None:
    """Phase 1 taken from ``source`` (e.g. the shipped model) instead of trained: ``model`` (built as phase 1 builds
    it, projector and LM untrained) with the visual side and stage head of ``source``, saved to ``dest`` with
    ``processor`` and the phase-1 record of ``source``'s ``metrics.json`` when it has one. For retraining only the
    words."""
    from .modeling_setup import load_model

    _with_visual_side(load_model(str(source))[0], model, processor, dest, name="visual_from", source=source,
                      fix="train phase 1 instead (omit --visual-from) or pass a model of the same preset and rendering")
    metrics = Path(source) / "metrics.json"
    record = json.loads(metrics.read_text()).get("training", {}) if metrics.is_file() else {}
    info = {k: record[k] for k in ("phase1_history", "phase1_best_validation_macro_f1") if k in record}
    (dest / "phase1.json").write_text(json.dumps({**info, "visual_from": str(source)}, indent=1))


def transplant_words(visual_dir: Path, words_dir: Path, dest: Path) -> None:
    """``dest`` = the visual side (tower, enhancement, alignment, stage head) of ``visual_dir`` with the projector,
    LM and tokenizer of ``words_dir`` (e.g. the shipped model): retrain the stage head, keep the words."""
    from .modeling_setup import load_model

    model, processor = load_model(str(words_dir))
    _with_visual_side(load_model(str(visual_dir))[0], model, processor, dest, name="words_from", source=words_dir,
                      fix="train the words instead (omit --words-from)")


def run(out, *, subjects=6, seed=0, phase1_epochs=2, phase2_steps=300, phase2_samples=3000, generate_n=40,
        hours=None, extra_channels=(), ground=True, phase3_steps=1600, phase3_samples=12800, drop_eog_emg=0.4,
        phase4_steps=600, phase4_samples=4800, counterfactual=0.5, replay=True, real_features=None,
        words_from=None, visual_from=None, layout="spectral", image_size=160, row_seconds=3.75,
        progress=True) -> dict:
    from datasets import load_from_disk
    from trl import ModelConfig, SFTConfig

    from ..dataset_builder.build import build_dataset
    from ..image_processing_eeg_vlm import EEGVLMImageProcessor
    from .evaluate import evaluate_model, write_results
    from .model_card import write_model_card
    from .modeling_setup import build_from_preset, cot_corpus, fresh_language_model, load_model
    from .sft import EEGVLMScriptArguments, train

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    renderer = {"layout": layout}  # the image processor options of every training image (None: its defaults)
    if image_size is not None:
        renderer["size"] = image_size
    if row_seconds is not None and layout == "spectral":  # the trace layout has no rows
        renderer["row_seconds"] = row_seconds
    sim, data_dir = out / "sim", out / "dataset"
    simulate_training_nights(sim, subjects=subjects, seed=seed, hours=hours, replay=replay,
                             real_features=real_features, progress=progress)  # resumable, like every stage
    if not data_dir.exists():
        build_dataset(sim, data_dir, image_processor=EEGVLMImageProcessor(**renderer), seed=seed,
                      progress=progress)
    data = load_from_disk(str(data_dir))
    train_ds, val_ds, test_ds = data["train"], data["validation"], data["test"]
    logger.info("dataset: %s", {k: len(v) for k, v in data.items()})
    visual_train = train_ds
    if extra_channels:  # channel augmentation: the same training nights drawn from other derivations too
        from datasets import concatenate_datasets

        extra = []
        for channel in extra_channels:
            extra_dir = out / f"dataset-{channel.replace(' ', '_')}"
            if not extra_dir.exists():
                build_dataset(sim, extra_dir, channels=[channel], image_processor=EEGVLMImageProcessor(**renderer),
                              seed=seed,
                              progress=progress)
            extra.append(load_from_disk(str(extra_dir))["train"])
        visual_train = concatenate_datasets([train_ds, *extra])
        logger.info("phase 1 trains on %d epochs (%s + %s)", len(visual_train), "EEG Fpz-Cz", list(extra_channels))

    phase1 = out / "phase1"
    info = {}
    if not (phase1 / "model.safetensors").exists():
        torch.manual_seed(seed)
        # the shipped stage head was initialised next to a whole-number tokenizer: keep that draw reproducible
        model, processor = build_from_preset("small", cot_corpus(train_ds),
                                             EEGVLMImageProcessor(**renderer).to_dict(),
                                             split_digits=False)
        if visual_from is not None:  # phase 1 kept from an earlier model: only the words are trained
            visual_side_from(Path(visual_from), model, processor, phase1)
    if not (phase1 / "model.safetensors").exists():
        info = train_visual_side(model, processor, visual_train, val_ds, epochs=phase1_epochs, seed=seed,
                                 progress=progress)
        model.save_pretrained(phase1)
        processor.save_pretrained(phase1)
        (phase1 / "phase1.json").write_text(json.dumps(info, indent=1))
    info = json.loads((phase1 / "phase1.json").read_text())

    def words_phase(source: Path, dest: Path, steps: int, samples: int, counterfactual: float = 0.0) -> None:
        """TRL SFT of the projector and LM from ``source`` into ``dest``, the visual side frozen (resumable)."""
        if (dest / "model.safetensors").exists():
            return
        args = SFTConfig(output_dir=str(dest), max_steps=steps, per_device_train_batch_size=8, learning_rate=5e-4,
                         lr_scheduler_type="cosine", warmup_steps=20, logging_steps=10, save_strategy="no",
                         eval_strategy="no", report_to="none", bf16=False, use_cpu=True, gradient_checkpointing=False,
                         max_length=None, seed=seed, dataloader_num_workers=0)
        # max_train_samples takes a seeded shuffle, so the subset covers every night and stage
        script = EEGVLMScriptArguments(dataset=str(data_dir), dataset_eval_split=None, max_train_samples=samples,
                                       freeze_stage_head=True, ground_prompts=ground, drop_eog_emg=drop_eog_emg,
                                       counterfactual=counterfactual)
        train(args, ModelConfig(model_name_or_path=str(source)), script)

    if words_from is not None:  # the stage head is retrained; the words of an earlier model are kept
        last = out / "transplanted"
        if not (last / "model.safetensors").exists():
            transplant_words(phase1, Path(words_from), last)
    else:
        words = out / "phase1-words"  # phase 1's visual side + a fresh LM whose tokenizer has one token per digit
        if not (words / "model.safetensors").exists():
            model, processor = fresh_language_model(*load_model(phase1), cot_corpus(train_ds), "small", seed=seed)
            model.save_pretrained(words)
            processor.save_pretrained(words)
        last = out / "phase2"
        words_phase(words, last, phase2_steps, phase2_samples)
        if phase3_steps:  # phase 3: more of the same on a larger subset (the words need more steps than the head)
            words_phase(last, out / "phase3", phase3_steps, phase3_samples)
            last = out / "phase3"
        if phase4_steps and ground:  # phase 4: counterfactual numbers teach the rule step to follow the numbers
            words_phase(last, out / "phase4", phase4_steps, phase4_samples, counterfactual=counterfactual)
            last = out / "phase4"
    model, processor = load_model(last)
    final = out / "model"
    if final.exists():
        shutil.rmtree(final)
    model.save_pretrained(final)  # before evaluation, which pads the tokenizer on the left to generate
    processor.save_pretrained(final)
    result = evaluate_model(model, processor, test_ds, batch_size=64, generate=generate_n > 0,
                            max_generate=generate_n, ground=ground, progress=progress)
    shipped = PACKAGE_DIR / "model.safetensors"
    if shipped.exists():  # the shipped model's stage head on the same held-out epochs: a like-for-like comparison
        from .evaluate import classification_metrics, stage_head_predictions

        old, old_processor = load_model(str(PACKAGE_DIR))
        probs = stage_head_predictions(old, old_processor, test_ds, batch_size=64, progress=False)
        result["shipped_stage_head_same_split"] = classification_metrics(test_ds["stage"], probs.argmax(-1))
    result["training"] = {**info, "subjects": subjects, "seed": seed, "phase2_steps": phase2_steps,
                          "replayed_real_nights": replay, "words_from": None if words_from is None else str(words_from),
                          "visual_from": None if visual_from is None else str(visual_from),
                          "phase1_extra_channels": list(extra_channels), "grounded_prompts": ground,
                          "phase3_steps": phase3_steps, "phase3_samples": phase3_samples,
                          "phase2_samples": phase2_samples, "drop_eog_emg": drop_eog_emg,
                          "phase4_steps": phase4_steps, "phase4_samples": phase4_samples,
                          "counterfactual": counterfactual,
                          "minutes": round((time.time() - t0) / 60, 1),
                          "splits": {k: len(v) for k, v in data.items()},
                          "test_subjects": sorted(set(test_ds["subject"]))}
    write_results(result, final)
    write_model_card(final, metrics=result["stage_head"], dataset_id=None, base_config=model.config, split="test")
    return result


def _without_auto_map(x):
    if isinstance(x, dict):
        return {k: _without_auto_map(v) for k, v in x.items() if k != "auto_map"}
    return [_without_auto_map(v) for v in x] if isinstance(x, list) else x


def install(model_dir, *, force=False) -> bool:
    """Copy ``model_dir`` into the package when its held-out macro-F1 beats the shipped model's (on the same
    held-out epochs when the run measured the shipped model there too)."""
    model_dir = Path(model_dir)
    metrics = json.loads((model_dir / "metrics.json").read_text())
    new = metrics["stage_head"]["macro_f1"]
    shipped = PACKAGE_DIR / "metrics.json"
    old = json.loads(shipped.read_text())["stage_head"]["macro_f1"] if shipped.exists() else -1.0
    if "shipped_stage_head_same_split" in metrics:  # both scored on this run's held-out epochs: like for like
        old = metrics["shipped_stage_head_same_split"]["macro_f1"]
    if new <= old and not force:
        logger.warning("Not installed: held-out macro-F1 %.3f does not beat the shipped %.3f.", new, old)
        return False
    size = sum(f.stat().st_size for f in model_dir.glob("*.safetensors"))
    if size > 25 * 2**20:
        raise ValueError(f"model: {size / 2**20:.1f} MB of weights, expected <= 25 MB for the package.")
    tmp = PACKAGE_DIR.with_name("default_model.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    # the package's own classes load it: no copies of the remote-code files (they would go stale) and no auto_map
    shutil.copytree(model_dir, tmp, ignore=shutil.ignore_patterns("*.png", "training_args*", "*.py"))
    for name in ("config.json", "processor_config.json", "tokenizer_config.json"):
        if (tmp / name).exists():
            (tmp / name).write_text(json.dumps(_without_auto_map(json.loads((tmp / name).read_text())), indent=2) + "\n")
    if PACKAGE_DIR.exists():
        shutil.rmtree(PACKAGE_DIR)
    tmp.rename(PACKAGE_DIR)
    logger.info("Installed %s (held-out macro-F1 %.3f, was %.3f).", model_dir, new, old)
    return True


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m eeg_vlm.train default-model", description=__doc__.split("\n\n")[0],
                                epilog="example:\n  python -m eeg_vlm.train default-model --out runs/default --install",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="work directory (resumable)")
    p.add_argument("--subjects", type=int, default=6,
                   help="calibrated simulated subjects beside the 10 replayed Sleep-EDF-20 subjects (the shipped model: 6)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--phase1-epochs", type=int, default=2, help="passes of phase 1 (the shipped model: 2)")
    p.add_argument("--phase2-steps", type=int, default=300)
    p.add_argument("--phase2-samples", type=int, default=3000)
    p.add_argument("--generate", type=int, default=40, help="test epochs whose CoT is generated and scored")
    p.add_argument("--phase3-steps", type=int, default=1600, help="further grounded SFT steps (0: none)")
    p.add_argument("--phase3-samples", type=int, default=12800)
    p.add_argument("--ground", action=argparse.BooleanOptionalAction, default=True,
                   help="train and evaluate the words on grounded prompts (default)")
    p.add_argument("--phase4-steps", type=int, default=600, help="counterfactual grounded SFT steps (0: none)")
    p.add_argument("--phase4-samples", type=int, default=4800)
    p.add_argument("--counterfactual", type=float, default=0.5,
                   help="phase 4: fraction of rows whose rule-deciding numbers are redrawn")
    p.add_argument("--drop-eog-emg", type=float, default=0.4,
                   help="fraction of grounded training rows whose EOG/EMG are dropped (EEG-only recordings)")
    p.add_argument("--hours", type=float, default=None, help="simulate only this many hours per night (smoke tests)")
    p.add_argument("--extra-channels", nargs="*", default=[],
                   help="phase-1 channel augmentation, e.g. 'EEG Pz-Oz' (the training nights drawn again from it)")
    p.add_argument("--replay", action=argparse.BooleanOptionalAction, default=True,
                   help="train on the 20 real Sleep-EDF-20 nights replayed as well (default; subjects 0-19, the "
                        "simulated ones numbered from 20)")
    p.add_argument("--real-features", default=None,
                   help="folder of the Sleep-EDF-20 SCxxxxE0.npz (default: download them, pinned and SHA-256 checked)")
    p.add_argument("--words-from", default=None,
                   help="keep the projector, LM and tokenizer of this model (e.g. eeg_vlm/default_model) and retrain "
                        "only the visual side and stage head")
    p.add_argument("--visual-from", default=None,
                   help="take phase 1 (visual side, stage head) from this model (e.g. eeg_vlm/default_model) and "
                        "train only the words")
    p.add_argument("--layout", default="spectral", choices=("trace", "spectral"),
                   help="rendering of the training images (default spectral: the embedded model's; trace: the first "
                        "models')")
    p.add_argument("--image-size", type=int, default=160,
                   help="image side in pixels (default 160: the embedded model's, chosen by the rendering ablation)")
    p.add_argument("--row-seconds", type=float, default=3.75,
                   help="spectral layout: seconds of EEG per row (default 3.75: the embedded model's)")
    p.add_argument("--install", action="store_true", help="copy into the package if it beats the shipped model")
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    result = run(args.out, subjects=args.subjects, seed=args.seed, phase1_epochs=args.phase1_epochs,
                 phase2_steps=args.phase2_steps, phase2_samples=args.phase2_samples, generate_n=args.generate, hours=args.hours,
                 extra_channels=tuple(args.extra_channels), ground=args.ground, phase3_steps=args.phase3_steps,
                 phase3_samples=args.phase3_samples, drop_eog_emg=args.drop_eog_emg,
                 phase4_steps=args.phase4_steps, phase4_samples=args.phase4_samples,
                 counterfactual=args.counterfactual, replay=args.replay, real_features=args.real_features,
                 words_from=args.words_from, visual_from=args.visual_from, layout=args.layout,
                 image_size=args.image_size, row_seconds=args.row_seconds, progress=not args.quiet)
    head = result["stage_head"]
    print(f"held-out stage head: accuracy={head['accuracy']:.3f} macro_f1={head['macro_f1']:.3f} "
          f"kappa={head['cohen_kappa']:.3f} (n={head['n']})")
    if args.install:
        install(Path(args.out) / "model")
    return 0
