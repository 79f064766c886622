"""EEG-VLM model promises: forward/loss/backward per alignment mode, stage head, generate, placeholder check,
save/load round trip. Tiny random configs (hidden 32, 2 layers)."""

import pytest
import torch
from conftest import tiny_config

from eeg_vlm import EEGVLMConfig, EEGVLMForConditionalGeneration, EEGVLMModel

MODES = ["cross_attention", "add", "concat", "none"]


def _inputs(config, batch=2, prefix=3, suffix=4):
    n = config.num_visual_tokens
    ids = torch.cat(
        [torch.full((batch, prefix), 5), torch.full((batch, n), config.image_token_id), torch.full((batch, suffix), 7)],
        dim=1,
    )
    return ids, torch.randn(batch, 3, 32, 32)


@pytest.mark.parametrize("mode", MODES)
def test_forward_loss_backward_every_alignment_mode(tiny_tokenizer, mode):
    torch.manual_seed(0)
    config = tiny_config(tiny_tokenizer, alignment_mode=mode)
    model = EEGVLMForConditionalGeneration(config)
    ids, pixels = _inputs(config)
    labels = ids.clone()
    labels[:, : ids.shape[1] - 4] = -100
    out = model(input_ids=ids, pixel_values=pixels, labels=labels, stage_labels=torch.tensor([0, 3]))
    assert out.logits.shape == (2, ids.shape[1], config.text_config.vocab_size)
    assert torch.isfinite(out.loss)
    expected = out.lm_loss + config.stage_loss_weight * out.stage_loss
    if mode == "none":
        assert out.alignment_loss is None
    else:
        expected = expected + config.alignment_loss_weight * out.alignment_loss
    torch.testing.assert_close(out.loss, expected)
    out.loss.backward()
    assert model.model.projector.linear_1.weight.grad is not None
    assert model.model.stage_head.out.weight.grad.abs().sum() > 0
    if mode != "none":
        assert model.model.enhancement.queries.grad.abs().sum() > 0


def test_visual_token_count_per_mode(tiny_tokenizer):
    counts = {m: tiny_config(tiny_tokenizer, alignment_mode=m).num_visual_tokens for m in MODES}
    n, k = 16, 8  # 32 px / 8 px patches = 4 x 4; 8 high-level tokens by default
    assert counts == {"cross_attention": k + n, "add": 2 * n, "concat": k + n, "none": n}


def test_stage_logits_shape_and_classify_probabilities(tiny_model_and_processor):
    model, _ = tiny_model_and_processor
    pixels = torch.randn(3, 3, 32, 32)
    probs = model.classify(pixels)
    assert probs.shape == (3, 5)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))


def test_placeholder_count_mismatch_raises_value_error(tiny_model_and_processor):
    model, _ = tiny_model_and_processor
    ids, pixels = _inputs(model.config, batch=1)
    ids = ids[:, :-5]  # drop one placeholder (and the suffix)
    with pytest.raises(ValueError, match=r"received \d+ <image> placeholder tokens.*expected \d+"):
        model(input_ids=ids, pixel_values=pixels[:1])


def test_generate_with_and_without_cache_agree(tiny_model_and_processor):
    model, _ = tiny_model_and_processor
    ids, pixels = _inputs(model.config, batch=1)
    kw = dict(input_ids=ids, pixel_values=pixels, attention_mask=torch.ones_like(ids), max_new_tokens=6,
              do_sample=False, suppress_tokens=[model.config.image_token_id])
    with_cache = model.generate(**kw)
    without = model.generate(**kw, use_cache=False)
    assert with_cache.shape == (1, ids.shape[1] + 6)
    assert torch.equal(with_cache, without)


def test_cnn_side_path_feeds_the_enhancement(tiny_tokenizer):
    torch.manual_seed(0)
    cnn = dict(model_type="resnet", embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic")
    config = tiny_config(tiny_tokenizer, enhancement_source="cnn", cnn_config=cnn)
    model = EEGVLMForConditionalGeneration(config)
    ids, pixels = _inputs(config)
    out = model(input_ids=ids, pixel_values=pixels, labels=ids, stage_labels=torch.tensor([1, 2]))
    out.loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.model.cnn.parameters())


def test_convnext_side_path_builds(tiny_tokenizer):
    cnn = dict(model_type="convnext", hidden_sizes=[8, 16], depths=[1, 1], num_stages=2)
    config = tiny_config(tiny_tokenizer, enhancement_source="cnn", cnn_config=cnn)
    model = EEGVLMForConditionalGeneration(config)
    assert model.classify(torch.randn(1, 3, 32, 32)).shape == (1, 5)


def test_bad_config_options_raise_value_error(tiny_tokenizer):
    with pytest.raises(ValueError, match="alignment_mode"):
        tiny_config(tiny_tokenizer, alignment_mode="sum")
    with pytest.raises(ValueError, match="cnn_config"):
        tiny_config(tiny_tokenizer, enhancement_source="cnn")
    with pytest.raises(ValueError, match="enhancement_layers"):
        tiny_config(tiny_tokenizer, enhancement_layers=[7])


def test_save_pretrained_from_pretrained_round_trip(tiny_model_and_processor, tmp_path):
    model, _ = tiny_model_and_processor
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert not list(tmp_path.glob("*.bin"))
    loaded = EEGVLMForConditionalGeneration.from_pretrained(tmp_path).eval()
    ids, pixels = _inputs(model.config, batch=1)
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids, pixel_values=pixels).logits,
                                   loaded(input_ids=ids, pixel_values=pixels).logits)
    assert isinstance(EEGVLMConfig.from_pretrained(tmp_path).text_config.model_type, str)


def test_auto_classes_are_registered(tiny_model_and_processor, tmp_path):
    from transformers import AutoConfig, AutoModel, AutoModelForImageTextToText

    model, _ = tiny_model_and_processor
    model.save_pretrained(tmp_path)
    assert isinstance(AutoConfig.from_pretrained(tmp_path), EEGVLMConfig)
    assert isinstance(AutoModelForImageTextToText.from_pretrained(tmp_path), EEGVLMForConditionalGeneration)
    assert isinstance(AutoModel.from_config(model.config), EEGVLMModel)


def test_tied_embeddings_follow_the_text_config(tiny_tokenizer):
    config = tiny_config(tiny_tokenizer)
    config.text_config.tie_word_embeddings = True
    config = EEGVLMConfig(**{**config.to_dict(), "tie_word_embeddings": True})
    model = EEGVLMForConditionalGeneration(config)
    assert model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
