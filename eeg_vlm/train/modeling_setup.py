"""Build or load the model + processor that `sft` trains: from scratch (presets), from components, or saved.

Presets build a small EEG-VLM from scratch: a CLIP-style vision tower sized for the dataset's images, a small
Llama-style LM and a byte-level BPE tokenizer trained on the dataset's prompts and Chain-of-Thought answers.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..configuration_eeg_vlm import EEGVLMConfig
from ..image_processing_eeg_vlm import EEGVLMImageProcessor
from ..modeling_eeg_vlm import EEGVLMForConditionalGeneration
from ..processing_eeg_vlm import IMAGE_TOKEN, EEGVLMProcessor, stage_answer_token_ids
from ..tokenizer import BOS, EOS, PAD, train_bpe_tokenizer

logger = logging.getLogger(__name__)

PRESETS = {
    # CPU, seconds: used by the tests (hidden 32, 2 layers)
    "tiny": dict(vocab_size=320, patch_size=32, vision=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                                            num_attention_heads=4),
                 text=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=2), num_high_level_tokens=4),
    # the embedded default model: a few MB, trains on 2 CPU cores in well under an hour
    # 224-px images in 32-px patches: 49 patch tokens + 4 high-level tokens keep the LM sequence short on CPU
    "small": dict(vocab_size=1024, patch_size=32, vision=dict(hidden_size=128, intermediate_size=384,
                                                              num_hidden_layers=4, num_attention_heads=4),
                  text=dict(hidden_size=192, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
                            num_key_value_heads=2), num_high_level_tokens=4),
}


def cot_corpus(dataset) -> list[str]:
    """The texts a preset's tokenizer is trained on: the built Chain-of-Thought answers and the staging prompt."""
    return list(dataset["cot"]) + [dataset[0]["messages"][0]["content"][1]["text"]]


def build_from_preset(preset: str, corpus: list[str], image_processor_config: dict, *, alignment_mode="cross_attention",
                      max_position_embeddings: int = 2048, split_digits: bool = True):
    """A new model + processor for ``preset``, with a tokenizer trained on ``corpus`` (one token per digit unless
    ``split_digits=False``)."""
    if preset not in PRESETS:
        raise ValueError(f"model_preset: received {preset!r}, expected one of {sorted(PRESETS)}.")
    p = PRESETS[preset]
    tokenizer = train_bpe_tokenizer(corpus, vocab_size=p["vocab_size"], split_digits=split_digits)
    image_processor = EEGVLMImageProcessor(**{k: v for k, v in image_processor_config.items()
                                              if k not in ("image_processor_type", "processor_class")})
    if image_processor.side % p["patch_size"]:
        raise ValueError(f"image size {image_processor.side} is not a multiple of the preset's patch size "
                         f"{p['patch_size']}; build the dataset with another renderer size.")
    vision = dict(p["vision"], image_size=image_processor.side, patch_size=p["patch_size"])
    text = dict(p["text"], model_type="llama", vocab_size=len(tokenizer), max_position_embeddings=max_position_embeddings,
                pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True)
    config = EEGVLMConfig(vision_config=vision, text_config=text, alignment_mode=alignment_mode,
                          num_high_level_tokens=p["num_high_level_tokens"],
                          image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
                          stage_answer_token_ids=stage_answer_token_ids(tokenizer))
    model = EEGVLMForConditionalGeneration(config)
    _set_generation_defaults(model, tokenizer)
    return model, EEGVLMProcessor(image_processor, tokenizer, num_image_tokens=config.num_visual_tokens)


def fresh_language_model(model, processor, corpus: list[str], preset: str = "small", *, seed: int = 0,
                         split_digits: bool = True):
    """``model`` with a new, untrained LM and tokenizer (trained on ``corpus``); every visual weight is kept.

    For a model whose LM was never trained (after phase 1 of ``default-model``): the words are trained next, and
    their tokenizer can change without touching the stage head.
    """
    import torch

    torch.manual_seed(seed)
    new, new_processor = build_from_preset(preset, corpus, processor.image_processor.to_dict(),
                                           alignment_mode=model.config.alignment_mode, split_digits=split_digits)
    keep = {k: v for k, v in model.state_dict().items() if not k.startswith(("model.language_model.", "lm_head."))}
    missing, unexpected = new.load_state_dict(keep, strict=False)
    if unexpected or any(not k.startswith(("model.language_model.", "lm_head.")) for k in missing):
        raise ValueError(f"model: its visual weights do not fit preset {preset!r} (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}); pass the preset it was built with.")
    return new, new_processor


def build_from_components(vision: str, text: str, image_processor_config: dict, *, dtype=None, **options):
    """Compose a pretrained CLIP and a pretrained causal LM (Hub ids or local dirs) with our processor."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(text)
    missing = [t for t in (IMAGE_TOKEN, BOS, EOS) if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing})
    if tokenizer.pad_token is None:
        tokenizer.add_special_tokens({"pad_token": PAD})
    options.setdefault("stage_answer_token_ids", stage_answer_token_ids(tokenizer))
    model = EEGVLMForConditionalGeneration.from_components(
        vision=vision, text=text, image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN), dtype=dtype, **options)
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
        model.config.text_config.vocab_size = len(tokenizer)
    size = model.config.vision_config.image_size
    ip_config = {k: v for k, v in image_processor_config.items() if k not in ("image_processor_type", "processor_class")}
    given = EEGVLMImageProcessor(**ip_config).side if "size" in ip_config else None  # int or {"height", "width"}
    if given not in (None, size):
        # keep the physical scale: the same number of seconds and uV across the bigger or smaller canvas
        ratio = given / size
        ip_config["seconds_per_pixel"] = ip_config.get("seconds_per_pixel", 0.25) * ratio
        ip_config["uv_per_pixel"] = ip_config.get("uv_per_pixel", 2.0) * ratio
        logger.warning("The dataset was rendered at %s px but the vision tower takes %s px: images are resized. "
                       "Rebuild the dataset with `--image-processor` of this model to keep pixels exact.",
                       given, size)
    ip_config["size"] = size
    _set_generation_defaults(model, tokenizer)
    return model, EEGVLMProcessor(EEGVLMImageProcessor(**ip_config), tokenizer,
                                  num_image_tokens=model.config.num_visual_tokens)


def _set_generation_defaults(model, tokenizer) -> None:
    gen = model.generation_config
    gen.eos_token_id = tokenizer.convert_tokens_to_ids(EOS)
    gen.pad_token_id = tokenizer.pad_token_id
    gen.bos_token_id = tokenizer.bos_token_id
    gen.suppress_tokens = [model.config.image_token_id]  # a placeholder is never a valid output token
    gen.do_sample = False
    gen.max_new_tokens = 768  # the longest grounded Chain-of-Thought is ~540 tokens (one token per digit)


# Pickle-based checkpoint files: loading them runs arbitrary code (torch.load), so they are refused.
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
_HUB_ID_HINT = ("pass a directory written by `save_pretrained` (config.json, model.safetensors, processor and "
                "tokenizer files) or a Hub id such as 'org/eeg-vlm' (offline: download it first)")


def _check_safetensors(path: Path, weights: str) -> None:
    """Refuse a directory whose ``weights`` (``model`` or ``adapter_model``) are not in safetensors."""
    if (path / f"{weights}.safetensors").is_file() or (path / f"{weights}.safetensors.index.json").is_file():
        return
    pickles = sorted(p.name for p in path.iterdir() if p.suffix in _PICKLE_SUFFIXES)
    if pickles:
        raise ValueError(
            f"model: {str(path)!r} holds the pickle checkpoint {pickles[0]!r}, expected {weights}.safetensors. "
            "Pickle files can run arbitrary code when loaded, so EEG-VLM loads safetensors only. Convert it "
            "where you trust the file: `m = AutoModelForImageTextToText.from_pretrained(DIR, use_safetensors=False)"
            "; m.save_pretrained(NEW_DIR)` (and copy the processor files), then pass NEW_DIR."
        )
    raise ValueError(
        f"model: {str(path)!r} has no {weights}.safetensors, expected the weights beside config.json. The save was "
        f"interrupted or the file was not copied: copy the whole model directory again, or {_HUB_ID_HINT}."
    )


def _check_model_dir(path: Path) -> None:
    """Every file a saved EEG-VLM needs, with the model_type, before transformers sees the directory."""
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ValueError(f"model: {str(path)!r} has no config.json, expected a saved EEG-VLM directory; "
                         f"{_HUB_ID_HINT}.")
    try:
        model_type = json.loads(config_file.read_text()).get("model_type")
    except (ValueError, UnicodeDecodeError, AttributeError) as error:
        raise ValueError(f"model: {str(config_file)!r} is not a valid JSON object ({error}); copy the model "
                         "directory again.") from error
    if model_type != "eeg_vlm":
        raise ValueError(
            f"model: {str(path)!r} is a {model_type!r} model (config.json model_type), expected 'eeg_vlm'. "
            f"Pass an EEG-VLM directory or Hub id; {_HUB_ID_HINT}."
        )
    _check_safetensors(path, "model")
    missing = [group for group in (("processor_config.json", "preprocessor_config.json"),
                                   ("tokenizer.json", "tokenizer_config.json"))
               if not any((path / name).is_file() for name in group)]
    if missing:
        raise ValueError(
            f"model: {str(path)!r} lacks {' and '.join(' / '.join(g) for g in missing)}, expected the processor "
            "saved beside the model (`processor.save_pretrained(DIR)`). Copy the whole model directory again."
        )


def load_model(model_id_or_dir: str, *, dtype=None):
    """Load an EEG-VLM + processor from a Hub id, a saved model directory, or an ``sft`` output directory.

    An ``sft`` output with LoRA adapters (``adapter_config.json``) is loaded as its saved base model
    (``<dir>/base``) with the adapters applied and merged. Weights are read from safetensors only: a pickle
    checkpoint (``pytorch_model.bin``, ``.pt``, ``.pkl``...) is refused, as it can run code when loaded.

    Raises
    ------
    ValueError
        A file instead of a directory, a directory missing config.json / the safetensors weights / the
        processor or tokenizer files, a config whose ``model_type`` is not ``eeg_vlm``, a pickle checkpoint,
        or a Hub id that cannot be loaded (the message gives the fix).
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor

    import eeg_vlm  # noqa: F401  (Auto-class registration)

    path = Path(model_id_or_dir)
    if path.exists() and not path.is_dir():
        hint = (" Pickle checkpoints are refused (they can run code when loaded): EEG-VLM loads safetensors only."
                if path.suffix in _PICKLE_SUFFIXES else "")
        raise ValueError(f"model: received the file {str(path)!r}, expected a model directory or a Hub id.{hint} "
                         f"Pass the folder that holds config.json and model.safetensors.")
    try:
        if path.is_dir() and (path / "adapter_config.json").exists():
            from peft import PeftModel

            base_dir = path / "base"
            if not (base_dir / "config.json").exists():
                raise ValueError(f"model: {str(path)!r} holds LoRA adapters but no base model in {str(base_dir)!r}; "
                                 "pass the directory written by `python -m eeg_vlm.train sft`.")
            _check_safetensors(path, "adapter_model")
            _check_safetensors(base_dir, "model")
            base = AutoModelForImageTextToText.from_pretrained(base_dir, dtype=dtype, use_safetensors=True)
            model = PeftModel.from_pretrained(base, path).merge_and_unload()
            processor = AutoProcessor.from_pretrained(path if (path / "processor_config.json").exists() else base_dir)
            return model.eval(), processor
        if path.is_dir():
            _check_model_dir(path)
        model = AutoModelForImageTextToText.from_pretrained(str(model_id_or_dir), dtype=dtype, use_safetensors=True)
        processor = AutoProcessor.from_pretrained(str(model_id_or_dir))
    except (OSError, KeyError) as error:  # transformers/huggingface_hub: not found, offline, bad files
        where = "directory" if path.is_dir() else "Hub id (no local directory has this name)"
        raise ValueError(f"model: could not load {str(model_id_or_dir)!r} as a {where} ({error}); "
                         f"{_HUB_ID_HINT}.") from error
    return model.eval(), processor
