"""A minimal RFC 6455 client on `asyncio.Protocol`, cheap enough for thousands of connections.

What an OCPP-J charger needs and no more: the HTTP upgrade with one subprotocol, optional HTTP
Basic credentials, `Sec-WebSocket-Accept` and the chosen subprotocol checked; masked frames
with a fresh random key per frame; pings answered; fragmented messages reassembled; the close
handshake. No extensions (no compression), no size limit, no client-side flow control.

A subclass gets `on_open()`, `on_message(payload)` and `on_lost(was_open)`; it sends with
`write(payload)`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import random
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - the pure-Python fallback of the same function
    from websockets.utils import apply_mask

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_HANDSHAKE = 16384


class HandshakeError(Exception):
    """The server did not upgrade the connection (HTTP refusal, wrong answer, closed)."""


@dataclass(frozen=True)
class Endpoint:
    """Where chargers connect: `ws[s]://host:port/prefix/<charger id>`."""

    host: str
    port: int
    path_prefix: str  # ends with "/"
    tls: bool = False
    cafile: str | None = None  # wss: trust this CA file instead of the system's

    @classmethod
    def from_url(cls, url: str, cafile: str | None = None) -> Endpoint:
        """`ws://127.0.0.1:9000/ocpp` -> chargers at `/ocpp/<id>`; ValueError when unusable."""
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss"):
            raise ValueError(f"{url!r}: the URL must start with ws:// or wss://")
        if not parts.hostname:
            raise ValueError(f"{url!r}: no host")
        if parts.query or parts.fragment:
            raise ValueError(f"{url!r}: no query or fragment, chargers append their id")
        if parts.username or parts.password:
            raise ValueError(f"{url!r}: no credentials in the URL (use --password)")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"{url!r}: {exc}") from None
        tls = parts.scheme == "wss"
        return cls(
            host=parts.hostname,
            port=port or (443 if tls else 80),
            path_prefix=parts.path.rstrip("/") + "/",
            tls=tls,
            cafile=cafile,
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "wss" if self.tls else "ws"
        return f"{scheme}://{host}:{self.port}{self.path_prefix.rstrip('/')}"

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=self.cafile)


def basic_authorization(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def encode_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A client frame: FIN set, masked with a fresh random key (RFC 6455, 5.3)."""
    n = len(payload)
    mask = random.randbytes(4)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0xFE)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0xFF)) + n.to_bytes(8, "big")
    return head + mask + apply_mask(payload, mask)


class WebSocketClient(asyncio.Protocol):
    """One client connection. `handshake` resolves when the upgrade succeeded, `closed` when
    the connection is gone; `closing` is set when this side started closing on purpose."""

    def __init__(
        self, endpoint: Endpoint, path: str, subprotocol: str, authorization: str | None = None
    ) -> None:
        self.endpoint = endpoint
        self.path = path
        self.subprotocol = subprotocol
        self.authorization = authorization
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.handshake: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.key = base64.b64encode(os.urandom(16))
        self.hbuf = bytearray()
        self.buf = bytearray()
        self.frag: bytearray | None = None
        self.is_open = False
        self.closing = False  # we started closing: losing the connection is no error

    # hooks for subclasses

    def on_open(self) -> None:
        pass

    def on_message(self, payload: bytes) -> None:
        pass

    def on_lost(self, was_open: bool) -> None:
        pass

    # transport callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        e = self.endpoint
        host = f"[{e.host}]" if ":" in e.host else e.host
        auth = f"Authorization: {self.authorization}\r\n" if self.authorization else ""
        transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\n"
                f"Host: {host}:{e.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {self.key.decode()}\r\n"
                "Sec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Protocol: {self.subprotocol}\r\n{auth}\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        if self.is_open:
            self.buf += data
            self._parse()
        elif not self.handshake.done():
            self._handshake(data)

    def eof_received(self) -> bool | None:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        was_open, self.is_open = self.is_open, False
        if not self.handshake.done():
            self.handshake.set_exception(HandshakeError("closed during the handshake"))
        self.on_lost(was_open)
        if not self.closed.done():
            self.closed.set_result(None)

    # the handshake

    def _handshake(self, data: bytes) -> None:
        self.hbuf += data
        end = self.hbuf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.hbuf) > _MAX_HANDSHAKE:
                self._fail_handshake("handshake response too long")
            return
        head, rest = bytes(self.hbuf[:end]), bytes(self.hbuf[end + 4 :])
        self.hbuf = bytearray()
        lines = head.split(b"\r\n")
        status = lines[0].split(b" ", 2)
        if len(status) < 2 or status[1] != b"101":
            self._fail_handshake("HTTP " + b" ".join(status[1:]).decode(errors="replace"))
            return
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        accept = base64.b64encode(hashlib.sha1(self.key + _WS_GUID).digest())
        if headers.get(b"sec-websocket-accept") != accept:
            self._fail_handshake("bad Sec-WebSocket-Accept")
            return
        proto = headers.get(b"sec-websocket-protocol", b"").decode(errors="replace")
        if proto != self.subprotocol:
            self._fail_handshake(f"subprotocol {proto or 'none'} instead of {self.subprotocol}")
            return
        self.is_open = True
        self.on_open()
        self.handshake.set_result(None)
        if rest:
            self.buf += rest
            self._parse()

    def _fail_handshake(self, reason: str) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(HandshakeError(reason))
        if self.transport is not None:
            self.transport.close()

    # frames in

    def _parse(self) -> None:
        buf = self.buf
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            n, p = b1 & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, p = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, p = int.from_bytes(buf[2:10], "big"), 10
            mask = None
            if b1 & 0x80:  # a server must not mask; decode it anyway
                if len(buf) < p + 4:
                    return
                mask, p = bytes(buf[p : p + 4]), p + 4
            if len(buf) < p + n:
                return
            payload = bytes(buf[p : p + n])
            del buf[: p + n]
            if mask is not None:
                payload = apply_mask(payload, mask)
            self._on_frame(b0, payload)

    def _on_frame(self, b0: int, payload: bytes) -> None:
        opcode, fin = b0 & 0x0F, b0 & 0x80
        if opcode in (0x1, 0x2):
            if fin:
                self.on_message(payload)
            else:
                self.frag = bytearray(payload)
        elif opcode == 0x0 and self.frag is not None:
            self.frag += payload
            if fin:
                message, self.frag = bytes(self.frag), None
                self.on_message(message)
        elif opcode == 0x9:  # ping: answer with a pong carrying the same data
            self.write(payload, 0xA)
        elif opcode == 0x8:  # the server closes: echo the close, then drop the connection
            self.write(payload[:2], 0x8)
            if self.transport is not None:
                self.transport.close()

    # frames out

    def write(self, payload: bytes, opcode: int = 0x1) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode_frame(payload, opcode))

    def close(self) -> None:
        """Start the close handshake (1000, normal closure); the server closes TCP first."""
        self.closing = True
        if self.is_open:
            self.write(b"\x03\xe8", 0x8)
        elif self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()
