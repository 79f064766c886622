"""Training promises: a 2-step `sft` on tiny.yaml, then `evaluate`, write the files; the collator masks the prompt;
LoRA adapters save and reload; the stage loss trains alongside the LM loss."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from eeg_vlm.dataset_builder.build import build_dataset
from eeg_vlm.simulation import simulate_random

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "eeg_vlm" / "train" / "configs" / "tiny.yaml"


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    base = tmp_path_factory.mktemp("train")
    simulate_random(base / "sim", n_subjects=3, seed=3, hours=1.0, nights_per_subject=1)
    build_dataset(base / "sim", base / "ds", progress=False)
    return base / "ds"


@pytest.fixture(scope="module")
def sft_run(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny"
    cmd = [sys.executable, "-m", "eeg_vlm.train", "sft", "--config", str(TINY), "--dataset", str(tiny_dataset),
           "--max_steps", "2", "--output_dir", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return out


def test_sft_two_steps_writes_adapters_base_processor_and_card(sft_run):
    for name in ("adapter_config.json", "adapter_model.safetensors", "processor_config.json", "README.md",
                 "base/model.safetensors", "base/config.json"):
        assert (sft_run / name).exists(), name
    assert not list(sft_run.rglob("*.bin")), "pickles are never written"
    card = (sft_run / "README.md").read_text()
    assert "model-index" in card and "Not a medical device" in card


def test_evaluate_writes_metrics_and_confusion(sft_run, tiny_dataset, tmp_path):
    out = tmp_path / "eval"
    cmd = [sys.executable, "-m", "eeg_vlm.train", "evaluate", "--model", str(sft_run), "--dataset", str(tiny_dataset),
           "--split", "test", "--output_dir", str(out), "--generate", "--max_generate", "2", "--max_new_tokens", "8"]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    metrics = json.loads((out / "metrics.json").read_text())
    head = metrics["stage_head"]
    for key in ("accuracy", "macro_f1", "cohen_kappa", "per_stage", "confusion_matrix", "n"):
        assert key in head
    assert head["n"] == sum(map(sum, head["confusion_matrix"]))
    assert set(head["per_stage"]) == {"W", "N1", "N2", "N3", "REM"}
    for key in ("parse_failure_rate", "head_cot_agreement", "n_generated", "generated_scorer_wording_rate",
                "shown_scorer_wording_rate", "generated_self_consistency_rate", "shown_self_consistency_rate"):
        assert key in metrics["cot"]
    assert metrics["cot"]["shown_scorer_wording_rate"] == 0.0
    assert (out / "confusion.png").stat().st_size > 1000


def test_collator_masks_prompt_and_keeps_only_the_answer(tiny_dataset, tiny_tokenizer):
    from conftest import tiny_config, tiny_processor
    from datasets import load_from_disk

    from eeg_vlm.train.collator import EEGVLMCollator

    rows = load_from_disk(str(tiny_dataset))["train"].select(range(3))
    processor = tiny_processor(tiny_tokenizer, tiny_config(tiny_tokenizer))
    batch = EEGVLMCollator(processor)([rows[i] for i in range(3)])
    for i in range(3):
        answer = tiny_tokenizer.decode(batch["input_ids"][i][batch["labels"][i] != -100])
        assert answer == rows[i]["cot"] + "<|im_end|>"
    image_id = tiny_tokenizer.convert_tokens_to_ids("<image>")
    assert not (batch["labels"] == image_id).any()
    assert torch.equal(batch["stage_labels"], torch.tensor(rows["stage"]))


def test_lora_adapters_save_and_reload_to_the_same_logits(sft_run, tiny_dataset):
    from datasets import load_from_disk
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from eeg_vlm.train.collator import EEGVLMCollator

    processor = AutoProcessor.from_pretrained(sft_run)
    rows = load_from_disk(str(tiny_dataset))["test"].select(range(2))
    batch = EEGVLMCollator(processor)([rows[0], rows[1]])
    batch.pop("labels")
    base = AutoModelForImageTextToText.from_pretrained(sft_run / "base").eval()
    with torch.no_grad():
        base_logits = base(**batch).stage_logits
    peft_model = PeftModel.from_pretrained(base, sft_run).eval()
    with torch.no_grad():
        a = peft_model(**batch)
    merged = peft_model.merge_and_unload().eval()
    with torch.no_grad():
        b = merged(**batch)
    torch.testing.assert_close(a.logits, b.logits, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(base_logits, a.stage_logits), "the trained stage head (modules_to_save) was restored"


def test_stage_loss_trains_alongside_the_lm_loss(tiny_dataset, tiny_tokenizer):
    from conftest import tiny_config, tiny_processor
    from datasets import load_from_disk

    from eeg_vlm import EEGVLMForConditionalGeneration
    from eeg_vlm.train.collator import EEGVLMCollator

    torch.manual_seed(0)
    config = tiny_config(tiny_tokenizer)
    model = EEGVLMForConditionalGeneration(config)
    rows = load_from_disk(str(tiny_dataset))["train"].select(range(4))
    batch = EEGVLMCollator(tiny_processor(tiny_tokenizer, config))([rows[i] for i in range(4)])
    out = model(**batch)
    out.loss.backward()
    assert out.stage_loss is not None and out.lm_loss is not None
    assert model.model.stage_head.out.weight.grad.abs().sum() > 0


def test_collator_ground_puts_the_measured_features_in_the_prompt(tiny_dataset, tiny_tokenizer):
    from conftest import tiny_config, tiny_processor
    from datasets import load_from_disk

    from eeg_vlm.reasoning.grounding import features_sentence
    from eeg_vlm.train.collator import EEGVLMCollator

    rows = load_from_disk(str(tiny_dataset))["train"].select(range(2))
    processor = tiny_processor(tiny_tokenizer, tiny_config(tiny_tokenizer))
    plain = EEGVLMCollator(processor)([rows[0], rows[1]])
    grounded = EEGVLMCollator(processor, ground=True)([rows[0], rows[1]])
    prompt_ids = grounded["input_ids"][0][grounded["labels"][0] == -100]
    assert features_sentence(rows[0]) in tiny_tokenizer.decode(prompt_ids)
    # the answer (and so the loss) is unchanged
    for batch in (plain, grounded):
        assert tiny_tokenizer.decode(batch["input_ids"][0][batch["labels"][0] != -100]) == rows[0]["cot"] + "<|im_end|>"


def test_grounded_answers_cite_exactly_the_numbers_their_prompt_states(tiny_dataset):
    from datasets import load_from_disk

    from eeg_vlm.reasoning.cot import parse_claims
    from eeg_vlm.train.grounded_data import grounded_columns

    rows = load_from_disk(str(tiny_dataset))["train"]
    prompts, answers = grounded_columns(rows, drop_eog_emg=0.5, seed=1)
    assert len(prompts) == len(answers) == len(rows)
    for prompt, answer in zip(prompts, answers):
        said = [(c["type"], c["value"]) for c in parse_claims(prompt)]
        cited = [(c["type"], c["value"]) for c in parse_claims(answer) if not c["type"].endswith("_stage")]
        assert said == cited  # every number of the answer is in the prompt, in the same phrase


def test_counterfactual_rows_restate_redrawn_numbers_and_the_rules_follow_them(tiny_dataset):
    import math

    from datasets import load_from_disk

    from eeg_vlm.reasoning.cot import parse_claims, stage_from_features
    from eeg_vlm.reasoning.faithfulness import EEG_KEYS
    from eeg_vlm.train.grounded_data import grounded_columns

    rows = load_from_disk(str(tiny_dataset))["train"]
    real = grounded_columns(rows)[0]
    prompts, answers = grounded_columns(rows, counterfactual=1.0, seed=2)
    assert sum(p != r for p, r in zip(prompts, real)) > 0.9 * len(rows)
    for prompt, answer in zip(prompts, answers):
        said = {c["type"]: c["value"] for c in parse_claims(prompt)}
        rule = next(c["value"] for c in parse_claims(answer) if c["type"] == "rule_stage")
        assert rule == stage_from_features({k: said.get(k, math.nan) for k in EEG_KEYS})


def test_grounded_prompts_state_the_staged_night_around_each_epoch(tiny_dataset):
    from datasets import load_from_disk

    from eeg_vlm.reasoning.cot import STAGES
    from eeg_vlm.reasoning.grounding import staged_sentence
    from eeg_vlm.train.grounded_data import grounded_columns

    rows = load_from_disk(str(tiny_dataset))["train"]
    stages, recordings = [STAGES[int(s)] for s in rows["stage"]], rows["recording"]
    prompts, answers = grounded_columns(rows)

    def expected(i, staged):  # up to 5 each side, within the epoch's own recording
        same = [j for j in range(i - 5, i + 6) if 0 <= j < len(rows) and recordings[j] == recordings[i]]
        return staged_sentence(staged[i], [staged[j] for j in same if j < i], [staged[j] for j in same if j > i])

    for i, (prompt, answer) in enumerate(zip(prompts, answers)):
        assert prompt.splitlines()[-1] == expected(i, stages)  # training: the expert stages, as the answer's
        assert answer.splitlines()[-1] == f"Stage: {stages[i]}"
    model_stages = ["REM"] * len(rows)  # evaluation: the model's own stages, never the expert's
    evaluated = grounded_columns(rows, staged=[4] * len(rows))[0]
    assert all(p.splitlines()[-1] == expected(i, model_stages) for i, p in enumerate(evaluated))
    with pytest.raises(ValueError, match="staged: received 2 stages"):
        grounded_columns(rows, staged=["W", "W"])


def test_neighbours_stop_at_recording_boundaries(tiny_dataset):
    from datasets import load_from_disk

    from eeg_vlm.train.grounded_data import neighbour_context

    rows = load_from_disk(str(tiny_dataset))["train"]
    ctx, recordings = neighbour_context(rows), rows["recording"]
    for i, c in enumerate(ctx):
        first = i == 0 or recordings[i - 1] != recordings[i]
        last = i + 1 == len(rows) or recordings[i + 1] != recordings[i]
        assert (c["prev_features"] is None) == first and (c["next_features"] is None) == last
        assert (c["prev_stage"] is None) == first and (c["next_stage"] is None) == last


def test_drop_eog_emg_says_so_in_prompt_and_answer_and_is_seeded(tiny_dataset):
    from datasets import load_from_disk

    from eeg_vlm.train.grounded_data import grounded_columns

    rows = load_from_disk(str(tiny_dataset))["train"]
    kept = grounded_columns(rows, drop_eog_emg=0.0)
    dropped = grounded_columns(rows, drop_eog_emg=1.0, seed=3)
    assert not any("no EOG channel" in p or "no EMG channel" in p for p in kept[0])
    assert all("no EOG channel" in p or "no EMG channel" in p for p in dropped[0])
    assert all(("no EOG channel" in p) == ("no EOG channel" in a) for p, a in zip(*dropped))
    assert dropped == grounded_columns(rows, drop_eog_emg=1.0, seed=3)
    eeg_only = grounded_columns(rows, eeg_only=True)[0]
    assert all("no EOG channel" in p and "no EMG channel" in p for p in eeg_only)
    with pytest.raises(ValueError, match="drop_eog_emg"):
        grounded_columns(rows, drop_eog_emg=1.5)


def test_evaluation_sample_spreads_over_the_split():
    from eeg_vlm.train.grounded_data import spread_indices

    assert spread_indices(10, None) == list(range(10)) and spread_indices(5, 99) == list(range(5))
    idx = spread_indices(3180, 100)
    assert len(idx) == 100 and idx[0] == 0 and idx[-1] == 3179 and max(b - a for a, b in zip(idx, idx[1:])) <= 33


def test_tokenizer_gives_one_token_per_digit_and_round_trips(tiny_tokenizer):
    text = "the peak-to-peak amplitude is 181 uV; chin EMG RMS is 2.9 uV"
    ids = tiny_tokenizer(text)["input_ids"]
    pieces = [tiny_tokenizer.decode([i]) for i in ids]
    assert tiny_tokenizer.decode(ids) == text
    assert all(not any(ch.isdigit() for ch in p) or p.strip() in "0123456789" for p in pieces)
    assert "".join(p for p in pieces if p.strip().isdigit()) == "18129"


def test_fresh_language_model_keeps_every_visual_weight(tiny_tokenizer):
    import torch

    from eeg_vlm.train.modeling_setup import build_from_preset, fresh_language_model

    corpus = ["Slow waves cover 41 % of the epoch. Stage: N3", "detected 2 sleep spindles. Stage: N2"] * 20
    torch.manual_seed(0)
    old, processor = build_from_preset("tiny", corpus, {"size": 64, "seconds_per_pixel": 1.0}, split_digits=False)
    new, new_processor = fresh_language_model(old, processor, corpus, "tiny", seed=1)
    assert len(new_processor.tokenizer) != len(processor.tokenizer)  # digits now split: another vocabulary
    old_sd, new_sd = old.state_dict(), new.state_dict()
    for key, value in old_sd.items():
        if key.startswith(("model.language_model.", "lm_head.")):
            continue
        assert torch.equal(value, new_sd[key]), key
    assert new.config.image_token_id == new_processor.tokenizer.convert_tokens_to_ids("<image>")
