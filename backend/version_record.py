"""The version record: what `MODEL_DIR/<project>/versions/<version>/version.json` holds.

One set of types, written by the training run and read by `/versions`, the web's model
cache, the gate, `lsbert bench` and `lsbert simulate`. Records written by earlier releases
load too: a field they lack takes the value those releases meant (no gate: accepted; no
start: a full start; no kind: `<Choices>`; no inference: torch), and a field this release
does not know is kept as it is, so reading and writing a record loses nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

from backend.label_config import CHOICES

WARM, FULL = "warm", "full"
TORCH = "torch"  # the runtime of span taggers, and of classifiers without an int8 export
T = TypeVar("T")


def known_fields(cls: type[T], data: dict, **nested: Any) -> T:
    """An instance from the keys of `data` that `cls` declares; the rest goes to `extra`."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    values = {k: v for k, v in data.items() if k in names and k != "extra"}
    values.update(nested)
    if "extra" in names:
        values["extra"] = {k: v for k, v in data.items() if k not in names}
    return cls(**values)


def without_empty(data: dict, keep: tuple[str, ...] = ()) -> dict:
    return {k: v for k, v in data.items() if v is not None or k in keep}


@dataclass(frozen=True)
class StartPlan:
    """Where a control's training started: the champion's weights (warm) or BASE_MODEL."""

    mode: str  # WARM or FULL
    reason: str
    from_version: str | None = None

    @classmethod
    def from_dict(cls, data: dict | None) -> StartPlan:
        if not data:
            return cls(FULL, "made before warm start")
        return known_fields(cls, data)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    """Whether a model (a control's, or the whole version's) may serve, and why."""

    accepted: bool
    reason: str
    metric: str | None = None
    challenger: float | None = None
    champion: float | None = None
    compared_tasks: int = 0
    extra: dict = field(default_factory=dict)  # the evidence the rule weighed

    @classmethod
    def from_dict(cls, data: dict | None) -> Decision:
        if not data:
            return cls(True, "made before gating")
        return known_fields(cls, data)

    def to_dict(self) -> dict:
        data = asdict(self)
        extra = data.pop("extra")
        return {**data, **extra}


@dataclass
class HeldOut:
    """The held-out tasks of a control and the model's scores on them (`scores` is the
    evaluation record: metric, value, per-label figures, accuracy or P/R/F1)."""

    task_ids: list[int] = field(default_factory=list)
    scores: dict = field(default_factory=dict)
    skipped: str | None = None  # why nothing was held out
    cross_validation: dict | None = None

    @classmethod
    def from_dict(cls, data: dict | None) -> HeldOut:
        data = dict(data or {})
        task_ids = [int(t) for t in data.pop("task_ids", [])]
        skipped, cross = data.pop("skipped", None), data.pop("cross_validation", None)
        return cls(task_ids, data, skipped, cross)

    def to_dict(self) -> dict:
        data = {"task_ids": self.task_ids, **self.scores}
        return without_empty(
            {**data, "skipped": self.skipped, "cross_validation": self.cross_validation}
        )

    @property
    def metric(self) -> str | None:
        return self.scores.get("metric")

    @property
    def value(self) -> float | None:
        return self.scores.get("value")


@dataclass
class Inference:
    """How a CPU serves the control: int8 through ONNX Runtime (with the export's check
    against torch), or torch, with the reason."""

    runtime: str = TORCH
    file: str | None = None
    seconds: float | None = None
    checked_texts: int | None = None
    same_labels: float | None = None
    max_probability_difference: float | None = None  # a classifier's
    entity_f1_against_torch: float | None = None  # a span tagger's
    torch_cpu_seconds: float | None = None  # the check texts' pass, each runtime
    int8_cpu_seconds: float | None = None
    speedup: float | None = None  # torch's processor time over int8's
    reason: str | None = None

    @classmethod
    def from_dict(cls, data: dict | None) -> Inference:
        return known_fields(cls, data) if data else cls()

    def to_dict(self) -> dict:
        return without_empty(asdict(self))


@dataclass
class ControlRecord:
    """One control tag's model: what it trained on, how, and how it scored."""

    control: str
    kind: str = CHOICES
    folder: str = ""
    labels: list[str] = field(default_factory=list)
    multi_label: bool = False
    examples: int = 0  # training examples (the held-out tasks not included)
    label_counts: dict[str, int] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)
    task_ids: list[int] = field(default_factory=list)  # trained on
    # task id (as text) -> its target's key, for the trained and the held-out tasks: what
    # the next run compares labels with (not kept before the gate weighed evidence)
    targets: dict[str, str] = field(default_factory=dict)
    steps: int = 0
    epochs: int = 0
    final_loss: float | None = None
    seconds: float = 0.0
    hyperparameters: dict = field(default_factory=dict)
    span_conversion: dict | None = None
    start: StartPlan = field(default_factory=lambda: StartPlan.from_dict(None))
    held_out: HeldOut = field(default_factory=HeldOut)
    decision: Decision | None = None
    inference: Inference = field(default_factory=Inference)
    # the temperature served scores are divided by, and the calibration error before and
    # after it on the held-out answers it was fitted on
    calibration: dict | None = None
    # the pseudo-labelled unlabelled tasks it also learnt from: how many, from which
    # teacher, above which threshold, at which weight (none: annotations alone)
    unlabelled: dict | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> ControlRecord:
        decision = data.get("decision")
        return known_fields(
            cls,
            data,
            start=StartPlan.from_dict(data.get("start")),
            held_out=HeldOut.from_dict(data.get("held_out")),
            decision=Decision.from_dict(decision) if decision else None,
            inference=Inference.from_dict(data.get("inference")),
        )

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        data.update(
            start=self.start.to_dict(),
            held_out=self.held_out.to_dict(),
            decision=self.decision.to_dict() if self.decision else None,
            inference=self.inference.to_dict(),
        )
        return {**without_empty(data), **self.extra}

    @property
    def annotated(self) -> int:
        """Tasks this control learnt from or was scored on: training and held-out parts."""
        return self.examples + len(self.held_out.task_ids)


@dataclass
class VersionRecord:
    """A whole version: one model per control, and whether it serves."""

    version: str = ""
    project: int = 0
    created_at: str | None = None
    base_model: dict | None = None
    seed: int | None = None
    training_source: str | None = None
    annotated_tasks: int | None = None
    champion: str | None = None  # the version serving when the run started
    decision: Decision = field(default_factory=lambda: Decision.from_dict(None))
    controls: list[ControlRecord] = field(default_factory=list)
    skipped_controls: list[str] = field(default_factory=list)
    seconds: float | None = None  # wall time of the run
    # per version whose predictions annotators worked from, per control: the agreement
    # measured when this version was trained (backend.quality.agreement)
    agreement: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> VersionRecord:
        return known_fields(
            cls,
            data,
            decision=Decision.from_dict(data.get("decision")),
            controls=[ControlRecord.from_dict(c) for c in data.get("controls", [])],
        )

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        data.update(decision=self.decision.to_dict(), controls=[c.to_dict() for c in self.controls])
        return {**data, **self.extra}

    def control(self, name: str) -> ControlRecord | None:
        return next((c for c in self.controls if c.control == name), None)
