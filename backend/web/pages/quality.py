"""The project page's label quality section, from the report the worker wrote
(MODEL_DIR/<project>/quality.json, the body of GET /quality): how often each annotator and
each label's predictions were accepted unchanged, how far annotators agree with each
other, and the suspect labels, each linked to its task in Label Studio."""

from __future__ import annotations

from collections import defaultdict

SUSPECTS_SHOWN = 20


def summary(report: dict, studio_url: str, project: int) -> dict:
    """What the page's script draws (docs/page.md): `about`, `annotators`, `labels` and
    `suspects`."""
    controls = (report.get("agreement") or {}).get("controls") or {}
    annotators: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    labels = []
    for control, entry in controls.items():
        per_label: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for figures in (entry.get("versions") or {}).values():
            for who, counts in (figures.get("annotators") or {}).items():
                add(annotators[str(who)], counts)
            for label, counts in (figures.get("labels") or {}).items():
                add(per_label[label], counts)
        labels += [
            {"control": control, "label": label, "agreement": share(*n), "tasks": n[1]}
            for label, n in per_label.items()
        ]
    suspects = [s for s in report.get("suspects") or [] if s.get("suspect")][:SUSPECTS_SHOWN]
    return {
        "project": project,
        "version": report.get("version"),
        "about": about(controls),
        "annotators": [
            {"annotator": who, "agreement": share(*n), "tasks": n[1]}
            for who, n in sorted(annotators.items())
        ],
        "labels": labels,
        "suspects": [suspect_row(s, studio_url, project) for s in suspects],
    }


def add(total: list[int], counts: dict) -> None:
    total[0] += int((counts.get("accepted") or {}).get("count") or 0)
    total[1] += int(counts.get("count") or 0)


def share(accepted: int, count: int) -> float | None:
    return round(accepted / count, 4) if count else None


def about(controls: dict) -> str:
    sentence = (
        "Agreement: the share of an annotator's answers, and of a label's predictions, that "
        "kept the model's prediction unchanged (every version annotators worked from)."
    )
    for control, entry in controls.items():
        between = entry.get("between_annotators") or {}
        if between.get("agreement") is not None:
            sentence += (
                f" {control}: annotators answering the same task agree on "
                f"{between['agreement']:.0%} of {between.get('pairs', 0)} pairs."
            )
    return sentence


def suspect_row(suspect: dict, studio_url: str, project: int) -> dict:
    task = suspect.get("task")
    url = f"{studio_url.rstrip('/')}/projects/{project}/data?task={task}" if studio_url else ""
    return {
        "task": task,
        "control": suspect.get("control"),
        "given": said(suspect.get("given")),
        "suggested": said(suspect.get("suggested")),
        "score": suspect.get("score"),
        "url": url,
    }


def said(labels: object) -> list[str]:
    """Choices as they are; entities as `LABEL "text"`."""
    if not isinstance(labels, list):
        return [str(labels)] if labels is not None else []
    return [
        f'{item.get("label")} "{item.get("text")}"' if isinstance(item, dict) else str(item)
        for item in labels
    ]
