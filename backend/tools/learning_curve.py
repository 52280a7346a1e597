"""The learning curve of a simulation as a PNG: metric against labels, per ordering.

matplotlib is imported only here, and only when drawing: the service never needs it.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from statistics import mean

INSTALL = "pip install matplotlib"


class PlottingUnavailable(Exception):
    """matplotlib is not installed; the message says how to install it."""


def require_matplotlib() -> None:
    """Fail before hours of training rather than after them."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlottingUnavailable(
            f"drawing the learning curve needs matplotlib: run `{INSTALL}`"
        ) from None


def curves(rows: list[dict], control: str) -> dict[str, list[tuple[int, float, float, float]]]:
    """Per ordering, (labels, mean, min, max) over seeds; skipped rounds left out."""
    values: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row["control"] == control and row["value"] is not None:
            values[row["ordering"]][row["labels"]].append(row["value"])
    return {
        ordering: [(n, mean(v), min(v), max(v)) for n, v in sorted(by_size.items())]
        for ordering, by_size in values.items()
    }


def draw_panel(axes, result: dict, control: dict) -> None:  # type: ignore[no-untyped-def]
    rows = [r for r in result["rounds"] if r["control"] == control["name"]]
    metric = next((r["metric"] for r in rows if r["metric"]), "metric")
    for ordering, points in curves(rows, control["name"]).items():
        labels = [p[0] for p in points]
        (line,) = axes.plot(labels, [p[1] for p in points], marker="o", label=ordering)
        lows, highs = [p[2] for p in points], [p[3] for p in points]
        axes.fill_between(labels, lows, highs, color=line.get_color(), alpha=0.2, linewidth=0)
    axes.set_xscale("log")
    axes.set_xticks(result["sizes"], [str(size) for size in result["sizes"]])
    axes.minorticks_off()  # the log axis' own minor labels would crowd the sizes
    axes.set_xlabel("annotated tasks")
    axes.set_ylabel(metric)
    evaluated = result["evaluation"]["examples"].get(control["name"], 0)
    axes.set_title(f"{control['name']} ({control['kind']}), evaluated on {evaluated} tasks")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(title=f"mean, band: min-max over {len(result['seeds'])} seed(s)")


def draw_learning_curve(result: dict, path: Path) -> Path:
    """One panel per control, one line per ordering; written with the Agg renderer, which
    needs no display and leaves pyplot's global state alone."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    controls = result["controls"]
    figure = Figure(figsize=(7, 4.5 * len(controls)), layout="constrained")
    FigureCanvasAgg(figure)
    panels = figure.subplots(len(controls), 1, squeeze=False)[:, 0]
    for axes, control in zip(panels, controls, strict=True):
        draw_panel(axes, result, control)
    name = result["base_model"].get("name") or "base model"
    figure.suptitle(f"Learning curve: {Path(str(name)).name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path
