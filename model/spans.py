"""Character spans and the BIO token tags a token classifier learns them as.

Spans are Python string indexes into the text (as Label Studio's `start`/`end`), never
positions in re-joined word pieces: the tokenizer's offset mapping is the only bridge
between characters and tokens, so offsets stay exact for accents, emoji and CJK alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from model.labels import LabelSpace

OUTSIDE = "O"
# Offsets of one token in its text: (start, end), Python string indexes.
Offsets = tuple[int, int]


@dataclass(frozen=True)
class Span:
    """One entity: text[start:end] is its text. Predictions carry a score, annotations none."""

    start: int
    end: int
    label: str
    text: str = ""
    score: float | None = None

    @property
    def key(self) -> tuple[int, int, str]:
        """What an exact match compares (CoNLL convention): boundaries and label."""
        return (self.start, self.end, self.label)


@dataclass(frozen=True)
class TagScheme:
    """BIO tags of a label space: O, then B-label and I-label per label, in its order."""

    space: LabelSpace

    @property
    def tags(self) -> tuple[str, ...]:
        pairs = ((f"B-{label}", f"I-{label}") for label in self.space.labels)
        return (OUTSIDE, *(tag for pair in pairs for tag in pair))

    @property
    def size(self) -> int:
        return 1 + 2 * self.space.size

    def begin(self, label: str) -> int:
        return 1 + 2 * self.space.index(label)

    def inside(self, label: str) -> int:
        return self.begin(label) + 1

    def label_of(self, tag: int) -> str | None:
        """The entity label of a tag id, None for O."""
        return None if tag == 0 else self.space.labels[(tag - 1) // 2]

    def is_begin(self, tag: int) -> bool:
        return tag > 0 and tag % 2 == 1


@dataclass
class ConversionReport:
    """What happened to annotated spans on their way to token tags: nothing crashes, every
    problem is counted so the caller can tell the annotators."""

    spans: int = 0  # spans seen
    used: int = 0  # spans that became tags
    unknown_labels: Counter[str] = field(default_factory=Counter)  # dropped: label not in space
    invalid: int = 0  # dropped: start/end outside the text or not start < end
    overlapping: int = 0  # dropped: overlaps an earlier (or longer) span
    without_tokens: int = 0  # dropped: covers only whitespace or characters no token has
    cut_tokens: int = 0  # kept: a boundary cut through a word piece, widened to the whole piece

    def add(self, other: ConversionReport) -> None:
        self.spans += other.spans
        self.used += other.used
        self.unknown_labels.update(other.unknown_labels)
        self.invalid += other.invalid
        self.overlapping += other.overlapping
        self.without_tokens += other.without_tokens
        self.cut_tokens += other.cut_tokens

    @property
    def dropped(self) -> int:
        return self.spans - self.used


def usable_spans(
    text: str, spans: Sequence[Span], space: LabelSpace, report: ConversionReport
) -> list[Span]:
    """Spans with known labels and valid offsets, without overlaps: where two overlap, the
    longer one (then the earlier) is kept, as an annotator's larger entity usually wins."""
    report.spans += len(spans)
    known = set(space.labels)
    valid = []
    for span in spans:
        if span.label not in known:
            report.unknown_labels[span.label] += 1
        elif not 0 <= span.start < span.end <= len(text):
            report.invalid += 1
        else:
            valid.append(span)
    kept: list[Span] = []
    for span in sorted(valid, key=lambda s: (s.start - s.end, s.start)):
        if any(span.start < other.end and other.start < span.end for other in kept):
            report.overlapping += 1
        else:
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)


def token_tags(
    text: str,
    offsets: Sequence[Offsets],
    spans: Sequence[Span],
    scheme: TagScheme,
    report: ConversionReport | None = None,
) -> list[int]:
    """BIO tag ids of the tokens of one text (all of its word pieces), from character spans.

    A token belongs to a span when they share a character; a token the span only partly
    covers is taken whole (and counted), since a span cannot end inside a word piece.
    """
    report = report if report is not None else ConversionReport()
    tags = [0] * len(offsets)
    for span in usable_spans(text, spans, scheme.space, report):
        inside = [i for i, (s, e) in enumerate(offsets) if s < span.end and span.start < e]
        inside = [i for i in inside if tags[i] == 0]  # a piece shared with a previous span
        if not inside:
            report.without_tokens += 1
            continue
        report.used += 1
        first, last = offsets[inside[0]], offsets[inside[-1]]
        if first[0] < span.start or last[1] > span.end:
            report.cut_tokens += 1
        tags[inside[0]] = scheme.begin(span.label)
        for i in inside[1:]:
            tags[i] = scheme.inside(span.label)
    return tags


def spans_from_tags(
    offsets: Sequence[Offsets], tags: Sequence[int], scheme: TagScheme
) -> list[tuple[int, int, str, list[int]]]:
    """Entities of a BIO tag sequence as (start, end, label, token indexes).

    B always starts a new entity, so two adjacent entities of one type stay two; an I that
    does not continue an entity of its type starts one (decoding normally forbids it).
    """
    entities: list[tuple[str, list[int]]] = []
    for i, tag in enumerate(tags):
        label = scheme.label_of(tag)
        if label is None:
            continue
        continues = entities and entities[-1][0] == label and entities[-1][1][-1] == i - 1
        if scheme.is_begin(tag) or not continues:
            entities.append((label, [i]))
        else:
            entities[-1][1].append(i)
    return [(offsets[ix[0]][0], offsets[ix[-1]][1], label, ix) for label, ix in entities]
