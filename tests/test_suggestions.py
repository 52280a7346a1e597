"""Scores that order work, and interactive span suggestions: the other mentions of a drawn
region, and the model's entities decoded again around what the annotator drew."""

from __future__ import annotations

import time
from itertools import pairwise
from pathlib import Path

import pytest
import torch

from backend.label_config import parse_label_config
from backend.prediction_results import LoadedVersion, TaskResults
from backend.tools.payloads import predict_body, task
from backend.web.suggestions import TokenCache, drawn_regions, suggest
from model.classifier import TextClassifier
from model.labels import LabelSpace
from model.mentions import find_mentions
from model.span_decoding import TextTokens, constrained_decode, region_constraints
from model.spans import TagScheme
from model.token_classifier import SpanTagger
from tests.conftest import REPO, wait_for

SPACE = LabelSpace(("PER", "LOC"))
SCHEME = TagScheme(SPACE)  # O, B-PER, I-PER, B-LOC, I-LOC
OUT, B_PER, I_PER, B_LOC, I_LOC = range(5)
PEOPLE_AND_PLACES = """<View><Labels name="label" toName="text"><Label value="PER"/>
<Label value="LOC"/></Labels><Text name="text" value="$text"/></View>"""


def classifier(multi: bool = False, labels: tuple[str, ...] = ("A", "B", "C")) -> TextClassifier:
    return TextClassifier(None, None, LabelSpace(labels, multi), 128)  # type: ignore[arg-type]


# --- scores --------------------------------------------------------------------------------


def test_single_choice_score_is_the_top_probability_and_margin_the_gap_to_the_next() -> None:
    decided = classifier().decide([0.5, 0.3, 0.2])
    assert decided.labels == ("A",)
    assert decided.score == 0.5 and decided.margin == pytest.approx(0.2)
    # the same top probability, a closer runner-up: as certain, but nearer a flip
    assert classifier().decide([0.5, 0.45, 0.05]).margin == pytest.approx(0.05)


def test_multiple_choice_score_is_the_mean_certainty_margin_the_least_sure_label() -> None:
    decided = classifier(multi=True).decide([0.9, 0.2, 0.55])
    assert decided.labels == ("A", "C")
    assert decided.score == pytest.approx((0.9 + 0.8 + 0.55) / 3)
    assert decided.margin == pytest.approx(0.1)  # C: 0.55 against 0.45


def test_a_tasks_score_is_the_mean_of_its_controls_its_margin_the_smallest() -> None:
    answer = TaskResults()
    answer.scores += [0.9, 0.6]
    answer.margins += [0.8, 0.2]
    assert (answer.score, answer.margin) == (0.75, 0.2)
    assert answer.item("v1") == {"result": [], "model_version": "v1", "score": 0.75}
    assert TaskResults().item("v1") == {"result": [], "model_version": "v1"}


def word_tokens(text: str, rows: list[list[float]]) -> TextTokens:
    """One token per space-separated word of `text`, with these tag probabilities."""
    offsets, start = [], 0
    for word in text.split(" "):
        offsets.append((start, start + len(word)))
        start += len(word) + 1
    return TextTokens(offsets, list(range(len(offsets))), torch.tensor(rows).log())


def tagger() -> SpanTagger:
    return SpanTagger(None, None, SPACE, 128, 32)  # type: ignore[arg-type]  # decide needs no network


SURE_OUT = [0.96, 0.01, 0.01, 0.01, 0.01]


def test_span_score_is_the_mean_word_certainty_margin_the_least_sure_word() -> None:
    text = "Alice met Bob"
    rows = [[0.05, 0.9, 0.02, 0.02, 0.01], SURE_OUT, [0.5, 0.4, 0.04, 0.04, 0.02]]
    decided = tagger().decide(text, word_tokens(text, rows))
    assert [(s.text, s.label) for s in decided.spans] == [("Alice", "PER")]
    assert decided.score == pytest.approx((0.9 + 0.96 + 0.5) / 3)
    assert decided.margin == pytest.approx(0.1)  # "Bob": O 0.5 against B-PER 0.4


# --- mentions ------------------------------------------------------------------------------


def test_other_mentions_of_a_drawn_region_are_found_at_word_boundaries() -> None:
    text = "Paris is big. Parisians love Paris; PARIS and Paris, again: Paris"
    first = text.index("Paris")
    found = find_mentions(text, [(first, first + 5, "LOC")])
    starts = [i for i in range(len(text)) if text.startswith("Paris", i)]
    expected = [s for s in starts if s != first and text[s + 5 : s + 6] != "i"]
    assert [(s, e, label) for s, e, label in found] == [(s, s + 5, "LOC") for s in expected]
    assert all(text[s:e] == "Paris" for s, e, _ in found)


def test_mentions_skip_drawn_regions_and_take_the_spaces_off_a_selection() -> None:
    text = "New York and York and New York"
    drawn = [(0, 9, "LOC"), (13, 18, "PER")]  # "New York ", "York " with a trailing space
    assert find_mentions(text, drawn) == [(22, 30, "LOC")]  # the second "New York" only
    assert find_mentions("Zoë met 東京 then 東京 😀", [(8, 10, "LOC")]) == [(16, 18, "LOC")]
    assert find_mentions("short", [(3, 99, "LOC"), (2, 2, "LOC")]) == []


# --- decoding around drawn regions ----------------------------------------------------------


def test_drawn_regions_fix_tags_and_no_entity_runs_on_from_them() -> None:
    offsets = [(0, 3), (4, 7), (8, 11), (12, 15)]
    constraints = region_constraints(offsets, [(4, 7, "PER"), (0, 2, "NOPE")], SCHEME)
    assert constraints.forced == {1: B_PER}
    assert constraints.forbidden == {2: {I_PER}}
    # the model would read tokens 1-2 as one person; the annotator drew token 1 alone
    rows = torch.tensor(
        [SURE_OUT, [0.05, 0.9, 0.02, 0.02, 0.01], [0.05, 0.1, 0.8, 0.03, 0.02], SURE_OUT]
    ).log()
    assert constrained_decode(rows, SCHEME) == [OUT, B_PER, I_PER, OUT]
    assert constrained_decode(rows, SCHEME, constraints) == [OUT, B_PER, B_PER, OUT]


def test_entities_are_decoded_again_consistently_with_a_drawn_region() -> None:
    """The model reads "Ann Lee Paris" as person "Ann Lee" and city "Paris". The annotator
    draws "Lee Paris" as one place: the model's person shrinks to "Ann", nothing it returns
    overlaps the region, and the region itself is not returned."""
    text = "Ann Lee Paris now"
    rows = [
        [0.04, 0.9, 0.02, 0.02, 0.02],
        [0.04, 0.02, 0.9, 0.02, 0.02],
        [0.04, 0.02, 0.02, 0.9, 0.02],
        SURE_OUT,
    ]
    tokens = word_tokens(text, rows)
    free = tagger().decide(text, tokens)
    assert [(s.text, s.label) for s in free.spans] == [("Ann Lee", "PER"), ("Paris", "LOC")]
    around = tagger().decide(text, tokens, [(4, 13, "LOC")])
    assert [(s.start, s.end, s.label) for s in around.spans] == [(0, 3, "PER")]


class FakeTagger(SpanTagger):
    """Decides on fixed probabilities instead of running a network, after `delay` seconds;
    counts the runs."""

    def __init__(self, rows: list[list[float]], delay: float = 0.0) -> None:
        super().__init__(None, None, SPACE, 128, 32)  # type: ignore[arg-type]
        self.rows, self.runs, self.delay = rows, 0, delay
        self.read: list[str] = []

    def token_log_probs(self, texts, batch_size: int = 32) -> list[TextTokens]:  # type: ignore[no-untyped-def, override]
        self.runs += 1
        self.read = list(texts)
        time.sleep(self.delay)
        return [word_tokens(texts[0], self.rows)]


def region(start: int, end: int, text: str, label: str) -> dict:
    value = {"start": start, "end": end, "text": text[start:end], "labels": [label]}
    return {"id": "r1", "from_name": "label", "to_name": "text", "type": "labels",
            "origin": "manual", "value": value}  # fmt: skip


def test_an_interactive_answer_holds_the_mentions_and_the_models_other_entities() -> None:
    text = "Rome and Ann and Rome"
    model = FakeTagger(
        [[0.5, 0.1, 0.1, 0.2, 0.1], SURE_OUT, [0.04, 0.9, 0.02, 0.02, 0.02], SURE_OUT, SURE_OUT]
    )
    loaded = LoadedVersion("v3-20261201T000000", {"label": model})
    task = {"id": 1, "data": {"text": text}}
    context = {"result": [region(0, 4, text, "LOC"), {"type": "choices", "value": {}}]}
    regions = drawn_regions(context)
    assert len(regions) == 1
    cache = TokenCache(wait=60, max_chars=20_000)
    config = parse_label_config(PEOPLE_AND_PLACES)
    answer = suggest(task, config, loaded, regions, cache, project=1)
    found = [(r["value"]["start"], r["value"]["end"], r["value"]["labels"], "score" in r)
             for r in answer["result"]]  # fmt: skip
    # the other "Rome" is a copy of the annotator's region (no score), "Ann" the model's
    assert found == [(9, 12, ["PER"], True), (17, 21, ["LOC"], False)]
    assert answer["model_version"] == "v3-20261201T000000"
    suggest(task, config, loaded, regions, cache, project=1)
    assert model.runs == 1  # the next region drawn on the task reuses its probabilities
    untrained = suggest(task, config, None, regions, cache, project=1)
    assert [r["value"]["start"] for r in untrained["result"]] == [17]


def test_the_model_reads_no_more_of_a_text_than_predict_does() -> None:
    """SPAN_MAX_CHARS bounds the tagger here too: past it, mentions only."""
    text = "Rome and Ann and Rome"
    model = FakeTagger([[0.5, 0.1, 0.1, 0.2, 0.1], SURE_OUT, [0.04, 0.9, 0.02, 0.02, 0.02]])
    loaded = LoadedVersion("v3-20261201T000000", {"label": model})
    task = {"id": 1, "data": {"text": text}}
    regions = drawn_regions({"result": [region(0, 4, text, "LOC")]})
    cache = TokenCache(wait=60, max_chars=13)
    answer = suggest(task, parse_label_config(PEOPLE_AND_PLACES), loaded, regions, cache, 1)
    found = [(r["value"]["start"], r["value"]["labels"], "score" in r) for r in answer["result"]]
    assert found == [(9, ["PER"], True), (17, ["LOC"], False)]
    assert model.read == ["Rome and Ann"]  # the first 13 characters, cut at the space


def test_a_slow_model_leaves_the_first_answer_to_the_mentions_and_reads_on() -> None:
    """The labelling page waits for the answer: past the wait, the mentions go alone, and
    the model's entities come with the next region drawn on the task."""
    text = "Rome and Ann and Rome"
    model = FakeTagger([SURE_OUT, SURE_OUT, [0.04, 0.9, 0.02, 0.02, 0.02], SURE_OUT, SURE_OUT], 0.5)
    loaded = LoadedVersion("v3-20261201T000000", {"label": model})
    task = {"id": 1, "data": {"text": text}}
    regions = drawn_regions({"result": [region(0, 4, text, "LOC")]})
    cache = TokenCache(wait=0.05, max_chars=20_000)
    config = parse_label_config(PEOPLE_AND_PLACES)
    started = time.perf_counter()
    first = suggest(task, config, loaded, regions, cache, project=1)
    assert time.perf_counter() - started < 0.4
    assert [r["value"]["start"] for r in first["result"]] == [17]
    later = wait_for(
        lambda: (
            len((a := suggest(task, config, loaded, regions, cache, project=1))["result"]) == 2
            and a
        ),
        5,
    )
    assert [r["value"]["start"] for r in later["result"]] == [9, 17] and model.runs == 1


def test_a_suggestion_for_a_1000_character_text_takes_milliseconds_once_read(
    tiny_model: Path,
) -> None:
    """The network runs once per task; each further region drawn is string work and one
    Viterbi pass (timed in the benchmark on MiniLM, not asserted here)."""
    model = SpanTagger.from_base(str(tiny_model), SPACE, 128, 32)
    text = " ".join(["the story was great and Paris was lovely"] * 25)[:1000]
    loaded = LoadedVersion("v1-20261201T000000", {"label": model})
    task = {"id": 1, "data": {"text": text}}
    regions = drawn_regions({"result": [region(24, 29, text, "LOC")]})
    cache = TokenCache(wait=60, max_chars=20_000)
    config = parse_label_config(PEOPLE_AND_PLACES)
    first = suggest(task, config, loaded, regions, cache, project=1)
    started = time.perf_counter()
    again = suggest(task, config, loaded, regions, cache, project=1)
    took = 1e3 * (time.perf_counter() - started)
    print(f"\ninteractive suggestion on 1,000 characters, probabilities cached: {took:.1f} ms")
    mentions = [r for r in again["result"] if "score" not in r]
    assert len(mentions) == text.count("Paris") - 1 == 23
    assert again == first
    spans = sorted((r["value"]["start"], r["value"]["end"]) for r in again["result"])
    assert all(a[1] <= b[0] for a, b in pairwise(spans))  # no two overlap
    assert all(e <= 24 or s >= 29 for s, e in spans)  # nothing on the drawn region


def test_predict_with_drawn_regions_answers_suggestions_without_setup(client) -> None:  # type: ignore[no-untyped-def]
    """As Label Studio sends it: no /setup first, the config in the body; before any
    training, the other mentions alone. Without drawn spans, the usual answer."""
    config = (REPO / "label_config" / "named_entities.xml").read_text()
    text = "Rome and Ann and Rome"
    body = predict_body(3, [task(text, 11)], config)
    body["params"]["context"] = {"result": [region(0, 4, text, "LOC")]}
    answer = client.post("/predict", json=body).json
    assert answer["results"] == [
        {
            "result": [
                {
                    "from_name": "label",
                    "to_name": "text",
                    "type": "labels",
                    "value": {"start": 17, "end": 21, "text": "Rome", "labels": ["LOC"]},
                }
            ],
            "model_version": "untrained",
        }
    ]
    body["params"]["context"] = {"result": [{"type": "choices", "value": {"choices": ["x"]}}]}
    assert client.post("/predict", json=body).json["results"] == [
        {"result": [], "model_version": "untrained"}
    ]
