"""A tiny random BERT with a WordPiece vocabulary made from a corpus: milliseconds to build,
seconds to fine-tune, the same code paths as the real model."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import torch
from transformers import BertConfig, BertModel, BertTokenizerFast

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def vocabulary(corpus: Iterable[str]) -> list[str]:
    """Every word of the corpus, and every character alone and as a continuation piece, so
    unseen words still split into pieces. Built, not trained: the `tokenizers` trainer
    orders tokens differently from run to run, which changed the tiny model between runs."""
    words = sorted({w for text in corpus for w in re.findall(r"\w+|[^\w\s]", text.lower())})
    chars = sorted({c for word in words for c in word})
    return [*SPECIAL, *chars, *(f"##{c}" for c in chars), *(w for w in words if len(w) > 1)]


def build_tiny_bert(folder: Path, corpus: Iterable[str]) -> Path:
    vocab = {token: i for i, token in enumerate(vocabulary(corpus))}
    tokenizer = BertTokenizerFast(vocab=vocab, do_lower_case=True, model_max_length=128)
    tokenizer.save_pretrained(folder)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)  # the same tiny model in every run: tests must not depend on luck
    BertModel(config).save_pretrained(folder)
    return folder
