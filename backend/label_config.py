"""Reading a Label Studio label config: which control tags we can predict, and from what."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from backend.errors import UnsupportedLabelConfig

SUPPORTED = '<Choices> (choice="single" or "multiple") whose toName is a <Text value="$field">'


@dataclass(frozen=True)
class ChoicesControl:
    """One `<Choices>` tag bound to a `<Text>`: a text classification task."""

    name: str
    to_name: str
    field: str  # task data key read from <Text value="$field">
    labels: tuple[str, ...]
    multi_label: bool


@dataclass(frozen=True)
class LabelConfig:
    controls: tuple[ChoicesControl, ...]
    ignored: tuple[str, ...]  # control tags we do not predict, with why

    def control(self, name: str) -> ChoicesControl | None:
        return next((c for c in self.controls if c.name == name), None)


def parse_xml(xml: object) -> ET.Element:
    if not isinstance(xml, str) or not xml.strip():
        raise UnsupportedLabelConfig(
            "the label config is empty", f"send a Label Studio label config with {SUPPORTED}"
        )
    try:
        return ET.fromstring(xml)
    except ET.ParseError as error:
        raise UnsupportedLabelConfig(
            f"the label config is not valid XML: {error}",
            "paste the config from the project's Labeling Interface (Code view); this "
            f"backend predicts {SUPPORTED}",
        ) from None


def text_fields(root: ET.Element) -> dict[str, str]:
    """Name of each <Text> object tag -> the task data field it shows."""
    fields = {}
    for tag in root.iter("Text"):
        name, value = tag.get("name"), tag.get("value", "")
        if name and value.startswith("$") and len(value) > 1:
            fields[name] = value[1:]
    return fields


def choice_labels(tag: ET.Element) -> tuple[str, ...]:
    # Label Studio stores a choice's alias in results when it has one.
    return tuple(c.get("alias") or c.get("value") or "" for c in tag.iter("Choice"))


def read_choices(tag: ET.Element, fields: dict[str, str]) -> ChoicesControl | str:
    """The control, or why it cannot be predicted."""
    name, to_name = tag.get("name", ""), tag.get("toName", "")
    labels = choice_labels(tag)
    if to_name not in fields:
        return f"<Choices name={name!r}> is not bound to a <Text> with a $field value"
    if tag.get("perRegion", "").lower() == "true":
        return f"<Choices name={name!r}> classifies regions, not whole texts"
    if tag.get("value"):
        return f"<Choices name={name!r}> takes its options from task data"
    if not labels or "" in labels or len(set(labels)) != len(labels):
        return f"<Choices name={name!r}> needs distinct, non-empty <Choice value> options"
    multi = tag.get("choice", "single").lower() == "multiple"
    return ChoicesControl(name, to_name, fields[to_name], labels, multi)


def parse_label_config(xml: object) -> LabelConfig:
    """The predictable controls of a config; an error naming what is supported if none."""
    root = parse_xml(xml)
    fields = text_fields(root)
    controls: list[ChoicesControl] = []
    ignored: list[str] = []
    for tag in root.iter("Choices"):
        read = read_choices(tag, fields)
        (controls if isinstance(read, ChoicesControl) else ignored).append(read)  # type: ignore[arg-type]
    if not controls:
        found = sorted({tag.tag for tag in root.iter() if tag is not root})
        detail = "; ".join(ignored) or f"it has only {', '.join(found) or 'no tags'}"
        raise UnsupportedLabelConfig(
            f"nothing in this label config can be predicted: {detail}",
            f"this backend predicts {SUPPORTED}; see label_config/ for ready configs",
        )
    return LabelConfig(tuple(controls), tuple(ignored))
