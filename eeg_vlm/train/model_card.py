"""Model card (README.md) for a trained EEG-VLM: intended use, limits, and ``model-index`` metrics."""

from __future__ import annotations

import os
from pathlib import Path

CARD_TEXT = """
# EEG-VLM sleep-staging model

An [EEG-VLM](https://github.com/eeg-vlm/eeg-vlm) vision-language model: it reads a rendered 30-s EEG epoch and
writes a stage-wise Chain-of-Thought in a sleep technician's words, ending with `Stage: <W|N1|N2|N3|REM>`; a stage
head gives per-epoch probabilities.

- Vision tower: {vision}; language model: {text}; alignment: `{alignment}`; {n_params:.1f} M parameters.
- Trained on: {dataset}.

## Use

```python
import eeg_vlm
result = eeg_vlm.stage_night("night.edf", model="{repo}")
print(result.summary())
```

## Data and attribution

Sleep-EDF Expanded (PhysioNet, Open Data Commons Attribution License v1.0): the simulator is calibrated against,
and replays, the 20 Sleep-EDF-20 cassette nights (per-epoch features and expert stages, via github
matteo-omizzolo/sleep-EDF, MIT). Cite B. Kemp, A. H. Zwinderman, B. Tuk, H. A. C. Kamphuisen, J. J. L. Oberye,
"Analysis of a sleep-dependent neuronal feedback loop: the slow-wave microcontinuity of the EEG", IEEE-BME
47(9):1185-1194 (2000), and A. L. Goldberger et al., "PhysioBank, PhysioToolkit, and PhysioNet", Circulation
101(23):e215-e220 (2000). No DREAMS data was used for training (evaluation only).

## Intended use and limits

Research tool for sleep researchers, clinicians and ML engineers exploring explainable sleep staging.
**Not a medical device**: do not use it for diagnosis or treatment decisions. The Chain-of-Thought cites measured
features, but a generated explanation can be wrong; check it against the signal. Performance on recordings unlike
the training data (other montages, ages, pathologies, amplifiers) is unknown until measured.
"""


def write_model_card(out, *, metrics: dict | None, dataset_id: str | None, base_config, repo: str = "DIR",
                     split: str = "validation") -> Path:
    """Write ``out/README.md`` with YAML metadata (licence, tags, ``model-index`` when metrics are given)."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    cfg = base_config
    eval_results = []
    if metrics:
        for name, key in (("accuracy", "accuracy"), ("f1", "macro_f1"), ("cohen_kappa", "cohen_kappa")):
            eval_results.append(EvalResult(task_type="image-classification", task_name="Sleep staging",
                                           dataset_type=dataset_id or "local", dataset_name=dataset_id or "local",
                                           dataset_split=split, metric_type=name, metric_name=key,
                                           metric_value=round(float(metrics[key]), 4)))
    data = ModelCardData(
        model_name="eeg-vlm", license="apache-2.0", library_name="transformers", pipeline_tag="image-text-to-text",
        tags=["eeg", "sleep-staging", "vision-language", "chain-of-thought", "eeg-vlm"],
        datasets=[dataset_id] if dataset_id and "/" in str(dataset_id) else None,
        eval_results=eval_results or None,
    )
    n_params = 0.0
    try:
        from safetensors import safe_open

        for f in Path(out).glob("*.safetensors"):
            with safe_open(str(f), "pt") as st:
                n_params += sum(_numel(st.get_slice(k).get_shape()) for k in st.keys())
    except Exception:  # noqa: BLE001 - the count is cosmetic
        n_params = 0.0
    body = CARD_TEXT.format(vision=cfg.vision_config.model_type, text=cfg.text_config.model_type,
                            alignment=cfg.alignment_mode, n_params=n_params / 1e6, dataset=dataset_id or "local data",
                            repo=repo)
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")
    path = Path(out) / "README.md"
    tmp = path.with_name(".README.md.tmp")
    tmp.write_text(str(card))
    os.replace(tmp, path)
    return path


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n
