"""Span tagging on a tiny random BERT: exact offsets, BIO decoding, windows, conversion of
annotations, entity F1, and learning a synthetic entity task."""

from __future__ import annotations

import math
import random
from itertools import pairwise, product
from pathlib import Path

import pytest
import torch

from model.errors import StoredModelError, TrainingDataError
from model.labels import LabelSpace
from model.span_decoding import (
    TextTokens,
    WindowTokens,
    constrained_decode,
    first_pieces,
    merge_windows,
)
from model.span_metrics import evaluate_spans
from model.span_training import SpanTrainingConfig, train_span_tagger
from model.spans import ConversionReport, Span, TagScheme, spans_from_tags, token_tags
from model.token_classifier import SpanTagger

SPACE = LabelSpace(("PER", "LOC"))
SCHEME = TagScheme(SPACE)  # O, B-PER, I-PER, B-LOC, I-LOC
OUT, B_PER, I_PER, B_LOC, I_LOC = range(5)
FIRST_NAMES = ["Alice", "Oliver", "Emma", "Peter", "Ruth", "Sam"]
SURNAMES = ["Brown", "Stone", "Hill"]
CITIES = ["Paris", "London", "Berlin", "Madrid", "Oslo"]
# Filler words, some with accents, CJK or emoji, so the model meets them as non-entities.
FILLER = ["the", "film", "story", "was", "really", "quite", "great", "dull", "music", "plot"]
FILLER += ["met", "in", "and", "then", "café", "東京", "😀", "Zoë", "über", "123,45"]
TRICKY_TEXTS = [
    "Zoë   Brown met Émile in Paris.",
    "Alice\tvisited 東京 and 北京 😀 with Sam",
    "line one\n\nOslo  is\t\tcold 🇳🇴 , café au lait",
    "  leading and trailing spaces around London  ",
    "naïve façade: Ångström-units 123,456.78 km",
    "",
]


def synthetic_entities(count: int, seed: int) -> list[tuple[str, list[Span]]]:
    """Filler words with people (one or two words) and cities: a tiny model can learn them."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        pieces: list[tuple[str, str | None]] = [(w, None) for w in rng.sample(FILLER, 5)]
        for _ in range(rng.randint(1, 2)):
            name = rng.choice(FIRST_NAMES)
            if rng.random() < 0.5:
                name += " " + rng.choice(SURNAMES)
            entity = (name, "PER") if rng.random() < 0.6 else (rng.choice(CITIES), "LOC")
            pieces.insert(rng.randrange(len(pieces) + 1), entity)
        rows.append(join_with_offsets(pieces, rng))
    return rows


def join_with_offsets(
    pieces: list[tuple[str, str | None]], rng: random.Random
) -> tuple[str, list[Span]]:
    text, spans = "", []
    for words, label in pieces:
        if text:
            text += rng.choice([" ", " ", "  ", "\t", "\n\n"])
        if label:
            spans.append(Span(len(text), len(text) + len(words), label, words))
        text += words
    return text, spans


@pytest.fixture(scope="module")
def trained(tiny_model: Path) -> SpanTagger:
    rows = synthetic_entities(160, seed=1)
    config = SpanTrainingConfig(epochs=50, learning_rate=5e-3, head_learning_rate=1e-2)
    model, report = train_span_tagger(
        str(tiny_model), [t for t, _ in rows], [s for _, s in rows], SPACE, config
    )
    assert report.conversion.used == report.conversion.spans > 100
    assert report.label_counts["PER"] > report.label_counts["LOC"] > 20
    return model


def piece_offsets(model: SpanTagger, text: str) -> list[tuple[int, int]]:
    encoding = model.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return [tuple(o) for o in encoding["offset_mapping"]]


def forced(tokens: TextTokens, tags: list[int]) -> TextTokens:
    """The same tokens with probabilities that make exactly `tags` the decoded answer."""
    rows = torch.full((len(tags), SCHEME.size), math.log(0.01))
    rows[range(len(tags)), tags] = math.log(0.96)
    return TextTokens(tokens.offsets, tokens.words, rows)


# --- offsets --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_every_word_as_an_entity_round_trips_exactly(trained: SpanTagger, text: str) -> None:
    """Tag every word B-PER: each span is exactly a word of the text, whitespace excluded,
    whatever the accents, emoji, CJK, tabs and newlines around it."""
    (tokens,) = trained.token_log_probs([text])
    words = first_pieces(tokens)
    prediction = trained.decide(text, forced(words, [B_PER] * len(words.offsets)))
    expected = [(s, e) for s, e in words.offsets]
    assert [(s.start, s.end) for s in prediction.spans] == expected
    for span in prediction.spans:
        assert span.text == text[span.start : span.end] == span.text.strip() != ""
        assert span.score == pytest.approx(0.96)
    assert "".join(s.text for s in prediction.spans) == "".join(text.split())


def test_piece_level_spans_never_cut_a_word_piece(trained: SpanTagger) -> None:
    model = SpanTagger(trained.network, trained.tokenizer, SPACE, 128, 32, word_level=False)
    text = TRICKY_TEXTS[0] + " " + TRICKY_TEXTS[4]
    (tokens,) = model.token_log_probs([text])
    pieces = piece_offsets(model, text)
    assert tokens.offsets == pieces and len(pieces) > len(text.split())
    tags = [B_LOC if i % 3 == 0 else I_LOC for i in range(len(pieces))]
    spans = model.decide(text, forced(tokens, tags)).spans
    assert len(spans) == math.ceil(len(pieces) / 3)
    starts, ends = {s for s, _ in pieces}, {e for _, e in pieces}
    for span in spans:
        assert span.start in starts and span.end in ends
        assert span.text == text[span.start : span.end]


def test_trained_model_finds_names_in_tricky_texts(trained: SpanTagger) -> None:
    # short: the tiny model only ever saw positions up to about 25 pieces
    texts = ["Zoë   met  Alice\tBrown in 東京 😀\n\nParis café", "the film was café 😀"]
    first, second = trained.predict(texts)
    found = {(s.text, s.label) for s in first.spans}
    assert ("Alice\tBrown", "PER") in found and "Paris" in {text for text, _ in found}
    for span in first.spans:
        assert texts[0][span.start : span.end] == span.text and 0.0 < span.score <= 1.0
    assert second.spans == () and 0.5 < second.score <= 1.0


# --- BIO decoding ---------------------------------------------------------------------------


def test_adjacent_entities_of_one_type_stay_apart() -> None:
    text = "Alice Bob Carol Dan Paris"
    offsets = [(0, 5), (6, 9), (10, 15), (16, 19), (20, 25)]
    tags = [B_PER, B_PER, I_PER, OUT, B_LOC]
    found = [(s, e, label) for s, e, label, _ in spans_from_tags(offsets, tags, SCHEME)]
    assert found == [(0, 5, "PER"), (6, 15, "PER"), (20, 25, "LOC")]
    assert [text[s:e] for s, e, _ in found] == ["Alice", "Bob Carol", "Paris"]


def test_constrained_decoding_never_starts_an_entity_with_inside() -> None:
    # per-token argmax would be O, I-PER, I-PER, I-LOC: invalid BIO twice
    probs = torch.tensor(
        [
            [0.9, 0.02, 0.04, 0.02, 0.02],
            [0.1, 0.35, 0.45, 0.05, 0.05],
            [0.1, 0.1, 0.6, 0.1, 0.1],
            [0.2, 0.05, 0.05, 0.3, 0.4],
        ]
    )
    tags = constrained_decode(probs.log(), SCHEME)
    assert tags == [OUT, B_PER, I_PER, B_LOC]


def valid_bio(tags: tuple[int, ...]) -> bool:
    """I-X only right after B-X or I-X; a text starts as if after O."""
    for before, tag in pairwise((OUT, *tags)):
        label = SCHEME.label_of(tag)
        continues = label is not None and before in (SCHEME.begin(label), SCHEME.inside(label))
        if label is not None and not SCHEME.is_begin(tag) and not continues:
            return False
    return True


def test_constrained_decoding_finds_the_best_valid_sequence_on_random_tables() -> None:
    """Against brute force over every tag sequence of 5 tokens (3,125), on random
    probability tables: Viterbi must return the most probable sequence that is valid BIO."""
    generator = torch.Generator().manual_seed(7)
    for _ in range(20):
        log_probs = torch.log_softmax(3 * torch.randn(5, SCHEME.size, generator=generator), -1)
        best = max(
            (tags for tags in product(range(SCHEME.size), repeat=5) if valid_bio(tags)),
            key=lambda tags: float(log_probs[range(5), list(tags)].sum()),
        )
        assert tuple(constrained_decode(log_probs, SCHEME)) == best


# --- windows --------------------------------------------------------------------------------


def one_hot_window(first: int, tags: list[int]) -> WindowTokens:
    rows = torch.full((len(tags), SCHEME.size), math.log(0.01))
    rows[range(len(tags)), tags] = math.log(0.96)
    offsets = [(4 * i, 4 * i + 3) for i in range(first, first + len(tags))]
    return WindowTokens(offsets, list(range(first, first + len(tags))), rows)


def test_an_entity_on_a_window_border_is_predicted_once_whole() -> None:
    """Tokens 8-10 are one person. The first window ends inside it and, lacking context,
    sees only a truncated entity; the second sees it all. Each token takes the window where
    it is farthest from an edge, so the entity comes out once, whole."""
    text = " ".join(["abc"] * 20)
    first = one_hot_window(0, [OUT] * 8 + [B_PER, B_LOC])  # tokens 0-9
    second = one_hot_window(6, [OUT, OUT, B_PER, I_PER, I_PER] + [OUT] * 5)  # tokens 6-15
    third = one_hot_window(12, [B_LOC] + [OUT] * 3 + [B_LOC] + [OUT] * 3)  # tokens 12-19
    merged = merge_windows([first, second, third], SCHEME.size)
    assert merged.offsets == [(4 * i, 4 * i + 3) for i in range(20)]
    tags = constrained_decode(merged.log_probs, SCHEME)
    spans = spans_from_tags(merged.offsets, tags, SCHEME)
    assert [text[s:e] for s, e, _, _ in spans] == ["abc abc abc", "abc"]
    assert [(s, e, label) for s, e, label, _ in spans] == [(32, 43, "PER"), (64, 67, "LOC")]


def test_long_texts_are_read_whole_in_overlapping_windows(trained: SpanTagger) -> None:
    """A text of many windows: every piece is read once, and the entities come out as well
    as with one window for all (no entity twice, none split at a window border)."""
    small = SpanTagger(trained.network, trained.tokenizer, SPACE, 16, 6)
    rows = synthetic_entities(12, seed=7)
    text = " ".join(t for t, _ in rows)
    assert len(small.windows([text]).texts) > 15
    (tokens,) = small.token_log_probs([text])
    assert tokens.offsets == piece_offsets(small, text)
    (prediction,) = small.predict([text])
    spans = prediction.spans
    assert all(a.end <= b.start for a, b in pairwise(spans))  # no overlap
    gold = [Span(s.start + offset, s.end + offset, s.label) for offset, s in shifted(rows)]
    assert evaluate_spans([prediction.spans], [gold]).overall.f1 >= 0.8


def shifted(rows: list[tuple[str, list[Span]]]) -> list[tuple[int, Span]]:
    """Each span with the offset of its text in the texts joined by single spaces."""
    pairs, offset = [], 0
    for text, spans in rows:
        pairs += [(offset, span) for span in spans]
        offset += len(text) + 1
    return pairs


# --- annotations to token tags --------------------------------------------------------------


def test_span_problems_are_counted_not_fatal() -> None:
    text = "Alicebrown met Bob in New York"
    offsets = [(0, 5), (5, 10), (11, 14), (15, 18), (19, 21), (22, 25), (26, 30)]
    spans = [
        Span(2, 10, "PER"),  # cuts through the piece "alice": widened
        Span(15, 18, "PER"),
        Span(15, 21, "LOC"),  # overlaps Bob and is longer: Bob is dropped
        Span(22, 30, "LOC"),
        Span(22, 25, "CITY"),  # not in the label space
        Span(26, 45, "LOC"),  # ends past the text
        Span(14, 15, "PER"),  # whitespace only
    ]
    report = ConversionReport()
    tags = token_tags(text, offsets, spans, SCHEME, report)
    assert tags == [B_PER, I_PER, OUT, B_LOC, I_LOC, B_LOC, I_LOC]
    assert (report.spans, report.used, report.dropped) == (7, 3, 4)
    assert report.unknown_labels == {"CITY": 1}
    assert (report.invalid, report.overlapping, report.without_tokens) == (1, 1, 1)
    assert report.cut_tokens == 1


def test_training_counts_problems_and_refuses_only_when_nothing_is_left(
    tiny_model: Path,
) -> None:
    texts = ["the film was Alice", "Paris was dull", " \n "]  # an empty text must not NaN
    spans = [[Span(13, 18, "PER"), Span(0, 3, "ORG")], [Span(0, 5, "LOC"), Span(3, 9, "LOC")], []]
    model, report = train_span_tagger(
        str(tiny_model), texts, spans, SPACE, SpanTrainingConfig(epochs=2, batch_size=1)
    )
    assert report.conversion.unknown_labels == {"ORG": 1} and report.conversion.overlapping == 1
    assert report.label_counts == {"PER": 1, "LOC": 1} and report.windows == 3
    assert report.steps == 4 and math.isfinite(report.final_loss)
    assert not any(p.isnan().any() for p in model.network.parameters())
    with pytest.raises(TrainingDataError, match="no annotated span"):
        train_span_tagger(str(tiny_model), ["a b"], [[Span(0, 1, "ORG")]], SPACE)
    with pytest.raises(TrainingDataError, match="3 texts but 1"):
        train_span_tagger(str(tiny_model), texts, spans[:1], SPACE)


# --- evaluation -----------------------------------------------------------------------------


def test_entity_f1_needs_exact_boundaries_and_label() -> None:
    gold = [[Span(0, 5, "PER"), Span(10, 15, "LOC")], [Span(0, 4, "PER")], []]
    guess = [
        [Span(0, 5, "PER"), Span(10, 14, "LOC")],  # one right, one a character short
        [Span(0, 4, "LOC")],  # right boundaries, wrong label
        [Span(3, 6, "PER")],  # nothing was there
    ]
    result = evaluate_spans(guess, gold)
    assert (result.overall.true_positives, result.overall.predicted) == (1, 4)
    assert result.overall.precision == pytest.approx(0.25)
    assert result.overall.recall == pytest.approx(1 / 3)
    assert result.overall.f1 == pytest.approx(2 / 7)
    assert result.per_label["PER"].f1 == pytest.approx(0.5)
    assert result.per_label["LOC"].f1 == 0.0 and result.per_label["LOC"].annotated == 1
    perfect = evaluate_spans(gold, gold)
    assert perfect.overall.f1 == 1.0 and perfect.per_label["LOC"].recall == 1.0


# --- learning, saving, loading --------------------------------------------------------------


def test_tiny_model_learns_synthetic_entities(trained: SpanTagger) -> None:
    rows = synthetic_entities(60, seed=99)
    result = trained.evaluate([t for t, _ in rows], [s for _, s in rows])
    assert result.overall.f1 >= 0.88, result
    assert result.per_label["PER"].f1 >= 0.8 and result.per_label["LOC"].f1 >= 0.8


def test_save_and_load_give_the_same_spans(trained: SpanTagger, tmp_path: Path) -> None:
    trained.save(tmp_path / "m")
    loaded = SpanTagger.load(tmp_path / "m")
    texts = [t for t, _ in synthetic_entities(10, seed=5)] + TRICKY_TEXTS
    assert loaded.label_space == SPACE and loaded.stride == trained.stride
    before, after = trained.predict(texts), loaded.predict(texts)
    for a, b in zip(after, before, strict=True):
        assert [s.key for s in a.spans] == [s.key for s in b.spans]
        assert [s.score for s in a.spans] == pytest.approx([s.score for s in b.spans], abs=1e-5)
        assert a.score == pytest.approx(b.score, abs=1e-5)
    assert sum(len(p.spans) for p in after) >= 10
    config = (tmp_path / "m" / "config.json").read_text()
    assert '"B-PER": 1' in config and '"I-LOC": 4' in config
    with pytest.raises(StoredModelError):
        SpanTagger.load(tmp_path / "missing")
