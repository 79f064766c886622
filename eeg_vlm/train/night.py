"""Train the night-level stage model (``EEGVLMNightEncoder``) on whole nights, beside a frozen visual side.

    python -m eeg_vlm.train night --model eeg_vlm/default_model --sim runs/rd/sim \
        --real-features ../shared/data/sleep-edf20-features --out runs/night [--ablation] [--install]
        [--night-inputs both|features|image]

The visual side, the stage head and the words of ``--model`` are kept; only the night encoder is trained (minutes
on a CPU: the pooled visual tokens are computed once and cached). Training sequences (``night_data``): every EEG
derivation of the simulated nights (image + features), and, unless ``--no-real``, the 20 real Sleep-EDF-20 nights as
features-only sequences with their expert stages. Splits are subject-wise over both (a replayed night and the real
feature sequence of the same subject share its split): held-out subjects never train.

Each step reads random crops of 30-240 epochs (the night median is taken over the crop, so short recordings such as
30-min excerpts are in-distribution), with modality dropout: a quarter of the simulated sequences lose their image,
a quarter their features, and 40 % lose the EOG/EMG measurements (EEG-only nights). Each real sequence is read
``--real-repeats`` times per pass (3), each time through a random montage gain (``night_data.REAL_GAIN``).
``--ablation`` also trains the arms of the README's ablation table (per-epoch head; + features; + sequence; + real
feature sequences) and scores each on the held-out simulated subjects and, features-only, on the real Sleep-EDF-20
nights (5-fold subject-wise; for the last arm also with each Sleep-EDF derivation never trained and only tested).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..configuration_eeg_vlm import NIGHT_INPUTS, STAGE_LABELS
from ..measurements_eeg_vlm import SEDF_NAMES, unmeasurable_features
from .evaluate import classification_metrics
from .night_data import (
    EOG_EMG_FEATURES,
    SEDF_CHANNELS,
    NightSequence,
    feature_names,
    montage_jitter,
    real_feature_sequences,
    simulated_sequences,
)

logger = logging.getLogger(__name__)
CROP = (30, 240)  # epochs: 15 min (a DREAMS-like excerpt) to 2 h (the inference window)
DROP_IMAGE, DROP_FEATURES, DROP_EOG_EMG = 0.25, 0.25, 0.4  # per simulated sequence, per step
# per sequence (simulated and real), per step: the features read as from a 50-Hz recording (older and ambulatory
# PSG), whose beta/gamma/mobility are NaN ("not measured", as stage_night gives them), so such nights are
# in-distribution; a small share, as most recordings are sampled at 100 Hz or more
LOW_RATE, LOW_RATE_HZ = 0.15, 50.0
# each real Sleep-EDF-20 feature sequence is read this many times per pass: 40 real sequences sit beside ~80
# simulated ones, and real labels are what real EEG is scored against (real-night CV without the montage gain:
# 0.646 with 3, 0.569 with 1)
REAL_REPEATS = 3
EXCERPT = 60  # epochs: the real-night CV also stages 30-min excerpts alone, the length of a DREAMS recording


def _low_rate_columns(names) -> list:
    """Indices in ``names`` of the features a :data:`LOW_RATE_HZ` recording cannot measure."""
    return [names.index(n) for n in unmeasurable_features(LOW_RATE_HZ) if n in names]


def add_night_encoder(model, *, encoder="gru", hidden_size=64, num_layers=2, feature_scale=False, seed=0):
    """Give a loaded EEG-VLM a fresh night encoder reading ``feature_names()`` (in place; returns the model).
    ``feature_scale``: ``config.night_feature_scale`` (per-night scaled features too: it wins every real-night
    cross-validation, e.g. a derivation never trained staged as 30-min excerpts 0.417 / 0.434 against 0.355 / 0.418,
    but held-out simulated kappa, features only, falls from 0.844 to 0.783 and DREAMS 1-4 from 0.425 to 0.339; off in
    the embedded model: README)."""
    from ..modeling_night_eeg_vlm import EEGVLMNightEncoder

    cfg = model.config
    cfg.night_encoder, cfg.night_hidden_size, cfg.night_num_layers = encoder, hidden_size, num_layers
    cfg.night_feature_scale = bool(feature_scale)
    cfg.night_feature_names = list(feature_names())
    cfg.night_inputs = "both"  # trained and scored on both (an embedded model may say "features"); see --night-inputs
    torch.manual_seed(seed)
    model.model.night_encoder = EEGVLMNightEncoder(cfg)
    return model


def _crop(seq: NightSequence, rng, crop) -> slice:
    t = len(seq.stages)
    length = int(rng.integers(crop[0], crop[1] + 1))
    if length >= t:
        return slice(0, t)
    start = int(rng.integers(0, t - length + 1))
    return slice(start, start + length)


def _batch(seqs, rng, *, crop, use_images, use_features, train, eog_emg_idx, low_rate_idx=(), sedf_idx=None):
    """Padded tensors of a few sequences: (img (B,T,Dv) or None, feats (B,T,F) or None, y (B,T), valid,
    image_present (B,), features_present (B,))."""
    parts = [(s, _crop(s, rng, crop) if train else slice(0, len(s.stages))) for s in seqs]
    t = max(p.stop - p.start for _, p in parts)
    b, n_feat = len(parts), parts[0][0].features.shape[1]
    dv = next((s.image_embeds.shape[1] for s, _ in parts if s.image_embeds is not None), 1)
    img = torch.zeros(b, t, dv)
    feats = torch.full((b, t, n_feat), float("nan"))
    y = torch.full((b, t), -100, dtype=torch.long)
    valid = torch.zeros(b, t, dtype=torch.bool)
    has_img = torch.zeros(b, dtype=torch.bool)
    has_feat = torch.ones(b, dtype=torch.bool)
    for i, (s, p) in enumerate(parts):
        n = p.stop - p.start
        y[i, :n], valid[i, :n] = torch.from_numpy(s.stages[p]), True
        f = torch.from_numpy(s.features[p].copy())
        if train and s.source == "sim" and rng.random() < DROP_EOG_EMG:
            f[:, eog_emg_idx] = float("nan")
        if train and sedf_idx and s.source == "real":
            f = montage_jitter(f, rng, sedf_idx)
        if train and low_rate_idx and rng.random() < LOW_RATE:
            f[:, list(low_rate_idx)] = float("nan")
        feats[i, :n] = f
        if s.image_embeds is not None:
            img[i, :n], has_img[i] = torch.from_numpy(s.image_embeds[p]), True
            if train and s.source == "sim":
                r = rng.random()
                if use_features and r < DROP_IMAGE:
                    has_img[i] = False
                elif use_images and r > 1 - DROP_FEATURES:
                    has_feat[i] = False
    images = use_images and bool(has_img.any())  # a batch of features-only nights has no image input at all
    return (img if images else None, feats if use_features else None, y, valid,
            has_img if images else None, has_feat if use_features else None)


def _logits(enc, batch, *, context: bool):
    img, feats, _labels, valid, has_img, has_feat = batch
    x = enc.embed(img, feats, valid=valid, image_present=has_img, features_present=has_feat)  # (B, T, H)
    if not context:  # every epoch on its own (the "+ features" arm): (B*T, 1, H)
        return enc.encode(x.reshape(-1, 1, x.shape[-1])).reshape(*x.shape[:2], -1)
    return enc.encode(x, valid)  # (B, T, S)


def fit_statistics(enc, seqs) -> None:
    """Set the encoder's feature mean/SD buffers from the training sequences (NaN ignored)."""
    x = np.concatenate([s.features for s in seqs]).astype(np.float64)
    mean, std = np.nanmean(x, 0), np.nanstd(x, 0)
    enc.feature_mean.copy_(torch.from_numpy(np.nan_to_num(mean, nan=0.0)).float())
    enc.feature_std.copy_(torch.from_numpy(np.where(np.isfinite(std) & (std > 1e-6), std, 1.0)).float())


@torch.no_grad()
def predict(model, seq: NightSequence, *, use_images=True, use_features=True) -> np.ndarray:
    """``(T, S)`` probabilities of one whole night through the inference path (``model.classify_night``: windows,
    or every epoch alone for a model saved with ``night_window=1``)."""
    model.model.night_encoder.eval()
    image = torch.from_numpy(seq.image_embeds) if use_images and seq.image_embeds is not None else None
    return model.classify_night(image_embeds=image, features=seq.features if use_features else None).numpy()


def stage_head_probs(model, seq: NightSequence) -> np.ndarray:
    """The per-epoch stage head's probabilities from the cached pooled tokens (it reads exactly their mean)."""
    head = model.model.stage_head
    with torch.no_grad():
        x = torch.from_numpy(seq.image_embeds)
        return head.out(head.act(head.fc(head.norm(x)))).softmax(-1).numpy()


def score(model, seqs, **kwargs) -> dict:
    """Pooled metrics of :func:`predict` over whole nights."""
    y = np.concatenate([s.stages for s in seqs])
    p = np.concatenate([predict(model, s, **kwargs).argmax(-1) for s in seqs])
    return classification_metrics(y, p)


def train_night_encoder(model, train, validation, *, epochs=15, batch_size=8, lr=2e-3, seed=0, context=True,
                        use_images=True, use_features=True, real_repeats=REAL_REPEATS, progress=True) -> dict:
    """Train ``model.model.night_encoder`` on whole-night sequences; keeps the weights of the best validation
    kappa (validation: whole nights, as inference reads them). ``context=False`` trains every epoch alone: give
    such a model ``night_window=1`` (:func:`_fresh` does) so that inference reads it the same way. Each real
    (``source == "real"``) training sequence is read ``real_repeats`` times per pass (other random crops each time).
    Returns the training record."""
    if not isinstance(real_repeats, int) or real_repeats < 1:
        raise ValueError(f"real_repeats: received {real_repeats!r}, expected an int >= 1 (1 reads every real night "
                         "once per pass, like a simulated one).")
    train = list(train) + [s for s in train if s.source == "real"] * (real_repeats - 1)
    enc = model.model.night_encoder
    fit_statistics(enc, train)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    names = list(model.config.night_feature_names)
    eog_emg_idx = [names.index(n) for n in EOG_EMG_FEATURES if n in names]
    low_rate_idx = _low_rate_columns(names)
    sedf_idx = [names.index(n) for n in SEDF_NAMES] if set(SEDF_NAMES) <= set(names) else None
    counts = np.bincount(np.concatenate([s.stages for s in train]), minlength=len(STAGE_LABELS))
    weight = torch.tensor((counts.sum() / np.maximum(counts, 1)) ** 0.5, dtype=torch.float32)  # sqrt-balanced
    weight = weight / weight.mean()
    opt = torch.optim.AdamW(enc.parameters(), lr=lr, weight_decay=0.01)
    best, record = (-np.inf, None), []
    for epoch in tqdm(range(epochs), desc="night encoder", unit="pass", disable=not progress):
        enc.train()
        order = rng.permutation(len(train))
        losses = []
        for i in range(0, len(order), batch_size):
            batch = _batch([train[j] for j in order[i : i + batch_size]], rng, crop=CROP, use_images=use_images,
                           use_features=use_features, train=True, eog_emg_idx=eog_emg_idx,
                           low_rate_idx=low_rate_idx, sedf_idx=sedf_idx)
            logits = _logits(enc, batch, context=context)  # (B, T, S)
            loss = F.cross_entropy(logits.flatten(0, 1), batch[2].flatten(), weight=weight, ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(enc.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
        val = score(model, validation, use_images=use_images, use_features=use_features)
        record.append({"pass": epoch, "loss": float(np.mean(losses)), "val_kappa": val["cohen_kappa"]})
        if val["cohen_kappa"] > best[0]:
            best = (val["cohen_kappa"], copy.deepcopy(enc.state_dict()))
    enc.load_state_dict(best[1])
    enc.eval()
    return {"best_val_kappa": float(best[0]), "passes": record}


def split_sequences(seqs, *, seed=0) -> dict:
    """Subject-wise train/validation/test over every sequence (``build.split_subjects``, same seed as the data)."""
    from ..dataset_builder.build import split_subjects

    splits = split_subjects([s.subject for s in seqs], seed=seed)
    return {k: [s for s in seqs if splits[s.subject] == k] for k in ("train", "validation", "test")}


ARMS = {  # README ablation rows: (context, use_images, use_features, real sequences in training)
    "+ features": (False, True, True, False),
    "+ sequence": (True, True, True, False),
    "+ real feature sequences": (True, True, True, True),
}
ARM_DIRS = {"+ features": "features", "+ sequence": "sequence", "+ real feature sequences": "real"}


def _fresh(model, args, *, context=True):
    m = add_night_encoder(copy.deepcopy(model), encoder=args.encoder, hidden_size=args.hidden_size,
                          feature_scale=args.feature_scale, seed=args.seed)
    if not context:  # read at inference as it was trained: every epoch its own window
        m.config.night_window, m.config.night_window_overlap = 1, 0
    return m


def _arm(model, args, sims, reals, context, use_images, use_features, with_real) -> dict:
    """Train one ablation arm on the train split; score held-out simulated subjects and, features-only, the
    real nights (5-fold subject-wise: each fold's subjects never train, neither real nor replayed)."""
    split = split_sequences(sims + reals, seed=args.seed)

    def pool(part):
        return [s for s in split[part] if with_real or s.source == "sim"]

    m = _fresh(model, args, context=context)
    record = train_night_encoder(m, pool("train"), pool("validation"), epochs=args.epochs, context=context,
                                 use_images=use_images, use_features=use_features, seed=args.seed,
                                 real_repeats=args.real_repeats, progress=False)
    logger.info("trained (best validation kappa %.3f); now the 5-fold real-night cross-validation",
                record["best_val_kappa"])
    sim_test = [s for s in split["test"] if s.source == "sim"]
    out = {"held_out_sim": score(m, sim_test), "model": m, "training": record}
    if reals:
        (out["real_cv_features_only"], out["real_cv_features_only_as_50_hz"],
         out["real_cv_features_only_as_30_min_excerpts"]) = _real_cv(model, args, sims, reals, context, use_images,
                                                                    use_features, with_real)
        if with_real:  # montage robustness: one Sleep-EDF derivation never trains (neither real nor simulated)
            unseen = {channel: _real_cv(model, args, sims, reals, context, use_images, use_features, with_real,
                                        unseen=channel) for channel in SEDF_CHANNELS}
            out["real_cv_across_derivations"] = {c: r[0] for c, r in unseen.items()}
            # the closest Sleep-EDF stand-in for a DREAMS-like recording (DREAMS itself may not choose a recipe): a
            # derivation no training night has, staged as 30-min excerpts
            out["real_cv_across_derivations_as_30_min_excerpts"] = {c: r[2] for c, r in unseen.items()}
    return out


def _real_cv(model, args, sims, reals, context, use_images, use_features, with_real, unseen=None):
    """5-fold subject-wise CV on the real feature sequences, features only: metrics of whole nights, of the same
    nights as 50-Hz recordings, and of their 30-min excerpts each staged alone (as DREAMS-like recordings are).
    ``unseen``: a derivation (e.g. ``"EEG Pz-Oz"``) no training sequence has, and the only one tested."""
    subjects = sorted({s.subject for s in reals})
    truth, pred, pred_low, excerpts = [], [], [], ([], [])
    low = _low_rate_columns(list(model.config.night_feature_names or feature_names()))
    tested = (lambda s: s.name.endswith("/" + unseen)) if unseen else (lambda s: True)
    for fold in range(5):
        held = set(subjects[fold::5])
        pool_ = [s for s in sims + (reals if with_real else []) if s.subject not in held and not (unseen and tested(s))]
        # early stopping on the nights of one more subject (the next fold's first), kept out of training
        stop_subject = subjects[((fold + 1) % 5)] if with_real else min(s.subject for s in pool_)
        va = [s for s in pool_ if s.subject == stop_subject]
        tr = [s for s in pool_ if s.subject != stop_subject]
        f = _fresh(model, args, context=context)
        train_night_encoder(f, tr, va, epochs=max(args.epochs // 3, 1), context=context, use_images=use_images,
                            use_features=use_features, seed=args.seed, real_repeats=args.real_repeats,
                            progress=False)
        for s in (r for r in reals if r.subject in held and tested(r)):
            truth.append(s.stages)
            pred.append(predict(f, s, use_images=False).argmax(-1))
            as_50_hz = s.features.copy()  # the same night as a 50-Hz recording would give its features
            as_50_hz[:, low] = np.nan
            pred_low.append(predict(f, dataclasses.replace(s, features=as_50_hz), use_images=False).argmax(-1))
            for c in range(0, len(s.stages) - EXCERPT + 1, EXCERPT):
                part = dataclasses.replace(s, stages=s.stages[c : c + EXCERPT], features=s.features[c : c + EXCERPT])
                excerpts[0].append(part.stages)
                excerpts[1].append(predict(f, part, use_images=False).argmax(-1))
    truth = np.concatenate(truth)
    return (classification_metrics(truth, np.concatenate(pred)),
            classification_metrics(truth, np.concatenate(pred_low)),
            classification_metrics(np.concatenate(excerpts[0]), np.concatenate(excerpts[1])))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m eeg_vlm.train night", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="saved EEG-VLM whose visual side is kept (default: embedded)")
    p.add_argument("--sim", required=True, help="folder of Sleep-EDFx-format simulated nights (PSG + hypnogram)")
    p.add_argument("--real-features", default=None, help="Sleep-EDF-20 feature npz folder (default ../shared)")
    p.add_argument("--no-real", action="store_true", help="train on simulated nights only")
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=15, help="passes over the training nights (a third of them for "
                   "each cross-validation fold)")
    p.add_argument("--encoder", default="gru", choices=("gru", "transformer"))
    p.add_argument("--hidden-size", type=int, default=64)
    p.add_argument("--feature-scale", action=argparse.BooleanOptionalAction, default=False,
                   help="also read each feature scaled by its spread over the night (config.night_feature_scale; "
                        "not the embedded model's recipe: see the README)")
    p.add_argument("--real-repeats", type=int, default=REAL_REPEATS,
                   help="times each real Sleep-EDF-20 feature sequence is read per pass (1: as often as a simulated "
                        "one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: the idle cores)")
    p.add_argument("--ablation", action="store_true", help="also train and score the README's ablation arms")
    p.add_argument("--arms", nargs="+", default=list(ARM_DIRS.values()), choices=list(ARM_DIRS.values()),
                   help="with --ablation: the arms to (re)train; the others' saved results are reused")
    p.add_argument("--night-inputs", default="both", choices=NIGHT_INPUTS,
                   help="what the saved night model reads at inference (config.night_inputs); the embedded model: "
                        "features (see the README)")
    p.add_argument("--install", action="store_true", help="copy into eeg_vlm/default_model when it beats the "
                   "per-epoch stage head on the held-out simulated subjects")
    args = p.parse_args(argv)
    if args.real_repeats < 1:  # before the model and nights are loaded
        p.error(f"--real-repeats: received {args.real_repeats}, expected an int >= 1 (1 reads every real night once "
                "per pass, like a simulated one)")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from ..staging import load_staging_model
    from ..threads import choose_threads

    torch.set_num_threads(choose_threads(args.threads))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model, processor = load_staging_model(args.model)
    sims = simulated_sequences(args.sim, out / "cache", model=model, processor=processor)
    reals = [] if args.no_real else real_feature_sequences(args.real_features)
    split = split_sequences(sims + reals, seed=args.seed)
    sim_test = [s for s in split["test"] if s.source == "sim"]
    y = np.concatenate([s.stages for s in sim_test])
    results = {"splits": {k: sorted({f"{s.subject}" for s in v}) for k, v in split.items()},
               "per-epoch image head": {"held_out_sim": classification_metrics(
                   y, np.concatenate([stage_head_probs(model, s).argmax(-1) for s in sim_test]))}}
    arm_model = None
    if args.ablation:
        for name, (context, use_images, use_features, with_real) in ARMS.items():
            arm_dir = out / "arms" / ARM_DIRS[name]
            if with_real and not reals:
                continue
            if ARM_DIRS[name] not in args.arms:  # not retrained: its saved results, when there are some
                if (arm_dir / "ablation.json").exists():
                    results[name] = json.loads((arm_dir / "ablation.json").read_text())
                continue
            arm = _arm(model, args, sims, reals, context, use_images, use_features, with_real)
            arm_model = arm.pop("model")
            results[name] = arm
            logger.info("%s: %s", name, {k: round(v["cohen_kappa"], 3) for k, v in arm.items() if "cohen_kappa" in v})
            arm_model.save_pretrained(arm_dir)
            processor.save_pretrained(arm_dir)
            (arm_dir / "ablation.json").write_text(json.dumps(arm, indent=1))
    if args.ablation and reals and "real" in args.arms:  # the last arm is the full recipe: not trained twice
        final = arm_model
        results["night model"] = {"held_out_sim": results["+ real feature sequences"]["held_out_sim"]}
    else:
        final = _fresh(model, args)
        results["training"] = train_night_encoder(final, split["train"], split["validation"],
                                                  epochs=args.epochs, seed=args.seed, real_repeats=args.real_repeats)
        results["night model"] = {"held_out_sim": score(final, sim_test)}
    if args.night_inputs != "both":  # trained on both (modality dropout); read at inference as asked
        final.config.night_inputs = args.night_inputs
        results["night model"] = {"held_out_sim": score(final, sim_test), "night_inputs": args.night_inputs}
    final.save_pretrained(out / "model")
    processor.save_pretrained(out / "model")
    (out / "metrics.json").write_text(json.dumps(results, indent=1))
    for name in ("per-epoch image head", *ARMS, "night model"):
        if name in results:
            r = results[name]["held_out_sim"]
            print(f"{name:28s} held-out sim kappa={r['cohen_kappa']:.3f} macro_f1={r['macro_f1']:.3f} "
                  f"F1 N1={r['per_stage']['N1']['f1']:.3f}"
                  + (f"  real CV kappa={results[name]['real_cv_features_only']['cohen_kappa']:.3f}"
                     if "real_cv_features_only" in results[name] else "")
                  + (f" (as 50-Hz recordings: {results[name]['real_cv_features_only_as_50_hz']['cohen_kappa']:.3f})"
                     if "real_cv_features_only_as_50_hz" in results[name] else "")
                  + (" (as 30-min excerpts: "
                     f"{results[name]['real_cv_features_only_as_30_min_excerpts']['cohen_kappa']:.3f})"
                     if "real_cv_features_only_as_30_min_excerpts" in results[name] else "")
                  + "".join(f"  {c} never trained: {m['cohen_kappa']:.3f}"
                            for c, m in results[name].get("real_cv_across_derivations", {}).items())
                  + "".join(f"  {c} never trained, as 30-min excerpts: {m['cohen_kappa']:.3f}"
                            for c, m in results[name].get("real_cv_across_derivations_as_30_min_excerpts",
                                                          {}).items()))
    if args.install:
        new = results["night model"]["held_out_sim"]["cohen_kappa"]
        old = results["per-epoch image head"]["held_out_sim"]["cohen_kappa"]
        if new <= old:
            logger.warning("Not installed: night-model kappa %.3f does not beat the per-epoch head's %.3f.", new, old)
        else:
            import shutil

            from .default_model import PACKAGE_DIR, install

            # the words' and head's records and model card stay: those of --model (the package when omitted); a
            # model directory without a metrics.json takes the package's
            base = Path(args.model) if args.model else PACKAGE_DIR
            metrics = base / "metrics.json" if (base / "metrics.json").is_file() else PACKAGE_DIR / "metrics.json"
            shipped = json.loads(metrics.read_text())
            shipped["night_model"] = {k: v for k, v in results.items() if k != "splits"}
            (out / "model" / "metrics.json").write_text(json.dumps(shipped, indent=1))
            if (base / "README.md").exists():
                shutil.copy(base / "README.md", out / "model" / "README.md")
            install(out / "model", force=True)
    return 0


__all__ = ["add_night_encoder", "main", "predict", "score", "split_sequences", "stage_head_probs",
           "train_night_encoder"]
