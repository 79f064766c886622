"""`from_components` composes any pretrained CLIP with any pretrained causal LM, offline, from local dirs."""

import pytest
import torch
from transformers import AutoModelForCausalLM, CLIPConfig, CLIPModel, GPT2Config, LlamaConfig, Qwen2Config

from eeg_vlm import EEGVLMForConditionalGeneration

VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=32,
              patch_size=8)
TEXT_CONFIGS = {
    "llama": LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=120),
    "qwen2": Qwen2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=120, tie_word_embeddings=True),
    "gpt2": GPT2Config(n_embd=32, n_layer=2, n_head=4, vocab_size=120, n_positions=128),
}


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("clip")
    CLIPModel(CLIPConfig(vision_config=VISION, text_config=dict(hidden_size=32, intermediate_size=64,
                                                                num_hidden_layers=1, num_attention_heads=4),
                         projection_dim=16)).save_pretrained(path)
    return path


@pytest.mark.parametrize("lm", sorted(TEXT_CONFIGS))
def test_from_components_loads_both_towers_pretrained_weights(clip_dir, tmp_path, lm):
    torch.manual_seed(2)
    lm_dir = tmp_path / lm
    causal = AutoModelForCausalLM.from_config(TEXT_CONFIGS[lm]).eval()  # GPT-2 has dropout
    causal.save_pretrained(lm_dir)
    model = EEGVLMForConditionalGeneration.from_components(vision=clip_dir, text=lm_dir, image_token_id=119)
    clip = CLIPModel.from_pretrained(clip_dir)
    for name, tensor in clip.vision_model.state_dict().items():
        torch.testing.assert_close(model.model.vision_tower.state_dict()[name], tensor)
    for name, tensor in causal.base_model.state_dict().items():
        torch.testing.assert_close(model.model.language_model.state_dict()[name], tensor)
    torch.testing.assert_close(model.lm_head.weight, causal.get_output_embeddings().weight)
    # the composed model computes the LM's own logits on text-only input
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, causal(input_ids=ids).logits, atol=1e-5, rtol=1e-4)


def test_from_components_grows_the_vocabulary_for_a_new_image_token(clip_dir, tmp_path):
    AutoModelForCausalLM.from_config(TEXT_CONFIGS["llama"]).save_pretrained(tmp_path / "lm")
    model = EEGVLMForConditionalGeneration.from_components(vision=clip_dir, text=tmp_path / "lm", image_token_id=120)
    assert model.config.text_config.vocab_size >= 121
    assert model.get_input_embeddings().num_embeddings == model.lm_head.out_features


def test_from_components_requires_image_token_id(clip_dir, tmp_path):
    AutoModelForCausalLM.from_config(TEXT_CONFIGS["llama"]).save_pretrained(tmp_path / "lm")
    with pytest.raises(ValueError, match="image_token_id"):
        EEGVLMForConditionalGeneration.from_components(vision=clip_dir, text=tmp_path / "lm")
