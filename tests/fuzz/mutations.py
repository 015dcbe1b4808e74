"""Mutations of valid OCPP payloads, one class each: the ways a charger can be wrong.

A mutator gets the stream (its seeded generator), the action, the payload (changed in place) and
the payload's nodes with their schemas; it returns a note of what it changed and whether the
frame is written with ASCII escapes. `MUTATIONS` weighs the classes; the harness counts
findings per class, and tests/fuzz/known_defects.py names the classes not sent yet.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fuzz.ocpp_frames import Stream

# Mutation classes and their weights. Each names one way a charger can be wrong; the harness
# counts findings per class.
MUTATIONS = {
    "wrong_type": 10,
    "missing_required": 8,
    "extra_field": 6,
    "number_zero": 3,  # 0
    "number_float_integer": 3,  # -0.0, 1.0: floats a draft-06 validator takes for integers
    "number_negative": 4,  # -1, -2^31
    "number_large": 5,  # 2^31-1, 2^31, 2^53+1, 2^63-1: within int64, beyond int32
    "number_beyond_int64": 6,  # 2^63, 2^64, -2^63-1, 10^30
    "number_huge_float": 5,  # 1e308 and friends
    "meter_string_extreme": 5,  # 1.6 sampledValue.value "1e308", "NaN", 400 digits
    "nan_token": 5,  # NaN / Infinity / -Infinity as bare JSON tokens
    "huge_string": 6,  # over maxLength, up to what a frame may carry
    "oversize_frame": 1,  # a 100 KB string: the frame itself is over the limit
    "timestamp_unparseable": 5,
    "timestamp_no_zone": 3,
    "timestamp_far": 5,  # 2100, 1970, year 1, year 9999
    "seq_no_jump": 3,  # 2.0.1 seqNo jumping by millions or to 2^31
    "transaction_id_absurd": 4,
    "deep_nesting": 3,
    "unicode": 4,  # RTL override, emoji, combining marks, U+FFFF
    "unicode_surrogate": 2,  # lone surrogates, escaped as \ud800: valid JSON, not UTF-8
    "unicode_nul": 2,  # U+0000, which PostgreSQL text cannot hold
}

# Walking a payload with its schema: every node with the path to it and the schema it obeys.

Path = tuple[str | int, ...]
Node = tuple[Path, dict[str, Any], Any]


def resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"].removeprefix("#/")
        node: Any = root
        for part in ref.split("/"):
            node = node[part]
        schema = node
    return schema


def walk(value: Any, schema: dict[str, Any], root: dict[str, Any], path: Path) -> Iterator[Node]:
    schema = resolve(schema, root)
    yield path, schema, value
    if type(value) is dict:
        props = schema.get("properties", {})
        for key, sub in value.items():
            if key in props:
                yield from walk(sub, props[key], root, (*path, key))
    elif type(value) is list:
        items = schema.get("items", {})
        for i, sub in enumerate(value):
            yield from walk(sub, items, root, (*path, i))


def _set(payload: Any, path: Path, value: Any) -> None:
    for step in path[:-1]:
        payload = payload[step]
    payload[path[-1]] = value


def _show(path: Path) -> str:
    return "/" + "/".join(map(str, path))


def _of_type(nodes: list[Node], *kinds: str) -> list[Node]:
    return [n for n in nodes if n[0] and n[1].get("type") in kinds and "enum" not in n[1]]


def _numeric(nodes: list[Node]) -> list[Node]:
    # A TransactionEvent's seqNo is left to seq_no_jump: any big value is a jump (defect 1).
    return [n for n in _of_type(nodes, "integer", "number") if n[0] != ("seqNo",)]


def _timestamps(nodes: list[Node]) -> list[Node]:
    return [n for n in nodes if n[0] and n[1].get("format") == "date-time"]


def _named(nodes: list[Node], *names: str) -> list[Node]:
    return [n for n in nodes if n[0] and n[0][-1] in names]


def _meter_strings(s: Stream, nodes: list[Node]) -> list[Node]:
    return [n for n in nodes if n[0] and n[0][-1] == "value" and n[1].get("type") == "string"]


def _leaf(s: Stream, nodes: list[Node]) -> Node:
    return s.rng.choice(nodes)


def _m_wrong_type(s: Stream, action: str, p: dict[str, Any], nodes: list[Node]) -> tuple:
    path, schema, _ = _leaf(s, [n for n in nodes if n[0]])
    others = {
        "string": ["12", ""],
        "integer": [12, -3],
        "number": [1.5],
        "boolean": [True, False],
        "object": [{}, {"a": 1}],
        "array": [[], [1]],
        "null": [None],
    }
    own = schema.get("type", "string") if "enum" not in schema else "string"
    wrong = [v for k, vs in others.items() if k != own for v in vs]
    if own == "number":
        wrong = [v for v in wrong if type(v) not in (int, float)]
    new = s.rng.choice(wrong)
    _set(p, path, new)
    return f"{_show(path)} <- {new!r} (a {own})", True


def _m_missing(s: Stream, action: str, p: dict[str, Any], nodes: list[Node]) -> tuple:
    owners = [
        n for n in nodes if type(n[2]) is dict and set(n[1].get("required", ())) & n[2].keys()
    ]
    path, schema, value = s.rng.choice(owners)
    key = s.rng.choice(sorted(set(schema["required"]) & value.keys()))
    obj = p
    for step in path:
        obj = obj[step]
    del obj[key]
    return f"{_show((*path, key))} removed (required)", True


def _m_extra(s: Stream, action: str, p: dict[str, Any], nodes: list[Node]) -> tuple:
    path, _, value = s.rng.choice([n for n in nodes if type(n[2]) is dict])
    key = s.rng.choice(("fuzzExtra", "transactionId", "__proto__", "id", "x" * 300))
    value[key] = s.rng.choice((1, "extra", None, [1], {"a": {"b": 1}}))
    return f"{_show((*path, key))} added", True


_ZERO = (0,)
_FLOAT_INTEGER = (-0.0, 1.0, 2.0)
_NEGATIVE = (-1, -(2**31))
_LARGE = (2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1)
_BEYOND = (2**63, 2**64, -(2**63) - 1, 10**30, -(10**30), 10**400)
_HUGE = (1e308, -1e308, 1.7976931348623157e308, 5e-324, 1e-300, 123456789.123456789)


def _numbers(values: tuple[Any, ...]) -> Callable[..., tuple]:
    def mutate(s: Stream, action: str, p: dict[str, Any], nodes: list[Node]) -> tuple:
        path, _, _ = _leaf(s, _numeric(nodes))
        new = s.rng.choice(values)
        _set(p, path, new)
        return f"{_show(path)} <- {new!r}"[:200], True

    return mutate


_METER_STRINGS = (
    "1e308",
    "-1e308",
    "NaN",
    "Infinity",
    "-1",
    "9" * 400,
    "9223372036854775808",
    "0x10",
    "",
    " 12 ",
    "1,5",
    "1e-400",
)


def _m_meter_string(s: Stream, action: str, p: dict[str, Any], nodes: list[Node]) -> tuple:
    path, _, _ = _leaf(s, _meter_strings(s, nodes))
    new = s.rng.choice(_METER_STRINGS)
    _set(p, path, new)
    # Often as an energy register, the reading sessions and telemetry are made of.
    if "sampledValue" in path and s.rng.random() < 0.7:
        _set(p, (*path[:-1], "measurand"), "Energy.Active.Import.Register")
    return f"{_show(path)} <- {new[:40]!r}", True


def _m_nan(s: Stream, action: str, p: dict[str, Any], nodes: list[Node]) -> tuple:
    path, _, _ = _leaf(s, _numeric(nodes))
    new = s.rng.choice((math.nan, math.inf, -math.inf))
    _set(p, path, new)  # json.dumps writes these as the bare tokens NaN, Infinity, -Infinity
    return f"{_show(path)} <- bare {json.dumps(new)}", True


def _m_huge_string(s: Stream, action: str, p: dict[str, Any], nodes: list[Node]) -> tuple:
    path, schema, _ = _leaf(s, _of_type(nodes, "string"))
    limit = schema.get("maxLength", 0)
    size = s.rng.choice([n for n in (limit + 1, limit * 4, 5_000, 60_000) if n > 0])
    _set(p, path, "x" * size)
    return f"{_show(path)} <- {size} chars (maxLength {limit or 'none'})", True


def _m_oversize(s: Stream, action: str, p: dict[str, Any], nodes: list[Node]) -> tuple:
    path, _, _ = _leaf(s, _of_type(nodes, "string"))
    _set(p, path, "x" * 100_000)
    return f"{_show(path)} <- 100000 chars", True


_UNPARSEABLE = ("2024-13-45T99:99:99Z", "not a date", "", "2024-02-30T00:00:00Z", "T", "Z")
_NO_ZONE = ("2024-01-01T00:00:00", "2026-06-01T12:00:00.123")
_FAR = (
    "2100-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
)


def _timestamp(values: tuple[str, ...]) -> Callable[..., tuple]:
    def mutate(s: Stream, action: str, p: dict[str, Any], nodes: list[Node]) -> tuple:
        path, _, _ = _leaf(s, _timestamps(nodes))
        new = s.rng.choice(values)
        _set(p, path, new)
        return f"{_show(path)} <- {new!r}", True

    return mutate


def _m_seq_jump(s: Stream, action: str, p: dict[str, Any], nodes: list[Node]) -> tuple:
    new = s.rng.choice((3_000_000, 2**31, 2**31 - 1, 2**53))
    p["seqNo"] = new
    return f"/seqNo <- {new}", True


def _m_tx_absurd(s: Stream, action: str, p: dict[str, Any], nodes: list[Node]) -> tuple:
    path, schema, _ = _leaf(s, _named(nodes, "transactionId"))
    if schema.get("type") == "integer":
        new: Any = s.rng.choice((2**31, -1, 0, 2**63 - 1, -(2**63)))
    else:
        new = s.rng.choice(("", " ", "x" * 36, "../../etc", "0" * 36, "T-\u00e9\u00e9"))
    _set(p, path, new)
    return f"{_show(path)} <- {new!r}", True


_DEEP = "__fuzz_deep__"


def _deep_text(depth: int) -> str:
    # Written as text: json.dumps refuses to nest deeper than Python's recursion limit.
    opened = "".join('{"n":' if i % 2 else "[" for i in range(depth))
    closed = "".join("}" if i % 2 else "]" for i in reversed(range(depth)))
    return f'{opened}{{"vendorId":"fuzz"}}{closed}'


def _m_deep(s: Stream, action: str, p: dict[str, Any], nodes: list[Node]) -> tuple:
    # Clear of Python's recursion limit (1,000) either way: read in full, or not JSON at all.
    depth = s.rng.choice((50, 300, 5_000))
    objects = [n for n in nodes if type(n[2]) is dict]
    path, _, value = s.rng.choice(objects)
    # customData admits any extra property (2.0.1): the one place deep nesting is valid.
    key = "customData" if s.version == "2.0.1" and s.rng.random() < 0.6 else "nested"
    value[key] = {"vendorId": "fuzz", "deep": _DEEP} if key == "customData" else _DEEP
    s.splice = (json.dumps(_DEEP), _deep_text(depth))
    return f"{_show((*path, key))} <- nested {depth} deep", True


_SURROGATES = ("\ud800", "a\udfffb", "\udc00\ud800")
_UNICODE = (
    "\u202eRTL",
    "\U0001f50c\u26a1",
    "e\u0301",
    "\uffff",
    "\u00e9\u00e8\u00ea",
)


def _strings(values: tuple[str, ...], raw: bool) -> Callable[..., tuple]:
    def mutate(s: Stream, action: str, p: dict[str, Any], nodes: list[Node]) -> tuple:
        path, _, _ = _leaf(s, _of_type(nodes, "string"))
        new = s.rng.choice(values)
        _set(p, path, new)
        # As raw UTF-8 or as \u escapes; a lone surrogate only escaped (UTF-8 cannot carry it).
        return f"{_show(path)} <- {new!r}", not (raw and s.rng.random() < 0.5)

    return mutate


_NUL = ("\u0000", "TAG\u0000", "\u0000\u0000")


def _has(pick: Callable[[list[Node]], list[Node]]) -> Callable[[Stream, str, list[Node]], bool]:
    return lambda s, action, nodes: bool(pick(nodes))


MUTATORS: dict[str, tuple[Callable[[Stream, str, list[Node]], bool], Callable[..., tuple]]] = {
    "wrong_type": (_has(lambda n: [x for x in n if x[0]]), _m_wrong_type),
    "missing_required": (
        _has(lambda n: [x for x in n if type(x[2]) is dict and x[1].get("required")]),
        _m_missing,
    ),
    "extra_field": (_has(lambda n: n), _m_extra),
    "number_zero": (_has(_numeric), _numbers(_ZERO)),
    "number_float_integer": (_has(_numeric), _numbers(_FLOAT_INTEGER)),
    "number_negative": (_has(_numeric), _numbers(_NEGATIVE)),
    "number_large": (_has(_numeric), _numbers(_LARGE)),
    "number_beyond_int64": (_has(_numeric), _numbers(_BEYOND)),
    "number_huge_float": (_has(_numeric), _numbers(_HUGE)),
    "meter_string_extreme": (lambda s, a, n: bool(_meter_strings(s, n)), _m_meter_string),
    "nan_token": (_has(_numeric), _m_nan),
    "huge_string": (_has(lambda n: _of_type(n, "string")), _m_huge_string),
    "oversize_frame": (_has(lambda n: _of_type(n, "string")), _m_oversize),
    "timestamp_unparseable": (_has(_timestamps), _timestamp(_UNPARSEABLE)),
    "timestamp_no_zone": (_has(_timestamps), _timestamp(_NO_ZONE)),
    "timestamp_far": (_has(_timestamps), _timestamp(_FAR)),
    "seq_no_jump": (lambda s, a, n: a == "TransactionEvent", _m_seq_jump),
    "transaction_id_absurd": (_has(lambda n: _named(n, "transactionId")), _m_tx_absurd),
    "deep_nesting": (_has(lambda n: n), _m_deep),
    "unicode": (_has(lambda n: _of_type(n, "string")), _strings(_UNICODE, raw=True)),
    "unicode_surrogate": (_has(lambda n: _of_type(n, "string")), _strings(_SURROGATES, False)),
    "unicode_nul": (_has(lambda n: _of_type(n, "string")), _strings(_NUL, raw=True)),
}
