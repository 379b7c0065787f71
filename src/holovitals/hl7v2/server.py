"""The MLLP listener: asyncio, many connections, one pipeline behind them.

Each connection reads frames as they come (a sender may pipeline several before our first ACK)
and answers in the order it received them, each ACK only once its message is committed. A bad
connection (garbage, an endless frame, a sender that vanishes mid-frame) is dealt with on its
own: nothing it sends can block or crash the others. Logs name peers, channels, sizes and
reasons, never message content.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from holovitals.logs import get_logger
from holovitals.store.db import transaction
from holovitals.store.models import Organization

from .ack import build_ack, build_reject
from .channels import Channel
from .errors import HL7ParseError
from .message import parse
from .mllp import Frame, FrameReader, Junk, Oversized, encode
from .pipeline import ChannelRuntime, Pipeline, Receipt

log = get_logger(__name__)

#: Frames a connection may have waiting for the store before we stop reading from it.
MAX_IN_FLIGHT = 1024


class ListenerError(Exception):
    """The listener cannot start (port taken, TLS files unreadable, unknown organization)."""


def tls_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2 or later) from PEM certificate chain and key files."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ListenerError(f"cannot load TLS certificate {cert} and key {key}: {exc}") from None
    return context


class _Slot:
    __slots__ = ("receipt",)

    def __init__(self, receipt: Receipt | None = None) -> None:
        self.receipt = receipt


class _Connection(asyncio.Protocol):
    """One sender's connection: frames in, ACKs out in the same order."""

    def __init__(self, server: MllpServer) -> None:
        self.server = server
        self.rt = server.rt
        self.reader = FrameReader(server.max_frame_size)
        self.received: deque = deque()  # what the reader returned, not acted on yet (held while congested)
        self.slots: deque[_Slot] = deque()
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.closing = False
        self.paused = False  # too many of this connection's frames wait for the store
        self.held = False  # the pipeline is congested: frames wait here until conversion catches up
        self.reading = True
        self.flush_scheduled = False
        self.last_seen = 0.0
        self.idle_timer: asyncio.TimerHandle | None = None

    # -- asyncio callbacks -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        loop = asyncio.get_running_loop()
        self.last_seen = loop.time()
        self.idle_timer = loop.call_later(self.server.idle_timeout, self._idle_check)
        self.server.connections.add(self)
        self.server.stats.connections += 1

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.last_seen = self.server.loop.time()
        self.received.extend(self.reader.feed(data))
        if not self.held:
            self._take()

    def _take(self) -> None:
        """Act on what was received, unless acknowledged messages pile up faster than they are converted.

        Then the rest waits here and the connection is not read (the sender's TCP window fills up)
        until the pipeline has caught up: every frame taken is acknowledged once stored, and memory
        stays bounded however fast senders send.
        """
        received, pipeline, transport = self.received, self.server.pipeline, self.transport
        while received and not self.closing and transport is not None and not transport.is_closing():
            if pipeline.congested:
                self.held = True
                self._set_reading()
                pipeline.when_drained(self._drained)
                return
            event = received.popleft()
            if isinstance(event, Frame):
                self._frame(event.payload)
            elif isinstance(event, Junk):
                self.server.stats.junk_bytes += event.size
                log.warning("mllp bytes outside a frame discarded", channel=self.rt.name, peer=self.peer,
                            size=event.size)  # fmt: skip
            else:
                received.clear()
                self._oversized(event)
                return
        if len(self.slots) > MAX_IN_FLIGHT and not self.paused:
            self.paused = True
            self._set_reading()

    def _drained(self) -> None:
        if self.held:
            self.held = False
            self._take()
            self._set_reading()

    def _set_reading(self) -> None:
        """Read while neither this connection's unacknowledged frames nor the pipeline's backlog are too many."""
        transport, reading = self.transport, not (self.paused or self.held)
        if transport is None or transport.is_closing() or reading == self.reading:
            return
        self.reading = reading
        if reading:
            transport.resume_reading()
        else:
            transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.reader.mid_frame and not self.closing:
            self.server.stats.truncated += 1
            log.warning("mllp connection closed mid-frame; partial message dropped", channel=self.rt.name,
                        peer=self.peer, size=self.reader.pending)  # fmt: skip
        self.closing = True
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        self.server.connections.discard(self)

    # -- frames ----------------------------------------------------------------------------

    def _frame(self, payload: bytes) -> None:
        slot = _Slot()
        self.slots.append(slot)
        self.server.stats.frames += 1

        def done(receipt: Receipt) -> None:
            slot.receipt = receipt
            if not self.flush_scheduled:  # a commit resolves its receipts together: flush once after them
                self.flush_scheduled = True
                self.server.loop.call_soon(self._flush)

        self.server.pipeline.submit(self.rt, payload, done, self._app_ack_sender(payload))

    def _app_ack_sender(self, payload: bytes):
        """Enhanced mode: after the commit ACK, the application ACK follows once the message is processed.

        The pipeline calls it only for messages whose MSH-16 asks for one.
        """

        def send(status: str, error: str | None) -> None:
            if self.transport is None or self.transport.is_closing():
                return
            try:
                message = parse(payload)
                wanted = message.get("MSH-16.1") or ""
                failed = status == "ERROR"
                if wanted not in ("AL", "ER", "SU") or (wanted == "ER" and not failed) or (wanted == "SU" and failed):
                    return
                ack = build_ack(message, "AE" if failed else "AA", text=error)
                self.transport.write(encode(ack))
            except Exception as exc:
                log.warning("hl7 application ack not sent", channel=self.rt.name, error_type=type(exc).__name__)

        return send

    def _oversized(self, event: Oversized) -> None:
        """Refuse a frame past the size limit (AR when its MSH is readable), then hang up."""
        self.server.stats.oversized += 1
        log.warning("mllp frame over the size limit refused; closing connection", channel=self.rt.name,
                    peer=self.peer, limit=event.limit)  # fmt: skip
        reason = HL7ParseError(f"message too large: over {event.limit} bytes", code=104)
        ack = encode(build_reject(event.head, reason)) if event.head.lstrip().startswith(b"MSH") else None
        self.slots.append(_Slot(Receipt(ack, close=True)))
        self.closing = True
        self._flush()

    def _flush(self) -> None:
        """Send every ACK that is ready, in arrival order."""
        self.flush_scheduled = False
        slots, transport = self.slots, self.transport
        acks: list[bytes] = []  # written together: one send for a group's ACKs, not one each
        while slots and slots[0].receipt is not None:
            receipt = slots.popleft().receipt
            if transport is None or transport.is_closing():
                continue
            if receipt.ack is not None:
                acks.append(receipt.ack)
                self.server.stats.acks += 1
            if receipt.close:
                self.closing = True
                transport.write(b"".join(acks))
                acks.clear()
                transport.close()
        if acks and transport is not None and not transport.is_closing():
            transport.write(b"".join(acks))
        if self.paused and len(slots) < MAX_IN_FLIGHT // 2:
            self.paused = False
            self._set_reading()

    def _idle_check(self) -> None:
        loop = self.server.loop
        quiet = loop.time() - self.last_seen
        if quiet >= self.server.idle_timeout and not self.slots:
            log.info("mllp idle connection closed", channel=self.rt.name, peer=self.peer)
            if self.transport is not None:
                self.transport.close()
            return
        wait = max(self.server.idle_timeout - quiet, 1.0)
        self.idle_timer = loop.call_later(wait, self._idle_check)


@dataclass
class ServerStats:
    connections: int = 0
    frames: int = 0
    acks: int = 0
    junk_bytes: int = 0
    oversized: int = 0
    truncated: int = 0


class MllpServer:
    """One channel's listening socket."""

    def __init__(
        self,
        pipeline: Pipeline,
        rt: ChannelRuntime,
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.pipeline, self.rt = pipeline, rt
        self.host, self.requested_port = host, port
        self.ssl_context = ssl_context
        self.idle_timeout = rt.channel.idle_timeout
        self.max_frame_size = rt.channel.max_frame_size
        self.connections: set[_Connection] = set()
        self.stats = ServerStats()
        self._server: asyncio.Server | None = None
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        try:
            self._server = await self.loop.create_server(
                lambda: _Connection(self), self.host, self.requested_port, ssl=self.ssl_context,
                reuse_address=True, backlog=512,
            )  # fmt: skip
        except OSError as exc:
            raise ListenerError(f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror}") from None

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for conn in list(self.connections):
                if conn.transport is not None:
                    conn.transport.close()
            await self._server.wait_closed()


def resolve_org(session: Session, slug: str) -> str:
    """The id of an organization by slug; the default one is created (seeded) if the database has none."""
    org_id = session.execute(select(Organization.id).where(Organization.slug == slug)).scalar()
    if org_id:
        return org_id
    if slug != "default":
        raise ListenerError(f"no organization with slug {slug!r}")
    from holovitals.store.seed import seed

    return seed(session, create_owner_key=False).org_id


class Listener:
    """Everything ``holovitals hl7 listen`` runs: a pipeline and one MLLP server per channel."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        channels: list[Channel],
        *,
        default_host: str = "127.0.0.1",
        default_port: int = 2575,
        workers: int = 0,
        deliver_attempts: int = 3,
    ) -> None:
        self.sessions = sessions
        self.channels = channels
        self.default_host, self.default_port = default_host, default_port
        self.pipeline = Pipeline(sessions, workers=workers, deliver_attempts=deliver_attempts)
        self.servers: list[MllpServer] = []

    async def start(self) -> None:
        with transaction(self.sessions) as session:
            orgs = {slug: resolve_org(session, slug) for slug in {c.org for c in self.channels}}
        for channel in self.channels:
            rt = self.pipeline.register(channel, orgs[channel.org])
            context = None
            if channel.tls_cert or channel.tls_key:
                if not (channel.tls_cert and channel.tls_key):
                    raise ListenerError(f"channel {channel.name}: TLS needs both a certificate and a key")
                context = tls_context(channel.tls_cert, channel.tls_key)
            port = channel.port if channel.port is not None else self.default_port
            self.servers.append(MllpServer(self.pipeline, rt, host=channel.host or self.default_host, port=port,
                                           ssl_context=context))  # fmt: skip
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.pipeline.start, loop)
        try:
            for server in self.servers:
                await server.start()
                log.info("mllp listening", channel=server.rt.name, host=server.host, port=server.port,
                         tls=server.ssl_context is not None)  # fmt: skip
        except ListenerError:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop accepting, close connections, then finish storing and processing what arrived."""
        for server in self.servers:
            await server.close()
        await asyncio.get_running_loop().run_in_executor(None, self.pipeline.stop)

    def counts(self) -> dict[str, dict[str, int]]:
        out = {}
        for server in self.servers:
            counts = server.rt.stats.as_dict()
            counts["connections"] = server.stats.connections
            out[server.rt.name] = counts
        return out


class BackgroundListener:
    """A Listener on its own event-loop thread, for synchronous programs (and tests) that embed one.

    ``with BackgroundListener(sessions, [Channel(port=0)]) as bg: bg.port`` ... stops on exit,
    after finishing what was received.
    """

    def __init__(self, sessions: sessionmaker[Session], channels: list[Channel], **options) -> None:
        self.listener = Listener(sessions, channels, **options)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mllp-listener", daemon=True)

    def start(self, timeout: float = 60.0) -> BackgroundListener:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.listener.start(), self._loop).result(timeout)
        except BaseException:
            self._shutdown()
            raise
        return self

    @property
    def port(self) -> int:
        return self.listener.servers[0].port

    @property
    def pipeline(self) -> Pipeline:
        return self.listener.pipeline

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until everything received is stored, processed and delivered (False on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pipeline.idle:
                return True
            time.sleep(0.01)
        return False

    def stop(self, timeout: float = 60.0) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self.listener.stop(), self._loop).result(timeout)
        self._shutdown()

    def _shutdown(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> BackgroundListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
