"""A BERT text classifier: mean-pooled encoder states under one linear head.

Mean pooling rather than BERT's [CLS] pooler: sentence encoders such as all-MiniLM-L6-v2
are trained to put meaning in the mean of their token states, and their pooler weights are
untrained. The head therefore starts from a useful place and few labels go a long way.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from model import stored
from model.evaluation import ChoiceEvaluation, evaluate_choices
from model.int8_runtime import RUNTIME as INT8_RUNTIME
from model.int8_runtime import Int8Network, open_int8
from model.labels import LabelSpace

FORMAT = "lsbert-text-classifier/1"
HEAD_FILE = "head.safetensors"
META_FILE = "classifier.json"
# Characters kept per token of the window: tokenising a megabyte of text to keep its first
# 256 tokens would waste seconds, and no word piece is longer than this.
CHARS_PER_TOKEN = 24


class MeanPoolingClassifier(nn.Module):
    def __init__(self, encoder: PreTrainedModel, hidden_size: int, num_labels: int) -> None:
        super().__init__()
        self.encoder: PreTrainedModel = encoder
        self.dropout = nn.Dropout(0.1)
        self.head = nn.Linear(hidden_size, num_labels)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        return (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(input_ids, attention_mask)))


@dataclass(frozen=True)
class Prediction:
    """The labels chosen for one text, each with its probability, a confidence (`score`)
    and the margin of its least sure decision (`margin`, 0: a coin flip, 1: certain)."""

    labels: tuple[str, ...]
    probabilities: tuple[float, ...]
    score: float
    margin: float = 1.0


class TextClassifier:
    """Tokenizer, network and label space of one trained (or about to be trained) model."""

    def __init__(
        self,
        network: MeanPoolingClassifier,
        tokenizer: PreTrainedTokenizerBase,
        label_space: LabelSpace,
        max_length: int,
    ) -> None:
        self.network = network
        self.tokenizer = tokenizer
        self.label_space = label_space
        self.max_length = max_length
        self.int8: Int8Network | None = None  # when set, it answers instead of `network`
        self.temperature = 1.0  # logits are divided by it: fitted on held-out answers

    @classmethod
    def from_base(
        cls, base_model: str, label_space: LabelSpace, max_length: int, device: str = "cpu"
    ) -> TextClassifier:
        tokenizer = AutoTokenizer.from_pretrained(base_model)
        encoder = AutoModel.from_pretrained(base_model, add_pooling_layer=False)
        network = MeanPoolingClassifier(encoder, encoder.config.hidden_size, label_space.size)
        window = min(max_length, encoder.config.max_position_embeddings)
        return cls(network.to(device), tokenizer, label_space, window)

    @property
    def device(self) -> torch.device:
        return self.network.head.weight.device

    def encode(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Token ids padded to the longest text of this batch, never to the full window."""
        clipped = [text[: self.max_length * CHARS_PER_TOKEN] for text in texts]
        batch = self.tokenizer(
            clipped,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return {
            "input_ids": batch["input_ids"].to(self.device),
            "attention_mask": batch["attention_mask"].to(self.device),
        }

    @property
    def runtime(self) -> str:
        return INT8_RUNTIME if self.int8 is not None else "torch"

    def served_by(self, int8: Int8Network | None) -> TextClassifier:
        """The same classifier answering through `int8` (None: through torch)."""
        twin = copy.copy(self)
        twin.int8 = int8
        return twin

    def onnx_module(self) -> nn.Module:
        """The network as the exporter traces it: ids and mask in, logits out."""
        return self.network

    def onnx_sample(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        return {name: tensor.cpu() for name, tensor in self.encode(list(texts)).items()}

    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.int8 is not None:
            return self.int8(**batch)
        return self.network(**batch)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        scaled = logits / self.temperature
        if self.label_space.multi_label:
            return torch.sigmoid(scaled)
        return torch.softmax(scaled, dim=-1)

    @torch.inference_mode()
    def raw_logits(self, texts: Sequence[str], batch_size: int = 32) -> torch.Tensor:
        """Logits per text, in input order, before the temperature; batches hold texts of
        similar length."""
        self.network.eval()
        rows = torch.zeros(len(texts), self.label_space.size)
        for indexes in length_sorted_batches(texts, batch_size):
            rows[indexes] = self.logits(self.encode([texts[i] for i in indexes])).float().cpu()
        return rows

    def predict_proba(self, texts: Sequence[str], batch_size: int = 32) -> list[list[float]]:
        """Class probabilities per text, in input order."""
        return self.probabilities(self.raw_logits(texts, batch_size)).tolist()

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[Prediction]:
        return [self.decide(row) for row in self.predict_proba(texts, batch_size)]

    def evaluate(self, texts: Sequence[str], labels: Sequence[Sequence[str]]) -> ChoiceEvaluation:
        """Accuracy, macro-F1 and per-label scores against annotated labels."""
        return evaluate_choices([p.labels for p in self.predict(texts)], labels)

    def decide(self, probs: Sequence[float]) -> Prediction:
        labels = self.label_space.labels
        if not self.label_space.multi_label:
            best = max(range(len(probs)), key=probs.__getitem__)
            runner_up = max((p for i, p in enumerate(probs) if i != best), default=0.0)
            return Prediction((labels[best],), (probs[best],), probs[best], probs[best] - runner_up)
        chosen = [i for i, p in enumerate(probs) if p >= 0.5]
        # Confidence of a multi-label decision: how sure the model is of every yes and no;
        # its margin, how far the least sure of them is from flipping.
        score = sum(max(p, 1.0 - p) for p in probs) / len(probs)
        margin = min(abs(2.0 * p - 1.0) for p in probs)
        return Prediction(
            tuple(labels[i] for i in chosen), tuple(probs[i] for i in chosen), score, margin
        )

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        encoder = self.network.encoder
        encoder.config.id2label = dict(enumerate(self.label_space.labels))
        encoder.config.label2id = {label: i for i, label in enumerate(self.label_space.labels)}
        encoder.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        head = {name: t.detach().contiguous() for name, t in self.network.head.state_dict().items()}
        save_file(head, str(folder / HEAD_FILE))
        meta = {
            "format": FORMAT,
            "label_space": self.label_space.to_dict(),
            "max_length": self.max_length,
            "pooling": "mean",
            "temperature": self.temperature,
        }
        (folder / META_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, folder: Path, device: str = "cpu", runtime: str = "torch") -> TextClassifier:
        """`runtime="onnx-int8"` serves through the folder's int8 file where it has one and
        the device is a CPU; torch answers otherwise."""
        meta = read_meta(folder)
        label_space = LabelSpace.from_dict(meta["label_space"])
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        encoder = AutoModel.from_pretrained(str(folder), add_pooling_layer=False)
        network = MeanPoolingClassifier(encoder, encoder.config.hidden_size, label_space.size)
        network.head.load_state_dict(load_file(str(folder / HEAD_FILE)))
        network.eval()
        classifier = cls(network.to(device), tokenizer, label_space, int(meta["max_length"]))
        classifier.temperature = float(meta.get("temperature", 1.0))  # 1: saved before it
        if runtime == INT8_RUNTIME and classifier.device.type == "cpu":
            classifier.int8 = open_int8(folder, torch.get_num_threads())
        return classifier


def read_meta(folder: Path) -> dict:
    return stored.read_meta(folder, META_FILE, FORMAT)


def length_sorted_batches(texts: Sequence[str], batch_size: int) -> Iterator[list[int]]:
    """Indexes of texts in batches of similar length, so padding stays small."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]
