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


def shared_file(folder: str, name: str) -> Path:
    path = SHARED_DATA / folder / name
    if not path.is_file():
        pytest.skip(f"needs {path} (the shared evaluation data; CI has it)")
    return path


def sst2(split: str) -> list[tuple[str, str]]:
    """SST-2 sentences with Positive/Negative labels, read as `lsbert simulate` reads them;
    skips, saying why, without the data."""
    from backend.tools.datasets import SST2, load_dataset

    data = load_dataset(shared_file("sst2", f"{split}.tsv"), SST2)
    return [
        (t["data"]["text"], t["annotations"][0]["result"][0]["value"]["choices"][0])
        for t in data.tasks
    ]


def sample(rows: list, count: int, seed: int) -> list:
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    return shuffled[:count]


def conll(split: str) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """CoNLL-2003 sentences as texts (tokens joined by spaces) with entity spans, read as
    `lsbert simulate` reads them; skips, saying why, without the data. Read from ../shared
    only: its licence forbids copies."""
    from backend.tools.datasets import conll_sentences

    name = {"train": "eng.train", "dev": "eng.testa"}[split]
    return conll_sentences(shared_file("conll2003", name))


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
