"""Batch builder for SFT: chat messages + rendered images -> input_ids, labels (answer only), pixel_values and
the stage labels for the stage head.

TRL's own vision collator does not know our ``stage`` column; this one formats each row with the processor's chat
template, whose ``{% generation %}`` markers give the assistant mask: the loss covers the Chain-of-Thought (and its
end token) only, never the prompt, the image placeholders or the padding.
"""

from __future__ import annotations

import torch


class EEGVLMCollator:
    """Collate rows with ``messages``, ``images`` (or ``image``) and ``stage`` into model inputs.

    Parameters
    ----------
    processor : EEGVLMProcessor
        The model's processor (renderer + tokenizer + chat template).
    max_length : int, optional
        Refuse longer sequences (the image placeholders must never be truncated). Default: no limit.
    ground : bool
        Replace each prompt with the grounded one (the epoch's measured features appended, ``eeg_vlm.grounding``),
        so the model learns to explain from the image and the numbers. Rows with ``grounded_prompt`` /
        ``grounded_answer`` columns (``train.grounded_data``, with the neighbours' features) use those.
    """

    def __init__(self, processor, *, max_length: int | None = None, ground: bool = False):
        self.processor = processor
        self.max_length = max_length
        self.ground = ground

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        messages = [self._grounded(ex) if self.ground else ex["messages"] for ex in examples]
        images = [list(ex["images"]) if ex.get("images") is not None else [ex["image"]] for ex in examples]
        enc = self.processor.apply_chat_template(
            messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True, return_tensors="pt",
            processor_kwargs={"images": images, "padding": True},
        )
        input_ids = enc["input_ids"]  # (B, T)
        if self.max_length is not None and input_ids.shape[1] > self.max_length:
            raise ValueError(
                f"max_length: received {self.max_length}, but a batch needs {input_ids.shape[1]} tokens "
                f"({self.processor.num_image_tokens} of them image placeholders). Raise max_length."
            )
        labels = torch.where(enc["assistant_masks"].bool() & enc["attention_mask"].bool(), input_ids, -100)
        batch = {
            "input_ids": input_ids,
            "attention_mask": enc["attention_mask"],
            "pixel_values": enc["pixel_values"],  # (B, 3, H, W)
            "labels": labels,  # (B, T), -100 outside the answers
        }
        if all("stage" in ex for ex in examples):
            batch["stage_labels"] = torch.tensor([int(ex["stage"]) for ex in examples])  # (B,)
        return batch

    @staticmethod
    def _grounded(example: dict) -> list[dict]:
        from ..grounding import grounded_prompt
        from ..processing_eeg_vlm import staging_messages

        if "grounded_prompt" in example:  # precomputed with the neighbours (train.grounded_data)
            return staging_messages(example["grounded_prompt"], example["grounded_answer"])
        user = example["messages"][0]["content"]
        prompt = next(part["text"] for part in user if part["type"] == "text")
        answer = example["messages"][1]["content"][0]["text"]
        return staging_messages(grounded_prompt(example, prompt), answer)
