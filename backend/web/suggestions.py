"""Interactive span suggestions: "label once, mark every occurrence".

With *Interactive preannotations* on, drawing a region makes Label Studio call `/predict`
with the task and `params.context.result`, the regions just drawn (`origin: "manual"`),
without `/setup` first; the page waits for the answer and shows its regions as
suggestions. The answer holds, for each `<Labels>` control a drawn region belongs to:

- every other occurrence of a drawn region's exact text, at word boundaries, under its label
  (model.mentions), whether or not a model is trained;
- the served model's entities, decoded again with the drawn regions and those mentions fixed
  (model.token_classifier.SpanTagger.decide), so that none overlaps or runs on from them.

The drawn regions themselves are not sent back: Label Studio has them. A text's token
probabilities are kept (TokenCache) for the next region drawn on the same task, so only the
first region of a task waits for the model, and no longer than SUGGEST_MODEL_WAIT: the
labelling page waits for the answer, so past it the mentions go alone, while the model
reads the text on for the next region.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as Late
from typing import TYPE_CHECKING, cast

from backend.label_config import LABELS, Control, LabelConfig
from backend.prediction_results import LoadedVersion, cut, span_result
from model.mentions import Region, find_mentions
from model.spans import Span

if TYPE_CHECKING:
    from model.span_decoding import TextTokens
    from model.token_classifier import SpanTagger

CACHED_TEXTS = 64  # token probabilities kept per web process


def drawn_regions(context: object) -> list[dict]:
    """The span regions of `params.context.result`, as Label Studio sends them."""
    result = context.get("result") if isinstance(context, dict) else None
    if not isinstance(result, list):
        return []
    return [
        region
        for region in result
        if isinstance(region, dict)
        and region.get("type") == LABELS
        and isinstance(region.get("value"), dict)
    ]


class TokenCache:
    """The served tagger's token probabilities of the texts last suggested on, read by one
    thread of its own, so that a request can stop waiting without stopping the reading."""

    def __init__(self, wait: float, max_chars: int, size: int = CACHED_TEXTS) -> None:
        self.wait, self.size = wait, size
        self.max_chars = max_chars  # what the tagger reads of a text, as /predict (SPAN_MAX_CHARS)
        self._tokens: OrderedDict[tuple, TextTokens] = OrderedDict()
        self._reading: dict[tuple, Future] = {}
        self._lock = threading.Lock()
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="lsbert-suggestions")

    def tokens(self, key: tuple, tagger: SpanTagger, text: str) -> TextTokens | None:
        """The text's probabilities, or None when they take longer than `wait`."""
        digest = (*key, hashlib.sha1(text.encode()).hexdigest())
        with self._lock:
            found = self._tokens.get(digest)
            if found is not None:
                self._tokens.move_to_end(digest)
                return found
            reading = self._reading.get(digest)
            if reading is None:
                reading = self._reader.submit(self._read, digest, tagger, text)
                self._reading[digest] = reading
        try:
            return reading.result(timeout=self.wait)
        except Late:
            return None

    def _read(self, digest: tuple, tagger: SpanTagger, text: str) -> TextTokens:
        try:
            computed = tagger.token_log_probs([text])[0]
            with self._lock:
                self._tokens[digest] = computed
                while len(self._tokens) > self.size:
                    self._tokens.popitem(last=False)
            return computed
        finally:
            with self._lock:
                self._reading.pop(digest, None)


def suggest(
    task: dict,
    config: LabelConfig,
    loaded: LoadedVersion | None,
    regions: list[dict],
    cache: TokenCache,
    project: int,
) -> dict:
    """The one item of the interactive answer: suggestions for every control drawn on."""
    result: list[dict] = []
    for control in config.controls:
        drawn = regions_of(control, regions, task)
        if control.kind == LABELS and drawn:
            text = str((task.get("data") or {}).get(control.field))
            result += control_suggestions(control, text, drawn, loaded, cache, project)
    version = loaded.version if loaded else "untrained"
    return {"result": result, "model_version": version}


def regions_of(control: Control, regions: list[dict], task: dict) -> list[Region]:
    """The drawn regions of one control, as (start, end, label), that fit the task's text."""
    text = (task.get("data") or {}).get(control.field)
    if not isinstance(text, str):
        return []
    found: list[Region] = []
    for region in regions:
        value = region["value"]
        start, end, labels = value.get("start"), value.get("end"), value.get("labels")
        if (
            region.get("from_name") == control.name
            and isinstance(start, int)
            and isinstance(end, int)
            and 0 <= start < end <= len(text)
            and isinstance(labels, list)
            and labels
            and labels[0] in control.labels
        ):
            found.append((start, end, str(labels[0])))
    return found


def control_suggestions(
    control: Control,
    text: str,
    drawn: list[Region],
    loaded: LoadedVersion | None,
    cache: TokenCache,
    project: int,
) -> list[dict]:
    mentions = find_mentions(text, drawn)
    # a copy of the annotator's own region: no score, it is not the model's guess
    results = [span_result(control, Span(*m, text[m[0] : m[1]])) for m in mentions]
    for item in results:
        del item["score"]
    model = loaded.models.get(control.name) if loaded else None
    if loaded is not None and is_tagger_of(model, control):
        tagger = cast("SpanTagger", model)
        read = cut(text, cache.max_chars)  # the model's entities come from this part only
        tokens = cache.tokens((project, loaded.version, control.name), tagger, read)
        if tokens is not None:  # else still reading it: the mentions go alone this time
            fixed = [region for region in [*drawn, *mentions] if region[1] <= len(read)]
            decided = tagger.decide(read, tokens, fixed)
            results += [span_result(control, span) for span in decided.spans]
    return sorted(results, key=lambda item: item["value"]["start"])


def is_tagger_of(model: object, control: Control) -> bool:
    """A span tagger of the control's labels (torch is loaded once a model is)."""
    from model.token_classifier import SpanTagger

    return isinstance(model, SpanTagger) and set(model.label_space.labels) == set(control.labels)
