"""Reading a Label Studio label config: which control tags we can predict, and from what."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from backend.errors import UnsupportedLabelConfig

CHOICES, LABELS = "choices", "labels"
SUPPORTED = (
    '<Choices> (choice="single" or "multiple") and <Labels> (spans) whose toName is a '
    '<Text value="$field">'
)


@dataclass(frozen=True)
class Control:
    """One control tag bound to a `<Text>`: a classification (`<Choices>`) or a span
    labelling (`<Labels>`) task, named as Label Studio results name it."""

    kind: str  # CHOICES or LABELS: the `type` of its results
    name: str
    to_name: str
    field: str  # task data key read from <Text value="$field">
    labels: tuple[str, ...]
    multi_label: bool = False  # several choices per text (spans are always several)


@dataclass(frozen=True)
class LabelConfig:
    controls: tuple[Control, ...]
    ignored: tuple[str, ...]  # control tags we do not predict, with why

    def control(self, name: str) -> Control | None:
        return next((c for c in self.controls if c.name == name), None)


def check_encodable(xml: str) -> str:
    """The config, refused unless it is text that can be stored and parsed: JSON can carry
    a lone UTF-16 surrogate (\\ud800), which UTF-8 cannot encode."""
    try:
        xml.encode()
    except UnicodeEncodeError as error:
        raise UnsupportedLabelConfig(
            f"the label config holds a character that is not valid Unicode at {error.start}",
            "paste the config from the project's Labeling Interface (Code view) again",
        ) from None
    return xml


def parse_xml(xml: object) -> ET.Element:
    if not isinstance(xml, str) or not xml.strip():
        what = "empty" if isinstance(xml, str) or not xml else f"a {type(xml).__name__}"
        raise UnsupportedLabelConfig(
            f"the label config is {what}, not XML text",
            f"send a Label Studio label config with {SUPPORTED}",
        )
    try:
        # defused: entity expansion (billion laughs) and external entities are refused
        return SafeET.fromstring(check_encodable(xml))
    except DefusedXmlException as error:
        name = getattr(error, "name", None)  # of the entity; never its SYSTEM path or URL
        raise UnsupportedLabelConfig(
            f"the label config declares an entity{f' ({name!r})' if name else ''} or refers "
            "to an external one, which this backend refuses",
            "remove the <!DOCTYPE> and its <!ENTITY> declarations; Label Studio configs need none",
        ) from None
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


def option_values(tag: ET.Element, option: str) -> tuple[str, ...]:
    # Label Studio stores an option's alias in results when it has one.
    return tuple(c.get("alias") or c.get("value") or "" for c in tag.iter(option))


def read_control(tag: ET.Element, fields: dict[str, str]) -> Control | str:
    """The control, or why it cannot be predicted."""
    kind = CHOICES if tag.tag == "Choices" else LABELS
    option = "Choice" if kind == CHOICES else "Label"
    name, to_name = tag.get("name", ""), tag.get("toName", "")
    labels = option_values(tag, option)
    if to_name not in fields:
        return f"<{tag.tag} name={name!r}> is not bound to a <Text> with a $field value"
    if kind == CHOICES and tag.get("perRegion", "").lower() == "true":
        return f"<Choices name={name!r}> classifies regions, not whole texts"
    if tag.get("value"):
        return f"<{tag.tag} name={name!r}> takes its options from task data"
    if not labels or "" in labels or len(set(labels)) != len(labels):
        return f"<{tag.tag} name={name!r}> needs distinct, non-empty <{option} value> options"
    multi = kind == CHOICES and tag.get("choice", "single").lower() == "multiple"
    return Control(kind, name, to_name, fields[to_name], labels, multi)


def parse_label_config(xml: object) -> LabelConfig:
    """The predictable controls of a config; an error naming what is supported if none."""
    root = parse_xml(xml)
    fields = text_fields(root)
    controls: list[Control] = []
    ignored: list[str] = []
    for tag in root.iter():
        if tag.tag in ("Choices", "Labels"):
            read = read_control(tag, fields)
            if isinstance(read, Control):
                controls.append(read)
            else:
                ignored.append(read)
    if not controls:
        found = sorted({tag.tag for tag in root.iter() if tag is not root})
        detail = "; ".join(ignored) or f"it has only {', '.join(found) or 'no tags'}"
        raise UnsupportedLabelConfig(
            f"nothing in this label config can be predicted: {detail}",
            f"this backend predicts {SUPPORTED}; see label_config/ for ready configs",
        )
    return LabelConfig(tuple(controls), tuple(ignored))
