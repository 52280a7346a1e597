"""Small data sets for tests: synthetic texts for the tiny model, SST-2 from ../shared."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
POSITIVE_WORDS = ["great", "wonderful", "brilliant", "lovely", "superb", "delightful"]
NEGATIVE_WORDS = ["awful", "terrible", "boring", "dreadful", "horrible", "dull"]
NEUTRAL_WORDS = ["the", "film", "story", "actors", "plot", "was", "really", "quite", "music"]


def synthetic_reviews(count: int, seed: int = 0) -> list[tuple[str, str]]:
    """Texts whose sentiment is carried by one keyword: a tiny model can learn them."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        label = "Positive" if i % 2 == 0 else "Negative"
        keyword = rng.choice(POSITIVE_WORDS if label == "Positive" else NEGATIVE_WORDS)
        words = rng.sample(NEUTRAL_WORDS, 4)
        words.insert(rng.randrange(5), keyword)
        rows.append((" ".join(words), label))
    return rows


def corpus() -> list[str]:
    reviews = [text for text, _ in synthetic_reviews(200)]
    products = [text for text, _, _ in synthetic_product_reviews(100)]
    return [*reviews, *products, "unknown words here"]


def sst2(split: str) -> list[tuple[str, str]]:
    """SST-2 sentences with Positive/Negative labels; skips, saying why, without the data."""
    path = SHARED_DATA / "sst2" / f"{split}.tsv"
    if not path.is_file():
        pytest.skip(f"needs SST-2 at {path} (the shared evaluation data; CI has it)")
    rows = []
    for line in path.read_text().splitlines():
        sentence, label = line.rsplit("\t", 1)
        rows.append((sentence, "Positive" if label == "1" else "Negative"))
    return rows


def sample(rows: list, count: int, seed: int) -> list:
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    return shuffled[:count]


def conll(split: str) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """CoNLL-2003 sentences as texts (tokens joined by spaces) with entity spans; skips,
    saying why, without the data. Read from ../shared only: its licence forbids copies."""
    name = {"train": "eng.train", "dev": "eng.testa"}[split]
    path = SHARED_DATA / "conll2003" / name
    if not path.is_file():
        pytest.skip(f"needs CoNLL-2003 at {path} (the shared evaluation data; CI has it)")
    sentences, tokens = [], []
    for line in [*path.read_text().splitlines(), ""]:
        if line.strip() and not line.startswith("-DOCSTART-"):
            word, *_, tag = line.split()
            tokens.append((word, tag))
        elif tokens:
            sentences.append(iob1_sentence(tokens))
            tokens = []
    return sentences


def iob1_sentence(tokens: list[tuple[str, str]]) -> tuple[str, list[tuple[int, int, str]]]:
    """IOB1: an entity starts with I- unless it directly follows one of the same type (B-)."""
    text, spans, previous = "", [], "O"
    for word, tag in tokens:
        start = len(text) + (1 if text else 0)
        text = f"{text} {word}" if text else word
        if tag == "O":
            previous = "O"
            continue
        prefix, label = tag.split("-", 1)
        if prefix == "B" or label != previous:
            spans.append([start, len(text), label])
        else:
            spans[-1][1] = len(text)
        previous = label
    return text, [(start, end, label) for start, end, label in spans]


BRANDS = ["Zorbo", "Quanta", "Velox", "Nimbra"]
PRODUCTS = ["Rocket", "Falcon", "Pebble", "Orbit"]


def synthetic_product_reviews(count: int, seed: int = 0) -> list[tuple[str, list, str]]:
    """(text, [(start, end, label)], sentiment): brands and products a tiny model can learn."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        brand, product = rng.choice(BRANDS), rng.choice(PRODUCTS)
        positive = i % 2 == 0
        opinion = rng.choice(POSITIVE_WORDS if positive else NEGATIVE_WORDS)
        text = f"the {brand} {product} was really {opinion}"
        start = len("the ")
        spans = [
            (start, start + len(brand), "BRAND"),
            (start + len(brand) + 1, start + len(brand) + 1 + len(product), "PRODUCT"),
        ]
        rows.append((text, spans, "Positive" if positive else "Negative"))
    return rows
