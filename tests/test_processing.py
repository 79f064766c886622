"""Processor promises: EEG or images + text -> inputs with expanded <image>, chat template, save/load."""

import numpy as np
import pytest
import torch
from conftest import tiny_config, tiny_processor

from eeg_vlm import EEGVLMProcessor
from eeg_vlm.processing_eeg_vlm import staging_messages

FS = 100


def _epoch(seed=0):
    return np.random.default_rng(seed).standard_normal(3000) * 30


def test_processor_expands_one_image_token_into_visual_tokens(tiny_tokenizer):
    config = tiny_config(tiny_tokenizer)
    proc = tiny_processor(tiny_tokenizer, config)
    out = proc(eeg=_epoch(), sampling_rate=FS, text="<image>Score it.", return_tensors="pt")
    assert int((out["input_ids"] == config.image_token_id).sum()) == config.num_visual_tokens
    assert out["pixel_values"].shape == (1, 3, 32, 32)


def test_processor_eeg_and_images_paths_agree(tiny_tokenizer):
    config = tiny_config(tiny_tokenizer)
    proc = tiny_processor(tiny_tokenizer, config)
    image = proc.image_processor.render(_epoch(), FS)[0]
    a = proc(eeg=_epoch(), sampling_rate=FS, text="<image>x", return_tensors="pt")
    b = proc(images=[image], text="<image>x", return_tensors="pt")
    assert torch.equal(a["input_ids"], b["input_ids"])
    assert torch.equal(a["pixel_values"], b["pixel_values"])


def test_processor_output_runs_through_the_model(tiny_model_and_processor):
    model, proc = tiny_model_and_processor
    batch = np.stack([_epoch(0), _epoch(1)])[:, None]
    inputs = proc(eeg=batch, sampling_rate=FS, text=["<image>Score.", "<image>Score."], return_tensors="pt")
    out = model(**inputs)
    assert out.stage_logits.shape == (2, 5)


def test_chat_template_marks_only_the_answer(tiny_tokenizer):
    config = tiny_config(tiny_tokenizer)
    proc = tiny_processor(tiny_tokenizer, config)
    image = proc.image_processor.render(_epoch(), FS)[0]
    answer = "Slow waves cover 41 % of the epoch. Stage: N3"
    enc = proc.apply_chat_template([staging_messages("Score.", answer)], tokenize=True, return_dict=True,
                                   return_assistant_tokens_mask=True, processor_kwargs={"images": [[image]]},
                                   return_tensors="pt")
    mask = enc["assistant_masks"][0].bool()
    assert tiny_tokenizer.decode(enc["input_ids"][0][mask]) == answer + "<|im_end|>"
    assert int((enc["input_ids"] == config.image_token_id).sum()) == config.num_visual_tokens


def test_generation_prompt_ends_with_the_assistant_header(tiny_tokenizer):
    proc = tiny_processor(tiny_tokenizer, tiny_config(tiny_tokenizer))
    text = proc.apply_chat_template(staging_messages("Score."), add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n") and "<image>" in text


def test_processor_save_load_round_trip(tiny_tokenizer, tmp_path):
    from transformers import AutoProcessor

    import eeg_vlm  # noqa: F401

    config = tiny_config(tiny_tokenizer)
    proc = tiny_processor(tiny_tokenizer, config)
    proc.save_pretrained(tmp_path)
    for loaded in (EEGVLMProcessor.from_pretrained(tmp_path), AutoProcessor.from_pretrained(tmp_path)):
        assert isinstance(loaded, EEGVLMProcessor)
        assert loaded.num_image_tokens == config.num_visual_tokens
        assert loaded.image_processor.to_dict() == proc.image_processor.to_dict()
        assert loaded.chat_template == proc.chat_template
        a = proc(eeg=_epoch(), sampling_rate=FS, text="<image>x", return_tensors="pt")
        b = loaded(eeg=_epoch(), sampling_rate=FS, text="<image>x", return_tensors="pt")
        assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["pixel_values"], b["pixel_values"])


def test_tokenizer_without_image_token_is_refused():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from eeg_vlm import EEGVLMImageProcessor

    raw = Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]")
    with pytest.raises(ValueError, match="image token"):
        EEGVLMProcessor(EEGVLMImageProcessor(), tok, num_image_tokens=4)


def test_missing_num_image_tokens_is_explained(tiny_tokenizer):
    from eeg_vlm import EEGVLMImageProcessor

    proc = EEGVLMProcessor(EEGVLMImageProcessor(size=32, seconds_per_pixel=1.25), tiny_tokenizer)
    with pytest.raises(ValueError, match="num_image_tokens"):
        proc(eeg=_epoch(), sampling_rate=FS, text="<image>x")
