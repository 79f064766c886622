"""EEG-VLM: an explainable vision-language model for automatic sleep staging.

``import eeg_vlm`` registers the model with the transformers Auto classes (``model_type="eeg_vlm"``)::

    from transformers import AutoModelForImageTextToText, AutoProcessor
    import eeg_vlm  # noqa: F401  (registration)

Importing is lazy: ``import eeg_vlm`` itself loads neither torch nor transformers (so ``eeg-vlm --help`` and the
command line's input checks answer in well under a second). The public names below are imported on first use, and
the Auto-class registration runs as soon as transformers is imported, by anyone, before or after ``eeg_vlm``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys

__version__ = "0.1.0"

#: public name -> submodule that defines it (imported on first attribute access)
_LAZY = {
    "STAGE_LABELS": "configuration_eeg_vlm",
    "EEGVLMConfig": "configuration_eeg_vlm",
    "EEGVLMModel": "modeling_eeg_vlm",
    "EEGVLMPreTrainedModel": "modeling_eeg_vlm",
    "EEGVLMForConditionalGeneration": "modeling_eeg_vlm",
    "EEGVLMImageProcessor": "image_processing_eeg_vlm",
    "EEGVLMFeatureExtractor": "feature_extraction_eeg_vlm",
    "epochs_with_context": "image_processing_eeg_vlm",
    "EEGVLMProcessor": "processing_eeg_vlm",
    "NightResult": "staging",
    "stage_night": "staging",
    "explain_epoch": "staging",
    "default_model_path": "staging",
    "sample_night_path": "staging",
}
__all__ = list(_LAZY)
#: the remote-code unit: registered with the Auto classes once transformers and these can all be imported
_UNIT = ("configuration_eeg_vlm", "feature_extraction_eeg_vlm", "image_processing_eeg_vlm", "modeling_eeg_vlm",
         "processing_eeg_vlm")
_WATCHED = ("transformers", *(f"{__name__}.{m}" for m in _UNIT))
#: modules that moved: old import path -> new one (``import eeg_vlm.grounding`` gives eeg_vlm.reasoning.grounding)
_MOVED = {f"{__name__}.{old}": f"{__name__}.reasoning.{new}" for old, new in (
    ("dataset_builder.cot", "cot"), ("grounding", "grounding"), ("faithfulness", "faithfulness"),
    ("explanation", "explanation"))}
_executing: set[str] = set()  # watched modules whose code is running now (their names are not yet importable)
_registered = False


def _register() -> None:
    """Register ``model_type="eeg_vlm"`` with the Auto classes (imports transformers and torch)."""
    global _registered
    if _registered:
        return
    _registered = True
    from transformers import (AutoConfig, AutoFeatureExtractor, AutoImageProcessor, AutoModel,
                              AutoModelForImageTextToText, AutoProcessor)

    from .configuration_eeg_vlm import EEGVLMConfig
    from .feature_extraction_eeg_vlm import EEGVLMFeatureExtractor
    from .image_processing_eeg_vlm import EEGVLMImageProcessor
    from .modeling_eeg_vlm import EEGVLMForConditionalGeneration, EEGVLMModel
    from .processing_eeg_vlm import EEGVLMProcessor

    AutoConfig.register("eeg_vlm", EEGVLMConfig, exist_ok=True)
    AutoModel.register(EEGVLMConfig, EEGVLMModel, exist_ok=True)
    AutoModelForImageTextToText.register(EEGVLMConfig, EEGVLMForConditionalGeneration, exist_ok=True)
    AutoImageProcessor.register(EEGVLMConfig, image_processor_classes={"pil": EEGVLMImageProcessor}, exist_ok=True)
    AutoFeatureExtractor.register(EEGVLMConfig, EEGVLMFeatureExtractor, exist_ok=True)
    AutoProcessor.register(EEGVLMConfig, EEGVLMProcessor, exist_ok=True)
    # `save_pretrained` writes `auto_map` and copies the code files, so the Hub loads them as remote code
    EEGVLMConfig.register_for_auto_class()
    EEGVLMModel.register_for_auto_class("AutoModel")
    EEGVLMForConditionalGeneration.register_for_auto_class("AutoModelForImageTextToText")
    EEGVLMImageProcessor.register_for_auto_class("AutoImageProcessor")
    EEGVLMFeatureExtractor.register_for_auto_class("AutoFeatureExtractor")
    EEGVLMProcessor.register_for_auto_class("AutoProcessor")
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _RegisterAfterImport)]


def _try_register() -> None:
    """Register now if transformers is loaded and no module of the unit is half-way through its own import."""
    if not _registered and "transformers" in sys.modules and not _executing:
        _register()


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Post-import hook: once ``transformers`` (or a module of the unit) has finished importing, register."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _WATCHED:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            exec_module = spec.loader.exec_module

            def exec_then_register(module):
                _executing.add(fullname)
                try:
                    exec_module(module)
                finally:
                    _executing.discard(fullname)
                _try_register()

            spec.loader.exec_module = exec_then_register
        return spec


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Old import paths of moved modules (:data:`_MOVED`): the import gives the module at its new path, the very
    same object (so a patch through either name is seen through both)."""

    def find_spec(self, fullname, path=None, target=None):
        return importlib.util.spec_from_loader(fullname, self) if fullname in _MOVED else None

    def create_module(self, spec):
        return None  # a placeholder; exec_module puts the real module in its place in sys.modules

    def exec_module(self, module):
        sys.modules[module.__name__] = importlib.import_module(_MOVED[module.__name__])


def __getattr__(name: str):
    if name not in _LAZY:
        if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
            return importlib.import_module(f".{name}", __name__)  # a submodule: eeg_vlm.staging, eeg_vlm.io ...
        raise AttributeError(f"module 'eeg_vlm' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted({*globals(), *_LAZY})


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.insert(0, _MovedModules())  # first: a stale file at an old path (an old install) never answers
if "transformers" in sys.modules:
    _register()
elif not any(isinstance(f, _RegisterAfterImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterAfterImport())
