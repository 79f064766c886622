"""The contracts transformers' ecosystem assumes of a model, one test per defect of issue 16, plus the generation
checks of transformers' GenerationTesterMixin (not in its sdist): greedy, sampling, beam, static cache, assisted.

    python -m pytest tests/test_transformers_contracts.py -q

Tiny random configs (hidden 32, 2 layers).
"""

from __future__ import annotations

import json

import pytest
import torch
from conftest import tiny_config

from eeg_vlm import EEGVLMForConditionalGeneration, EEGVLMModel
from eeg_vlm.modeling_eeg_vlm import stage_labels_from_answer
from eeg_vlm.processing_eeg_vlm import stage_answer_token_ids


def _model(tokenizer, **options):
    torch.manual_seed(0)
    config = tiny_config(tokenizer, stage_answer_token_ids=stage_answer_token_ids(tokenizer), **options)
    return EEGVLMForConditionalGeneration(config).eval()


def _inputs(model, tokenizer, answers=("Stage: N2", "Stage: REM"), prompt="Score it."):
    """Image placeholders, a prompt and an answer per row; labels cover the answer only (as our collator)."""
    n = model.config.num_visual_tokens
    rows, labels = [], []
    for answer in answers:
        p = [model.config.image_token_id] * n + tokenizer.encode(prompt, add_special_tokens=False)
        a = tokenizer.encode(answer, add_special_tokens=False) + [tokenizer.eos_token_id]
        rows.append(p + a)
        labels.append([-100] * len(p) + a)
    width = max(map(len, rows))
    pad = tokenizer.pad_token_id
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    lab = torch.tensor([r + [-100] * (width - len(r)) for r in labels])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    torch.manual_seed(1)
    return {"input_ids": ids, "attention_mask": mask, "pixel_values": torch.randn(len(answers), 3, 32, 32),
            "labels": lab}


# ----------------------------------------------------------------------------- 1. past_key_values
def test_past_key_values_is_honoured_in_stepwise_decoding(tiny_tokenizer):
    model = _model(tiny_tokenizer)
    batch = _inputs(model, tiny_tokenizer, answers=("Stage: N2",))
    ids, pixels = batch["input_ids"], batch["pixel_values"]
    with torch.no_grad():
        full = model(input_ids=ids, pixel_values=pixels).logits[:, -1]
        prefix = model(input_ids=ids[:, :-1], pixel_values=pixels, use_cache=True)
        step = model(input_ids=ids[:, -1:], past_key_values=prefix.cache, use_cache=True).logits[:, -1]
        no_cache = model(input_ids=ids[:, -1:]).logits[:, -1]
    torch.testing.assert_close(step, full, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(no_cache, full, atol=1e-3)  # the cache is what makes the step right


# ----------------------------------------------------------------------------- 2. return_dict=False
@pytest.mark.parametrize("cls", [EEGVLMModel, EEGVLMForConditionalGeneration])
def test_return_dict_false_gives_a_tuple(tiny_tokenizer, cls):
    model = cls(_model(tiny_tokenizer).config).eval()
    batch = _inputs(model, tiny_tokenizer)
    batch.pop("labels")
    with torch.no_grad():
        as_dict = model(**batch)
        as_tuple = model(**batch, return_dict=False)
    assert isinstance(as_tuple, tuple)
    torch.testing.assert_close(as_tuple[0], as_dict[0])
    model.config.return_dict = False
    with torch.no_grad():
        assert isinstance(model(**batch), tuple)


# ----------------------------------------------------------------------------- 3. torch.export
def test_torch_export_without_data_dependent_guards(tiny_tokenizer):
    model = _model(tiny_tokenizer)
    batch = _inputs(model, tiny_tokenizer, answers=("Stage: N2",))
    inputs = {"input_ids": batch["input_ids"], "pixel_values": batch["pixel_values"], "use_cache": False}
    exported = torch.export.export(model, args=(), kwargs=inputs, strict=False)
    with torch.no_grad():
        expected = model(**inputs).logits
    torch.testing.assert_close(exported.module()(**inputs).logits, expected)


def test_placeholder_mismatch_still_raises_a_clear_value_error(tiny_tokenizer):
    model = _model(tiny_tokenizer)
    batch = _inputs(model, tiny_tokenizer)
    with pytest.raises(ValueError, match="input_ids: received .* <image> placeholder tokens"):
        model(input_ids=batch["input_ids"], pixel_values=batch["pixel_values"][:1])


# ----------------------------------------------------------------------------- 4. shift_labels
def test_loss_is_taken_against_shift_labels(tiny_tokenizer):
    model = _model(tiny_tokenizer)
    batch = _inputs(model, tiny_tokenizer)
    labels = batch.pop("labels")
    shifted = torch.nn.functional.pad(labels, (0, 1), value=-100)[:, 1:].contiguous()
    with torch.no_grad():
        from_labels = model(**batch, labels=labels).lm_loss
        from_shift = model(**batch, labels=torch.full_like(labels, -100), shift_labels=shifted).lm_loss
        other = model(**batch, labels=labels, shift_labels=torch.roll(shifted, 1, dims=1).contiguous()).lm_loss
    torch.testing.assert_close(from_shift, from_labels)  # the same targets, already aligned
    assert not torch.isclose(other, from_labels)  # given shift_labels win over labels


# ----------------------------------------------------------------------------- 5. tied head vs TP plan
def test_tied_lm_head_is_sharded_with_the_embedding(tiny_tokenizer):
    model = _model(tiny_tokenizer, tie_word_embeddings=True)
    assert model.lm_head.weight is model.model.language_model.embed_tokens.weight
    plan = model.tp_plan
    assert "lm_head.weight" in model._tied_weights_keys
    assert ("lm_head" in plan) == ("model.language_model.embed_tokens" in plan)
    untied = _model(tiny_tokenizer)
    assert untied.lm_head.weight is not untied.model.language_model.embed_tokens.weight


# ----------------------------------------------------------------------------- 6. stage head under stock trainers
def test_stage_labels_are_read_from_the_answer_stage_line(tiny_tokenizer):
    model = _model(tiny_tokenizer)
    ids = model.config.stage_answer_token_ids
    batch = _inputs(model, tiny_tokenizer, answers=("Slow waves cover 41 %.\nStage: N3", "Stage: W", "no stage here"))
    assert stage_labels_from_answer(batch["labels"], ids).tolist() == [3, 0, -100]
    # only a whole "Stage: <label>" line counts (the prompt's "Stage: <W|N1|...>" does not), and the last one wins
    prompt_only = _inputs(model, tiny_tokenizer, answers=("Stage: <W|N1|N2|N3|REM>\nStage: N1\nStage: N2",))["labels"]
    assert stage_labels_from_answer(prompt_only, ids).tolist() == [2]
    with torch.no_grad():
        implicit = model(**batch)
        explicit = model(**batch, stage_labels=torch.tensor([3, 0, -100]))
    torch.testing.assert_close(implicit.stage_loss, explicit.stage_loss)
    assert implicit.stage_loss > 0


def test_stage_head_gets_gradients_without_stage_labels(tiny_tokenizer):
    model = _model(tiny_tokenizer).train()
    model(**_inputs(model, tiny_tokenizer)).loss.backward()
    assert model.model.stage_head.out.weight.grad.abs().sum() > 0


def test_every_trainable_parameter_is_in_the_graph_without_stage_targets(tiny_tokenizer):
    """DDP without find_unused_parameters needs a gradient for every trainable parameter at every step."""
    model = _model(tiny_tokenizer).train()
    model.config.stage_answer_token_ids = None  # a model saved before the option: no stage targets at all
    model(**_inputs(model, tiny_tokenizer)).loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []


def test_model_saved_before_stage_answer_ids_loads_without_them(tiny_tokenizer, tmp_path):
    model = _model(tiny_tokenizer)
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    del config["stage_answer_token_ids"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert EEGVLMForConditionalGeneration.from_pretrained(tmp_path).config.stage_answer_token_ids is None


def test_stage_answer_token_ids_validated(tiny_tokenizer):
    with pytest.raises(ValueError, match="stage_answer_token_ids: received 2 sequences"):
        tiny_config(tiny_tokenizer, stage_answer_token_ids=[[1], [2]])


# ----------------------------------------------------------------------------- lesser: auto_map, image_outputs
def test_saved_auto_map_lists_auto_model(tiny_tokenizer, tmp_path):
    import eeg_vlm  # noqa: F401  (registration for remote code)

    _model(tiny_tokenizer).save_pretrained(tmp_path)
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert auto_map["AutoModel"] == "modeling_eeg_vlm.EEGVLMModel"
    assert auto_map["AutoModelForImageTextToText"] == "modeling_eeg_vlm.EEGVLMForConditionalGeneration"


def test_image_outputs_in_the_output(tiny_tokenizer):
    model = _model(tiny_tokenizer)
    batch = _inputs(model, tiny_tokenizer)
    with torch.no_grad():
        out = model(**batch)
    assert out.image_outputs.hidden_states[0].shape[0] == 2
    assert out.image_outputs.pooler_output.shape[0] == 2


# ----------------------------------------------------------------------------- generation (GenerationTesterMixin)
def _prompt(model, tokenizer):
    batch = _inputs(model, tokenizer, answers=("",))
    keep = batch["labels"][0] == -100
    return {"input_ids": batch["input_ids"][:, keep], "pixel_values": batch["pixel_values"]}


def test_generation_greedy_with_and_without_cache_agree(tiny_tokenizer):
    model = _model(tiny_tokenizer)
    inputs = _prompt(model, tiny_tokenizer)
    kw = dict(max_new_tokens=6, do_sample=False, min_new_tokens=6)
    assert torch.equal(model.generate(**inputs, **kw), model.generate(**inputs, use_cache=False, **kw))


def test_generation_sampling_is_seeded(tiny_tokenizer):
    model = _model(tiny_tokenizer)
    inputs = _prompt(model, tiny_tokenizer)
    kw = dict(max_new_tokens=6, min_new_tokens=6, do_sample=True, top_k=20)
    torch.manual_seed(3)
    first = model.generate(**inputs, **kw)
    torch.manual_seed(3)
    assert torch.equal(first, model.generate(**inputs, **kw))


def test_generation_beam_search(tiny_tokenizer):
    model = _model(tiny_tokenizer)
    inputs = _prompt(model, tiny_tokenizer)
    out = model.generate(**inputs, max_new_tokens=5, min_new_tokens=5, num_beams=3, num_return_sequences=2,
                         do_sample=False)
    assert out.shape == (2, inputs["input_ids"].shape[1] + 5)


def test_generation_static_cache_matches_dynamic(tiny_tokenizer):
    model = _model(tiny_tokenizer)
    inputs = _prompt(model, tiny_tokenizer)
    kw = dict(max_new_tokens=6, min_new_tokens=6, do_sample=False)
    assert torch.equal(model.generate(**inputs, cache_implementation="static", **kw), model.generate(**inputs, **kw))


def test_generation_assisted_matches_greedy(tiny_tokenizer):
    model = _model(tiny_tokenizer)
    inputs = _prompt(model, tiny_tokenizer)
    kw = dict(max_new_tokens=6, min_new_tokens=6, do_sample=False)
    assisted = model.generate(**inputs, assistant_model=_model(tiny_tokenizer, alignment_mode="cross_attention"), **kw)
    assert torch.equal(assisted, model.generate(**inputs, **kw))


# ----------------------------------------------------------------------------- lesser: image processor / processor
def test_image_processor_size_is_height_width_and_int_sizes_still_load(tmp_path):
    from transformers import AutoImageProcessor

    import eeg_vlm
    from eeg_vlm import EEGVLMImageProcessor

    assert EEGVLMImageProcessor(size=64, seconds_per_pixel=0.75).size == {"height": 64, "width": 64}
    # models saved before the dict form (the first shipped models) have an int size: they still load
    legacy = json.loads((eeg_vlm.default_model_path() / "processor_config.json").read_text())["image_processor"]
    legacy = {k: v for k, v in legacy.items() if k != "auto_map"} | {"size": 224}
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "preprocessor_config.json").write_text(json.dumps(legacy))
    loaded = AutoImageProcessor.from_pretrained(tmp_path / "legacy")
    assert loaded.size == {"height": 224, "width": 224}
    loaded.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "preprocessor_config.json").read_text())["size"] == {"height": 224, "width": 224}
    with pytest.raises(ValueError, match="size: received .* expected a square"):
        EEGVLMImageProcessor(size={"height": 224, "width": 112})


def test_processor_honours_do_rescale_and_do_normalize(tiny_model_and_processor):
    import numpy as np

    _, processor = tiny_model_and_processor
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    raw = processor(images=[image], text="<image>x", do_rescale=False, do_normalize=False, return_tensors="np")
    np.testing.assert_array_equal(raw["pixel_values"][0], image.transpose(2, 0, 1).astype(np.float32))
    scaled = processor(images=[image], text="<image>x", do_normalize=False, return_tensors="np")
    np.testing.assert_allclose(scaled["pixel_values"][0], image.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    default = processor(images=[image], text="<image>x", return_tensors="np")["pixel_values"]
    assert not np.allclose(default, scaled["pixel_values"])  # CLIP normalisation by default


def test_processor_refuses_crop_and_pad_and_names_unknown_options(tiny_model_and_processor, caplog):
    import numpy as np

    _, processor = tiny_model_and_processor
    image = np.zeros((32, 32, 3), dtype=np.uint8)
    for option in ("do_center_crop", "do_pad"):
        with pytest.raises(ValueError, match=f"{option}: received True"):
            processor(images=[image], text="<image>x", **{option: True})
    with pytest.raises(ValueError, match="do_resize=False"):
        processor.image_processor(images=np.zeros((40, 40, 3), dtype=np.uint8), do_resize=False)
    processor.image_processor(images=image, brightness=2)
    assert "brightness" in caplog.text


# ----------------------------------------------------------------------------- 7. LoRA all-linear, default targets
def test_lora_all_linear_adapters_on_attention_out_proj_are_effective(tiny_tokenizer):
    from peft import LoraConfig, get_peft_model

    model = _model(tiny_tokenizer)
    batch = _inputs(model, tiny_tokenizer)
    with torch.no_grad():
        before = model(**batch).logits
    peft_model = get_peft_model(model, LoraConfig(target_modules="all-linear", task_type="CAUSAL_LM", r=4))
    attn = peft_model.base_model.model.model.enhancement.attn
    assert hasattr(attn.out_proj, "lora_B")  # PEFT did wrap the attention output projection
    with torch.no_grad():  # zero-initialised adapters: the module path gives the same logits as torch's own
        torch.testing.assert_close(peft_model(**batch).logits, before, atol=1e-5, rtol=1e-4)
    peft_model.train()
    peft_model(**batch).loss.backward()
    for name in ("enhancement", "alignment"):
        out_proj = getattr(peft_model.base_model.model.model, name).attn.out_proj
        assert out_proj.lora_B["default"].weight.grad.abs().sum() > 0, name


def test_peft_default_lora_targets_for_eeg_vlm(tiny_tokenizer):
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(_model(tiny_tokenizer), LoraConfig(task_type="CAUSAL_LM", r=4))  # no target_modules
    wrapped = {n.rsplit(".lora_A", 1)[0] for n, _ in peft_model.named_parameters() if ".lora_A" in n}
    assert wrapped and all(".language_model." in n for n in wrapped)
    assert {n.rsplit(".", 1)[-1] for n in wrapped} == {"q_proj", "k_proj", "v_proj", "o_proj"}


def test_backbone_alone_trains_the_stage_head_as_trl_fused_lm_head_calls_it(tiny_tokenizer):
    """TRL's fused LM head runs `model.model` (the backbone) and the head, never our forward: the backbone adds the
    gradient of the weighted stage + alignment loss itself, read from the answer's `Stage:` line in input_ids."""
    model = _model(tiny_tokenizer).train()
    batch = _inputs(model, tiny_tokenizer)
    labels = batch.pop("labels")
    out = model.model(**batch)
    assert out.aux_loss is not None and out.aux_loss > 0
    out.last_hidden_state.sum().backward()
    head_grad = model.model.stage_head.out.weight.grad.clone()
    assert head_grad.abs().sum() > 0
    # the same gradient as the stage + alignment part of the full forward's loss
    model.zero_grad()
    full = model(**batch, labels=labels)
    (full.stage_loss * model.config.stage_loss_weight).backward()
    torch.testing.assert_close(head_grad, model.model.stage_head.out.weight.grad)
    model.zero_grad()
    with torch.no_grad():
        assert model.model(**batch).aux_loss is None  # never outside training
    model.eval()
    assert model.model(**batch).aux_loss is None


def test_unused_post_layernorm_stays_frozen_after_from_pretrained(tiny_tokenizer, tmp_path):
    """Loading makes every weight trainable; CLIP's post_layernorm feeds no output, so DDP would wait for it."""
    from transformers import AutoModelForImageTextToText

    import eeg_vlm  # noqa: F401  (Auto registration)

    _model(tiny_tokenizer).save_pretrained(tmp_path)
    for model in (EEGVLMForConditionalGeneration.from_pretrained(tmp_path),
                  AutoModelForImageTextToText.from_pretrained(tmp_path)):
        frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
        assert frozen == {"model.vision_tower.post_layernorm.weight", "model.vision_tower.post_layernorm.bias"}
