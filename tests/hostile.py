"""Hostile messages for every input topic: a corpus of shapes plus hypothesis-generated values.

Shared by the unit fuzz tests (the validate steps never raise, dead letters stay bounded) and the
integration fuzz test (the running services survive them and account for every one).
"""

from __future__ import annotations

import copy
import functools
import json
import random
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = {path.stem: json.loads(path.read_text()) for path in (ROOT / "schemas" / "examples").glob("*.json")}

# JSON values of every kind, nested, with the characters parsers get wrong.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=8,
)

BAD_TIMESTAMPS = ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-11-21T09:00:00",
                  "yesterday", "", "2026-11-21T25:00:00Z", "1970-01-01T00:00:00+23:59", "2099-01-01T00:00:00Z"]
ABSURD_IDS = ["", "x" * 300, "x" * 20_000, "\u0000", "id-with-\u0000-inside",
              "../../etc/passwd", "'; DROP TABLE evidence_records; --", "🙂" * 100]


def raw_shapes() -> list[bytes | None]:
    """Messages that are not JSON objects, or barely: the same for every topic."""
    return [
        None, b"", b" ", b"null", b"0", b"-1", b"1e999", b"true", b'"a string"', b"[]", b"[1,2,3]",
        b"{", b'{"post_id": "p', b"\xff\xfe\xfd", b"\xc3\x28", b'{"text": "\xed\xa0\x80"}',  # lone surrogate in UTF-8
        b'{"x": NaN}', b'{"x": Infinity}', b'{"\\u0000": "\\u0000"}', b'{"text": "\\ud800"}',
        b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
        b"\x00" * 1_000, b"{}" * 1_000, b'{"a": 1}{"b": 2}',
        # Several MB: far over every limit, yet a valid Kafka record on a broker without one.
        json.dumps({"post_id": "huge-1", "author_id": "a", "text": "h" * 3_000_000,
                    "created_at": "2026-11-21T09:00:00Z"}).encode(),
        b'{"x": "' + b"y" * 5_000_000 + b'"}',
    ]


def mutations(topic: str, rng: random.Random, count: int, huge: bool = True) -> list[bytes]:
    """The topic's valid example with fields removed, retyped, blown up or given absurd values."""
    base = EXAMPLES[topic]
    out: list[bytes] = []
    paths = list(_paths(base))
    for _ in range(count):
        message = copy.deepcopy(base)
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(paths)
            parent, key = _resolve(message, path)
            if parent is None:
                continue
            choice = rng.random()
            if choice < 0.2:
                if isinstance(parent, dict):
                    parent.pop(key, None)
            elif choice < 0.4:
                parent[key] = rng.choice([None, 0, -1, 2**70, 1.5, True, "x", [], {}, [None], {"a": None}])
            elif choice < 0.55:
                parent[key] = rng.choice(BAD_TIMESTAMPS)
            elif choice < 0.7:
                parent[key] = rng.choice(ABSURD_IDS)
            elif choice < 0.75 and huge:
                parent[key] = "h" * 70_000  # over the post limit; raw_shapes has the multi-MB ones
            elif choice < 0.85:
                parent[key] = [f"u{i}" for i in range(rng.choice([101, 5_000]))]
            else:
                if isinstance(parent, dict):
                    parent[rng.choice(["extra", "__proto__", "", "\u0000"])] = "x"
        out.append(json.dumps(message).encode())  # json, not orjson: it writes integers past 64 bits
    return out


def generated(strategy: st.SearchStrategy[Any], count: int, seed: int) -> list[Any]:
    """`count` values drawn by hypothesis, deterministically (no example database)."""
    values: list[Any] = []

    @settings(max_examples=count, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), deadline=None)
    @given(strategy)
    def collect(value: Any) -> None:
        values.append(value)

    collect()
    random.Random(seed).shuffle(values)
    return values[:count]


@functools.cache
def hostile_messages(topic: str, count: int, seed: int = 0, huge: bool = True) -> tuple[bytes | None, ...]:
    """`count` hostile messages for `topic`: every raw shape, hypothesis-generated JSON objects and
    byte strings (a few hundred: generating them is slow), and mutations of its example for the rest."""
    rng = random.Random(f"{topic}-{seed}")
    messages: list[bytes | None] = list(raw_shapes())
    rest = max(count - len(messages), 0)
    objects = generated(st.dictionaries(st.text(max_size=12), json_values, max_size=6), min(rest // 4, 100), seed)
    messages += [json.dumps(value).encode() for value in objects]
    messages += generated(st.binary(max_size=200), min(rest // 4, 200), seed)
    messages += mutations(topic, rng, count - len(messages), huge=huge)
    return tuple(messages)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    paths = []
    if isinstance(value, dict):
        for key, child in value.items():
            paths.append((*prefix, key))
            paths += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value[:3]):
            paths.append((*prefix, index))
            paths += _paths(child, (*prefix, index))
    return paths


def _resolve(message: Any, path: tuple) -> tuple[Any, Any]:
    parent = message
    for key in path[:-1]:
        try:
            parent = parent[key]
        except (KeyError, IndexError, TypeError):
            return None, None
    if isinstance(parent, dict) or (isinstance(parent, list) and isinstance(path[-1], int) and path[-1] < len(parent)):
        return parent, path[-1]
    return None, None
