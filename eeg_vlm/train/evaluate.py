"""Evaluate an EEG-VLM on a built dataset split: stage head, and (``--generate``) the generated Chain-of-Thought.

    python -m eeg_vlm.train evaluate --model DIR_OR_HUB_ID --dataset DIR --split test --output_dir OUT [--generate]

Writes ``OUT/metrics.json`` (accuracy, macro-F1, Cohen's kappa, per-stage precision/recall/F1, confusion matrix,
n; with ``--generate`` also the parse-failure rate of the final ``Stage:`` line, the head/CoT agreement, and the
share of texts with scorer/expert wording and their self-consistency, as generated and as ``stage_night`` shows
them with the stage head's verdicts) and
``OUT/confusion.png``. Batched, with a progress bar, deterministic (greedy decoding).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..configuration_eeg_vlm import STAGE_LABELS
from ..dataset_builder.cot import parse_stage
from ..processing_eeg_vlm import STAGING_PROMPT, staging_messages

logger = logging.getLogger(__name__)


def classification_metrics(y_true, y_pred, labels=STAGE_LABELS) -> dict:
    """Accuracy, macro-F1, Cohen's kappa, per-stage precision/recall/F1 and the confusion matrix (rows = truth)."""
    from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix, f1_score
    from sklearn.metrics import precision_recall_fscore_support

    idx = list(range(len(labels)))
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    if len(y_true) == 0:  # e.g. no generated answer could be parsed
        nan = float("nan")
        return {"n": 0, "accuracy": nan, "macro_f1": nan, "cohen_kappa": nan,
                "per_stage": {lab: {"precision": nan, "recall": nan, "f1": nan, "support": 0} for lab in labels},
                "confusion_matrix": [[0] * len(labels) for _ in labels], "labels": list(labels)}
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=idx, zero_division=0)
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else float("nan"),
        "macro_f1": float(f1_score(y_true, y_pred, labels=idx, average="macro", zero_division=0)),
        "cohen_kappa": float(cohen_kappa_score(y_true, y_pred, labels=idx)) if len(set(y_true)) > 1 else float("nan"),
        "per_stage": {lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                      for i, lab in enumerate(labels)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=idx).tolist(),
        "labels": list(labels),
    }


def _images(rows) -> list:
    return [r["images"][0] if r.get("images") else r["image"] for r in rows]


@torch.no_grad()
def stage_head_predictions(model, processor, dataset, *, batch_size=32, progress=True) -> np.ndarray:
    """(n, n_stages) stage-head probabilities for every row of ``dataset``."""
    out = []
    for start in tqdm(range(0, len(dataset), batch_size), desc="stage head", disable=not progress):
        rows = dataset.select(range(start, min(start + batch_size, len(dataset))))
        pixels = processor.image_processor(images=_images(rows), return_tensors="pt")["pixel_values"]
        out.append(model.classify(pixels).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(STAGE_LABELS)))


@torch.no_grad()
def generate_cot(model, processor, images, *, prompt=STAGING_PROMPT, max_new_tokens=None, batch_size=8,
                 progress=True) -> list[str]:
    """Greedy Chain-of-Thought for each image (left-padded batches); ``max_new_tokens`` defaults to the model's
    generation config. ``prompt`` is one string for all images or one per image (grounded prompts)."""
    prompts = [prompt] * len(images) if isinstance(prompt, str) else list(prompt)
    max_new_tokens = max_new_tokens or model.generation_config.max_new_tokens or 512
    tokenizer = processor.tokenizer
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    texts = []
    try:
        for start in tqdm(range(0, len(images), batch_size), desc="generate", disable=not progress):
            batch = images[start : start + batch_size]
            msgs = [staging_messages(p) for p in prompts[start : start + batch_size]]
            enc = processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=True,
                                                return_tensors="pt",
                                                processor_kwargs={"images": [[im] for im in batch], "padding": True})
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 suppress_tokens=[model.config.image_token_id])
            texts += tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
    return [t.strip() for t in texts]


def evaluate_model(model, processor, dataset, *, batch_size=32, generate=False, max_new_tokens=None,
                   max_generate=None, ground=False, eeg_only=False, progress=True) -> dict:
    """Metrics of the stage head (and of the generated CoT when ``generate``) on ``dataset``."""
    labels = list(model.config.stage_labels)
    y_true = np.asarray(dataset["stage"])
    probs = stage_head_predictions(model, processor, dataset, batch_size=batch_size, progress=progress)
    head = probs.argmax(-1)
    result = {"stage_head": classification_metrics(y_true, head, labels)}
    if generate:
        from .grounded_data import spread_indices

        idx = spread_indices(len(dataset), max_generate)  # spread over the split: every subject and stage
        n = len(idx)
        rows = dataset.select(idx)
        prompts = STAGING_PROMPT
        if ground:  # the measured features of each epoch (and of its neighbours) go into its prompt, and the
            # stages the model itself gives the epoch and its neighbours (never the expert's: they are what is scored)
            from .grounded_data import grounded_columns

            prompts = grounded_columns(dataset, eeg_only=eeg_only, staged=head)[0]
            prompts = [prompts[i] for i in idx]
        texts = generate_cot(model, processor, _images(rows), prompt=prompts, max_new_tokens=max_new_tokens,
                             batch_size=max(1, batch_size // 4), progress=progress)
        parsed = [parse_stage(t) for t in texts]
        ok = np.array([p is not None for p in parsed])
        cot_pred = np.array([labels.index(p) if p is not None else -1 for p in parsed])
        cot = classification_metrics(y_true[idx][ok], cot_pred[ok], labels)
        cot["parse_failure_rate"] = float(1 - ok.mean()) if n else float("nan")
        cot["n_generated"] = int(n)
        cot["ground"] = bool(ground)
        cot["eeg_only"] = bool(eeg_only)
        cot["head_cot_agreement"] = float((cot_pred[ok] == head[idx][ok]).mean()) if ok.any() else float("nan")
        cot.update(_wording(dataset, idx, texts, [labels[int(h)] for h in head]))
        result["cot"] = cot
        faith = _faithfulness(dataset, idx, texts, eeg_only=eeg_only)
        claims = faith.pop("claims")
        if faith:
            result["faithfulness"] = faith
        result["examples"] = [{"index": i, "stage": labels[int(y_true[i])], "generated": texts[k],
                               "claims": [{k2: c[k2] for k2 in ("type", "value", "measured", "ok")} for c in claims[k]]
                               if claims else None}
                              for k, i in enumerate(idx[:5])]
    return result


def _wording(dataset, idx: list[int], texts: list[str], staged: list[str]) -> dict:
    """Scorer/expert wording (goal 0) and self-consistency of the texts as generated and as ``stage_night`` shows
    them (``eeg_vlm.explanation.night_explanation`` with the stage head's stages as the night's stages)."""
    from ..explanation import night_explanation
    from ..faithfulness import has_scorer_wording, self_consistent

    recording = list(dataset["recording"]) if "recording" in dataset.column_names else [None] * len(dataset)

    def near(i, j):
        return staged[j] if 0 <= j < len(staged) and recording[j] == recording[i] else None

    shown = [night_explanation(t, staged[i], prev_stage=near(i, i - 1), next_stage=near(i, i + 1))
             for i, t in zip(idx, texts)]
    out = {}
    for name, group in (("generated", texts), ("shown", shown)):
        judged = [c for c in map(self_consistent, group) if c is not None]
        worded = [has_scorer_wording(t) for t in group]
        out[f"{name}_scorer_wording_rate"] = float(np.mean(worded)) if worded else float("nan")
        out[f"{name}_self_consistency_rate"] = float(np.mean(judged)) if judged else float("nan")
    return out


def _faithfulness(dataset, idx: list[int], texts: list[str], *, eeg_only: bool = False) -> dict:
    """Claims of each generated CoT checked against the features measured on its epoch (and its neighbours)."""
    from ..faithfulness import EEG_KEYS, faithfulness_report
    from .grounded_data import neighbour_context

    if any(k not in dataset.column_names for k in EEG_KEYS):
        return {"claims": None}  # a dataset without measured features: nothing to check against
    table = dataset.select_columns(list(EEG_KEYS)).select(idx).to_pandas().to_dict("records")
    if eeg_only:  # the prompts said "no EOG channel; no EMG channel": claims are checked against that
        table = [{**r, "eye_movement_count": float("nan"), "emg_rms_uv": float("nan")} for r in table]
    context = neighbour_context(dataset)
    return faithfulness_report(texts, table, neighbours=[context[i] for i in idx])


def plot_confusion(metrics: dict, path: Path, *, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(metrics["confusion_matrix"], dtype=float)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.8, 4.2), dpi=120)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    labels = metrics["labels"]
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("expert")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", color="white" if norm[i, j] > 0.5 else "black",
                    fontsize=8)
    ax.set_title(f"{title}\nacc {metrics['accuracy']:.3f}  MF1 {metrics['macro_f1']:.3f}  "
                 f"kappa {metrics['cohen_kappa']:.3f}", fontsize=9)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def _finite(x):
    """NaN/inf -> None so that metrics.json is strict JSON."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def write_results(result: dict, output_dir) -> Path:
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".metrics.json.tmp"
    tmp.write_text(json.dumps(_finite(result), indent=2, allow_nan=False))
    os.replace(tmp, out / "metrics.json")
    plot_confusion(result["stage_head"], out / "confusion.png", title="stage head")
    if "cot" in result and result["cot"]["n"]:
        plot_confusion(result["cot"], out / "confusion_cot.png", title="generated Chain-of-Thought")
    return out / "metrics.json"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eeg_vlm.train evaluate", description=__doc__.split("\n\n")[0],
                                epilog="example:\n  python -m eeg_vlm.train evaluate --model runs/tiny "
                                       "--dataset data/ds --split test --output_dir runs/tiny/eval",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="Hub id, saved model dir, or sft output dir (LoRA included)")
    p.add_argument("--dataset", required=True, help="built dataset folder (save_to_disk) or Hub id")
    p.add_argument("--split", default="test")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--generate", action="store_true", help="also generate and score the Chain-of-Thought")
    p.add_argument("--max_new_tokens", type=int, default=None, help="default: the model's generation config")
    p.add_argument("--max_generate", type=int, default=None,
                   help="generate for N rows spread evenly over the split (default: all)")
    p.add_argument("--max_samples", type=int, default=None, help="evaluate the first N rows only")
    p.add_argument("--ground", action="store_true", help="put each epoch's measured features into the prompt")
    p.add_argument("--eeg_only", action="store_true",
                   help="with --ground: treat the epochs as recorded without EOG and EMG (as DREAMS, many "
                        "home montages)")
    return p


def main(argv=None) -> int:
    from datasets import load_dataset, load_from_disk

    from .modeling_setup import load_model

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.manual_seed(0)
    data = load_from_disk(args.dataset) if Path(args.dataset).is_dir() else load_dataset(args.dataset)
    if args.split not in data:
        raise ValueError(f"split: received {args.split!r}, expected one of {list(data)}.")
    ds = data[args.split]
    if args.max_samples:
        ds = ds.select(range(min(args.max_samples, len(ds))))
    model, processor = load_model(args.model)
    result = evaluate_model(model, processor, ds, batch_size=args.batch_size, generate=args.generate,
                            max_new_tokens=args.max_new_tokens, max_generate=args.max_generate, ground=args.ground,
                            eeg_only=args.eeg_only)
    path = write_results(result, args.output_dir)
    head = result["stage_head"]
    print(f"stage head: n={head['n']} accuracy={head['accuracy']:.3f} macro_f1={head['macro_f1']:.3f} "
          f"kappa={head['cohen_kappa']:.3f}")
    if "cot" in result:
        c = result["cot"]
        print(f"CoT: accuracy={c['accuracy']:.3f} parse_failure_rate={c['parse_failure_rate']:.3f} "
              f"head_cot_agreement={c['head_cot_agreement']:.3f}")
        print(f"scorer/expert wording: generated {c['generated_scorer_wording_rate']:.3f}, shown by stage_night "
              f"{c['shown_scorer_wording_rate']:.3f} (goal 0); self-consistency: generated "
              f"{c['generated_self_consistency_rate']:.3f}, shown {c['shown_self_consistency_rate']:.3f}")
        if "faithfulness" in result:
            fr = result["faithfulness"]
            print(f"faithful claims={fr['faithful_claim_rate']:.3f} (n={fr['n_claims']}) "
                  f"self-consistency={fr['self_consistency_rate']:.3f}")
    print(f"wrote {path}")
    return 0
