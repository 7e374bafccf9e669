"""The text tokenizer: a byte-level BPE (Hugging Face ``tokenizers``) trained on the shards'
own text (instructions, descriptions, captions), saved as ``tokenizer.json``.

Byte-level (GPT-2 style) so every string round-trips exactly, including words the training
text never held; no vocabulary or merges are downloaded. Special tokens come first, ids
0..3: ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>`` (``<unk>`` is never produced by a byte-level
model; it is reserved for the multimodal model's vocabulary).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

__all__ = ["SPECIAL_TOKENS", "train_bpe", "load_bpe"]

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")


def train_bpe(texts: Iterable[str], vocab_size: int = 400, min_frequency: int = 2):
    """Train a byte-level BPE tokenizer.

    Args:
        texts: training strings.
        vocab_size: target vocabulary (specials + 256 bytes + merges); a small corpus may stop
            with fewer entries.
        min_frequency: a pair must occur this often to be merged.
    Returns:
        ``tokenizers.Tokenizer``; ``tok.encode(s).ids`` and ``tok.decode(ids) == s``.
    Raises:
        ValueError: ``vocab_size`` too small for the specials and the 256 byte symbols.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size < len(SPECIAL_TOKENS) + 256:
        raise ValueError(f"vocab_size {vocab_size} < {len(SPECIAL_TOKENS) + 256} (specials + 256 bytes)")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(texts), trainer=trainer)
    return tok


def load_bpe(path: str | os.PathLike):
    """Load a ``tokenizer.json`` written by :func:`train_bpe` (``tok.save(path)``).

    Raises:
        FileNotFoundError: no such file.
    """
    from tokenizers import Tokenizer

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no text tokenizer at {path}; train one with `egogen train-model --stage tokenizers`")
    return Tokenizer.from_file(str(path))
