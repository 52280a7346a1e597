"""A BERT token classifier that tags entities as character spans.

Every word piece gets a BIO tag (O, B-label, I-label). Texts longer than one window are read
in overlapping windows (the fast tokenizer's overflowing tokens with a stride), so nothing
of a long document is left unread. Texts are tokenized a bounded number of characters at a
time and their windows run a batch at a time, so memory stays bounded whatever the input;
how much of a text to read at all is the caller's to decide (the backend's SPAN_MAX_CHARS).
"""

from __future__ import annotations

import copy
import json
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
from model.int8_runtime import RUNTIME as INT8_RUNTIME
from model.int8_runtime import TAGGER_FILE, Int8Network, open_int8
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
# characters tokenized at once: a group of short texts, or one long text alone; its windows
# (about 250 of 512 tokens per 100,000 characters of English) are what memory holds at once
CHARS_PER_PASS = 100_000


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
        self.int8: Int8Network | None = None  # when set, it answers instead of `network`

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
            logits = self.logits(windows.inputs(rows, self.device))
            log_probs = torch.log_softmax(logits.float(), dim=-1).cpu()
            for row, table in zip(rows, log_probs, strict=True):
                positions, offsets, words = windows.content(row)
                per_text[windows.texts[row]].append(WindowTokens(offsets, words, table[positions]))
        return [merge_windows(w, self.scheme.size) for w in per_text]

    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.int8 is not None:
            return self.int8(**batch)
        return self.network(**batch).logits

    @property
    def runtime(self) -> str:
        return INT8_RUNTIME if self.int8 is not None else "torch"

    def served_by(self, int8: Int8Network | None) -> SpanTagger:
        """The same tagger answering through `int8` (None: through torch)."""
        twin = copy.copy(self)
        twin.int8 = int8
        return twin

    def onnx_module(self) -> torch.nn.Module:
        """The network as the exporter traces it: ids and mask in, tag logits out."""
        return LogitsOnly(self.network)

    def onnx_sample(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        windows = self.windows(texts)
        return windows.inputs(list(range(len(windows.texts))), torch.device("cpu"))

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
        picked = units.log_probs[torch.arange(len(tags)), torch.tensor(tags, dtype=torch.long)]
        chosen = picked.double().exp().tolist()
        fixed = set(constraints.forced) if constraints else set()
        spans = tuple(
            Span(start, end, label, text[start:end], sum(chosen[i] for i in ix) / len(ix))
            for start, end, label, ix in spans_from_tags(units.offsets, tags, self.scheme)
            if not fixed.intersection(ix)
        )
        score = sum(chosen) / len(chosen) if chosen else 1.0
        return SpanPrediction(spans, score, min(word_margins(units.log_probs, tags), default=1.0))

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[SpanPrediction]:
        """Entities of each text, in input order, reading CHARS_PER_PASS at a time."""
        predictions: list[SpanPrediction] = []
        for group in text_groups(texts, CHARS_PER_PASS):
            tokens = self.token_log_probs(group, batch_size)
            predictions += [self.decide(text, t) for text, t in zip(group, tokens, strict=True)]
        return predictions

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
    def load(cls, folder: Path, device: str = "cpu", runtime: str = "torch") -> SpanTagger:
        """`runtime="onnx-int8"` serves through the folder's int8 file where it has one and
        the device is a CPU; torch answers otherwise."""
        meta = read_meta(folder)
        space = LabelSpace.from_dict(meta["label_space"])
        if meta.get("tags") != list(TagScheme(space).tags):
            raise StoredModelError(f"{folder} holds tags {meta.get('tags')} of another scheme")
        network = AutoModelForTokenClassification.from_pretrained(str(folder))
        network.eval()
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        tagger = cls(
            network.to(device),
            tokenizer,
            space,
            int(meta["max_length"]),
            int(meta["stride"]),
            bool(meta.get("word_level", True)),
        )
        if runtime == INT8_RUNTIME and tagger.device.type == "cpu":
            tagger.int8 = open_int8(folder, torch.get_num_threads(), TAGGER_FILE)
        return tagger


class LogitsOnly(torch.nn.Module):
    """A token classifier whose output is its logits alone, as an ONNX graph has it."""

    def __init__(self, network: PreTrainedModel) -> None:
        super().__init__()
        self.network = network

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.network(input_ids=input_ids, attention_mask=attention_mask).logits


def text_groups(texts: Sequence[str], budget: int) -> list[list[str]]:
    """Consecutive texts in groups of at most `budget` characters (a longer text alone)."""
    groups: list[list[str]] = []
    size = 0
    for text in texts:
        if not groups or size + len(text) > budget:
            groups.append([])
            size = 0
        groups[-1].append(text)
        size += len(text)
    return groups


def read_meta(folder: Path) -> dict:
    return stored.read_meta(folder, META_FILE, FORMAT)
