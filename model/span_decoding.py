"""From per-window token probabilities to one tag per token of the whole text.

Long texts are read in overlapping windows; every token takes its probabilities from the
window where it sits farthest from an edge (where the model saw the most context on both
sides), so an entity on a window border is predicted once, and whole.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from model.spans import Offsets, TagScheme


@dataclass(frozen=True)
class WindowTokens:
    """The content tokens of one window (no [CLS]/[SEP]/padding), in order."""

    offsets: list[Offsets]
    words: list[int]  # the tokenizer's word index of each token, over the whole text
    log_probs: torch.Tensor  # (tokens, tags)


@dataclass(frozen=True)
class TextTokens:
    """Every token of one text once, in text order, with the probabilities chosen for it."""

    offsets: list[Offsets]
    words: list[int]
    log_probs: torch.Tensor


def merge_windows(windows: Sequence[WindowTokens], tags: int) -> TextTokens:
    """One row per distinct token: from the window where it is farthest from an edge."""
    best: dict[Offsets, tuple[int, int, torch.Tensor]] = {}
    for window in windows:
        count = len(window.offsets)
        for i, offset in enumerate(window.offsets):
            margin = min(i, count - 1 - i)
            if offset not in best or margin > best[offset][0]:
                best[offset] = (margin, window.words[i], window.log_probs[i])
    order = sorted(best)
    rows = [best[o][2] for o in order]
    log_probs = torch.stack(rows) if rows else torch.empty(0, tags)
    return TextTokens(order, [best[o][1] for o in order], log_probs)


def first_pieces(tokens: TextTokens) -> TextTokens:
    """One row per word: its first piece's probabilities, the offsets of all its pieces.

    Tagging whole words rather than pieces means an entity can only start and end at a
    word boundary (the tokenizer's words: punctuation and each CJK character stand alone).
    """
    offsets: list[Offsets] = []
    words: list[int] = []
    rows: list[int] = []
    for i, (offset, word) in enumerate(zip(tokens.offsets, tokens.words, strict=True)):
        if words and words[-1] == word:
            offsets[-1] = (offsets[-1][0], offset[1])
        else:
            offsets.append(offset)
            words.append(word)
            rows.append(i)
    return TextTokens(offsets, words, tokens.log_probs[rows])


@functools.lru_cache(maxsize=64)
def allowed_transitions(scheme: TagScheme) -> np.ndarray:
    """0 where tag b may follow tag a, -inf where not: I-X only after B-X or I-X. One table
    per scheme, shared by every text (read-only)."""
    size = scheme.size
    table = np.zeros((size, size), dtype=np.float32)
    for label in scheme.space.labels:
        inside = scheme.inside(label)
        table[:, inside] = -np.inf
        table[scheme.begin(label), inside] = 0.0
        table[inside, inside] = 0.0
    table.flags.writeable = False
    return table


@dataclass(frozen=True)
class Constraints:
    """Tags decoding must take (token -> tag) and tags it must not (token -> tags)."""

    forced: dict[int, int]
    forbidden: dict[int, set[int]]


def constrained_decode(
    log_probs: torch.Tensor, scheme: TagScheme, constraints: Constraints | None = None
) -> list[int]:
    """The most probable tag sequence that is valid BIO (Viterbi under hard constraints):
    no I- at the start or after O or another type, which a per-token argmax would produce.

    `constraints` fix some tokens' tags, as the regions an annotator drew do: the rest is
    decoded to be consistent with them (see `region_constraints`)."""
    if len(log_probs) == 0:
        return []
    # numpy, not torch: a loop over tokens of 9-by-9 operations is dominated by each
    # call's overhead, about five times a numpy call's (Viterbi was a sixth of a tagger's
    # int8 prediction time on CoNLL-2003 sentences).
    emissions = (constrain(log_probs, constraints) if constraints else log_probs).cpu().numpy()
    transitions = allowed_transitions(scheme)
    columns = np.arange(transitions.shape[1])
    score = emissions[0] + transitions[0]  # what may follow O is what may start a text
    back = np.empty((len(emissions) - 1, len(columns)), dtype=np.int64)
    for step, row in enumerate(emissions[1:]):
        candidates = score[:, None] + transitions
        back[step] = candidates.argmax(axis=0)
        score = candidates[back[step], columns] + row
    path = [int(score.argmax())]
    for previous in back[::-1]:
        path.append(int(previous[path[-1]]))
    return path[::-1]


def constrain(log_probs: torch.Tensor, constraints: Constraints) -> torch.Tensor:
    """Emissions where a forced token can take only its tag, and no token a forbidden one."""
    emissions = log_probs.clone()
    for index, tags in constraints.forbidden.items():
        emissions[index, sorted(tags)] = float("-inf")
    for index, tag in constraints.forced.items():
        emissions[index] = float("-inf")
        emissions[index, tag] = 0.0  # the annotator's choice, certain
    return emissions


def region_constraints(
    offsets: Sequence[Offsets], regions: Sequence[tuple[int, int, str]], scheme: TagScheme
) -> Constraints:
    """Constraints from character regions (start, end, label): B- on a region's first
    token, I- on the others, and, on the token right after it, anything but I- of its
    label, so that no decoded entity runs on from a region or overlaps it. A region with
    an unknown label, or sharing a token with an earlier region, is left out."""
    forced: dict[int, int] = {}
    for start, end, label in regions:
        inside = [i for i, (s, e) in enumerate(offsets) if s < end and start < e]
        if not inside or any(i in forced for i in inside) or label not in scheme.space.labels:
            continue
        forced[inside[0]] = scheme.begin(label)
        forced.update((i, scheme.inside(label)) for i in inside[1:])
    forbidden: dict[int, set[int]] = {}
    for index, tag in forced.items():
        entity = scheme.label_of(tag)
        after = index + 1
        if entity is not None and after < len(offsets) and after not in forced:
            forbidden.setdefault(after, set()).add(scheme.inside(entity))
    return Constraints(forced, forbidden)


def word_margins(log_probs: torch.Tensor, tags: Sequence[int]) -> list[float]:
    """Per token, how much more probable its chosen tag is than the best other one (0 at
    worst: decoding may choose a tag that is not the token's most probable)."""
    if not len(tags):
        return []
    probs = log_probs.exp()
    chosen = probs[torch.arange(len(tags)), torch.tensor(list(tags))]
    others = probs.clone()
    others[torch.arange(len(tags)), torch.tensor(list(tags))] = float("-inf")
    runner_up = others.max(dim=1).values if probs.shape[1] > 1 else torch.zeros(len(tags))
    return (chosen - runner_up).clamp(min=0.0).tolist()
