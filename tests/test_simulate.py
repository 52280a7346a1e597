"""`lsbert simulate`: data sets as tasks, rounds through the real training, the gate, the curve."""

from __future__ import annotations

import json
import os
import random
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

import backend.tools.simulate as simulation
from backend.cli import OneLineErrors
from backend.label_config import parse_label_config
from backend.settings import Settings
from backend.tools.corruption import Poison, corrupted
from backend.tools.datasets import DatasetError, guess_format, load_dataset
from backend.tools.learning_curve import draw_learning_curve
from backend.tools.payloads import choices
from backend.tools.replay import most_uncertain_first
from backend.tools.simulate import simulate
from backend.tools.simulate_cli import COLUMNS, add_simulate_parser, format_table, run_simulate
from backend.tools.summary import labels_to_reach, mean_curves, reach_summary
from backend.training.examples import collect_examples
from backend.training.holdout import is_held_out
from model.spans import Span
from tests.conftest import REPO, SENTIMENT_CONFIG
from tests.label_studio_server import LabelStudioServer
from tests.texts import synthetic_product_reviews, synthetic_reviews

MIXED_CONFIG = (REPO / "label_config" / "sentiment_and_entities.xml").read_text()
PNG = b"\x89PNG\r\n\x1a\n"


def region(start: int, end: int, label: str) -> dict:
    value = {"start": start, "end": end, "labels": [label]}
    return {"from_name": "entities", "to_name": "text", "type": "labels", "value": value}


def annotated(position: int, text: str, result: list[dict]) -> dict:
    return {
        "id": position + 1,
        "data": {"text": text},
        "annotations": [{"id": 1, "result": result}],
    }


def review_tasks(count: int, seed: int = 0) -> list[dict]:
    rows = synthetic_reviews(count, seed)
    return [annotated(i, text, [choices([label])]) for i, (text, label) in enumerate(rows)]


def product_tasks(count: int) -> list[dict]:
    rows = synthetic_product_reviews(count)
    return [
        annotated(i, text, [choices([sentiment]), *(region(*span) for span in spans)])
        for i, (text, spans, sentiment) in enumerate(rows)
    ]


@pytest.fixture
def tiny_settings(tiny_model: Path) -> Settings:
    return Settings(
        base_model=str(tiny_model),
        train_epochs=10,
        train_learning_rate=1e-3,
        train_span_epochs=8,
        device="cpu",
        inference_runtime="torch",  # the int8 export has tests of its own (test_int8.py)
        cross_validation_folds=0,
    )


def by_replay(result: dict, control: str = "sentiment") -> dict[tuple[str, int], list[dict]]:
    replays: dict[tuple[str, int], list[dict]] = {}
    for row in result["rounds"]:
        if row["control"] == control:
            replays.setdefault((row["ordering"], row["seed"]), []).append(row)
    return replays


def test_rounds_train_score_and_gate_every_ordering_and_seed(
    tiny_model: Path, tiny_settings: Settings, tmp_path: Path
) -> None:
    seen: list[dict] = []
    result = simulate(
        review_tasks(60), SENTIMENT_CONFIG, [32, 8, 16, 500], ["random", "uncertain"], [0, 1],
        str(tiny_model), tiny_settings, review_tasks(40, seed=1), seen.append,
    )  # fmt: skip
    assert result["sizes"] == [8, 16, 32] and result["dropped_sizes"] == [500]
    assert result["machine"]["cpu_count"] == os.cpu_count()
    assert result["base_model"]["path"] == str(tiny_model.resolve())
    assert result["settings"]["train_epochs"] == 10 and result["evaluation"]["examples"] == {
        "sentiment": 40
    }
    replays = by_replay(result)
    assert sorted(replays) == [("random", 0), ("random", 1), ("uncertain", 0), ("uncertain", 1)]
    for rows in replays.values():
        assert [r["labels"] for r in rows] == [8, 16, 32]
        assert (
            sum(len(r["added"]) for r in rows) == 32 == len({i for r in rows for i in r["added"]})
        )
        assert all(r["metric"] == "macro_f1" and 0 <= r["value"] <= 1 for r in rows)
        assert all(0 <= r["evaluation"]["accuracy"] <= 1 and r["seconds"] >= 0 for r in rows)
        # served scores' calibration error, and without the temperature: both measured
        assert all(0 <= r["evaluation"][k] <= 1 for r in rows for k in ("ece", "ece_uncalibrated"))
        assert all(0 <= r["challenger"]["value"] <= 1 for r in rows)
        assert [r["start"]["mode"] for r in rows] == ["full", "warm", "warm"]
        # the project's own rules: nothing held out below 20 annotated tasks, then a share
        assert "first version" in rows[0]["decision"]["reason"]
        assert "no task is left to compare them on" in rows[1]["decision"]["reason"]
        assert [r["held_out"] for r in rows[:2]] == [0, 0] and rows[2]["held_out"] > 0
        # compared on the held-out tasks the champion (trained on all of 16) never saw
        assert rows[2]["decision"]["compared_tasks"] <= rows[2]["held_out"]
        assert rows[2]["examples"] + rows[2]["held_out"] == 32
        assert all(r["serving"] for r in rows)
        for row in rows:  # what serves is what the gate let through
            served = row["version"] if row["accepted"] else rows[rows.index(row) - 1]["serving"]
            assert row["serving"] == served
    assert seen == result["rounds"]
    json.dumps(result)

    random_rows, uncertain_rows = replays["random", 0], replays["uncertain", 0]
    assert random_rows[0]["added"] == uncertain_rows[0]["added"]  # the first round is random
    assert set(random_rows[1]["added"]) != set(uncertain_rows[1]["added"])
    assert random_rows[0]["added"] != replays["random", 1][0]["added"]

    table = format_table(result).splitlines()
    assert table[0].split() == [*COLUMNS, "decision"] and len(table) == 13
    assert table[1].split()[:3] == ["random", "0", "8"] and table[1].split()[-1] == "accepted"
    picture = draw_learning_curve(result, tmp_path / "curve" / "learning_curve.png")
    assert picture.read_bytes().startswith(PNG) and picture.stat().st_size > 5000


def test_spans_and_choices_of_one_config_replay_together_on_a_held_out_share(
    tiny_model: Path, tiny_settings: Settings, tmp_path: Path
) -> None:
    tasks = product_tasks(80)
    result = simulate(
        tasks, MIXED_CONFIG, [8, 16], ["random", "uncertain"], [0], str(tiny_model),
        tiny_settings,
    )  # fmt: skip
    held_out = sum(result["evaluation"]["examples"].values()) // 2
    assert "held out" in result["evaluation"]["source"] and 5 <= held_out <= 30
    assert result["pool"] == 80 - held_out
    for rows in by_replay(result, "entities").values():
        assert [r["labels"] for r in rows] == [8, 16]
        assert all(r["metric"] == "entity_f1" and 0 <= r["value"] <= 1 for r in rows)
    rounds = [(r["ordering"], r["round"]) for r in result["rounds"]]
    assert len(rounds) == 8 and all(rounds.count(key) == 2 for key in rounds)
    assert all(isinstance(r["accepted"], bool) and r["decision"] for r in result["rounds"])
    trained = {i for row in result["rounds"] for i in row["added"]}
    evaluated = {t["id"] for t in tasks if is_held_out(0, t["id"], simulation.EVAL_SHARE)}
    assert len(evaluated) == held_out and not trained & evaluated
    assert draw_learning_curve(result, tmp_path / "mixed.png").read_bytes().startswith(PNG)


class Confident:
    """A model stand-in, sure of a text as the number ending it says (in hundredths), or
    of the opposite when flipped."""

    def __init__(self, flip: bool = False) -> None:
        self.flip = flip

    def confidence(self, text: str) -> float:
        number = int(text.split()[-1])
        return (100 - number if self.flip else number) / 100

    def predict_proba(self, texts: list[str]) -> list[list[float]]:
        return [[self.confidence(text), 0.0] for text in texts]

    def decide(self, row: list[float]) -> SimpleNamespace:
        return SimpleNamespace(score=max(row))

    def predict(self, texts: list[str]) -> list[SimpleNamespace]:
        return [SimpleNamespace(score=self.confidence(text)) for text in texts]


def test_uncertain_ordering_puts_the_least_confident_task_of_any_control_first() -> None:
    config = parse_label_config(MIXED_CONFIG)
    tasks = [annotated(i, f"text {n}", []) for i, n in enumerate([90, 40, 70, 55])]
    models: dict = {"sentiment": Confident()}
    ordered = most_uncertain_first(models, config.controls, tasks)
    assert [t["data"]["text"] for t in ordered] == ["text 40", "text 55", "text 70", "text 90"]
    models["entities"] = Confident(flip=True)  # the tagger is unsure of 90 and 70
    ordered = most_uncertain_first(models, config.controls, tasks)
    assert [t["data"]["text"] for t in ordered] == ["text 90", "text 70", "text 40", "text 55"]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_label_studio_export_round_trips_into_examples(tmp_path: Path) -> None:
    export = [  # ids repeat in exports merged from several projects
        annotated(0, "great film", [choices(["Positive"])]),
        annotated(0, "dull plot", [choices(["Negative"])]),
        {"id": 9, "data": {"text": "no one yet"}, "annotations": []},
    ]
    data_file = write(tmp_path / "export.json", json.dumps(export))
    config_file = write(tmp_path / "config.xml", SENTIMENT_CONFIG)
    data = load_dataset(data_file, label_config=config_file)
    assert data.format == "ls-export" and [t["id"] for t in data.tasks] == [1, 2, 3]
    examples = collect_examples(data.tasks, parse_label_config(data.label_config).controls[0])
    assert examples.texts == ["great film", "dull plot"] and examples.task_ids == [1, 2]
    assert examples.targets == [["Positive"], ["Negative"]]
    with pytest.raises(DatasetError, match="--label-config"):
        load_dataset(data_file)
    with pytest.raises(DatasetError, match="JSON-MIN"):
        load_dataset(write(tmp_path / "min.json", '[{"text": "a"}]'), label_config=config_file)


def test_sst2_lines_become_sentiment_tasks(tmp_path: Path) -> None:
    path = write(tmp_path / "train.tsv", "sentence\tlabel\na fine , warm film\t1\nflat\t0\n\n")
    data = load_dataset(path)
    control = parse_label_config(data.label_config).controls[0]
    examples = collect_examples(data.tasks, control)
    assert examples.texts == ["a fine , warm film", "flat"] and examples.task_ids == [1, 2]
    assert examples.targets == [["Positive"], ["Negative"]]
    with pytest.raises(DatasetError, match="line 2"):
        load_dataset(write(tmp_path / "bad.tsv", "good\t1\nno label here\n"))


def test_conll_sentences_become_span_tasks_with_character_offsets(tmp_path: Path) -> None:
    lines = [
        "-DOCSTART- -X- O O", "",
        "Marta NNP I-NP I-PER", "Quill NNP I-NP I-PER", "visited VBD I-VP O",
        "Lake NNP I-NP I-LOC", "Orvo NNP I-NP I-LOC", "Tuesday NNP I-NP O", "",
        "Brix NNP I-NP I-ORG", "Velda NNP I-NP B-ORG", "merged VBD I-VP O", "",
    ]  # fmt: skip
    data = load_dataset(write(tmp_path / "eng.train", "\n".join(lines)))
    examples = collect_examples(data.tasks, parse_label_config(data.label_config).controls[0])
    assert examples.texts == ["Marta Quill visited Lake Orvo Tuesday", "Brix Velda merged"]
    first, second = examples.targets
    assert [(s.label, examples.texts[0][s.start : s.end]) for s in first] == [
        ("PER", "Marta Quill"),
        ("LOC", "Lake Orvo"),
    ]
    assert second == [Span(0, 4, "ORG", "Brix"), Span(5, 10, "ORG", "Velda")]


def test_formats_are_guessed_from_file_names() -> None:
    assert [guess_format(Path(n)) for n in ("a.json", "dev.tsv", "eng.testa")] == [
        "ls-export",
        "sst2",
        "conll",
    ]
    with pytest.raises(DatasetError, match="--format"):
        guess_format(Path("data.csv"))


def parse(*argv: str):  # type: ignore[no-untyped-def]
    parser = OneLineErrors(prog="lsbert")
    add_simulate_parser(parser.add_subparsers(dest="command", parser_class=OneLineErrors))
    return parser.parse_args(["simulate", *argv])


def sst2_file(path: Path, count: int, seed: int) -> Path:
    rows = synthetic_reviews(count, seed)
    return write(path, "".join(f"{t}\t{int(label == 'Positive')}\n" for t, label in rows))


def test_the_command_writes_the_record_and_the_curve_and_prints_the_table(
    tiny_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = parse(
        "--data", str(sst2_file(tmp_path / "train.tsv", 30, 0)),
        "--eval", str(sst2_file(tmp_path / "dev.tsv", 20, 1)),
        "--sizes", "8,16", "--order", "uncertain", "--seeds", "3", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert run_simulate(args, tiny_settings) == 0
    record = json.loads((tmp_path / "out" / "simulation.json").read_text())
    assert record["data"]["format"] == "sst2" and record["evaluation"]["path"].endswith("dev.tsv")
    assert [(r["ordering"], r["seed"], r["labels"]) for r in record["rounds"]] == [
        ("uncertain", 3, 8),
        ("uncertain", 3, 16),
    ]
    assert (tmp_path / "out" / "learning_curve.png").read_bytes().startswith(PNG)
    out, err = capsys.readouterr()
    table, gate, curve = out.splitlines()[:3], out.splitlines()[3:4], out.splitlines()[4:]
    assert table[0].split()[0] == "ordering" and len(table) == 3
    (at_8, value_8, *_), (_, value_16, *_) = record["curves"]["sentiment"]["uncertain"]
    assert at_8 == 8 and record["reach"] == []  # no random order to compare with
    assert curve == [f"sentiment uncertain (mean of seeds): 8: {value_8:.3f}, 16: {value_16:.3f}"]
    assert gate == [
        "uncertain seed 3 sentiment: served at most "
        f"{record['gate'][0]['largest_drop_below_best']:.3f} below the best version so far; "
        "the newest served in - of the honest rounds after 100 labels; 0 of 0 poisoned rounds "
        "rejected"
    ]
    assert "uncertain seed 3 round 2: 16 labels, sentiment macro_f1" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sizes", "10,x"], "argument --sizes: '10,x' is not a comma-separated list"),
        (["--order", "random,clever"], "argument --order: 'random,clever': choose from"),
        (["--format", "csv"], "argument --format: invalid choice: 'csv'"),
    ],
)
def test_wrong_options_get_a_one_line_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse("--data", "x.tsv", *argv)
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.count("\n") == 1 and message in err


def test_unusable_data_gets_a_one_line_error(
    tiny_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write(tmp_path / "export.json", "[]")
    tsv = sst2_file(tmp_path / "train.tsv", 10, 0)
    for argv, message in [
        (["--data", str(export)], "needs its project's label config: give --label-config"),
        (["--data", str(tmp_path / "x.csv")], "cannot tell the format"),
        (["--data", str(tsv), "--sizes", "50"], "every size (50) is above the"),
    ]:
        assert run_simulate(parse(*argv, "--out", str(tmp_path / "out")), tiny_settings) == 2
        err = capsys.readouterr().err
        assert err.startswith("lsbert simulate: ") and err.count("\n") == 1 and message in err


def test_a_poisoned_round_is_turned_away_and_the_next_honest_one_serves(
    tiny_model: Path, tiny_settings: Settings
) -> None:
    """--poison: half the tasks relabelled wrongly in round 2 (held-out ones too), restored
    in round 3 with ten more: the gate keeps the first version, then serves the third."""
    result = simulate(
        review_tasks(80), SENTIMENT_CONFIG, [40, 40, 50], ["random"], [0], str(tiny_model),
        tiny_settings, review_tasks(30, seed=1), poisons=[Poison(2, 0.5)],
    )  # fmt: skip
    first, poisoned, honest = result["rounds"]
    assert [r["poisoned"] for r in result["rounds"]] == [0, 20, 0]
    assert poisoned["accepted"] is False and poisoned["serving"] == first["version"]
    assert "labels of" in poisoned["decision"]["reason"]  # not a superset: evidence needed
    assert poisoned["value"] == first["value"]  # the served version did not move
    assert honest["accepted"] is True and honest["serving"] == honest["version"]
    (gate,) = result["gate"]
    assert (gate["poisoned_rounds"], gate["poisoned_rejected"], gate["honest_rejected"]) == (
        1,
        1,
        0,
    )


def test_corruption_gives_each_control_one_plausible_mistake() -> None:
    config = parse_label_config(MIXED_CONFIG)
    (task,) = product_tasks(1)
    wrong = corrupted(task, config.controls, random.Random(0))
    before = collect_examples([task], config.controls[0]).targets[0]
    after = collect_examples([wrong], config.controls[0]).targets[0]
    assert task["data"] == wrong["data"] and before != after
    spans_before = collect_examples([task], config.controls[1]).targets[0]
    spans_after = collect_examples([wrong], config.controls[1]).targets[0]
    assert len(spans_before) == len(spans_after) and spans_before != spans_after
    assert product_tasks(1)[0] == task  # the original is left alone


def test_sizes_and_poisons_are_read_from_the_command_line() -> None:
    args = parse("--data", "x.tsv", "--sizes", "10:50:20,100,100", "--poison", "3:0.3,5:0.5:0")
    assert args.sizes == [10, 30, 50, 100, 100]
    assert args.poison == [Poison(3, 0.3), Poison(5, 0.5, 0)]
    assert Poison(5, 0.5, 0).active(9) and not Poison(3, 0.3).active(4)


def test_curves_average_the_seeds_and_say_how_many_labels_reach_random_orders_figure() -> None:
    def row(ordering: str, seed: int, labels: int, accuracy: float) -> dict:
        return {"ordering": ordering, "seed": seed, "labels": labels, "control": "sentiment",
                "evaluation": {"accuracy": accuracy, "value": 0.0}}  # fmt: skip

    rows = [
        row("random", 0, 100, 0.70), row("random", 1, 100, 0.72),
        row("random", 0, 500, 0.80), row("random", 1, 500, 0.82),
        row("label-studio", 0, 100, 0.74), row("label-studio", 1, 100, 0.76),
        row("label-studio", 0, 300, 0.84), row("label-studio", 1, 300, 0.82),
    ]  # fmt: skip
    curves = mean_curves(rows)
    assert curves["sentiment"]["random"] == [[100, 0.71, 0.70, 0.72], [500, 0.81, 0.80, 0.82]]
    # 0.75 at 100 labels, 0.83 at 300: 0.81 is reached three quarters of the way, at 250
    assert labels_to_reach(curves["sentiment"]["label-studio"], 0.81) == 250.0
    assert labels_to_reach(curves["sentiment"]["label-studio"], 0.70) == 100
    assert labels_to_reach(curves["sentiment"]["label-studio"], 0.90) is None
    assert reach_summary(curves) == [
        {"control": "sentiment", "ordering": "label-studio", "reference_labels": 500,
         "reference_value": 0.81, "labels_needed": 250.0, "fewer": 0.5}
    ]  # fmt: skip


def test_the_label_studio_order_needs_a_label_studio(tiny_settings: Settings) -> None:
    with pytest.raises(simulation.SimulationError, match="LABEL_STUDIO_URL"):
        simulate(
            review_tasks(20), SENTIMENT_CONFIG, [10], ["label-studio"], [0], "bundled",
            tiny_settings, review_tasks(10, seed=1),
        )  # fmt: skip


@pytest.mark.slow
def test_the_label_studio_order_is_what_label_studio_serves_on_pushed_scores(
    tiny_model: Path, tiny_settings: Settings, label_studio: LabelStudioServer
) -> None:
    """A real Label Studio serves the second round: the tasks with the lowest scores the
    first round's version pushed, among those not yet annotated."""
    settings = replace(
        tiny_settings,
        label_studio_url=label_studio.base_url,
        label_studio_api_key=label_studio.personal_access_token,
    )
    result = simulate(
        review_tasks(60), SENTIMENT_CONFIG, [10, 20], ["label-studio"], [0], str(tiny_model),
        settings, review_tasks(20, seed=1), pool_size=50,
    )  # fmt: skip
    first, second = by_replay(result)["label-studio", 0]
    client = label_studio.client("pat")
    project = max(p["id"] for p in client.json("GET", "/api/projects")["results"])
    assert client.get_project(project)["sampling"] == "Uncertainty sampling"
    tasks = {t["id"]: t["data"]["text"] for t in client.list_tasks(project)}
    assert len(tasks) == 50 and result["pool"] == 50
    scores = {
        tasks[p["task"]]: p["score"]
        for p in client.list_predictions(project=project)
        if p["model_version"] == first["version"]
    }
    texts = {t["id"]: t["data"]["text"] for t in review_tasks(60)}
    chosen = {texts[i] for i in second["added"]}
    first_round = {texts[i] for i in first["added"]}
    rest = set(scores) - chosen - first_round
    assert len(chosen) == 10 and max(scores[t] for t in chosen) <= min(scores[t] for t in rest)
    annotated = [t for t in client.list_tasks(project) if t["is_labeled"]]
    assert {tasks[t["id"]] for t in annotated} == chosen | first_round
