"""transformers' own common tests (ModelTesterMixin, ConfigTester, ImageProcessingTestMixin, ProcessorTesterMixin)
run against a tiny EEG-VLM, taken from the sdist of the installed transformers (see ``hf_test_mixins.py``).

    python -m pytest tests/test_transformers_mixins.py -q -rs

Every skip below names its reason; ``SKIPS`` lists the tests skipped by name.
"""

from __future__ import annotations

import os
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import hf_test_mixins  # noqa: E402

try:
    modeling_common, configuration_common, image_processing_common, processing_common = hf_test_mixins.load()
except Exception as error:  # no network to PyPI, no pip: the suite still runs, these tests say why they did not
    pytest.skip(f"transformers' test mixins unavailable: {error}", allow_module_level=True)

from eeg_vlm import (  # noqa: E402
    EEGVLMConfig,
    EEGVLMForConditionalGeneration,
    EEGVLMImageProcessor,
    EEGVLMModel,
    EEGVLMProcessor,
)

from transformers.models.auto import modeling_auto  # noqa: E402

# transformers' tests assert its deprecation warnings (FutureWarning), which pyproject.toml ignores elsewhere
pytestmark = pytest.mark.filterwarnings("default::FutureWarning")

# An in-library model is listed in these name tables, which the mixins read to know a class is an image-text-to-text
# LM (to build `labels`, check `shift_labels`...). `AutoModel*.register` does not fill them, so list ours as
# transformers would.
modeling_auto.MODEL_MAPPING_NAMES.setdefault("eeg_vlm", "EEGVLMModel")
modeling_auto.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES.setdefault("eeg_vlm", "EEGVLMForConditionalGeneration")

ModelTesterMixin = modeling_common.ModelTesterMixin
ids_tensor, floats_tensor = modeling_common.ids_tensor, modeling_common.floats_tensor

IMAGE_TOKEN_ID = 3  # as the shipped default model


def tiny_config(**overrides) -> EEGVLMConfig:
    """A tiny EEG-VLM: 32-px images in 16-px patches (4 patch tokens) + 2 high-level tokens, hidden 32, 2 layers."""
    options = dict(
        vision_config=dict(model_type="clip_vision_model", hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                           num_attention_heads=4, image_size=32, patch_size=16),
        text_config=dict(model_type="llama", vocab_size=99, hidden_size=32, intermediate_size=37,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=64, pad_token_id=0, bos_token_id=1, eos_token_id=2),
        num_high_level_tokens=2, image_token_id=IMAGE_TOKEN_ID,
    )
    options.update(overrides)
    return EEGVLMConfig(**options)


class EEGVLMModelTester:
    def __init__(self, parent, batch_size=3, text_length=7, is_training=True):
        self.parent = parent
        self.batch_size = batch_size
        self.is_training = is_training
        config = tiny_config()
        self.num_image_tokens = config.num_visual_tokens  # 6
        self.seq_length = self.num_image_tokens + text_length
        self.vocab_size = config.text_config.vocab_size
        self.hidden_size = config.text_config.hidden_size
        self.num_hidden_layers = config.text_config.num_hidden_layers
        self.num_attention_heads = config.text_config.num_attention_heads
        self.image_size = config.vision_config.image_size
        self.patch_size = config.vision_config.patch_size
        self.text_config = config.text_config.to_dict()
        self.vision_config = config.vision_config.to_dict()

    def get_config(self):
        return tiny_config()

    def prepare_config_and_inputs(self):
        config = self.get_config()
        pixel_values = floats_tensor([self.batch_size, 3, self.image_size, self.image_size])
        return config, pixel_values

    def prepare_config_and_inputs_for_common(self):
        config, pixel_values = self.prepare_config_and_inputs()
        input_ids = ids_tensor([self.batch_size, self.seq_length], self.vocab_size - 4) + 4  # no special token
        attention_mask = torch.ones_like(input_ids)
        input_ids[:, : self.num_image_tokens] = config.image_token_id  # one image first, as the processor does
        return config, {"pixel_values": pixel_values, "input_ids": input_ids, "attention_mask": attention_mask}


# Tests skipped by name, each with its reason (reported by `pytest -rs`).
SKIPS = {
    "test_generation_tester_mixin_inheritance": "GenerationTesterMixin is not in the sdist (tests/generation/ is not "
    "shipped); greedy, sampling, beam, static-cache and assisted decoding are tested in "
    "test_transformers_contracts.py",
    "test_new_models_require_torchvision_backend": "a policy for processors added to the transformers library after "
    "its cutoff date; EEG-VLM's renderer is numpy/PIL remote code, outside the library",
    "test_apply_chat_template_audio": "EEG-VLM takes no audio: its `feature_extractor` measures EEG epochs "
    "(EEGVLMFeatureExtractor), and the mixin picks audio tests by that attribute's name",
}


class NamedSkips:
    """Skip the tests listed in SKIPS, with their reason."""

    def setUp(self):
        for skipped, reason in SKIPS.items():
            if self._testMethodName == skipped or self._testMethodName.startswith(skipped + "_"):
                self.skipTest(reason)
        super().setUp()


class EEGVLMModelTest(NamedSkips, ModelTesterMixin, modeling_common.GenerationTesterMixin, unittest.TestCase):
    all_model_classes = (EEGVLMModel, EEGVLMForConditionalGeneration)
    pipeline_model_mapping = {"image-text-to-text": EEGVLMForConditionalGeneration}
    _is_composite = True

    def setUp(self):
        super().setUp()
        self.model_tester = EEGVLMModelTester(self)
        self.config_tester = configuration_common.ConfigTester(
            self, config_class=EEGVLMConfig, has_text_modality=False,
            common_properties=["image_token_id", "vision_feature_layer", "num_visual_tokens"])

    def test_config(self):
        self.config_tester.run_common_tests()


# ----------------------------------------------------------------------------- image processor
class EEGVLMImageProcessingTester(image_processing_common.ImageProcessingTester):
    def __init__(self, parent, **kwargs):
        # 64-px canvas (a 30-s epoch at 0.75 s/px is 40 px wide); random images of 30-100 px are resized to it
        kwargs.setdefault("size", {"height": 64, "width": 64})
        kwargs.setdefault("seconds_per_pixel", 0.75)
        kwargs.setdefault("do_normalize", True)
        kwargs.setdefault("image_mean", [0.5, 0.5, 0.5])
        kwargs.setdefault("image_std", [0.5, 0.5, 0.5])
        super().__init__(parent, min_resolution=30, max_resolution=100, **kwargs)

    def _get_image_processing_classes(self):
        # the mixin finds an in-library processor by the test folder's name; ours is registered, not listed
        return {"pil": EEGVLMImageProcessor}


class EEGVLMImageProcessingTest(NamedSkips, image_processing_common.ImageProcessingTestMixin, unittest.TestCase):
    image_processor_tester_class = EEGVLMImageProcessingTester
    test_cast_dtype = True  # run test_cast_dtype_device (the mixin skips it silently when None)


# ----------------------------------------------------------------------------- processor
class EEGVLMProcessorTest(NamedSkips, processing_common.ProcessorTesterMixin, unittest.TestCase):
    processor_class = EEGVLMProcessor

    @classmethod
    def _setup_image_processor(cls):
        return EEGVLMImageProcessor(size=64, seconds_per_pixel=0.75)

    @classmethod
    def _setup_feature_extractor(cls):
        from eeg_vlm import EEGVLMFeatureExtractor

        return EEGVLMFeatureExtractor()

    @classmethod
    def _setup_tokenizer(cls):
        from eeg_vlm.tokenizer import train_bpe_tokenizer

        corpus = ["lower newer lowest newest upper. Stage: W", "Describe this image. Stage: N2", "hello world"] * 4
        return train_bpe_tokenizer(corpus, vocab_size=300)

    @staticmethod
    def prepare_processor_dict():
        return {"num_image_tokens": 6}

    def get_subprocessor_name(self, modality, attributes):
        # the mixin takes any `feature_extractor` for an audio processor; ours measures EEG and takes no audio, so
        # the audio modality is absent (its tests skip themselves, the multimodal ones run on images + text)
        if modality == "audio":
            return "audio_processor"
        return super().get_subprocessor_name(modality, attributes)
