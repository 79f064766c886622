"""Dataset builder promises: 841 SC4001 epochs, CoT ends with the expert stage, images decode, subject-wise
splits, resumable and atomic builds, Hub export (card + parquet shards) and an offline push."""

import base64
import json

import numpy as np
import pytest
from conftest import shared_data
from PIL import Image

from eeg_vlm.dataset_builder import build as build_mod
from eeg_vlm.dataset_builder.build import build_dataset, split_subjects
from eeg_vlm.simulation import simulate_from_hypnogram, simulate_random

STAGES = ["W", "N1", "N2", "N3", "REM"]


@pytest.fixture(scope="module")
def sim_nights(tmp_path_factory):
    """Three simulated subjects (1-2 nights each), 1.5 h of each night: a few hundred epochs in all."""
    out = tmp_path_factory.mktemp("sim")
    simulate_random(out, n_subjects=3, seed=1, hours=1.5)
    return out


@pytest.fixture(scope="module")
def built(sim_nights, tmp_path_factory):
    out = tmp_path_factory.mktemp("built") / "ds"
    return build_dataset(sim_nights, out, progress=False), out


def test_sc4001_hypnogram_gives_the_841_protocol_epochs(tmp_path):
    hypnogram = shared_data("sleep-edfx", "SC4001EC-Hypnogram.edf")
    simulate_from_hypnogram(hypnogram, tmp_path / "sim", seed=0)
    ds = build_dataset(tmp_path / "sim", tmp_path / "ds", progress=False)["train"]
    assert len(ds) == 841
    counts = np.bincount(ds["stage"], minlength=5)
    assert dict(zip(STAGES, counts.tolist())) == {"W": 188, "N1": 58, "N2": 250, "N3": 220, "REM": 125}
    names = ds.features["stage"].names
    for cot, stage in zip(ds["cot"], ds["stage"]):
        assert cot.splitlines()[-1] == f"Stage: {names[stage]}"


def test_every_cot_ends_with_its_expert_stage_and_images_decode(built):
    dataset, _ = built
    for split in dataset.values():
        names = split.features["stage"].names
        for row in split.select(range(0, len(split), max(1, len(split) // 25))):
            assert row["cot"].splitlines()[-1] == f"Stage: {names[row['stage']]}"
            assert isinstance(row["image"], Image.Image) and row["image"].size == (224, 224)
            assert row["messages"][1]["content"][0]["text"] == row["cot"]
            assert row["messages"][0]["content"][0]["type"] == "image" and len(row["images"]) == 1


def test_no_subject_in_two_splits(built):
    dataset, _ = built
    seen = {split: set(ds["subject"]) for split, ds in dataset.items()}
    assert set(seen) == {"train", "validation", "test"}
    splits = list(seen.values())
    assert all(not (a & b) for i, a in enumerate(splits) for b in splits[i + 1:])


def test_subject_split_is_deterministic_and_keeps_nights_together():
    a = split_subjects(range(20), seed=0)
    assert a == split_subjects(list(reversed(range(20))), seed=0)
    assert sorted(a.values()).count("test") == 3 and sorted(a.values()).count("validation") == 3


def test_features_columns_are_the_measured_ones(built):
    dataset, _ = built
    row = dataset["train"][0]
    for name in ("delta_rel", "slow_wave_fraction", "spindle_count", "alpha_fraction", "emg_rms_uv"):
        assert name in row and np.isfinite(row[name])


def test_interrupted_build_resumes_to_the_same_result(sim_nights, built, tmp_path, monkeypatch):
    reference, _ = built
    real = build_mod.render_night
    calls = {"n": 0}

    def crash_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed mid-way")
        return real(*args, **kwargs)

    monkeypatch.setattr(build_mod, "render_night", crash_on_third)
    out = tmp_path / "ds"
    with pytest.raises(KeyboardInterrupt):
        build_dataset(sim_nights, out, progress=False)
    assert not out.exists()  # never a half-written dataset at out
    assert len(list((tmp_path / "ds.incomplete" / "nights").glob("*.parquet"))) == 2
    monkeypatch.setattr(build_mod, "render_night", real)
    resumed = build_dataset(sim_nights, out, progress=False)
    for split in reference:
        a, b = reference[split], resumed[split]
        assert a["cot"] == b["cot"] and a["stage"] == b["stage"]
        assert a.data.column("image").equals(b.data.column("image"))


def test_existing_output_is_refused_without_overwrite(sim_nights, built):
    _, out = built
    with pytest.raises(ValueError, match="already exists.*overwrite"):
        build_dataset(sim_nights, out, progress=False)


def test_source_without_nights_is_explained(tmp_path):
    with pytest.raises(ValueError, match="holds no PSG/hypnogram pair"):
        build_dataset(tmp_path, tmp_path / "out", progress=False)


def test_export_for_hub_writes_card_and_loadable_shards(built, tmp_path):
    from datasets import load_dataset

    from eeg_vlm.dataset_builder.hub import export_for_hub

    dataset, out = built
    config = json.loads((out / "build_config.json").read_text())
    export_for_hub(dataset, tmp_path / "hub", build_config=config)
    card = (tmp_path / "hub" / "README.md").read_text()
    assert "license: odc-by" in card and "kemp2000sleepedf" in card and "simulated" in card
    assert "config_name: default" in card and "dataset_info" in card
    shards = sorted(p.name for p in (tmp_path / "hub" / "data").glob("*.parquet"))
    assert shards == ["test-00000-of-00001.parquet", "train-00000-of-00001.parquet",
                      "validation-00000-of-00001.parquet"]
    files = {s: str(tmp_path / "hub" / "data" / f"{s}-00000-of-00001.parquet") for s in dataset}
    reloaded = load_dataset("parquet", data_files=files)
    assert len(reloaded["test"]) == len(dataset["test"])
    assert reloaded["test"][0]["image"].size == (224, 224)
    import pyarrow.parquet as pq

    raw = pq.read_table(files["test"]).column("image")[0].as_py()
    assert raw["bytes"][:4] == b"\x89PNG" and raw["path"] is None  # bytes embedded, not paths


def test_push_to_hub_sends_card_and_shards_in_one_commit(built, monkeypatch):
    import httpx2
    from huggingface_hub import HfApi, constants, set_client_factory
    from huggingface_hub.utils import _http

    from eeg_vlm.dataset_builder.hub import push_dataset_to_hub

    dataset, out = built
    seen = []

    def handler(request):
        seen.append((request.method, request.url.path, request.content))
        path = request.url.path
        if path.endswith("/repos/create"):
            return httpx2.Response(200, json={"url": "http://hub.test/datasets/me/sleep"})
        if "/preupload/" in path:
            files = json.loads(request.content)["files"]
            return httpx2.Response(200, json={"files": [{"path": f["path"], "uploadMode": "regular",
                                                         "shouldIgnore": False} for f in files]})
        if "/commit/" in path:
            return httpx2.Response(200, json={"commitUrl": "http://hub.test/datasets/me/sleep/commit/1",
                                              "commitOid": "1" * 40})
        return httpx2.Response(200, json={})

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(handler)))
    try:
        url = push_dataset_to_hub(dataset, "me/sleep", build_config=json.loads((out / "build_config.json").read_text()),
                                  api=HfApi(endpoint="http://hub.test", token="hf_test"))
    finally:
        set_client_factory(_http.default_client_factory)
    assert url.endswith("/commit/1")
    commits = [body for method, path, body in seen if "/commit/" in path]
    assert len(commits) == 1
    ops = [json.loads(line) for line in commits[0].decode().splitlines()]
    paths = {op["value"]["path"] for op in ops if op["key"] == "file"}
    assert {"README.md", "data/train-00000-of-00001.parquet", "data/test-00000-of-00001.parquet"} <= paths
    readme = next(op["value"]["content"] for op in ops if op["key"] == "file" and op["value"]["path"] == "README.md")
    assert b"license: odc-by" in base64.b64decode(readme)


def test_cli_build_help_shows_an_example():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "eeg_vlm.dataset_builder", "build", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "example:" in out and "--push-to-hub" in out
