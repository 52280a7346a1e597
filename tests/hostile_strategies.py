"""Hypothesis strategies for hostile requests: JSON deep, wide and of odd types, huge
numbers, odd Unicode (lone surrogates, NUL, digits that are not ASCII), odd ids, paths,
query strings and Authorization headers. Used by tests/test_fuzz_routes.py."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

from hypothesis import strategies as st

from backend.metrics import WEBHOOK_ACTIONS
from tests.conftest import SENTIMENT_CONFIG

FORGED = "FORGED-LOG-LINE"


def mostly(usual: st.SearchStrategy, odd: st.SearchStrategy, tenths: int = 7) -> st.SearchStrategy:
    """`usual` in `tenths` of ten draws, else `odd`: one_of alone gives no fixed share."""
    return st.integers(0, 9).flatmap(lambda n: usual if n < tenths else odd)


ODD_PIECES = [
    "\ud800", "\udfff", "\ud83d", "\x00", "²", "٣", "\n", "\r\n", '"', "\\", "'", "é", "😀",
    "\u202e", "\ufeff", "../", "%", "%0A", "$", "<", "&", f"\n{FORGED}", "1" * 30,
]  # fmt: skip
ALL_CHARACTERS = st.characters(exclude_categories=())  # surrogates included

odd_text = st.one_of(
    st.text(ALL_CHARACTERS, max_size=40),
    st.lists(st.sampled_from(ODD_PIECES) | st.text(max_size=4), max_size=6).map("".join),
)
huge_int = st.integers(min_value=-(10**400), max_value=10**400)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    huge_int,
    st.floats(allow_nan=True, allow_infinity=True),
    odd_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(odd_text, inner, max_size=6),
    max_leaves=25,
)
wide_values = st.one_of(
    st.lists(st.integers(), min_size=200, max_size=2000),
    st.dictionaries(st.text(max_size=8), st.integers(), min_size=200, max_size=1000),
    st.builds(lambda piece, n: (piece * n)[:n], odd_text.filter(bool), st.integers(10_000, 60_000)),
)
any_json = st.one_of(json_values, wide_values)

digit_strings = st.one_of(
    st.text(st.sampled_from("0123456789²³¹٣۴߀१"), min_size=1, max_size=30),
    st.integers(min_value=1, max_value=5000).map(lambda n: "1" * n),
    st.builds(lambda a, b: f"{a}.{b}", st.integers(-5, 10**20), st.integers(0, 10**12)),
)
project_ids = mostly(st.integers(1, 6), st.one_of(digit_strings, scalars, json_values), 5)
projects = mostly(st.one_of(project_ids, st.fixed_dictionaries({"id": project_ids})), any_json, 8)


def mangled(config: str) -> st.SearchStrategy[str]:
    """The config with a piece cut out or odd text put in at a random place."""
    cut = st.tuples(st.integers(0, len(config)), st.integers(0, 40)).map(
        lambda at: config[: at[0]] + config[at[0] + at[1] :]
    )
    put = st.tuples(st.integers(0, len(config)), odd_text).map(
        lambda at: config[: at[0]] + at[1] + config[at[0] :]
    )
    return cut | put


ENTITY_CONFIG = (
    '<?xml version="1.0"?><!DOCTYPE View [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">'
    ']><View><Text name="text" value="$text"/><Choices name="sentiment" toName="text">'
    '<Choice value="&b;"/><Choice value="Negative"/></Choices></View>'
)
label_configs = st.one_of(
    st.just(SENTIMENT_CONFIG), mangled(SENTIMENT_CONFIG), st.just(ENTITY_CONFIG), any_json
)
texts = mostly(st.text(min_size=1, max_size=300), st.one_of(odd_text, scalars))
label_studio_task = st.fixed_dictionaries(
    {"data": mostly(st.fixed_dictionaries({"text": texts}), any_json)},
    optional={"id": project_ids, "project": project_ids, "annotations": any_json},
)
tasks = mostly(label_studio_task, json_values)
actions = st.one_of(st.sampled_from(sorted(WEBHOOK_ACTIONS)), odd_text, scalars)


@st.composite
def webhook_bodies(draw: st.DrawFn) -> object:
    action = draw(actions)
    annotation = st.one_of(st.fixed_dictionaries({"id": project_ids, "result": any_json}), any_json)
    return draw(
        st.fixed_dictionaries(
            {"action": st.just(action)},
            optional={
                "project": projects,
                "annotation": annotation,
                "task": tasks,
                "annotations": st.one_of(st.lists(annotation, max_size=5), any_json),
                "full_retrain": scalars,
            },
        )
    )


predict_bodies = st.fixed_dictionaries(
    {"tasks": mostly(st.lists(tasks, max_size=40), any_json, 8)},
    optional={"project": projects, "label_config": label_configs, "params": json_values},
)
setup_bodies = st.fixed_dictionaries(
    {}, optional={"project": projects, "schema": label_configs, "label_config": label_configs}
)
bodies = st.one_of(any_json, webhook_bodies(), predict_bodies, setup_bodies)


def encoded(body: object) -> bytes:
    # ensure_ascii: lone surrogates travel as \\ud800 escapes, as a JSON client may send them
    return json.dumps(body).encode()


def nested(depth: int, opener: str) -> str:
    closer = "]" if opener == "[" else "}"
    inner = '"a":' if opener == "{" else ""
    return (opener + inner) * depth + "1" + closer * depth


raw_bodies = st.one_of(
    st.builds(nested, st.integers(30, 1100), st.sampled_from("[{")).map(
        lambda deep: f'{{"project": 1, "action": "START_TRAINING", "tasks": {deep}}}'.encode()
    ),
    st.builds(nested, st.integers(900, 1100), st.sampled_from("[{")).map(str.encode),
    st.integers(4290, 4400).map(lambda n: ('{"project": ' + "1" * n + "}").encode()),
    st.binary(max_size=200),
    bodies.map(encoded).flatmap(lambda raw: st.integers(0, len(raw)).map(lambda n: raw[:n])),
    st.just(b'{"project": 1, "schema": "<View>\\u0000</View>"}'),
)


def segment(text: str) -> str:
    """A URL path segment of any text; a lone surrogate goes as bytes that are not UTF-8."""
    return quote(text, safe="", errors="surrogatepass")


def basic(user: bytes, password: bytes) -> str:
    return "Basic " + base64.b64encode(user + b":" + password).decode()


def authorizations(user: str, password: str) -> st.SearchStrategy[dict]:
    """Mostly the right credentials (so requests get past the door), else none or odd ones."""
    right = {"Authorization": basic(user.encode(), password.encode())}
    random_bytes = st.builds(basic, st.binary(max_size=20), st.binary(max_size=20))
    random_words = st.builds(
        basic,
        st.text(max_size=12).map(lambda t: t.encode()),
        st.text(max_size=12).map(lambda t: t.encode()),
    )
    odd = st.one_of(
        st.just(basic(user.encode(), b"wrong")),
        random_bytes,
        random_words,
        # what http.client can send: latin-1, no CR or LF, no space around
        st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40).filter(
            lambda value: value == value.strip()
        ),
        st.sampled_from(["Basic", "Basic !!!", "Bearer x", "Basic " + "\u00ff" * 8]),
    )
    return mostly(st.just(right), st.one_of(st.just({}), odd.map(lambda v: {"Authorization": v})))


content_types = st.sampled_from(
    ["application/json", "application/json; charset=latin-1", "text/plain", "", "*/*"]
)
