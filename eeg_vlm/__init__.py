"""EEG-VLM: an explainable vision-language model for automatic sleep staging.

``import eeg_vlm`` registers the model with the transformers Auto classes (``model_type="eeg_vlm"``)::

    from transformers import AutoModelForImageTextToText, AutoProcessor
    import eeg_vlm  # noqa: F401  (registration)
"""

from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageTextToText,
    AutoProcessor,
)

from .configuration_eeg_vlm import STAGE_LABELS, EEGVLMConfig
from .image_processing_eeg_vlm import EEGVLMImageProcessor, epochs_with_context
from .modeling_eeg_vlm import EEGVLMForConditionalGeneration, EEGVLMModel, EEGVLMPreTrainedModel
from .processing_eeg_vlm import EEGVLMProcessor
from .staging import NightResult, default_model_path, explain_epoch, sample_night_path, stage_night

__version__ = "0.1.0"

AutoConfig.register("eeg_vlm", EEGVLMConfig, exist_ok=True)
AutoModel.register(EEGVLMConfig, EEGVLMModel, exist_ok=True)
AutoModelForImageTextToText.register(EEGVLMConfig, EEGVLMForConditionalGeneration, exist_ok=True)
AutoImageProcessor.register(EEGVLMConfig, image_processor_classes={"pil": EEGVLMImageProcessor}, exist_ok=True)
AutoProcessor.register(EEGVLMConfig, EEGVLMProcessor, exist_ok=True)

# `save_pretrained` writes `auto_map` and copies the four code files, so the Hub loads them as remote code
EEGVLMConfig.register_for_auto_class()
EEGVLMModel.register_for_auto_class("AutoModel")
EEGVLMForConditionalGeneration.register_for_auto_class("AutoModelForImageTextToText")
EEGVLMImageProcessor.register_for_auto_class("AutoImageProcessor")
EEGVLMProcessor.register_for_auto_class("AutoProcessor")

__all__ = [
    "STAGE_LABELS",
    "EEGVLMConfig",
    "EEGVLMModel",
    "EEGVLMPreTrainedModel",
    "EEGVLMForConditionalGeneration",
    "EEGVLMImageProcessor",
    "EEGVLMProcessor",
    "epochs_with_context",
    "NightResult",
    "stage_night",
    "explain_epoch",
    "default_model_path",
    "sample_night_path",
]
