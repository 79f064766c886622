"""EEG-VLM processor: EEG arrays or rendered images + text -> model inputs.

``processor(eeg=x, sampling_rate=100, text=prompt)`` renders the epoch with :class:`EEGVLMImageProcessor`,
expands each ``<image>`` in the text into ``num_image_tokens`` placeholders (as LLaVA does) and tokenizes;
``return_features=True`` adds each epoch's measured feature vector (:class:`EEGVLMFeatureExtractor`).
``apply_chat_template`` formats chat messages with an image part; the template marks assistant turns with
``{% generation %}`` so TRL can train on the answer (the Chain-of-Thought) only.

This file is part of the Hub remote-code unit: it imports only installed libraries.
"""

from __future__ import annotations

import numpy as np
from transformers.image_utils import ImageInput
from transformers.processing_utils import ProcessorMixin
from transformers.tokenization_utils_base import TextInput

from .configuration_eeg_vlm import STAGE_LABELS
from .feature_extraction_eeg_vlm import EEGVLMFeatureExtractor

IMAGE_TOKEN = "<image>"
STAGING_PROMPT = (
    "This image shows one 30-s EEG epoch (centre) between its dimmed neighbours. Score it with the AASM rules: "
    "reason step by step, then answer on the last line 'Stage: <W|N1|N2|N3|REM>'."
)

# ChatML, with the assistant turn (answer + end token) inside {% generation %} for assistant-only loss.
CHAT_TEMPLATE = (
    "{%- macro render(content) -%}"
    "{%- if content is string -%}{{- content -}}"
    "{%- else -%}{%- for part in content -%}"
    "{%- if part['type'] == 'image' -%}{{- '<image>' -}}"
    "{%- elif part['type'] == 'text' -%}{{- part['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{%- endmacro -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{- '<|im_start|>assistant\n' -}}"
    "{%- generation -%}{{- render(message['content']) + '<|im_end|>' -}}{%- endgeneration -%}"
    "{{- '\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>' + message['role'] + '\n' + render(message['content']) + '<|im_end|>\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n' -}}{%- endif -%}"
)


def stage_answer_token_ids(tokenizer, stage_labels=STAGE_LABELS) -> list[list[int]]:
    """Token ids of ``"Stage: <label>"`` for each stage, as they appear on an answer's last line.

    ``EEGVLMConfig.stage_answer_token_ids``: with it the model reads each answer's stage itself, so stock trainers
    (``trl sft``) train the stage head. Byte-level BPE splits words from spaces and punctuation before merging, so
    the line tokenizes the same alone and inside an answer.
    """
    return [tokenizer.encode(f"Stage: {label}", add_special_tokens=False) for label in stage_labels]


def staging_messages(prompt: str = STAGING_PROMPT, answer: str | None = None) -> list[dict]:
    """Chat messages for one epoch: a user turn with the image and the prompt, and optionally the answer."""
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    if answer is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return messages


def _default_feature_extractor(image_processor) -> EEGVLMFeatureExtractor:
    """The default measurements, on the renderer's epochs (when they are long enough to measure: >= 30 s)."""
    epoch_seconds = getattr(image_processor, "epoch_seconds", 30.0)
    return EEGVLMFeatureExtractor(epoch_seconds=epoch_seconds) if epoch_seconds >= 30 else EEGVLMFeatureExtractor()


class _SavedBeforeFeatures(ProcessorMixin):
    """The two parts of a processor saved before it had a feature extractor (only its loading code is used)."""

    def __init__(self, image_processor=None, tokenizer=None):
        super().__init__(image_processor, tokenizer)


class EEGVLMProcessor(ProcessorMixin):
    r"""
    Wraps an :class:`EEGVLMImageProcessor`, a tokenizer and an :class:`EEGVLMFeatureExtractor`.

    Parameters
    ----------
    image_processor : EEGVLMImageProcessor
        Renders EEG and normalises images.
    tokenizer : PreTrainedTokenizerBase
        The LM tokenizer; it must know ``image_token`` (added as a special token).
    feature_extractor : EEGVLMFeatureExtractor, optional
        Measures each epoch (``return_features=True``). Default: ``EEGVLMFeatureExtractor()`` with the image
        processor's epoch length; processors saved without one load with it.
    chat_template : str, optional
        Jinja chat template. Default: ChatML with ``{% generation %}`` markers on assistant turns.
    num_image_tokens : int
        Placeholders one image expands into: ``EEGVLMConfig.num_visual_tokens``. Default 0 means "not set"; a
        processor built with :meth:`from_model_config` or saved next to a model has it.
    image_token : str
        The placeholder string. Default ``"<image>"``.
    """

    def __init__(self, image_processor=None, tokenizer=None, feature_extractor=None, chat_template=None,
                 num_image_tokens: int = 0, image_token: str = IMAGE_TOKEN, **kwargs):
        self.num_image_tokens = int(num_image_tokens)
        self.image_token = image_token
        unk = getattr(tokenizer, "unk_token_id", None)
        token_id = tokenizer.convert_tokens_to_ids(image_token) if tokenizer is not None else None
        if tokenizer is not None and (token_id is None or (token_id == unk and image_token != tokenizer.unk_token)):
            raise ValueError(
                f"tokenizer: received a tokenizer without the image token {image_token!r}, expected it as a special "
                f"token. Add it with tokenizer.add_special_tokens({{'additional_special_tokens': [{image_token!r}]}}) "
                "and resize the model's embeddings."
            )
        self.image_token_id = token_id
        if feature_extractor is None:
            feature_extractor = _default_feature_extractor(image_processor)
        super().__init__(image_processor, tokenizer, feature_extractor, chat_template=chat_template or CHAT_TEMPLATE,
                         **kwargs)

    @classmethod
    def _get_arguments_from_pretrained(cls, pretrained_model_name_or_path, processor_dict=None, **kwargs):
        """transformers' loading; a processor saved before the feature extractor existed gets the default one."""
        if processor_dict is None or "feature_extractor" in processor_dict:
            return super()._get_arguments_from_pretrained(pretrained_model_name_or_path, processor_dict, **kwargs)
        image_processor, tokenizer = _SavedBeforeFeatures._get_arguments_from_pretrained(
            pretrained_model_name_or_path, processor_dict, **kwargs)
        return [image_processor, tokenizer, _default_feature_extractor(image_processor)]

    def replace_image_token(self, image_inputs: dict, image_idx: int, **kwargs) -> str:
        if self.num_image_tokens < 1:
            raise ValueError(
                "num_image_tokens: received 0, expected the model's number of visual tokens "
                "(model.config.num_visual_tokens). Build the processor with "
                "EEGVLMProcessor(..., num_image_tokens=model.config.num_visual_tokens)."
            )
        return self.image_token * self.num_image_tokens

    def __call__(self, images: ImageInput | None = None, text: TextInput | list[TextInput] | None = None,
                 eeg: np.ndarray | list | None = None, channel_names: list[str] | None = None, **kwargs):
        """Tokenize ``text`` and turn ``images`` or ``eeg`` (uV, with ``sampling_rate=`` in Hz) into pixel values.

        Each ``<image>`` in ``text`` is expanded into ``num_image_tokens`` placeholders; the number of ``<image>``
        tokens must equal the number of images or epochs. ``sampling_rate`` (Hz, required with ``eeg``) is a keyword
        option, as transformers' processors take it.

        ``return_features=True`` (with ``eeg``) adds ``"features"``: float32 ``(n_epochs, F)``, the feature vector
        of each scored epoch (first channel; the neighbours are context and are not measured), columns
        ``feature_extractor.feature_names``. ``eog=`` / ``emg=`` (uV, ``(n_epochs, samples per epoch)`` at their own
        rate) feed its eye-movement and chin-EMG measurements, NaN without them.
        """
        if kwargs.get("audio") is not None:
            raise ValueError("audio: received audio, expected none: EEG-VLM reads EEG (eeg=array in uV with "
                             "sampling_rate=Hz) or rendered images (images=).")
        sampling_rate = kwargs.pop("sampling_rate", None)
        return_features = kwargs.pop("return_features", False)
        eog, emg = kwargs.pop("eog", None), kwargs.pop("emg", None)
        if return_features and eeg is None:
            raise ValueError("return_features: received True without eeg=, expected EEG in uV to measure (features "
                             "cannot be measured on rendered images). Pass eeg=array, sampling_rate=Hz.")
        if eeg is not None:
            if images is not None:
                raise ValueError("images / eeg: pass one of them, not both.")
            images = list(self.image_processor.render(eeg, sampling_rate, channel_names=channel_names))
        out = super().__call__(images=images, text=self._with_image_tokens(text, images), **kwargs)
        if return_features:
            out["features"] = self.feature_extractor(self._scored_epochs(eeg, sampling_rate), sampling_rate, eog=eog,
                                                     emg=emg, return_tensors=kwargs.get("return_tensors"))["features"]
        return out

    @property
    def _audio_processor(self):
        """None: the feature extractor measures EEG, it is no audio processor (transformers looks for one here)."""
        return None

    def _scored_epochs(self, eeg, sampling_rate) -> np.ndarray:
        """The scored epoch of each item of ``eeg`` (already checked by the renderer), first channel, in uV:
        ``(n_epochs, epoch samples)``."""
        if isinstance(eeg, (list, tuple)) and len(eeg) and np.ndim(eeg[0]) >= 1:
            batch = np.stack([np.asarray(e, dtype=np.float64).reshape(-1, np.shape(e)[-1]) for e in eeg])
        else:
            batch = np.asarray(eeg, dtype=np.float64)
            batch = batch.reshape((1,) * (3 - batch.ndim) + batch.shape)  # (B, C, S)
        n = int(round(self.image_processor.epoch_seconds * float(sampling_rate)))
        start = (batch.shape[-1] - n) // 2  # the centre epoch: neighbours, if any, lie on both sides
        return batch[:, 0, start : start + n]

    def _with_image_tokens(self, text, images):
        """Text without any ``<image>`` and one image per text (``pipeline("image-text-to-text")`` with a plain
        prompt): the image goes first, where the chat template puts it. Anything else is left for the count check."""
        if images is None or text is None:
            return text
        texts = [text] if isinstance(text, str) else text
        if not isinstance(texts, (list, tuple)) or not all(isinstance(t, str) for t in texts):
            return text
        if any(self.image_token in t for t in texts):
            return text
        per_text = images if isinstance(images, (list, tuple)) else [images]
        if len(texts) == 1 and len(per_text) > 1 and not isinstance(per_text[0], (list, tuple)):
            return text  # several images for one text: where each goes is not ours to guess
        counts = [len(i) if isinstance(i, (list, tuple)) else 1 for i in per_text]
        if len(counts) != len(texts):
            return text
        out = [self.image_token * n + t for n, t in zip(counts, texts)]
        return out[0] if isinstance(text, str) else out

    def save_pretrained(self, save_directory, *args, **kwargs):
        """``ProcessorMixin.save_pretrained``, without leaving the ``auto_map`` it writes on this object (saving does
        not change the processor: it compares equal to one loaded back)."""
        had_auto_map = "auto_map" in self.__dict__
        try:
            return super().save_pretrained(save_directory, *args, **kwargs)
        finally:
            if not had_auto_map:
                self.__dict__.pop("auto_map", None)

    def stage_answer_token_ids(self, stage_labels=STAGE_LABELS) -> list[list[int]]:
        """``EEGVLMConfig.stage_answer_token_ids`` for this tokenizer (see :func:`stage_answer_token_ids`)."""
        return stage_answer_token_ids(self.tokenizer, stage_labels)

    @property
    def model_input_names(self):
        return list(dict.fromkeys(self.tokenizer.model_input_names + ["pixel_values"]))


__all__ = ["EEGVLMProcessor", "stage_answer_token_ids", "STAGING_PROMPT", "CHAT_TEMPLATE", "staging_messages"]
