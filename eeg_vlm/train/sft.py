"""Supervised fine-tuning of EEG-VLM with TRL's SFTTrainer (+ PEFT LoRA), stage head trained alongside.

    python -m eeg_vlm.train sft --config eeg_vlm/train/configs/tiny.yaml --dataset DIR_OR_HUB_ID \
        --max_steps 2 --output_dir runs/tiny

Arguments are TRL's ``SFTConfig`` and ``ModelConfig`` plus :class:`EEGVLMScriptArguments`, read from a YAML config
with command-line overrides (``TrlParser``). The model comes from, in order: ``--model_name_or_path`` (a saved
EEG-VLM), ``--vision`` + ``--text`` (compose a pretrained CLIP and causal LM), or ``--model_preset`` (a small model
built from scratch with a tokenizer trained on the dataset). Multi-GPU needs no code change::

    accelerate launch --config_file eeg_vlm/train/configs/accelerate/ddp.yaml -m eeg_vlm.train sft --config ...
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from trl import ModelConfig, SFTConfig, SFTTrainer

from ..modeling_eeg_vlm import DEFAULT_LORA_TARGET_MODULES
from .collator import EEGVLMCollator
from .modeling_setup import build_from_components, build_from_preset, cot_corpus, load_model

logger = logging.getLogger(__name__)

# LoRA goes on the language model's attention only (also PEFT's default for model_type "eeg_vlm")
DEFAULT_LORA_TARGETS = DEFAULT_LORA_TARGET_MODULES
# trained in full next to the adapters (PEFT `modules_to_save`)
FULLY_TRAINED = ["enhancement", "alignment", "projector", "stage_head", "cnn"]


@dataclass
class EEGVLMScriptArguments:
    """EEG-VLM specific options of ``python -m eeg_vlm.train sft``."""

    dataset: str = field(default=None, metadata={"help": "built dataset: a save_to_disk folder or a Hub dataset id"})
    dataset_train_split: str = field(default="train", metadata={"help": "training split"})
    dataset_eval_split: str | None = field(default="validation", metadata={"help": "evaluation split (or none)"})
    max_train_samples: int | None = field(default=None, metadata={"help": "use only the first N training rows"})
    max_eval_samples: int | None = field(default=256, metadata={"help": "use only the first N evaluation rows"})
    model_preset: str | None = field(default=None, metadata={"help": "build from scratch: 'tiny' or 'small'"})
    vision: str | None = field(default=None, metadata={"help": "CLIP Hub id or dir (with --text: from_components)"})
    text: str | None = field(default=None, metadata={"help": "causal-LM Hub id or dir (with --vision)"})
    alignment_mode: str = field(default="cross_attention", metadata={"help": "cross_attention|add|concat|none"})
    unfreeze_vision_layers: int = field(default=0, metadata={"help": "train the last N CLIP layers (default frozen)"})
    merge_adapters: bool = field(default=False, metadata={"help": "save the LoRA-merged full model"})
    ground_prompts: bool = field(default=False, metadata={
        "help": "train on grounded prompts (each epoch's measured features in the prompt)"})
    drop_eog_emg: float = field(default=0.0, metadata={
        "help": "with --ground_prompts: fraction of rows whose EOG/EMG are dropped (prompt and answer say so), "
                "for recordings without them"})
    counterfactual: float = field(default=0.0, metadata={
        "help": "with --ground_prompts: fraction of rows whose rule-deciding numbers are redrawn (prompt and "
                "answer), so the rule step follows the numbers rather than the image"})
    freeze_stage_head: bool = field(default=False, metadata={
        "help": "keep the enhancement, alignment and stage head as they are (train the projector and LM only)"})


class EEGVLMSFTTrainer(SFTTrainer):
    """SFTTrainer whose loss is EEG-VLM's own: LM + weighted stage-head + weighted alignment loss.

    TRL's fused-LM-head shortcut runs only the LM and would drop the stage and alignment losses, so the loss is
    computed with the model's full forward; each part is logged on its own.
    """

    loss_is_scaled_for_ga = False  # our loss is a per-batch mean: let the Trainer divide it for accumulation

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = {**inputs, "use_cache": False}
        outputs = model(**inputs)
        mode = "train" if self.model.training else "eval"
        for name in ("lm_loss", "stage_loss", "alignment_loss"):
            value = getattr(outputs, name, None)
            if value is not None:
                self._metrics[mode][name].append(value.detach().float().item())
        if outputs.stage_logits is not None and "stage_labels" in inputs:
            acc = (outputs.stage_logits.argmax(-1) == inputs["stage_labels"]).float().mean().item()
            self._metrics[mode]["stage_accuracy"].append(acc)
        return (outputs.loss, outputs) if return_outputs else outputs.loss


def load_splits(script_args: EEGVLMScriptArguments):
    """Train and eval splits from a local ``save_to_disk`` folder or a Hub dataset id."""
    from datasets import DatasetDict, load_dataset, load_from_disk

    if not script_args.dataset:
        raise ValueError("dataset: received nothing, expected a built dataset folder or Hub id (--dataset DIR).")
    path = Path(script_args.dataset)
    data = load_from_disk(str(path)) if path.is_dir() else load_dataset(script_args.dataset)
    if not isinstance(data, DatasetDict) or script_args.dataset_train_split not in data:
        raise ValueError(f"dataset: {script_args.dataset!r} has no {script_args.dataset_train_split!r} split; "
                         "build it with `python -m eeg_vlm.dataset_builder build`.")
    train = data[script_args.dataset_train_split]
    if script_args.ground_prompts:  # before any subset: the neighbours are the adjacent rows of each recording
        from .grounded_data import add_grounded_columns

        train = add_grounded_columns(train, drop_eog_emg=script_args.drop_eog_emg,
                                     counterfactual=script_args.counterfactual)
    if script_args.max_train_samples:  # a seeded shuffle first, so the subset spans every night and stage
        train = train.shuffle(seed=0).select(range(min(script_args.max_train_samples, len(train))))
    evald = None
    if script_args.dataset_eval_split and script_args.dataset_eval_split in data:
        evald = data[script_args.dataset_eval_split]
        if script_args.ground_prompts:
            from .grounded_data import add_grounded_columns

            evald = add_grounded_columns(evald)
        if script_args.max_eval_samples:
            evald = evald.select(range(min(script_args.max_eval_samples, len(evald))))
    return train, evald


def _image_processor_config(dataset) -> dict:
    """The renderer settings the dataset was built with (stored by the builder), else the defaults."""
    cache = dataset.cache_files
    if cache:
        cfg = Path(cache[0]["filename"]).parents[1] / "build_config.json"
        if cfg.exists():
            return json.loads(cfg.read_text()).get("image_processor", {})
    size = dataset[0]["image"].size[0]
    return {"size": size}


def make_model(script_args, model_args, train_dataset):
    if model_args.model_name_or_path:
        return load_model(model_args.model_name_or_path)
    ip_config = _image_processor_config(train_dataset)
    if script_args.vision or script_args.text:
        if not (script_args.vision and script_args.text):
            raise ValueError("vision / text: pass both (--vision CLIP_ID --text LM_ID) to compose a model.")
        return build_from_components(script_args.vision, script_args.text, ip_config,
                                     alignment_mode=script_args.alignment_mode)
    if script_args.model_preset:
        return build_from_preset(script_args.model_preset, cot_corpus(train_dataset), ip_config,
                                 alignment_mode=script_args.alignment_mode)
    raise ValueError("model: pass --model_name_or_path, --vision and --text, or --model_preset (tiny|small).")


def freeze_vision(model, unfreeze_last: int) -> None:
    """Freeze the CLIP tower except its last ``unfreeze_last`` layers."""
    tower = model.model.vision_tower
    for p in tower.parameters():
        p.requires_grad_(False)
    layers = tower.encoder.layers if hasattr(tower, "encoder") else tower.vision_model.encoder.layers
    for layer in list(layers)[len(layers) - unfreeze_last:] if unfreeze_last else []:
        for p in layer.parameters():
            p.requires_grad_(True)


def peft_config_for(model, model_args, script_args):
    from peft import LoraConfig

    targets = model_args.lora_target_modules or DEFAULT_LORA_TARGETS
    to_save = [m for m in FULLY_TRAINED if hasattr(model.model, m)]
    n_layers = model.config.vision_config.num_hidden_layers
    to_save += [f"vision_tower.encoder.layers.{i}" for i in range(n_layers - script_args.unfreeze_vision_layers,
                                                                  n_layers)] if script_args.unfreeze_vision_layers else []
    return LoraConfig(r=model_args.lora_r, lora_alpha=model_args.lora_alpha, lora_dropout=model_args.lora_dropout,
                      target_modules=targets, modules_to_save=to_save + list(model_args.lora_modules_to_save or []),
                      task_type="CAUSAL_LM")


def train(training_args: SFTConfig, model_args: ModelConfig, script_args: EEGVLMScriptArguments):
    """Run SFT and save the result; returns the output directory."""
    torch.manual_seed(training_args.seed)
    train_ds, eval_ds = load_splits(script_args)
    model, processor = make_model(script_args, model_args, train_ds)
    freeze_vision(model, script_args.unfreeze_vision_layers)
    if script_args.freeze_stage_head:
        for name in FULLY_TRAINED:
            if name != "projector" and hasattr(model.model, name):
                getattr(model.model, name).requires_grad_(False)
    out = Path(training_args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    peft_config = None
    if model_args.use_peft:
        peft_config = peft_config_for(model, model_args, script_args)
        if training_args.process_index == 0:  # one writer under DDP
            model.save_pretrained(out / "base")  # the adapters' base: a config-built model has no Hub id to point to
            processor.save_pretrained(out / "base")
    training_args.remove_unused_columns = False  # keep `stage` for the collator
    training_args.dataset_kwargs = {**(training_args.dataset_kwargs or {}), "skip_prepare_dataset": True}
    if eval_ds is None:
        training_args.eval_strategy = "no"
    trainer = EEGVLMSFTTrainer(
        model=model, args=training_args, train_dataset=train_ds, eval_dataset=eval_ds,
        processing_class=processor, data_collator=EEGVLMCollator(processor, max_length=training_args.max_length,
                                     ground=script_args.ground_prompts),
        peft_config=peft_config,
    )
    trainer.train(resume_from_checkpoint=_last_checkpoint(out) if training_args.resume_from_checkpoint is None
                  else training_args.resume_from_checkpoint)
    save_trained(trainer, processor, out, merge=script_args.merge_adapters, eval_dataset=eval_ds,
                 dataset_id=script_args.dataset)
    return out


def _last_checkpoint(out: Path):
    """Resume automatically from the newest ``checkpoint-*`` in the output directory, if any."""
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(out)) if out.is_dir() else None
    if last:
        logger.info("Resuming from %s", last)
    return last


def save_trained(trainer, processor, out: Path, *, merge: bool, eval_dataset=None, dataset_id=None) -> None:
    """Write a loadable model (+ merged one on request), the processor and a model card with metrics."""
    from peft import PeftModel

    from .model_card import write_model_card

    model = trainer.model
    trainer.save_model(str(out))  # every rank takes part; only the main process writes
    if not trainer.is_world_process_zero():
        return
    if isinstance(model, PeftModel):  # saved: adapters + modules_to_save
        if merge:
            merged = model.merge_and_unload()
            adapter_dir = out / "adapter"
            adapter_dir.mkdir(exist_ok=True)
            for name in ("adapter_config.json", "adapter_model.safetensors"):
                if (out / name).exists():
                    os.replace(out / name, adapter_dir / name)
            merged.save_pretrained(out)
            model = merged
        else:
            model = model.merge_and_unload() if eval_dataset is not None else model
    processor.save_pretrained(out)
    args_bin = out / "training_args.bin"  # a pickle: keep the arguments as JSON instead
    if args_bin.exists():
        (out / "training_args.json").write_text(trainer.args.to_json_string())
        args_bin.unlink()
    metrics = None
    if eval_dataset is not None:
        from .evaluate import evaluate_model

        metrics = evaluate_model(model.eval(), processor, eval_dataset, batch_size=16, progress=False)["stage_head"]
    write_model_card(out, metrics=metrics, dataset_id=dataset_id, base_config=trainer.model.config)


def main(argv=None) -> int:
    from trl import TrlParser

    parser = TrlParser((SFTConfig, ModelConfig, EEGVLMScriptArguments))
    training_args, model_args, script_args = parser.parse_args_and_config(args=argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = train(training_args, model_args, script_args)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()  # every rank done, then a clean teardown (gloo can hang at exit otherwise)
        torch.distributed.destroy_process_group()
    print(f"saved to {out}")
    return 0
