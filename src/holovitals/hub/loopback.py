"""A one-shot HTTP listener on 127.0.0.1 that catches the browser's redirect back from the EHR.

RFC 8252 (OAuth for native apps): a command-line client receives the authorization response on a
loopback redirect URI. The socket is bound before the authorize URL is shown, so the redirect URI
is known and nothing else can grab the port in between. It listens on 127.0.0.1 only, answers the
first request to the callback path, and ignores the browser's extra requests (favicon).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

CALLBACK_PATH = "/callback"
MAX_REQUEST_BYTES = 16384

_PAGE = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>HoloVitals Sync</title></head>"
    "<body><h1>{title}</h1><p>You can close this window and return to the terminal.</p></body></html>"
)


@dataclass(frozen=True)
class Callback:
    """What the EHR sent back: a code and state, or an OAuth error."""

    code: str | None
    state: str | None
    error: str | None
    error_description: str | None


def parse_callback(target: str) -> Callback:
    query = parse_qs(urlsplit(target).query)

    def one(name: str) -> str | None:
        values = query.get(name)
        return values[0] if values else None

    return Callback(one("code"), one("state"), one("error"), one("error_description"))


class LoopbackReceiver:
    """``async with LoopbackReceiver(port) as rx: ...; callback = await rx.wait(timeout)``."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        self._server: asyncio.Server | None = None
        self._result: asyncio.Future[Callback] | None = None

    @property
    def redirect_uri(self) -> str:
        return f"http://{self.host}:{self.port}{CALLBACK_PATH}"

    async def __aenter__(self) -> LoopbackReceiver:
        self._result = asyncio.get_running_loop().create_future()
        self._server = await asyncio.start_server(self._handle, sock=self._socket)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        self._socket.close()

    async def wait(self, timeout: float) -> Callback:
        """The first callback; raises TimeoutError when the browser never comes back."""
        assert self._result is not None, "use the receiver as an async context manager"
        return await asyncio.wait_for(asyncio.shield(self._result), timeout)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            request_line = head[:MAX_REQUEST_BYTES].split(b"\r\n", 1)[0].decode("latin-1")
            method, target, _version = request_line.split(" ", 2)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            writer.close()
            return
        if method != "GET" or urlsplit(target).path != CALLBACK_PATH:
            await self._respond(writer, 404, "Not found")
            return
        callback = parse_callback(target)
        done = self._result is not None and self._result.done()
        title = "Already received: this window can be closed" if done else self._title(callback)
        await self._respond(writer, 200, title)
        if self._result is not None and not done:
            self._result.set_result(callback)

    @staticmethod
    def _title(callback: Callback) -> str:
        if callback.error:
            return "The EHR did not grant access"
        return "Authorization received: HoloVitals Sync is finishing the connection"

    @staticmethod
    async def _respond(writer: asyncio.StreamWriter, status: int, title: str) -> None:
        body = _PAGE.format(title=title).encode()
        reason = "OK" if status == 200 else "Not Found"
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()
