"""OCPP-J frames for fuzzing a csms, generated from the 1.6 and 2.0.1 JSON schemas that ship in
the `ocpp` library: valid CALLs of every charger-initiated action the csms handles (and a few
it does not), mutations of them, and frames broken at the RPC level.

Everything is drawn from one `random.Random(seed)` per stream, so a seed gives the same frames
again (given the same answers: a 1.6 StopTransaction names a transactionId the csms handed out).
Each frame says what answer it must get (`expect`), so the harness checks without knowing how.

    python -m tests.fuzz.ocpp_frames --version 2.0.1 --seed 7 --count 20   # print a stream
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

from ocpp.messages import get_validator

from csms.ocpp import v16, v201
from tests.fuzz.mutations import MUTATIONS, MUTATORS, resolve, walk

VERSIONS = ("1.6", "2.0.1")

# The CALLERROR codes each version defines: OCPP-J 1.6 section 4.2.3 table 7 (with its
# spelling "Occurence"), OCPP 2.0.1 Part 4 section 4.3 table 8.
SPEC_CODES = {
    "1.6": frozenset(
        {
            "NotImplemented",
            "NotSupported",
            "InternalError",
            "ProtocolError",
            "SecurityError",
            "FormationViolation",
            "PropertyConstraintViolation",
            "OccurenceConstraintViolation",
            "TypeConstraintViolation",
            "GenericError",
        }
    ),
    "2.0.1": frozenset(
        {
            "FormatViolation",
            "GenericError",
            "InternalError",
            "MessageTypeNotSupported",
            "NotImplemented",
            "NotSupported",
            "OccurrenceConstraintViolation",
            "PropertyConstraintViolation",
            "ProtocolError",
            "RpcFrameworkError",
            "SecurityError",
            "TypeConstraintViolation",
        }
    ),
}

# The codes an unreadable timestamp may get.
BAD_TIME_CODES = {
    "1.6": frozenset({"FormationViolation", "PropertyConstraintViolation"}),
    "2.0.1": frozenset({"FormatViolation", "PropertyConstraintViolation"}),
}

# Charger-initiated actions the csms has no handler for: each must get NotSupported.
UNHANDLED = {
    "1.6": ("SignCertificate",),
    "2.0.1": (
        "Get15118EVCertificate",
        "GetCertificateStatus",
        "NotifyCustomerInformation",
        "NotifyDisplayMessages",
        "NotifyMonitoringReport",
        "PublishFirmwareStatusNotification",
        "ReservationStatusUpdate",
        "SignCertificate",
    ),
}
# Actions of the version the csms sends, never receives (NotSupported too), and names no
# version defines (NotImplemented).
CSMS_INITIATED = {"1.6": ("Reset", "ChangeConfiguration"), "2.0.1": ("Reset", "GetVariables")}
UNKNOWN_ACTIONS = ("FuzzUnknownAction", "", "heartbeat", "TransactionEvent16")

# The frame size the csms accepts (csms/ocpp/server.py, max_size): a bigger frame is closed with
# 1009 (RFC 6455 section 7.4.1, "message too big"), the one close a charger may cause.
MAX_FRAME = 64 * 1024
CLOSE_TOO_BIG = 1009

# What a frame is, apart from the mutations: valid CALLs, CALLs of actions without a handler,
# and frames broken at the RPC level.
KINDS = {"valid": 30, "mutation": 60, "unhandled": 4, "rpc": 6}


@dataclass
class Frame:
    """One frame to send, and the answer it must get."""

    version: str
    stream: str
    index: int
    kind: str  # "valid", "unhandled", "rpc" or a mutation class
    action: str | None
    text: str | bytes
    unique_id: str | None  # the MessageId of the answer; None: no answer is due
    # "result": a CALLRESULT; "error": a CALLERROR; "any": either; "none": no answer;
    # "close": the server closes with 1009.
    expect: str
    codes: frozenset[str] | None = None  # the only CALLERROR codes allowed, when narrower
    note: str = ""  # what was mutated
    schema_valid: bool | None = None  # the payload as the csms reads it, per the library

    def describe(self, limit: int = 600) -> str:
        text = self.text if isinstance(self.text, str) else repr(self.text)
        shown = text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"
        return (
            f"[{self.version} {self.stream} #{self.index} {self.kind} {self.action}] "
            f"{self.note} expect={self.expect} frame={shown}"
        )


@cache
def handled_actions(version: str) -> tuple[str, ...]:
    """Every action the csms adapter of this version has an `@on` handler for."""
    cls = v16.ChargePoint if version == "1.6" else v201.ChargePoint
    found = {
        str(member._on_action)
        for klass in cls.__mro__
        for member in vars(klass).values()
        if hasattr(member, "_on_action")
    }
    return tuple(sorted(a.value if hasattr(a, "value") else a for a in found))


@cache
def request_schema(version: str, action: str) -> dict[str, Any]:
    folder = "v16" if version == "1.6" else "v201"
    name = f"{action}.json" if version == "1.6" else f"{action}Request.json"
    text = resources.files("ocpp").joinpath(folder, "schemas", name).read_text("utf-8-sig")
    return json.loads(text)


def schema_errors(version: str, action: str, payload: Any) -> str | None:
    """The library's verdict (the csms's authority) on a payload: None when valid."""
    try:
        validator = get_validator(2, action, version)
    except OSError:
        return "no schema"
    error = next(iter(validator.iter_errors(payload)), None)
    return None if error is None else f"{error.json_path}: {error.message}"[:200]


def response_errors(version: str, action: str, payload: Any) -> str | None:
    validator = get_validator(3, action, version)
    error = next(iter(validator.iter_errors(payload)), None)
    return None if error is None else f"{error.json_path}: {error.message}"[:200]


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_ALNUM = string.ascii_letters + string.digits
# Units a valid reading names: no kilo, so that a register times a multiplier of up to 10^3 stays
# within the bound csms keeps every reading to (10^12 of its base unit).
_UNITS = ("Wh", "W", "A", "V", "varh", "Percent", "Celsius")
_ID_TAGS = ("FUZZ-TAG-1", "FUZZ-TAG-2", "04A2B3C4D5")


class _Values:
    """Valid values: what the schema allows, with plausible numbers, ids and times where a
    field's name says what it is (so sessions open, meter and close instead of bouncing)."""

    def __init__(self, rng: random.Random, version: str, now: datetime, stream: Stream) -> None:
        self.rng, self.version, self.now, self.stream = rng, version, now, stream

    def make(self, schema: dict[str, Any], root: dict[str, Any], name: str, parent: str) -> Any:
        schema = resolve(schema, root)
        rng = self.rng
        if "enum" in schema:
            return rng.choice(schema["enum"])
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = rng.choice(kind)
        if kind == "object":
            out: dict[str, Any] = {}
            required = set(schema.get("required", ()))
            for key, sub in schema.get("properties", {}).items():
                if key == "customData" and rng.random() < 0.9:
                    continue
                if key in required or rng.random() < 0.5:
                    out[key] = self.make(sub, root, key, name)
            return out
        if kind == "array":
            low = schema.get("minItems", 0)
            high = min(schema.get("maxItems", low + 2), low + 2)
            items = schema.get("items", {})
            return [self.make(items, root, name, parent) for _ in range(rng.randint(low, high))]
        if kind == "string":
            return self.string(schema, name)
        if kind == "integer":
            return self.integer(schema, name, parent)
        if kind == "number":
            if name == "value":
                return float(self.stream.meter(rng))
            return round(rng.uniform(0, 1000), rng.choice((0, 1, 3)))
        if kind == "boolean":
            return rng.random() < 0.5
        # No type (2.0.1 DataTransfer data): any JSON value.
        return rng.choice((None, 1, "x", [1, 2], {"k": "v"}))

    def string(self, schema: dict[str, Any], name: str) -> str:
        rng = self.rng
        if schema.get("format") == "date-time" or name == "timestamp":
            return iso(self.now + timedelta(seconds=rng.randint(-120, 5)))
        limit = schema.get("maxLength", 40)
        if name in ("idTag", "idToken"):
            return rng.choice(_ID_TAGS)[:limit]
        if name == "value" and self.version == "1.6":
            return str(self.stream.meter(rng))
        if name == "unit":  # 2.0.1 unitOfMeasure: a free string, read as kilo when it starts "k"
            return rng.choice(_UNITS)
        return "".join(rng.choice(_ALNUM) for _ in range(rng.randint(1, min(limit, 16))))

    def integer(self, schema: dict[str, Any], name: str, parent: str) -> int:
        rng = self.rng
        if name == "connectorId":
            return rng.choice((0, 1, 1, 2)) if self.version == "1.6" else rng.choice((1, 1, 2))
        if name == "evseId" or (name == "id" and parent == "evse"):
            return rng.choice((0, 1, 1, 2))
        if name == "numberOfPhasesUsed":  # 2.0.1 E: a charger has one to three phases
            return rng.choice((1, 3))
        if name == "multiplier":  # 2.0.1 unitOfMeasure: a power of ten
            return rng.choice((-3, 0, 0, 0, 3))
        if name in ("meterStart", "meterStop"):
            return self.stream.meter(rng)
        if name == "transactionId":  # 1.6: one the csms handed out, or one it never did
            return self.stream.known_tx16(rng)
        low = int(schema.get("minimum", 0))
        high = int(schema.get("maximum", max(low, 0) + 1000))
        return rng.randint(low, high)


@dataclass
class Stream:
    """The frames one charger connection sends, drawn from one seeded generator."""

    version: str
    seed: int
    name: str
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    rng: random.Random = field(init=False)
    index: int = 0
    _meter: int = 0
    _tx16: list[int] = field(default_factory=list)
    _tx201: dict[str, int] = field(default_factory=dict)  # open transactionId -> last seqNo
    _tx_count: int = 0
    splice: tuple[str, str] | None = None  # a placeholder in the frame's text, and its text

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}/{self.version}/{self.name}")

    # State the valid values follow.

    def meter(self, rng: random.Random) -> int:
        self._meter += rng.randint(0, 500)
        return self._meter

    def known_tx16(self, rng: random.Random) -> int:
        if self._tx16 and rng.random() < 0.85:
            return rng.choice(self._tx16)
        return rng.randint(1, 50)

    def answered(self, frame: Frame, answer: Any) -> None:
        """What the csms answered: a 1.6 StartTransaction's transactionId is used later."""
        if (
            frame.action == "StartTransaction"
            and isinstance(answer, list)
            and answer[:1] == [3]
            and isinstance(answer[2], dict)
            and type(answer[2].get("transactionId")) is int
        ):
            self._tx16 = [*self._tx16[-7:], answer[2]["transactionId"]]

    # Frames.

    def boot(self) -> Frame:
        """A valid BootNotification, sent first on every (re)connection."""
        return self._call("valid", "BootNotification", self._valid("BootNotification"))

    def heartbeat(self) -> Frame:
        return self._call("valid", "Heartbeat", {})

    def __iter__(self) -> Iterator[Frame]:
        return self

    def __next__(self) -> Frame:
        rng = self.rng
        kind = rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
        if kind == "rpc":
            return self._rpc()
        if kind == "unhandled":
            return self._unhandled()
        action = self._pick_action()
        payload = self._valid(action)
        if kind == "valid":
            return self._call("valid", action, payload)
        return self._mutate(action, payload)

    def _pick_action(self) -> str:
        actions = handled_actions(self.version)
        # The actions that carry data into sessions, samples and events are drawn more often.
        heavy = (
            ("StartTransaction", "StopTransaction", "MeterValues", "StatusNotification")
            if self.version == "1.6"
            else ("TransactionEvent", "MeterValues", "StatusNotification")
        )
        weights = [4 if a in heavy else 1 for a in actions]
        return self.rng.choices(actions, weights=weights)[0]

    def _valid(self, action: str) -> dict[str, Any]:
        schema = request_schema(self.version, action)
        values = _Values(self.rng, self.version, self.now, self)
        payload = values.make(schema, schema, "", "")
        if action == "TransactionEvent":
            self._transaction_event(payload)
        return payload

    def _transaction_event(self, payload: dict[str, Any]) -> None:
        """Started, Updated and Ended of a few transactions, each with its seqNo counting up
        (E01-E08), so valid events open and close real sessions."""
        rng = self.rng
        if not self._tx201 or (len(self._tx201) < 3 and rng.random() < 0.3):
            self._tx_count += 1
            tx, event, seq = f"{self.name}-T{self._tx_count}", "Started", 0
            self._tx201[tx] = 0
        else:
            tx = rng.choice(sorted(self._tx201))
            seq = self._tx201[tx] + 1
            event = "Ended" if rng.random() < 0.25 else "Updated"
            self._tx201[tx] = seq
            if event == "Ended":
                del self._tx201[tx]
        payload["eventType"], payload["seqNo"] = event, seq
        payload["transactionInfo"]["transactionId"] = tx
        if event != "Ended":
            payload["transactionInfo"].pop("stoppedReason", None)

    def _next_id(self) -> str:
        self.index += 1
        return f"{self.name}-{self.index}"

    def _call(
        self,
        kind: str,
        action: str,
        payload: Any,
        note: str = "",
        *,
        ensure_ascii: bool = True,
        expect: str | None = None,
        codes: frozenset[str] | None = None,
    ) -> Frame:
        unique_id = self._next_id()
        text = json.dumps([2, unique_id, action, payload], ensure_ascii=ensure_ascii)
        if self.splice is not None:
            text, self.splice = text.replace(*self.splice, 1), None
        if len(text.encode("utf-8", "surrogatepass")) > MAX_FRAME:
            return Frame(self.version, self.name, self.index, kind, action, text, None, "close")
        try:
            seen = json.loads(text)[3]  # as the csms reads it: NaN tokens, -0.0, big integers
        except RecursionError:  # nested beyond what a JSON reader takes: no MessageId to read
            unreadable = "-1" if self.version == "2.0.1" else None
            return Frame(
                self.version,
                self.name,
                self.index,
                kind,
                action,
                text,
                unreadable,
                "error" if unreadable else "none",
                None,
                note,
            )
        problem = schema_errors(self.version, action, seen) if type(seen) is dict else "no object"
        if expect is None:
            # A valid call gets a CALLRESULT; one the schema refuses must be refused; a call the
            # schema allows but that breaks something else may be answered either way.
            expect = "result" if kind == "valid" else ("error" if problem else "any")
        return Frame(
            self.version,
            self.name,
            self.index,
            kind,
            action,
            text,
            unique_id,
            expect,
            codes,
            note or (problem or ""),
            problem is None,
        )

    def _unhandled(self) -> Frame:
        rng = self.rng
        roll = rng.random()
        if roll < 0.6:
            action = rng.choice(UNHANDLED[self.version])
            return self._call(
                "unhandled",
                action,
                self._valid(action),
                expect="error",
                codes=frozenset({"NotSupported"}),
            )
        if roll < 0.8:
            action = rng.choice(CSMS_INITIATED[self.version])
            return self._call(
                "unhandled",
                action,
                self._valid(action) if action != "GetVariables" else {},
                expect="error",
                codes=frozenset({"NotSupported"}),
            )
        action = rng.choice(UNKNOWN_ACTIONS)
        return self._call(
            "unhandled", action, {}, expect="error", codes=frozenset({"NotImplemented"})
        )

    # Mutations.

    def _mutate(self, action: str, payload: dict[str, Any]) -> Frame:
        schema = request_schema(self.version, action)
        mutated = copy.deepcopy(payload)
        nodes = list(walk(mutated, schema, schema, ()))  # mutators change the nodes in place
        applicable = {
            name: weight
            for name, weight in MUTATIONS.items()
            if MUTATORS[name][0](self, action, nodes)
        }
        name = self.rng.choices(list(applicable), weights=list(applicable.values()))[0]
        note, ensure_ascii = MUTATORS[name][1](self, action, mutated, nodes)
        if name == "timestamp_unparseable":
            # Issue 15, defect 4: a time that cannot be read is refused as malformed, never
            # replaced by the server's clock. (A `format` failure is a PropertyConstraintViolation
            # in csms/ocpp/base.py; either code says the same.)
            return self._call(
                name, action, mutated, note, expect="error", codes=BAD_TIME_CODES[self.version]
            )
        return self._call(name, action, mutated, note, ensure_ascii=ensure_ascii)

    def _rpc(self) -> Frame:
        """Frames broken as RPC messages (OCPP-J 1.6 section 4, 2.0.1 Part 4 section 4)."""
        rng, v201_ = self.rng, self.version == "2.0.1"
        uid = self._next_id()
        # 2.0.1 answers a frame whose MessageId cannot be read with "-1" (Part 4 4.2.3); 1.6
        # defines no stand-in, so such a frame gets no answer.
        unreadable = "-1" if v201_ else None
        cases: list[tuple[str, str | bytes, str | None, str]] = [
            ("MessageTypeId 5", json.dumps([5, uid, "Heartbeat", {}]), uid, "error"),
            ("MessageTypeId 0", json.dumps([0, uid, "Heartbeat", {}]), uid, "error"),
            ("MessageTypeId -1", json.dumps([-1, uid, "Heartbeat", {}]), uid, "error"),
            ("MessageTypeId 2^64", json.dumps([2**64, uid, "Heartbeat", {}]), uid, "error"),
            ('MessageTypeId "2"', json.dumps(["2", uid, "Heartbeat", {}]), uid, "error"),
            ("MessageTypeId 2.0", json.dumps([2.0, uid, "Heartbeat", {}]), uid, "error"),
            ("MessageTypeId true", json.dumps([True, uid, "Heartbeat", {}]), uid, "error"),
            ("MessageTypeId NaN", f'[NaN, "{uid}", "Heartbeat", {{}}]', uid, "error"),
            # The action takes the MessageId's place: the answer can only carry it as the id.
            ("missing MessageId", json.dumps([2, "Heartbeat", {}]), "Heartbeat", "error"),
            ("MessageId a number", json.dumps([2, 17, "Heartbeat", {}]), unreadable, "error"),
            ("MessageId null", json.dumps([2, None, "Heartbeat", {}]), unreadable, "error"),
            ("CALL without payload", json.dumps([2, uid, "Heartbeat"]), uid, "error"),
            ("CALL with 5 elements", json.dumps([2, uid, "Heartbeat", {}, {}]), uid, "error"),
            ("Action a number", json.dumps([2, uid, 42, {}]), uid, "error"),
            ("payload an array", json.dumps([2, uid, "Heartbeat", []]), uid, "error"),
            ("payload a string", json.dumps([2, uid, "Heartbeat", "{}"]), uid, "error"),
            ("payload null", json.dumps([2, uid, "Heartbeat", None]), uid, "result"),
            (
                "MessageId 1000 chars",
                json.dumps([2, "m" * 1000, "Heartbeat", {}]),
                "m" * 1000,
                "any",
            ),
            ("empty MessageId", json.dumps([2, "", "Heartbeat", {}]), "", "any"),
            ("an object", json.dumps({"id": uid}), unreadable, "error"),
            ("an empty array", "[]", unreadable, "error"),
            ("a string", json.dumps("Heartbeat"), unreadable, "error"),
            ("null", "null", unreadable, "error"),
            ("not JSON", "[2, '" + uid + "', 'Heartbeat', {}]", unreadable, "error"),
            ("truncated", json.dumps([2, uid, "Heartbeat", {}])[:-3], unreadable, "error"),
            ("nested 5000 deep", "[" * 5000 + "]" * 5000, unreadable, "error"),
            ("binary, valid", json.dumps([2, uid, "Heartbeat", {}]).encode(), uid, "any"),
            ("binary, not UTF-8", b'[2, "' + uid.encode() + b'\xff\xfe", {}]', unreadable, "error"),
            ("an unasked CALLRESULT", json.dumps([3, uid, {}]), None, "none"),
            ("an unasked CALLERROR", json.dumps([4, uid, "GenericError", "", {}]), None, "none"),
            ("a broken CALLRESULT", json.dumps([3, uid]), None, "none"),
        ]
        note, text, answer_id, expect = rng.choice(cases)
        if answer_id is None:
            expect = "none"
        return Frame(
            self.version, self.name, self.index, "rpc", None, text, answer_id, expect, None, note
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="Print the frames of one fuzz stream.")
    parser.add_argument("--version", choices=VERSIONS, default="2.0.1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stream", default="FUZZ-0", help="the charger id the stream is for")
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args()
    stream = Stream(args.version, args.seed, args.stream)
    for _ in range(args.count):
        print(next(stream).describe(limit=300))


if __name__ == "__main__":
    main()
