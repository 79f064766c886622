"""A byte-level BPE tokenizer trained with `tokenizers` on a text corpus (the Chain-of-Thought labels).

Used for the embedded default model and for tiny test models; any Hub tokenizer works as well once it knows the
special tokens listed in ``SPECIAL_TOKENS``.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from .processing_eeg_vlm import IMAGE_TOKEN

PAD, BOS, EOS = "<|pad|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [PAD, BOS, EOS, IMAGE_TOKEN]


def train_bpe_tokenizer(corpus: Iterable[str], *, vocab_size: int = 1024,
                        split_digits: bool = True) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer with the chat special tokens.

    Parameters
    ----------
    corpus : iterable of str
        Training texts (e.g. the prompts and Chain-of-Thought answers of a built dataset).
    vocab_size : int
        Target vocabulary size including the 256 byte tokens and the special tokens. Default 1024: the CoT
        vocabulary is small and templated, so a small vocabulary keeps the LM embedding cheap.
    split_digits : bool
        One token per digit (``181`` -> ``1 8 1``). Default True: a Chain-of-Thought cites measured numbers, and
        a small LM copies frequent digit tokens from a grounded prompt far more reliably than rare whole-number
        tokens (``" 181"``) whose embeddings barely train.
    """
    texts = list(corpus)
    if not texts:
        raise ValueError("corpus: received no texts, expected at least one string to train the tokenizer on.")
    if vocab_size < 256 + len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size: received {vocab_size}, expected >= {256 + len(SPECIAL_TOKENS)}.")
    tok = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
                         if split_digits else byte_level)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        bos_token=BOS,
        eos_token=EOS,
        extra_special_tokens=[IMAGE_TOKEN],
    )
