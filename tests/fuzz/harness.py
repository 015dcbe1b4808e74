"""Driving a real `chargepark up` process with fuzzed OCPP frames, and what is checked.

The platform runs as a subprocess (all five services, SQLite, the in-process bus), its log as
JSON lines in a file. Fuzzing chargers of both versions send frames one at a time over real
WebSockets and check each answer; a well-behaved charger per version heartbeats throughout, so
a blocked event loop shows as a late answer; the process's resident memory is sampled. After
the frames: every outbox drained and every event valid for the consumers that store it, no
dead letter, no error or traceback in the log, and a clean stop on SIGTERM.

Findings are collected, not raised, so one run reports every class of failure it met.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import math
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import websockets
from sqlalchemy import BigInteger, DateTime, Integer, SmallInteger, String

from chargepark.errors import SchemaViolation
from chargepark.events.registry import validate_event
from tests.fuzz.known_defects import KNOWN_DEFECT_CLASSES
from tests.fuzz.ocpp_frames import (
    CLOSE_TOO_BIG,
    SPEC_CODES,
    VERSIONS,
    Frame,
    Stream,
    response_errors,
)
from tests.support.procs import CHARGEPARK, clean_env, free_port, wait_http

SERVICES = ("accounts", "csms", "parking", "billing", "ops")
CONSUMERS = ("parking", "billing", "ops")  # the services that store what csms emits
ANSWER_TIMEOUT = 10.0  # a CALL not answered in this long is a hang
HEARTBEAT_EVERY = 0.25
KILL_ABOVE_MB = 1_500  # a runaway process is stopped before it takes the machine with it
RSS_EVERY = 0.5
DRAIN_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


@dataclass
class Finding:
    check: str  # which check failed: internal_error, no_answer, log_error, event_invalid, ...
    kind: str  # the class of the frame that caused it, when known
    detail: str
    frame: str = ""  # the frame, as Frame.describe() gives it

    def __str__(self) -> str:
        return f"{self.check} [{self.kind}] {self.detail}" + (
            f"\n    frame: {self.frame}" if self.frame else ""
        )


@dataclass
class Run:
    seed: int
    frames: int  # how many to draw
    streams_per_version: int
    heartbeat_max: float
    send_known: frozenset[str] = frozenset()  # known-defect classes to send all the same
    root: Path = Path(".")
    findings: list[Finding] = field(default_factory=list)
    sent: Counter[str] = field(default_factory=Counter)  # frames sent per class
    skipped: Counter[str] = field(default_factory=Counter)  # known-defect frames not sent
    answers: Counter[str] = field(default_factory=Counter)  # CALLERROR codes and CALLRESULTs
    heartbeats: list[float] = field(default_factory=list)  # latencies, seconds
    rss_before_mb: float = 0.0
    rss_peak_mb: float = 0.0
    rss_after_mb: float = 0.0
    seconds: float = 0.0
    events: Counter[str] = field(default_factory=Counter)
    exit_code: int | None = None
    by_id: dict[str, tuple[str, str]] = field(default_factory=dict)  # MessageId -> class, frame

    def find(self, check: str, detail: str, frame: Frame | None = None, kind: str = "") -> None:
        self.findings.append(
            Finding(check, frame.kind if frame else kind, detail, frame.describe() if frame else "")
        )

    def of(self, *checks: str) -> list[Finding]:
        return [f for f in self.findings if f.check in checks]

    def summary(self) -> str:
        by_class = Counter((f.check, f.kind) for f in self.findings)
        beats = sorted(self.heartbeats)
        p99 = beats[int(len(beats) * 0.99)] if beats else 0.0
        lines = [
            f"seed={self.seed} frames sent={sum(self.sent.values())} in {self.seconds:.1f} s "
            f"(replay: TEST_FUZZ_SEED={self.seed} TEST_FUZZ_FRAMES={self.frames})",
            f"skipped as known defects: {dict(self.skipped) or 'none'}",
            f"sent by class: {dict(sorted(self.sent.items()))}",
            f"answers: {dict(sorted(self.answers.items()))}",
            f"heartbeat latency: max {max(beats, default=0):.3f} s, p99 {p99:.3f} s, "
            f"{len(beats)} beats",
            f"RSS: {self.rss_before_mb:.0f} MB before, peak {self.rss_peak_mb:.0f} MB, "
            f"{self.rss_after_mb:.0f} MB after",
            f"events in the outboxes: {dict(sorted(self.events.items()))}",
            f"findings by check and class: {dict(sorted(by_class.items())) or 'none'}",
        ]
        return "\n".join(lines)

    def report(self, findings: list[Finding], limit: int = 15) -> str:
        shown = "\n".join(f"  {f}" for f in findings[:limit])
        more = f"\n  ... and {len(findings) - limit} more" if len(findings) > limit else ""
        return (
            f"{len(findings)} findings (all in {self.root / 'findings.txt'})\n{shown}{more}\n"
            f"{self.summary()}"
        )


class Platform:
    """`chargepark up` as a subprocess: its ports, data dir and log files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.http, self.ocpp = free_port(), free_port()
        self.log = root / "chargepark.log"
        self.out = root / "chargepark.out"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = clean_env(
            CHARGEPARK_DATA_DIR=str(self.root / "data"),
            CHARGEPARK_HTTP_PORT=str(self.http),
            CHARGEPARK_OCPP_PORT=str(self.ocpp),
            CHARGEPARK_OCPP_UNKNOWN="accept",  # fuzzing chargers need no registration
        )
        with open(self.log, "wb") as err, open(self.out, "wb") as out:
            self.proc = subprocess.Popen(
                [*CHARGEPARK, "up", "--log-format", "json", "--log-level", "info"],
                env=env,
                stdout=out,
                stderr=err,
            )
        try:
            assert wait_http(f"http://127.0.0.1:{self.http}/charging/readyz", 60) == 200
        except Exception:
            self.kill()
            raise

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.ocpp}/ocpp"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_mb(self) -> float:
        assert self.proc is not None
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def db(self, service: str) -> Path:
        return self.root / "data" / f"{service}.db"

    def stop(self) -> tuple[int | None, float]:
        """SIGTERM, and how long the process took to exit (None: it did not, and was killed)."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            return self.proc.returncode, 0.0
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            return None, STOP_TIMEOUT
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Charger:
    """One raw OCPP-J connection: frames out as they are, answers matched by MessageId."""

    def __init__(self, url: str, name: str, version: str) -> None:
        self.url, self.name, self.version = f"{url}/{name}", name, version
        self.ws: Any = None
        self.reader: asyncio.Task[None] | None = None
        self.waiting: dict[str, asyncio.Future[Any]] = {}
        self.unasked: list[Any] = []  # messages nobody waited for
        self.closed: asyncio.Event = asyncio.Event()

    async def open(self) -> None:
        self.ws = await websockets.connect(
            self.url, subprotocols=[f"ocpp{self.version}"], max_size=None, open_timeout=10
        )
        self.closed = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                try:
                    message = json.loads(raw)
                except ValueError:
                    self.unasked.append(raw)
                    continue
                future = None
                if type(message) is list and len(message) > 1 and type(message[1]) is str:
                    future = self.waiting.pop(message[1], None)
                if future is not None and not future.done():
                    future.set_result(message)
                elif type(message) is list and message[:1] == [2]:
                    # The csms asks something: answer as a charger without the feature would.
                    await self.ws.send(json.dumps([4, message[1], "NotSupported", "", {}]))
                else:
                    self.unasked.append(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()

    async def send(self, frame: Frame) -> Any:
        """Send a frame; the answer it gets (None: none within the timeout)."""
        future: asyncio.Future[Any] | None = None
        if frame.unique_id is not None and frame.expect not in ("none", "close"):
            future = asyncio.get_running_loop().create_future()
            self.waiting[frame.unique_id] = future
        await self.ws.send(frame.text)
        if future is None:
            return None
        closed = asyncio.create_task(self.closed.wait())
        try:
            done, _ = await asyncio.wait(
                {future, closed}, timeout=ANSWER_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            closed.cancel()
            self.waiting.pop(frame.unique_id or "", None)
        return future.result() if future in done else None  # closed, or no answer

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.reader is not None:
            with contextlib.suppress(BaseException):
                await self.reader


def check_answer(run: Run, frame: Frame, answer: Any) -> None:
    if answer is None:
        run.find("no_answer", f"no answer within {ANSWER_TIMEOUT} s", frame)
        return
    if type(answer) is not list or len(answer) < 3 or answer[0] not in (3, 4):
        run.find("malformed_answer", f"answered {str(answer)[:200]}", frame)
        return
    if answer[0] == 3:
        run.answers["CALLRESULT"] += 1
        if frame.expect == "error":
            run.find("invalid_accepted", "a call that must be refused got a CALLRESULT", frame)
        elif frame.action and frame.kind not in ("rpc", "unhandled"):
            problem = response_errors(frame.version, frame.action, answer[2])
            if problem:
                run.find("result_invalid", f"the CALLRESULT breaks its schema: {problem}", frame)
        return
    code = answer[2] if len(answer) > 2 else None
    run.answers[str(code)] += 1
    cause = answer[4] if len(answer) > 4 else None
    if code not in SPEC_CODES[frame.version]:
        run.find("code_not_in_spec", f"CALLERROR {code!r} {cause}", frame)
    elif code == "InternalError":
        run.find("internal_error", f"CALLERROR InternalError {cause}", frame)
    elif frame.expect == "result":
        run.find("valid_refused", f"a valid call got CALLERROR {code} {cause}", frame)
    elif frame.codes is not None and code not in frame.codes:
        run.find("wrong_code", f"CALLERROR {code}, expected {sorted(frame.codes)}", frame)


async def fuzz_stream(run: Run, platform: Platform, stream: Stream, count: int) -> None:
    charger = Charger(platform.url, stream.name, stream.version)
    await _connect(run, charger, stream)
    try:
        for _ in range(count):
            frame = next(stream)
            if frame.kind in KNOWN_DEFECT_CLASSES and frame.kind not in run.send_known:
                run.skipped[frame.kind] += 1
                continue
            if not platform.alive():
                return
            run.sent[frame.kind] += 1
            if frame.unique_id:
                run.by_id[frame.unique_id] = (frame.kind, frame.describe(300))
            try:
                answer = await charger.send(frame)
            except websockets.ConnectionClosed:  # closed before the frame went out
                answer = None
            if charger.closed.is_set() or frame.expect == "close":
                await _after_close(run, platform, charger, stream, frame)
                continue
            if not platform.alive():
                return  # a dead process is its own finding, not this frame's
            if frame.expect != "none":
                check_answer(run, frame, answer)
                stream.answered(frame, answer)
            for message in charger.unasked:
                run.find("unasked_answer", f"the csms sent {str(message)[:200]}", frame)
            charger.unasked.clear()
    finally:
        await charger.close()


async def _connect(run: Run, charger: Charger, stream: Stream) -> None:
    await charger.open()
    boot = stream.boot()
    check_answer(run, boot, await charger.send(boot))


async def _after_close(
    run: Run, platform: Platform, charger: Charger, stream: Stream, frame: Frame
) -> None:
    """A close is allowed only for a frame over the size limit, and only with 1009."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(charger.closed.wait(), ANSWER_TIMEOUT)
    code = charger.ws.close_code
    if frame.expect == "close":
        if not charger.closed.is_set():
            run.find("oversize_kept", "a frame over the size limit was not refused", frame)
            return
        if code != CLOSE_TOO_BIG:
            run.find("wrong_close", f"closed with {code}, expected {CLOSE_TOO_BIG}", frame)
    elif platform.alive():  # a dead process is its own finding
        run.find("connection_closed", f"the csms closed the connection: {code}", frame)
    await charger.close()  # reconnect and go on: one finding must not end the run
    with contextlib.suppress(OSError, websockets.WebSocketException, TimeoutError):
        await _connect(run, charger, stream)


async def heartbeats(run: Run, platform: Platform, version: str, stop: asyncio.Event) -> None:
    """A well-behaved charger: its Heartbeat must be answered promptly while the others fuzz."""
    stream = Stream(version, run.seed, f"FUZZ-HB-{version}")
    charger = Charger(platform.url, stream.name, version)
    await _connect(run, charger, stream)
    try:
        while not stop.is_set() and platform.alive():
            beat = stream.heartbeat()
            started = time.monotonic()
            try:
                answer = await charger.send(beat)
            except websockets.ConnectionClosed:
                run.find("connection_closed", "the heartbeat charger was disconnected", beat)
                return
            latency = time.monotonic() - started
            if not platform.alive():
                return
            run.heartbeats.append(latency)
            if answer is None or answer[0] != 3:
                run.find("heartbeat", f"heartbeat answered {str(answer)[:120]}", beat)
            elif latency > run.heartbeat_max:
                run.find("loop_blocked", f"heartbeat answered after {latency:.2f} s", beat)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HEARTBEAT_EVERY)
    finally:
        await charger.close()


async def watch_memory(run: Run, platform: Platform, stop: asyncio.Event) -> None:
    while not stop.is_set() and platform.alive():
        rss = platform.rss_mb()
        run.rss_peak_mb = max(run.rss_peak_mb, rss)
        if rss - run.rss_before_mb > KILL_ABOVE_MB:
            run.find("memory_runaway", f"RSS {rss:.0f} MB: the process was killed", kind="")
            platform.kill()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RSS_EVERY)


async def drive(run: Run, platform: Platform) -> None:
    started = time.monotonic()
    run.rss_before_mb = run.rss_peak_mb = platform.rss_mb()
    stop = asyncio.Event()
    watchers = [asyncio.create_task(watch_memory(run, platform, stop))] + [
        asyncio.create_task(heartbeats(run, platform, v, stop)) for v in VERSIONS
    ]
    per_stream = max(1, run.frames // (len(VERSIONS) * run.streams_per_version))
    streams = [
        Stream(version, run.seed, f"FUZZ-{version}-{n}")
        for version in VERSIONS
        for n in range(run.streams_per_version)
    ]
    try:
        await asyncio.gather(*(fuzz_stream(run, platform, s, per_stream) for s in streams))
    finally:
        stop.set()
        await asyncio.gather(*watchers, return_exceptions=True)
    run.seconds = time.monotonic() - started


def fuzz(root: Path, run: Run) -> Run:
    """The whole run: start, fuzz, then the checks that need the process stopped."""
    run.root = root
    platform = Platform(root)
    platform.start()
    try:
        asyncio.run(drive(run, platform))
        if not platform.alive():
            run.find("process_died", f"exit code {platform.proc and platform.proc.returncode}")
        run.rss_after_mb = platform.rss_mb()
        check_outboxes(run, platform)
        code, took = platform.stop()
        run.exit_code = code
        if code != 0:
            run.find("stop", f"SIGTERM: exit code {code} after {took:.1f} s")
        elif took > 10:
            run.find("stop", f"SIGTERM took {took:.1f} s")
    finally:
        platform.kill()
    check_log(run, platform)
    with open(root / "findings.txt", "w") as out:  # every finding in full, for the record
        out.write(run.summary() + "\n\n")
        out.writelines(f"{f}\n" for f in run.findings)
    return run


# After the frames: events, dead letters, the log.


def _rows(db: Path, query: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as c:
        return c.execute(query).fetchall()


def check_outboxes(run: Run, platform: Platform) -> None:
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while True:
        unsent = {
            s: _rows(platform.db(s), "SELECT count(*) FROM outbox WHERE sent_at IS NULL")[0][0]
            for s in SERVICES
        }
        if not any(unsent.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if any(unsent.values()):
        run.find("outbox_stalled", f"unsent outbox rows {DRAIN_TIMEOUT:.0f} s after: {unsent}")
    limits = consumer_limits()
    for service in SERVICES:
        for event_type, payload in _rows(
            platform.db(service), "SELECT event_type, payload FROM outbox ORDER BY id"
        ):
            run.events[event_type] += 1
            for problem in event_problems(json.loads(payload), limits):
                run.find("event_invalid", f"{service} {event_type}: {problem}", kind=event_type)
        for consumer, event_type, error, attempts in _rows(
            platform.db(service), "SELECT consumer, event_type, error, attempts FROM dead_letters"
        ):
            run.find(
                "dead_letter",
                f"{service}/{consumer} gave up on {event_type} after {attempts}: {error[:200]}",
                kind=event_type,
            )


@dataclass(frozen=True)
class Limit:
    column: str  # table.column it was taken from
    low: int | None = None
    high: int | None = None
    length: int | None = None
    timestamp: bool = False


@dataclass(frozen=True)
class Consumer:
    name: str
    reads: dict[str, Any]  # event type -> Reads, as the consumer declares it
    limits: dict[str, Limit]  # column name -> the narrowest column of that name


def consumer_limits() -> list[Consumer]:
    """What each consuming service's tables can hold, by column name: a field it reads must
    fit the column of the same name, on SQLite and on PostgreSQL alike."""
    return [
        Consumer(
            service,
            importlib.import_module(f"{service}.consumers").READS,
            _limits(importlib.import_module(f"{service}.store").metadata),
        )
        for service in CONSUMERS
    ]


def _limits(metadata: Any) -> dict[str, Limit]:
    ranges = {SmallInteger: 15, Integer: 31, BigInteger: 63}
    limits: dict[str, Limit] = {}
    for table in metadata.tables.values():
        if table.name in ("outbox", "inbox", "dead_letters"):
            continue
        for column in table.columns:
            where, kind = f"{table.name}.{column.name}", type(column.type)
            limit: Limit | None = None
            if kind in ranges:
                bits = ranges[kind]
                limit = Limit(where, low=-(2**bits), high=2**bits - 1)
            elif isinstance(column.type, String) and column.type.length:
                limit = Limit(where, length=column.type.length)
            elif isinstance(column.type, DateTime):
                limit = Limit(where, timestamp=True)
            old = limits.get(column.name)
            if limit is not None and (old is None or _narrower(limit, old)):
                limits[column.name] = limit
    return limits


def _narrower(new: Limit, old: Limit) -> bool:
    if new.high is not None and old.high is not None:
        return new.high < old.high
    if new.length is not None and old.length is not None:
        return new.length < old.length
    return False


def event_problems(event: dict[str, Any], consumers: list[Consumer]) -> Iterator[str]:
    """Why an event is not fit for its schema or for a consumer that stores it (none: fit)."""
    try:
        validate_event(event)
    except SchemaViolation as exc:
        yield f"schema: {exc}"
    for path, value in _leaves(event, ()):
        where = "/".join(map(str, path))
        if type(value) is int and not -(2**63) <= value < 2**63:
            yield f"{where} = {value} is beyond int64"
        elif type(value) is float and not math.isfinite(value):
            yield f"{where} = {value} is not a finite number"
        elif type(value) is str:
            if "\x00" in value:
                yield f"{where} holds a NUL character (PostgreSQL text cannot)"
            if any("\ud800" <= c <= "\udfff" for c in value):
                yield f"{where} holds a lone surrogate (not UTF-8)"
        name = next((p for p in reversed(path) if isinstance(p, str)), "")
        for consumer in consumers:
            reads = consumer.reads.get(event.get("event"))
            limit = consumer.limits.get(name)
            if reads is None or limit is None or path[0] not in reads.fields:
                continue
            yield from _unfit(consumer.name, where, value, limit)


def _unfit(consumer: str, where: str, value: Any, limit: Limit) -> Iterator[str]:
    if type(value) is int and limit.high is not None and not limit.low <= value <= limit.high:
        yield f"{where} = {value} does not fit {consumer} {limit.column}"
    elif type(value) is str and limit.length is not None and len(value) > limit.length:
        yield f"{where} has {len(value)} characters, {consumer} {limit.column} holds {limit.length}"
    elif type(value) is str and limit.timestamp:
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            yield f"{where} = {value[:40]!r} is no timestamp for {consumer} {limit.column}"


def _leaves(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if type(value) is dict:
        for key, sub in value.items():
            yield from _leaves(sub, (*path, key))
    elif type(value) is list:
        for i, sub in enumerate(value):
            yield from _leaves(sub, (*path, i))
    else:
        yield path, value


def check_log(run: Run, platform: Platform) -> None:
    """No ERROR line and no traceback; each line one JSON object (a raw traceback is not)."""
    for line in platform.log.read_text(errors="replace").splitlines():
        if not line.strip() or line.startswith("chargepark: "):  # the CLI's own notices
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            run.find("log_not_json", line[:300])
            continue
        level = doc.get("level")
        if level in ("error", "critical") or "exc" in doc:
            kind, frame = run.by_id.get(str(doc.get("message_id")), ("", ""))
            exc = str(doc.get("exc", "")).strip().splitlines()
            detail = f"{level}: {doc.get('msg')} {exc[-1] if exc else ''}".strip()
            run.findings.append(Finding("log_error", kind, detail[:300], frame))
    text = platform.out.read_text(errors="replace")
    if "Traceback" in text:
        run.find("log_error", "a traceback on stdout: " + text[text.index("Traceback") :][:300])
