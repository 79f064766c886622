"""Publish a built dataset to the Hugging Face Hub: parquet shards (images embedded) + a dataset card.

    python -m eeg_vlm.dataset_builder build --source data/sim --out data/ds --push-to-hub you/sleep-edfx-vlm

The shards follow ``push_to_hub``'s layout (``data/{split}-{i:05d}-of-{n:05d}.parquet``) and the card's YAML holds
the licence (ODC-By 1.0), ``configs`` and ``dataset_info``, so ``load_dataset("you/sleep-edfx-vlm")`` works.
Everything is first written to a local folder (tested offline), then uploaded in one commit.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml

CITATIONS = """\
@article{kemp2000sleepedf,
  title   = {Analysis of a sleep-dependent neuronal feedback loop: the slow-wave microcontinuity of the EEG},
  author  = {Kemp, B. and Zwinderman, A. H. and Tuk, B. and Kamphuisen, H. A. C. and Obery{\\'e}, J. J. L.},
  journal = {IEEE Transactions on Biomedical Engineering},
  volume  = {47}, number = {9}, pages = {1185--1194}, year = {2000}
}
@article{goldberger2000physionet,
  title   = {PhysioBank, PhysioToolkit, and PhysioNet},
  author  = {Goldberger, A. L. and Amaral, L. A. N. and Glass, L. and others},
  journal = {Circulation}, volume = {101}, number = {23}, pages = {e215--e220}, year = {2000}
}"""

CARD_BODY = """\
# {pretty_name}

Rendered 30-s EEG epochs from Sleep-EDF Expanded (Sleep-EDFx, PhysioNet) nights, with the AASM stage, the
measured features of each epoch and a stage-wise Chain-of-Thought written from those measurements, for training
[EEG-VLM](https://github.com/eeg-vlm/eeg-vlm) vision-language sleep-staging models.

{provenance}

## Protocol

- PSG and hypnogram paired by the Sleep-EDFx file names (the first six characters name subject and night).
- Channels drawn: {channels}; {context} neighbouring epoch(s) drawn dimmed on each side; fixed scale
  {uv_per_pixel} uV/px and {seconds_per_pixel} s/px ({size} px images).
- R&K to AASM: W, S1 -> N1, S2 -> N2, S3 and S4 -> N3, R -> REM. `Movement time` and `Sleep stage ?` epochs are
  excluded; wake is kept from 30 min before the first to 30 min after the last sleep epoch.
- Splits are subject-wise and deterministic (seed {seed}): both nights of a subject are in one split.

## Columns

`image` (the rendered epoch), `stage` (ClassLabel W, N1, N2, N3, REM), `cot` (Chain-of-Thought ending with
`Stage: <label>`), `subject`, `night`, `recording`, `epoch_index`, `onset_s`, the measured features
({features}), and `messages` + `images` in the chat format TRL's `SFTTrainer` reads.

## Rows

{counts}

## Licence and citation

Sleep-EDFx is distributed under the Open Data Commons Attribution License v1.0 (ODC-By 1.0); this derived dataset
keeps that licence. Cite:

```bibtex
{citations}
```
"""


def _card(dataset, build_config: dict, *, pretty_name: str, simulated: bool) -> str:
    from .features import FEATURE_NAMES

    proc = build_config.get("image_processor", {})
    size = proc.get("size")
    size = size.get("height") if isinstance(size, dict) else size  # {"height", "width"} since 0.1.0; int before
    provenance = (
        "**The signals are simulated** by EEG-VLM's Sleep-EDFx-format simulator from genuine or generated "
        "hypnograms; they are not recordings. The simulator is calibrated against the 20 real Sleep-EDF-20 nights "
        "(per-epoch features and expert stages, Sleep-EDF Expanded, ODC-By 1.0), and nights named after them "
        "(SC4001E0 ... SC4092E0) replay those real nights epoch by epoch: their stages are the real expert "
        "stages and each epoch's band powers the real epoch's." if simulated else
        "The signals are the genuine Sleep-EDFx recordings, downloaded from PhysioNet and verified against the "
        "published SHA-256."
    )
    counts = "\n".join(f"- {split}: {len(ds)} epochs, {len(set(ds['subject']))} subjects"
                       for split, ds in dataset.items())
    body = CARD_BODY.format(
        pretty_name=pretty_name, provenance=provenance, channels=", ".join(build_config.get("channels", [])),
        context=build_config.get("context"), uv_per_pixel=proc.get("uv_per_pixel"),
        seconds_per_pixel=proc.get("seconds_per_pixel"), size=size, seed=build_config.get("seed"),
        features=", ".join(FEATURE_NAMES), counts=counts, citations=CITATIONS,
    )
    meta = {
        "license": "odc-by",
        "pretty_name": pretty_name,
        "task_categories": ["image-text-to-text", "image-classification"],
        "tags": ["eeg", "sleep", "sleep-staging", "polysomnography", "chain-of-thought", "medical"],
        "size_categories": ["1K<n<10K" if sum(len(d) for d in dataset.values()) < 10_000 else "10K<n<100K"],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": s, "path": f"data/{s}-*.parquet"} for s in dataset]}],
        "dataset_info": {
            "features": dataset[next(iter(dataset))].features._to_yaml_list(),
            "splits": [{"name": s, "num_examples": len(d)} for s, d in dataset.items()],
        },
    }
    return "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n\n" + body


def export_for_hub(dataset, folder, *, build_config: dict, pretty_name: str = "Sleep-EDFx rendered for EEG-VLM",
                   simulated: bool = True, max_shard_rows: int = 5000) -> Path:
    """Write the Hub layout (``README.md`` + ``data/*.parquet`` with embedded images) into ``folder``."""
    from datasets.table import embed_table_storage

    folder = Path(folder)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for split, ds in dataset.items():
        n = max(1, -(-len(ds) // max_shard_rows))
        for i in range(n):
            shard = ds.shard(num_shards=n, index=i, contiguous=True)
            shard = shard.with_format("arrow").map(embed_table_storage, batched=True)  # image bytes, not paths
            path = folder / "data" / f"{split}-{i:05d}-of-{n:05d}.parquet"
            tmp = path.with_name(f".{path.name}.tmp")
            shard.to_parquet(str(tmp))
            os.replace(tmp, path)
    card = folder / "README.md"
    tmp = card.with_name(".README.md.tmp")
    tmp.write_text(_card(dataset, build_config, pretty_name=pretty_name, simulated=simulated))
    os.replace(tmp, card)
    return folder


def push_dataset_to_hub(dataset, repo_id: str, *, build_config: dict, simulated: bool = True, private: bool = False,
                        token: str | None = None, api=None) -> str:
    """Create ``repo_id`` (dataset repo) if needed and upload the shards and the card in one commit."""
    from huggingface_hub import HfApi

    if "/" not in repo_id:
        raise ValueError(f"repo_id: received {repo_id!r}, expected 'namespace/name', e.g. 'you/sleep-edfx-vlm'.")
    api = api or HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        export_for_hub(dataset, tmp, build_config=build_config, simulated=simulated)
        info = api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=tmp,
                                 commit_message="Upload EEG-VLM rendered Sleep-EDFx dataset")
    return str(getattr(info, "commit_url", info))


__all__ = ["export_for_hub", "push_dataset_to_hub"]
