"""A BERT token classifier that tags entities as character spans.

Every word piece gets a BIO tag (O, B-label, I-label). Texts longer than one window are read
in overlapping windows (the fast tokenizer's overflowing tokens with a stride), so nothing
of a long document is left unread.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    AutoModelForTokenClassification,
    AutoTokenizer,
    BatchEncoding,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from model import stored
from model.errors import BaseModelError, StoredModelError
from model.labels import LabelSpace
from model.span_decoding import (
    TextTokens,
    WindowTokens,
    constrained_decode,
    first_pieces,
    merge_windows,
    region_constraints,
    word_margins,
)
from model.span_metrics import SpanEvaluation, evaluate_spans
from model.spans import Span, TagScheme, spans_from_tags

FORMAT = "lsbert-span-tagger/1"
META_FILE = "span_tagger.json"


@dataclass(frozen=True)
class SpanPrediction:
    """The entities found in one text, how sure the model is of the whole tagging
    (`score`), and the margin of its least sure word (`margin`, 0: a coin flip)."""

    spans: tuple[Span, ...]
    score: float
    margin: float = 1.0


@dataclass(frozen=True)
class Windows:
    """Windows of a batch of texts: the model inputs and, per window, its text's index."""

    encoding: BatchEncoding
    texts: list[int]

    def inputs(self, rows: Sequence[int], device: torch.device) -> dict[str, torch.Tensor]:
        ids = self.encoding["input_ids"][rows]
        mask = self.encoding["attention_mask"][rows]
        width = int(mask.sum(1).max())  # pad each batch to its longest window only
        return {
            "input_ids": ids[:, :width].to(device),
            "attention_mask": mask[:, :width].to(device),
        }

    def by_length(self) -> list[int]:
        """Window rows, shortest first: batches of similar length waste little padding."""
        lengths = self.encoding["attention_mask"].sum(1).tolist()
        return sorted(range(len(lengths)), key=lengths.__getitem__)

    def content(self, row: int) -> tuple[list[int], list[tuple[int, int]], list[int]]:
        """Positions, character offsets and word indexes of the text tokens of a window."""
        words = self.encoding.word_ids(row)
        offsets = self.encoding["offset_mapping"][row].tolist()
        content = [(i, word) for i, word in enumerate(words) if word is not None]
        positions = [i for i, _ in content]
        return positions, [tuple(offsets[i]) for i in positions], [word for _, word in content]


class SpanTagger:
    """Tokenizer, token-classification network and label space of one span model."""

    def __init__(
        self,
        network: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        label_space: LabelSpace,
        max_length: int,
        stride: int,
        word_level: bool = True,
    ) -> None:
        self.network = network
        self.tokenizer = tokenizer
        self.label_space = label_space
        self.scheme = TagScheme(label_space)
        self.max_length = max_length
        self.stride = stride
        self.word_level = word_level

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    @classmethod
    def from_base(
        cls,
        base_model: str,
        label_space: LabelSpace,
        max_length: int,
        stride: int,
        device: str = "cpu",
    ) -> SpanTagger:
        tags = TagScheme(label_space).tags
        network = AutoModelForTokenClassification.from_pretrained(
            base_model,
            num_labels=len(tags),
            id2label=dict(enumerate(tags)),
            label2id={tag: i for i, tag in enumerate(tags)},
        )
        tokenizer = AutoTokenizer.from_pretrained(base_model)
        if not tokenizer.is_fast:
            raise BaseModelError(f"{base_model} has no fast tokenizer: offsets need one")
        window = min(max_length, network.config.max_position_embeddings)
        return cls(network.to(device), tokenizer, label_space, window, min(stride, window // 2))

    def windows(self, texts: Sequence[str]) -> Windows:
        """Overlapping windows covering every token of every text; `stride` tokens overlap."""
        encoding = self.tokenizer(
            list(texts),
            truncation=True,
            max_length=self.max_length,
            stride=self.stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=True,
            return_tensors="pt",
        )
        return Windows(encoding, encoding["overflow_to_sample_mapping"].tolist())

    @torch.inference_mode()
    def token_log_probs(self, texts: Sequence[str], batch_size: int = 32) -> list[TextTokens]:
        """Every token of every text once, with the tag log-probabilities chosen for it."""
        self.network.eval()
        windows = self.windows(texts)
        per_text: list[list[WindowTokens]] = [[] for _ in texts]
        order = windows.by_length()
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            logits = self.network(**windows.inputs(rows, self.device)).logits
            log_probs = torch.log_softmax(logits.float(), dim=-1).cpu()
            for row, table in zip(rows, log_probs, strict=True):
                positions, offsets, words = windows.content(row)
                per_text[windows.texts[row]].append(WindowTokens(offsets, words, table[positions]))
        return [merge_windows(w, self.scheme.size) for w in per_text]

    def decide(
        self, text: str, tokens: TextTokens, regions: Sequence[tuple[int, int, str]] = ()
    ) -> SpanPrediction:
        """Valid BIO tags by constrained decoding, then spans scored by their tags' mean
        probability; the text's score is the mean probability of all its chosen tags.

        `regions` (start, end, label) are fixed, as an annotator drew them: the entities
        returned are decoded around them and never overlap them (nor are they returned)."""
        units = first_pieces(tokens) if self.word_level else tokens
        constraints = region_constraints(units.offsets, regions, self.scheme) if regions else None
        tags = constrained_decode(units.log_probs, self.scheme, constraints)
        chosen = [math.exp(float(units.log_probs[i, tag])) for i, tag in enumerate(tags)]
        fixed = set(constraints.forced) if constraints else set()
        spans = tuple(
            Span(start, end, label, text[start:end], sum(chosen[i] for i in ix) / len(ix))
            for start, end, label, ix in spans_from_tags(units.offsets, tags, self.scheme)
            if not fixed.intersection(ix)
        )
        score = sum(chosen) / len(chosen) if chosen else 1.0
        return SpanPrediction(spans, score, min(word_margins(units.log_probs, tags), default=1.0))

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[SpanPrediction]:
        """Entities of each text, in input order."""
        tokens = self.token_log_probs(texts, batch_size)
        return [self.decide(text, t) for text, t in zip(texts, tokens, strict=True)]

    def evaluate(self, texts: Sequence[str], spans: Sequence[Sequence[Span]]) -> SpanEvaluation:
        """Entity-level precision, recall and F1 of this model's spans against annotations."""
        predicted = [p.spans for p in self.predict(texts)]
        return evaluate_spans(predicted, spans)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.network.save_pretrained(folder)  # its config carries id2label / label2id
        self.tokenizer.save_pretrained(folder)
        meta = {
            "format": FORMAT,
            "label_space": self.label_space.to_dict(),
            "tags": list(self.scheme.tags),
            "max_length": self.max_length,
            "stride": self.stride,
            "word_level": self.word_level,
        }
        (folder / META_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, folder: Path, device: str = "cpu") -> SpanTagger:
        meta = read_meta(folder)
        space = LabelSpace.from_dict(meta["label_space"])
        if meta.get("tags") != list(TagScheme(space).tags):
            raise StoredModelError(f"{folder} holds tags {meta.get('tags')} of another scheme")
        network = AutoModelForTokenClassification.from_pretrained(str(folder))
        network.eval()
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        return cls(
            network.to(device),
            tokenizer,
            space,
            int(meta["max_length"]),
            int(meta["stride"]),
            bool(meta.get("word_level", True)),
        )


def read_meta(folder: Path) -> dict:
    return stored.read_meta(folder, META_FILE, FORMAT)
