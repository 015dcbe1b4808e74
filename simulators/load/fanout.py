"""Fan-out: the workers of one run, as processes (or one thread), and their pipes.

One Python process tops out at one core; past a few thousand calls per second a load needs
several. Each worker process holds a contiguous block of the chargers; the parent only
coordinates (ready, go, result, close) and merges the numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import resource
import signal
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_pipes
from typing import Any, cast

from simulators.load.spec import LoadSpec, WorkerSpec
from simulators.load.worker import serve_parent

START_METHODS = ("fork", "spawn", "forkserver", "thread")


def die_with_parent() -> None:
    """Linux: get SIGTERM when the parent dies, so nothing outlives the tool."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def raise_nofile_limit() -> tuple[int, int]:
    """Open-files soft limit up to the hard limit: every connection is a file descriptor."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def process_main(spec: WorkerSpec, pipe: Connection) -> None:
    """Entry point of a worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler, inherited by fork
    die_with_parent()
    if spec.load.cpus:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, spec.load.cpus)
    _serve(spec, pipe, in_thread=False)


def thread_main(spec: WorkerSpec, pipe: Connection) -> None:
    """Entry point of the one worker run as a thread of the calling process."""
    _serve(spec, pipe, in_thread=True)


def _serve(spec: WorkerSpec, pipe: Connection, *, in_thread: bool) -> None:
    try:
        asyncio.run(serve_parent(spec, pipe, in_thread=in_thread))
    except (TimeoutError, EOFError, BrokenPipeError):
        pass  # the parent went away or gave up on us
    except Exception as exc:
        with contextlib.suppress(OSError):
            pipe.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        with contextlib.suppress(OSError):
            pipe.send(("closed", None))


class WorkerError(RuntimeError):
    """A worker died, failed, or did not answer in time."""


class Pool:
    """The workers of one run. `start_method` "thread" runs the single worker in a thread of
    this process (one process only); the others are `multiprocessing` start methods."""

    def __init__(self, load: LoadSpec, start_method: str = "fork") -> None:
        if start_method not in START_METHODS:
            raise ValueError(f"start method {start_method!r}: one of {', '.join(START_METHODS)}")
        if start_method == "thread" and load.processes != 1:
            raise ValueError("a thread holds one worker: processes must be 1")
        self.load = load
        self.workers: list[Any] = []  # processes or the thread
        self.pipes: list[Connection] = []
        ctx = multiprocessing.get_context(None if start_method == "thread" else start_method)
        for spec in load.shares():
            mine, theirs = ctx.Pipe()
            if start_method == "thread":
                worker: Any = threading.Thread(
                    target=thread_main, args=(spec, theirs), name="load-worker", daemon=True
                )
                worker.start()
            else:
                # Every start method's context has Process; typeshed's BaseContext does not say so.
                worker = ctx.Process(target=process_main, args=(spec, theirs), daemon=True)  # type: ignore[attr-defined]
                worker.start()
                theirs.close()
            self.workers.append(worker)
            self.pipes.append(mine)
        self._theirs = theirs if start_method == "thread" else None

    def gather(self, kind: str, timeout: float) -> list[Any]:
        """One `kind` message from every worker, in worker order."""
        deadline = time.monotonic() + timeout
        got: dict[int, Any] = {}
        while len(got) < len(self.pipes):
            left = [pp for i, pp in enumerate(self.pipes) if i not in got]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerError(f"workers sent no {kind!r} within {timeout:.0f}s")
            ready = cast(list[Connection], wait_pipes(left, timeout=min(remaining, 1.0)))
            for pipe in ready:
                i = self.pipes.index(pipe)
                try:
                    what, payload = pipe.recv()
                except EOFError:
                    raise WorkerError("a worker process died") from None
                if what == "failed":
                    raise WorkerError(f"a worker failed: {payload}")
                if what == "closed":
                    raise WorkerError(f"a worker stopped before sending {kind!r}")
                if what == kind:
                    got[i] = payload
        return [got[i] for i in range(len(self.pipes))]

    def send(self, message: Any) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(message)

    def stop(self, timeout: float = 15.0) -> None:
        """Ask every worker to close its connections and end; force those that do not."""
        self.send(("close", None))
        deadline = time.monotonic() + timeout
        for worker in self.workers:
            worker.join(max(0.1, deadline - time.monotonic()))
        for worker in self.workers:
            if isinstance(worker, threading.Thread):
                continue  # a daemon thread: it cannot be killed, and ends with the process
            if worker.is_alive():
                worker.terminate()
                worker.join(3)
            if worker.is_alive():
                worker.kill()
                worker.join(3)
        for pipe in self.pipes:
            pipe.close()
        if self._theirs is not None:
            self._theirs.close()
