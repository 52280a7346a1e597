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
    return [text for text, _ in synthetic_reviews(200)] + ["unknown words here"]


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
