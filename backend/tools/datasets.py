"""Labelled data sets as Label Studio tasks, for replaying them through training.

Three formats: a Label Studio JSON export (its own label config given), SST-2 TSV
(`sentence<TAB>0|1`) and CoNLL-2003 (`token POS chunk NER` per line). SST-2 and CoNLL
become tasks shaped exactly as Label Studio exports them, so the replay goes through the
same `collect_examples` as a real project's annotations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from backend.errors import UnsupportedLabelConfig
from backend.label_config import CHOICES, LABELS, Control, parse_label_config

LS_EXPORT, SST2, CONLL, CONLL_TYPES = "ls-export", "sst2", "conll", "conll-types"
FORMATS = (LS_EXPORT, SST2, CONLL, CONLL_TYPES)
CONFIGS = Path(__file__).resolve().parents[2] / "label_config"
DEFAULT_CONFIGS = {
    SST2: "text_classification.xml",
    CONLL: "named_entities.xml",
    CONLL_TYPES: "entity_types.xml",
}
SST2_LABELS = {"0": "Negative", "1": "Positive"}
CONLL_SUFFIXES = (".conll", ".iob", ".bio", ".testa", ".testb", ".train")


class DatasetError(Exception):
    """A data file that cannot be read as its format; the message names the file and why."""


@dataclass
class Dataset:
    tasks: list[dict]  # Label Studio tasks: id, data, annotations
    label_config: str
    format: str
    path: Path


def guess_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".json"):
        return LS_EXPORT
    if name.endswith(".tsv"):
        return SST2
    if name.endswith(CONLL_SUFFIXES):
        return CONLL
    raise DatasetError(
        f"cannot tell the format of {path} from its name: give --format ({', '.join(FORMATS)})"
    )


def load_dataset(
    path: Path, file_format: str | None = None, label_config: Path | None = None
) -> Dataset:
    """The tasks of a data file and the label config they are annotated under; SST-2 and
    CoNLL default to the repository's sentiment and named-entity configs."""
    file_format = file_format or guess_format(path)
    if file_format not in FORMATS:
        raise DatasetError(f"unknown format {file_format!r}: use one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise DatasetError(f"no data file at {path}")
    if file_format == LS_EXPORT and label_config is None:
        raise DatasetError(
            "a Label Studio export needs its project's label config: give --label-config "
            "with the XML from the project's Labeling Interface (Code view)"
        )
    xml = read_label_config(label_config or CONFIGS / DEFAULT_CONFIGS[file_format])
    if file_format == LS_EXPORT:
        tasks = read_export(path)
    elif file_format == SST2:
        tasks = read_sst2(path, control_of(xml, CHOICES, path))
    elif file_format == CONLL_TYPES:
        tasks = read_conll_types(path, control_of(xml, CHOICES, path))
    else:
        tasks = read_conll(path, control_of(xml, LABELS, path))
    if not tasks:
        raise DatasetError(f"{path} holds no task")
    return Dataset(tasks, xml, file_format, path)


def read_label_config(path: Path) -> str:
    if not path.is_file():
        raise DatasetError(
            f"no label config at {path}: give --label-config with a Label Studio config XML"
        )
    xml = path.read_text(encoding="utf-8")
    try:
        parse_label_config(xml)
    except UnsupportedLabelConfig as error:
        raise DatasetError(f"label config {path}: {error.message}") from None
    return xml


def control_of(xml: str, kind: str, path: Path) -> Control:
    """The control the file's labels belong to: the config's first of that kind."""
    for control in parse_label_config(xml).controls:
        if control.kind == kind:
            return control
    tag = "<Choices>" if kind == CHOICES else "<Labels>"
    raise DatasetError(f"{path} needs a label config with a {tag} control for its labels")


def annotated_task(position: int, text: str, field: str, result: list[dict]) -> dict:
    return {
        "id": position + 1,
        "data": {field: text},
        "annotations": [{"id": position + 1, "result": result, "was_cancelled": False}],
    }


def read_export(path: Path) -> list[dict]:
    """Tasks of a Label Studio JSON export, renumbered by position: ids must be unique and
    stable for the replay, and exports merged from several projects repeat them."""
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path} is not JSON: {error}") from None
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise DatasetError(f"{path} is not a list of tasks: export the project as JSON")
    if tasks and not any("annotations" in t for t in tasks):
        raise DatasetError(
            f"{path} has no annotations: export with the JSON format (JSON-MIN drops them)"
        )
    return [{**task, "id": i + 1} for i, task in enumerate(tasks)]


def read_sst2(path: Path, control: Control) -> list[dict]:
    tasks: list[dict] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or (number == 1 and line.strip() == "sentence\tlabel"):
            continue
        sentence, _, label = line.rpartition("\t")
        if not sentence or label.strip() not in SST2_LABELS:
            raise DatasetError(f"{path} line {number} is not `sentence<TAB>0|1`: {line[:60]!r}")
        result = [choice_result(control, SST2_LABELS[label.strip()])]
        tasks.append(annotated_task(len(tasks), sentence, control.field, result))
    return tasks


def choice_result(control: Control, label: str) -> dict:
    return {
        "from_name": control.name,
        "to_name": control.to_name,
        "type": CHOICES,
        "value": {"choices": [label]},
    }


def read_conll(path: Path, control: Control) -> list[dict]:
    tasks: list[dict] = []
    for text, spans in conll_sentences(path):
        result = [span_result(control, text, *span) for span in spans]
        tasks.append(annotated_task(len(tasks), text, control.field, result))
    return tasks


def read_conll_types(path: Path, control: Control) -> list[dict]:
    """A four-class sentence classification from CoNLL-2003: each sentence whose entities
    are all of one type (PER, ORG, LOC or MISC) is labelled with that type; sentences with
    no entity, or several types, are left out."""
    tasks: list[dict] = []
    for text, spans in conll_sentences(path):
        kinds = {label for _, _, label in spans}
        if len(kinds) == 1 and (kind := kinds.pop()) in control.labels:
            tasks.append(
                annotated_task(len(tasks), text, control.field, [choice_result(control, kind)])
            )
    return tasks


def conll_sentences(path: Path) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """Sentences as texts (tokens joined by spaces) with entity spans; `-DOCSTART-` lines
    separate documents and are no sentence."""
    sentences, tokens = [], []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate([*lines, ""], 1):
        if line.strip() and not line.startswith("-DOCSTART-"):
            fields = line.split()
            if len(fields) < 2:
                raise DatasetError(f"{path} line {number} is not `token ... TAG`: {line[:60]!r}")
            tokens.append((fields[0], fields[-1]))
        elif tokens:
            sentences.append(tagged_sentence(tokens))
            tokens = []
    return sentences


def tagged_sentence(tokens: list[tuple[str, str]]) -> tuple[str, list[tuple[int, int, str]]]:
    """Character spans from IOB1 tags (CoNLL-2003: an entity starts with I- unless it
    directly follows one of the same type) or IOB2 (always B- first): both read the same."""
    text, previous = "", "O"
    spans: list[tuple[int, int, str]] = []
    for word, tag in tokens:
        start = len(text) + (1 if text else 0)
        text = f"{text} {word}" if text else word
        if tag == "O" or "-" not in tag:
            previous = "O"
            continue
        prefix, label = tag.split("-", 1)
        if prefix == "B" or label != previous:
            spans.append((start, len(text), label))
        else:
            spans[-1] = (spans[-1][0], len(text), label)
        previous = label
    return text, spans


def span_result(control: Control, text: str, start: int, end: int, label: str) -> dict:
    return {
        "from_name": control.name,
        "to_name": control.to_name,
        "type": LABELS,
        "value": {"start": start, "end": end, "text": text[start:end], "labels": [label]},
    }
