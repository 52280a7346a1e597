"""Label spaces: the ordered set of labels one classifier predicts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from model.errors import TrainingDataError


@dataclass(frozen=True)
class LabelSpace:
    """The labels of one control tag, in a fixed order, and whether several may apply.

    The order is the order of the label config, so a saved model maps ids to the same
    labels however the annotations were ordered.
    """

    labels: tuple[str, ...]
    multi_label: bool = False

    def __post_init__(self) -> None:
        if not self.labels:
            raise TrainingDataError("a label space needs at least one label")
        if len(set(self.labels)) != len(self.labels):
            raise TrainingDataError(f"duplicate labels in {list(self.labels)}")

    @property
    def size(self) -> int:
        return len(self.labels)

    def index(self, label: str) -> int:
        try:
            return self.labels.index(label)
        except ValueError:
            raise TrainingDataError(f"label {label!r} is not one of {list(self.labels)}") from None

    def unknown(self, labels: Iterable[str]) -> list[str]:
        """The labels that this space does not know, in their order of appearance."""
        known = set(self.labels)
        return [label for label in labels if label not in known]

    def target(self, labels: Sequence[str]) -> list[float] | int:
        """The training target for one example: a class index, or a multi-hot vector."""
        if self.multi_label:
            vector = [0.0] * self.size
            for label in labels:
                vector[self.index(label)] = 1.0
            return vector
        if len(labels) != 1:
            raise TrainingDataError(
                f"a single-choice example needs exactly one label, got {list(labels)}"
            )
        return self.index(labels[0])

    def require_same(self, wanted: LabelSpace, folder: object) -> None:
        """Refuse to warm-start a model of this space (saved in `folder`) for another."""
        if self != wanted:
            raise TrainingDataError(
                f"cannot warm-start from {folder}: it predicts {list(self.labels)}"
                f"{' (multi-label)' if self.multi_label else ''}, the run needs "
                f"{list(wanted.labels)}{' (multi-label)' if wanted.multi_label else ''}"
            )

    def to_dict(self) -> dict[str, object]:
        return {"labels": list(self.labels), "multi_label": self.multi_label}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> LabelSpace:
        labels = data.get("labels")
        if not isinstance(labels, list):
            raise TrainingDataError("a stored label space needs a list of labels")
        return cls(tuple(str(label) for label in labels), bool(data.get("multi_label")))
