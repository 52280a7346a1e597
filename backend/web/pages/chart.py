"""The learning curve of a project, drawn on the server as SVG: for each control, the score
of every version on its held-out tasks against the annotated tasks it trained on.

Accepted versions are filled circles joined by a line (the path of what served), rejected
ones crosses, cross-validation estimates (nothing held out yet) hollow circles, and the
serving version has a ring: shape and colour both tell them apart. The template
(templates/_curve.html) draws what `learning_curves` computes; nothing here knows HTML.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from backend.store import number as version_number
from backend.web.pages.data import control_score, short_name

WIDTH, HEIGHT = 480, 300  # a shape that reads on a phone's width as on a laptop's
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 32, 48  # margins around the plot
Y_TICKS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
MARK = 6  # half the size of a marker
NUDGE = 10  # pixels between versions trained on as many tasks


@dataclass(frozen=True)
class Point:
    version: str
    name: str
    tasks: int
    value: float
    accepted: bool
    current: bool
    estimate: bool  # a cross-validation estimate, not a held-out score
    x: float
    y: float
    label_below: bool = False  # versions trained on as many tasks take turns above and below

    @property
    def label_y(self) -> float:
        return self.y + 24 if self.label_below else self.y - 17

    @property
    def classes(self) -> str:
        kinds = ["accepted" if self.accepted else "rejected"]
        kinds += ["current"] * self.current + ["estimate"] * self.estimate
        return " ".join(kinds)

    @property
    def cross(self) -> str:
        """The SVG path of a rejected version's cross."""
        left, right, top, bottom = self.x - MARK, self.x + MARK, self.y - MARK, self.y + MARK
        return (
            f"M{left:.1f},{top:.1f}L{right:.1f},{bottom:.1f}"
            f"M{left:.1f},{bottom:.1f}L{right:.1f},{top:.1f}"
        )

    def describe(self, metric: str) -> str:
        how = "estimated by cross-validation" if self.estimate else "on held-out tasks"
        verdict = "accepted" if self.accepted else "rejected"
        serving = ", serving now" if self.current else ""
        return (
            f"{self.name}: {metric} {self.value:.3f} {how}, trained on {self.tasks} annotated "
            f"tasks, {verdict}{serving}"
        )


@dataclass
class Chart:
    control: str
    metric: str
    points: list[Point] = field(default_factory=list)
    unplotted: list[str] = field(default_factory=list)  # versions with no score, and why
    x_ticks: list[tuple[str, float]] = field(default_factory=list)
    y_ticks: list[tuple[str, float]] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    right_edge: int = WIDTH - RIGHT
    bottom_edge: int = HEIGHT - BOTTOM

    @property
    def accepted_path(self) -> str:
        """A line through the accepted versions, oldest first."""
        dots = [p for p in self.points if p.accepted]
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in dots) if len(dots) > 1 else ""

    @property
    def description(self) -> str:
        parts = [p.describe(self.metric) for p in self.points] + self.unplotted
        return "; ".join(parts) + "." if parts else "No version yet."


def learning_curves(details: list[dict], current: str | None) -> list[Chart]:
    """One chart per control, from a project's /versions details (newest first)."""
    oldest_first = sorted(
        (d for d in details if d.get("status") != "unreadable"),
        key=lambda d: version_number(d["version"]),
    )
    names = list(dict.fromkeys(c["control"] for d in oldest_first for c in d["controls"]))
    return [chart_of(name, oldest_first, current) for name in names]


def chart_of(control: str, details: list[dict], current: str | None) -> Chart:
    rows, unplotted, metric = [], [], ""
    for detail in details:
        entry = next((c for c in detail["controls"] if c["control"] == control), None)
        if entry is None:
            continue
        score = control_score(entry)
        metric = metric or score["metric"]
        if score["value"] is None:
            unplotted.append(f"{short_name(detail['version'])}: {score['text']}")
            continue
        rows.append((detail, entry, score))
    chart = Chart(control, metric or "score", unplotted=unplotted)
    x_max, step = task_axis(
        max((e.get("training_annotations") or 0 for _, e, _ in rows), default=0)
    )
    chart.x_ticks = [(str(t), x_position(t, x_max)) for t in range(0, x_max + 1, step)]
    chart.y_ticks = [(f"{t:.1f}", y_position(t)) for t in Y_TICKS]
    counts = [entry.get("training_annotations") or 0 for _, entry, _ in rows]
    same, seen = Counter(counts), Counter[int]()
    for (detail, _, score), tasks in zip(rows, counts, strict=True):
        # versions trained on as many tasks (corrections, a rollback and a rerun) sit side
        # by side instead of on top of each other; their titles say the exact count
        nudge = (seen[tasks] - (same[tasks] - 1) / 2) * NUDGE
        chart.points.append(
            Point(
                version=detail["version"],
                name=short_name(detail["version"]),
                tasks=tasks,
                value=score["value"],
                accepted=bool(detail.get("accepted")),
                current=detail["version"] == current,
                estimate=score["kind"] == "cross_validation",
                x=x_position(tasks, x_max) + nudge,
                y=y_position(score["value"]),
                label_below=seen[tasks] % 2 == 1,
            )
        )
        seen[tasks] += 1
    return chart


def x_position(tasks: float, x_max: float) -> float:
    return LEFT + (WIDTH - LEFT - RIGHT) * tasks / x_max


def y_position(value: float) -> float:
    clipped = min(1.0, max(0.0, value))
    return TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - clipped)


def nice_step(span: float) -> int:
    """1, 2 or 5 times a power of ten: about five ticks over `span`."""
    raw = max(1.0, span / 5)
    power = 10 ** math.floor(math.log10(raw))
    return int(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def task_axis(largest: int) -> tuple[int, int]:
    """The axis end and its tick step: the first tick beyond the largest count (10 at
    least), so that no point sits on the chart's edge."""
    step = nice_step(max(largest, 9))
    return (max(largest, 9) // step + 1) * step, step
