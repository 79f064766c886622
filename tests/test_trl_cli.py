"""Stock TRL as a user runs it: TRL's own `trl sft` entry point on a saved tiny EEG-VLM with `--trust_remote_code`,
with and without `--use_peft` (no `--lora_target_modules`: our default targets), on a tiny built dataset exported
to parquet (as `push_to_hub` writes it). The stage head learns: the model reads each answer's `Stage:` line itself.

    python -m pytest tests/test_trl_cli.py -q
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from eeg_vlm.dataset_builder.build import build_dataset
from eeg_vlm.simulation import simulate_random

TRL_ARGS = ["--trust_remote_code", "--max_steps", "3", "--per_device_train_batch_size", "2", "--bf16", "false",
            "--use_cpu", "--report_to", "none", "--assistant_only_loss", "--max_length", "2048", "--save_strategy",
            "no", "--learning_rate", "1e-3", "--logging_steps", "1"]


@pytest.fixture(scope="module")
def trl_inputs(tmp_path_factory):
    """A tiny built dataset as parquet (train/validation/test) and a tiny EEG-VLM saved with its processor."""
    from datasets import load_from_disk

    from eeg_vlm.train.modeling_setup import build_from_preset, cot_corpus
    from eeg_vlm.train.sft import _image_processor_config

    base = tmp_path_factory.mktemp("trl")
    simulate_random(base / "sim", n_subjects=3, seed=3, hours=1.0, nights_per_subject=1)
    build_dataset(base / "sim", base / "ds", progress=False)
    dataset = load_from_disk(str(base / "ds"))
    (base / "parquet" / "data").mkdir(parents=True)
    for split, rows in dataset.items():
        rows.to_parquet(str(base / "parquet" / "data" / f"{split}-00000-of-00001.parquet"))
    torch.manual_seed(0)
    model, processor = build_from_preset("tiny", cot_corpus(dataset["train"]), _image_processor_config(dataset["train"]))
    model.save_pretrained(base / "model")
    processor.save_pretrained(base / "model")
    return base


def _trl_sft(inputs: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    trl = shutil.which("trl")
    if trl is None:
        pytest.skip("the `trl` console script is not on PATH (pip install trl)")
    cmd = [trl, "sft", "--model_name_or_path", str(inputs / "model"), "--dataset_name", str(inputs / "parquet"),
           "--output_dir", str(out), *TRL_ARGS, *extra]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "OMP_NUM_THREADS": "2",
           "HF_MODULES_CACHE": str(out.parent / f"{out.name}-modules")}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=out.parent, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def test_trl_sft_cli_trains_the_stage_head_with_trust_remote_code(trl_inputs, tmp_path):
    out = tmp_path / "full"
    _trl_sft(trl_inputs, out)
    before, after = load_file(trl_inputs / "model" / "model.safetensors"), load_file(out / "model.safetensors")
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert "model.stage_head.out.weight" in changed  # only the stage loss reaches the head
    assert "model.language_model.layers.0.self_attn.q_proj.weight" in changed
    assert json.loads((out / "config.json").read_text())["stage_answer_token_ids"]


def test_trl_sft_cli_use_peft_default_targets(trl_inputs, tmp_path):
    out = tmp_path / "lora"
    _trl_sft(trl_inputs, out, "--use_peft", "--lora_modules_to_save", "stage_head")
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["target_modules"] == r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|c_attn|c_proj)$"
    adapters = load_file(out / "adapter_model.safetensors")
    assert any("language_model.layers.0.self_attn.q_proj.lora_B" in k for k in adapters)
    before = load_file(trl_inputs / "model" / "model.safetensors")["model.stage_head.out.weight"]
    head = next(v for k, v in adapters.items() if k.endswith("stage_head.modules_to_save.default.out.weight")
                or k.endswith("stage_head.out.weight"))
    assert not torch.equal(head, before)  # the stage head, trained in full next to the adapters, learned


def _torchrun(args: list[str], out: Path, done_marker: str) -> str:
    """2 CPU processes (gloo), DDP without find_unused_parameters: every trainable parameter needs a gradient.

    torch 2.13's ``~ProcessGroupGloo`` can hang joining its thread at interpreter exit when the script never destroys
    the process group (TRL's sft script does not): once the run has printed ``done_marker`` and saved
    ``model.safetensors``, a process still alive 60 s later is stopped. Any failure before that fails the test.
    """
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args,
           "--ddp_find_unused_parameters", "false", "--output_dir", str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "OMP_NUM_THREADS": "1",
           "HF_MODULES_CACHE": str(out.parent / f"{out.name}-modules")}
    log = out.parent / f"{out.name}.log"
    with open(log, "w") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=Path(__file__).parents[1],
                                start_new_session=True)
        done_at, start = None, time.monotonic()
        while proc.poll() is None and time.monotonic() - start < 900:
            time.sleep(2)
            if done_at is None and done_marker in log.read_text() and (out / "model.safetensors").exists():
                done_at = time.monotonic()
            if done_at is not None and time.monotonic() - done_at > 60:
                os.killpg(proc.pid, signal.SIGKILL)  # the teardown hang described above
                proc.wait()
                return log.read_text()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log.read_text()
    assert proc.returncode == 0, text[-4000:]
    return text


def test_ddp_two_cpu_processes_our_sft_without_find_unused_parameters(trl_inputs, tmp_path):
    config = Path(__file__).parents[1] / "eeg_vlm" / "train" / "configs" / "tiny.yaml"
    out = tmp_path / "ddp"
    text = _torchrun(["-m", "eeg_vlm.train", "sft", "--config", str(config), "--dataset", str(trl_inputs / "ds"),
                      "--gradient_checkpointing", "true", "--use_peft", "false", "--max_steps", "2"], out, "saved to")
    assert "'epoch': '0.25'" in text  # 16 rows, 2 x 2 per step: two processes
    assert (out / "model.safetensors").exists()


def test_ddp_two_cpu_processes_stock_trl_sft_trains_the_stage_head(trl_inputs, tmp_path):
    """TRL's own sft script (what `trl sft` launches) under DDP: the stage head is used at every step."""
    from trl.scripts import sft

    out = tmp_path / "ddp-trl"
    trl_args = [a for a in TRL_ARGS if a != "--use_cpu"] + ["--use_cpu", "true"]
    _torchrun([sft.__file__, "--model_name_or_path", str(trl_inputs / "model"), "--dataset_name",
               str(trl_inputs / "parquet"), *trl_args, "--max_steps", "2"], out, "Model saved to")
    before, after = load_file(trl_inputs / "model" / "model.safetensors"), load_file(out / "model.safetensors")
    assert not torch.equal(before["model.stage_head.out.weight"], after["model.stage_head.out.weight"])
