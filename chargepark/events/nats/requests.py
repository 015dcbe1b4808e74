"""Requests over NATS (`serve` / `request`): core request/reply, never stored.

Subject `{subject_prefix}_rpc.{subject}`, outside the stream's `{subject_prefix}.>` (a core
message on a stream's subject would be stored, and JetStream's own acknowledgement would answer
it). The server answers at once when nobody subscribes to the subject ("no responders").
Subscriptions are made when the first connection is up and renewed by the client after each
reconnect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError

from chargepark import tracing
from chargepark.errors import BusUnavailable
from chargepark.events.bus import NoResponders, Responder

log = logging.getLogger("chargepark.events.nats")


class NatsRequests:
    """The responders this bus serves and the requests it sends, on connection `nc`."""

    def __init__(self, prefix: str, fields: Callable[[], dict[str, Any]]) -> None:
        self._prefix = prefix
        self._fields = fields
        self.responders: dict[str, Responder] = {}
        self._served: dict[str, Subscription | None] = {}  # None: being subscribed
        self.answering: set[asyncio.Task[None]] = set()

    async def request(
        self,
        nc: Client,
        subject: str,
        data: bytes,
        timeout_sec: float,
    ) -> bytes:
        if not tracing.enabled:
            return await self._request(nc, subject, data, timeout_sec, None)
        with tracing.client_span(f"{subject} request", rpc_attributes(subject)):
            headers: dict[str, str] = {}
            tracing.inject(headers)  # the responder's span continues this one
            return await self._request(nc, subject, data, timeout_sec, headers)

    async def _request(
        self,
        nc: Client,
        subject: str,
        data: bytes,
        timeout_sec: float,
        headers: dict[str, str] | None,
    ) -> bytes:
        try:
            msg = await nc.request(
                self._rpc_subject(subject), data, timeout=timeout_sec, headers=headers
            )
        except NoRespondersError:
            raise NoResponders(f"nobody serves {subject!r}") from None
        except TimeoutError:  # the client's own timeout error is one
            raise TimeoutError(
                f"no reply to the request on {subject!r} within {timeout_sec:g} s"
            ) from None
        except Exception as exc:
            raise BusUnavailable(f"request on {subject!r} failed: {type(exc).__name__}") from exc
        return bytes(msg.data)

    async def subscribe(self, nc: Client | None, subject: str) -> None:
        if nc is None or subject in self._served:
            return
        self._served[subject] = None  # a second caller meanwhile leaves it to this one
        responder = self.responders[subject]

        async def on_request(msg: Msg) -> None:
            # The client runs one callback at a time per subscription: each request gets its
            # own task, so a slow one holds up no other.
            if not msg.reply:
                return
            task = asyncio.create_task(self._answer(subject, responder, msg))
            self.answering.add(task)
            task.add_done_callback(self.answering.discard)

        try:
            self._served[subject] = await nc.subscribe(self._rpc_subject(subject), cb=on_request)
        except Exception:
            del self._served[subject]
            log.exception("cannot serve requests", extra=self._fields() | {"subject": subject})

    async def _answer(self, subject: str, responder: Responder, msg: Msg) -> None:
        try:
            if tracing.enabled:
                with tracing.server_span(
                    f"{subject} process", rpc_attributes(subject), msg.headers
                ):
                    reply = await responder(msg.data)
            else:
                reply = await responder(msg.data)
        except Exception:
            log.exception("responder failed", extra=self._fields() | {"subject": subject})
            return
        try:
            await msg.respond(reply)
        except Exception as exc:
            log.warning(
                "reply not sent",
                extra=self._fields() | {"subject": subject, "error": f"{type(exc).__name__}"},
            )

    def _rpc_subject(self, subject: str) -> str:
        return f"{self._prefix}_rpc.{subject}"


def rpc_attributes(subject: str) -> dict[str, str]:
    return {"messaging.system": "nats", "messaging.destination.name": subject}
