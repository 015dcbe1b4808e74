"""The parking benchmark's own HTTP/1.1 client reads answers however the bytes arrive."""

from __future__ import annotations

import asyncio

import pytest

from bench.parking_load import _HttpConnection

ANSWER = (
    b"HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\n"
    b'Content-Length: 12\r\n\r\n{"ok":false}'
)


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.sent.append(data)


async def _answered(conn: _HttpConnection, pieces: list[bytes]) -> int:
    waiting = asyncio.ensure_future(conn.send(b"POST / HTTP/1.1\r\n\r\n"))
    await asyncio.sleep(0)
    for piece in pieces:
        conn.data_received(piece)
    return await waiting


async def test_an_answer_split_anywhere_gives_its_status_once_whole():
    conn = _HttpConnection()
    conn.connection_made(_Transport())
    for cut in range(1, len(ANSWER)):
        assert await _answered(conn, [ANSWER[:cut], ANSWER[cut:]]) == 409
        assert conn.buffer == b""


async def test_an_answer_without_a_length_fails_the_request_instead_of_hanging():
    conn = _HttpConnection()
    conn.connection_made(_Transport())
    with pytest.raises(ConnectionError, match="Content-Length"):
        await _answered(conn, [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"])


async def test_a_closed_connection_fails_the_waiting_request():
    conn = _HttpConnection()
    conn.connection_made(_Transport())
    waiting = asyncio.ensure_future(conn.send(b"POST / HTTP/1.1\r\n\r\n"))
    await asyncio.sleep(0)
    conn.connection_lost(None)
    with pytest.raises(ConnectionError):
        await waiting
