"""Other mentions of a drawn region's text: "label once, mark every occurrence".

Pure string work on Python string indexes (as Label Studio's `start`/`end`), so offsets are
exact for accents, emoji and CJK alike.
"""

from __future__ import annotations

from collections.abc import Sequence

# (start, end, label): a region of a text, text[start:end] its words
Region = tuple[int, int, str]


def trimmed(text: str, region: Region) -> Region:
    """The region without the spaces a selection often takes along at its ends."""
    start, end, label = region
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end, label


def at_word_boundaries(text: str, start: int, end: int) -> bool:
    """No word runs on across either end: "Paris" is not a mention inside "Parisian"."""
    left = start == 0 or not (text[start - 1].isalnum() and text[start].isalnum())
    right = end == len(text) or not (text[end - 1].isalnum() and text[end].isalnum())
    return left and right


def overlaps(taken: Sequence[tuple[int, int]], start: int, end: int) -> bool:
    return any(start < stop and begin < end for begin, stop in taken)


def find_mentions(text: str, regions: Sequence[Region]) -> list[Region]:
    """Every other occurrence of each region's exact text (case included), at word
    boundaries, under that region's label, overlapping no region and no mention found
    before it; in text order. Regions whose offsets do not fit the text are ignored."""
    valid = [trimmed(text, r) for r in regions if 0 <= r[0] < r[1] <= len(text)]
    valid = [r for r in valid if r[0] < r[1]]
    taken = [(start, end) for start, end, _ in valid]
    found: list[Region] = []
    for start, end, label in valid:
        needle = text[start:end]
        position = text.find(needle)
        while position != -1:
            stop = position + len(needle)
            if at_word_boundaries(text, position, stop) and not overlaps(taken, position, stop):
                found.append((position, stop, label))
                taken.append((position, stop))
            position = text.find(needle, position + 1)
    return sorted(found)
