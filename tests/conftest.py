"""Shared fixtures: tiny random EEG-VLM models (hidden 32, 2 layers) and a tiny trained tokenizer."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data, or skip the test with the reason when it is missing (a fresh user clone)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} missing: ../shared/data (Sleep-EDFx hypnogram, DREAMS excerpts) is not beside this clone")
    return path


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def import_benchmark(name: str):
    """A module of ``benchmarks/`` (not a package), imported with that folder on ``sys.path`` for the import only."""
    import importlib
    import sys

    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from eeg_vlm.tokenizer import train_bpe_tokenizer

    corpus = [
        "Background: alpha covers 62 % of the epoch. Slow waves cover 3 % of the epoch. Stage: W",
        "Spindles: 3 spindles and 1 K-complex. Stage: N2",
        "Slow waves cover 41 % of the epoch. Stage: N3",
        "Rapid eye movements: 7. Chin tone is the lowest of the night. Stage: REM",
        "Theta dominates, vertex waves. Stage: N1",
    ] * 4
    return train_bpe_tokenizer(corpus, vocab_size=300)


def tiny_config(tokenizer, **options):
    from eeg_vlm import EEGVLMConfig

    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  image_size=32, patch_size=8)
    text = dict(model_type="llama", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, vocab_size=len(tokenizer),
                pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                bos_token_id=tokenizer.bos_token_id, max_position_embeddings=256)
    return EEGVLMConfig(vision_config=vision, text_config=text,
                        image_token_id=tokenizer.convert_tokens_to_ids("<image>"), **options)


def tiny_processor(tokenizer, config):
    from eeg_vlm import EEGVLMImageProcessor, EEGVLMProcessor

    # 32 px: a 30-s epoch at 1.25 s/px is 24 px wide, 4 px (5 s) of each neighbour visible
    image_processor = EEGVLMImageProcessor(size=32, seconds_per_pixel=1.25, uv_per_pixel=8.0, context_epochs=1)
    return EEGVLMProcessor(image_processor, tokenizer, num_image_tokens=config.num_visual_tokens)


@pytest.fixture()
def tiny_model_and_processor(tiny_tokenizer):
    import torch

    from eeg_vlm import EEGVLMForConditionalGeneration

    torch.manual_seed(0)
    config = tiny_config(tiny_tokenizer)
    return EEGVLMForConditionalGeneration(config).eval(), tiny_processor(tiny_tokenizer, config)


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_tokenizer, tmp_path_factory):
    """A tiny random EEG-VLM saved with its processor (stands in for the embedded model in fast tests)."""
    import torch

    from eeg_vlm import EEGVLMForConditionalGeneration

    torch.manual_seed(0)
    config = tiny_config(tiny_tokenizer)
    model = EEGVLMForConditionalGeneration(config)
    model.generation_config.max_new_tokens = 12  # random weights never stop on their own
    model.generation_config.suppress_tokens = [config.image_token_id]
    path = tmp_path_factory.mktemp("tiny_model")
    model.save_pretrained(path)
    tiny_processor(tiny_tokenizer, config).save_pretrained(path)
    return path
