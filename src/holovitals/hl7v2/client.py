"""MLLP sender: frame, send, read the ACK to its end block, match it, and resend after a lost connection.

Resending is safe because receivers detect duplicates by MSH-10 (ours does): a message whose ACK
was lost in a dropped connection is sent again with the same control id and acknowledged again,
not stored twice. The errors say what to do next: ``NegativeAck`` is the receiver's answer (do not
resend unchanged), ``MllpConnectionError``/``MllpTimeout`` mean the retries ran out (try later).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from holovitals.logs import get_logger

from .ack import AckResult, parse_ack
from .errors import HL7ParseError
from .message import Message, parse
from .mllp import DEFAULT_MAX_FRAME_SIZE, Frame, FrameReader, Oversized, encode

log = get_logger(__name__)

_COMMIT_CODES = ("CA", "CE", "CR")


class MllpError(Exception):
    """Base of the sender's errors."""


class MllpConnectionError(MllpError):
    """The receiver could not be reached, or the connection kept dropping, after every retry."""


class MllpTimeout(MllpConnectionError):
    """No ACK arrived in time, after every retry."""


class MllpProtocolError(MllpError):
    """The receiver answered with something that is not a usable ACK (retried like a lost connection)."""


class NegativeAck(MllpError):
    """The receiver answered AE/AR (or CE/CR): the message was refused; ``ack.text`` says why."""

    def __init__(self, ack: AckResult) -> None:
        self.ack = ack
        super().__init__(f"{ack.code}: {ack.text or 'no reason given'}")


@dataclass(slots=True)
class Outgoing:
    """A message ready for the wire: its control id, its frame, and which ACKs to wait for."""

    control_id: str
    frame: bytes
    wants_app_ack: bool = False
    #: False in enhanced mode when MSH-15 is NE, ER or SU: the receiver may (rightly) stay silent.
    wants_commit_ack: bool = True

    @property
    def expects_answer(self) -> bool:
        return self.wants_commit_ack or self.wants_app_ack


def prepare(message: str | bytes | Message, *, application_ack: bool | None = None) -> Outgoing:
    """Frame a message. Text with LF or CRLF line ends (a file) is sent with CR, as MLLP peers expect."""
    if isinstance(message, Message):
        parsed = message
        frame = encode(message)
    elif isinstance(message, bytes):
        parsed = parse(message)
        frame = encode(message)
    else:
        parsed = parse(message)
        if "\n" in message:
            parsed = parse(parsed.to_er7("\r"))
        frame = encode(parsed)
    control_id = parsed.control_id
    if not control_id:
        raise HL7ParseError("MSH-10 (message control id) is empty: the ACK could not be matched")
    if application_ack is None:
        application_ack = (parsed.get("MSH-16.1") or "") == "AL"
    commit = (parsed.get("MSH-15.1") or "AL") == "AL" if parsed.get("MSH-15") or parsed.get("MSH-16") else True
    return Outgoing(control_id, frame, application_ack, commit)


class MllpClient:
    """A blocking MLLP sender over one connection (TLS optional), reconnecting on failure.

    ``send`` waits for each ACK. ``send_many`` pipelines: it keeps up to ``window`` messages in
    flight on the connection and matches ACKs by MSA-2, so throughput no longer pays a round trip per
    message; ``window=1`` is plain send-and-wait. After a lost connection or a timeout everything
    unacknowledged is sent again, in order, with up to ``retries`` reconnects (backoff doubling).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | bool | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        server_hostname: str | None = None,
    ) -> None:
        self.host, self.port = host, port
        if tls is True:
            tls = ssl.create_default_context()
        self.tls: ssl.SSLContext | None = tls or None
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.max_frame_size = max_frame_size
        self.server_hostname = server_hostname or host
        self._sock: socket.socket | None = None
        self._reader = FrameReader(max_frame_size)
        self._frames: deque[bytes] = deque()
        self.reconnects = 0

    # -- connection ------------------------------------------------------------------------

    def connect(self) -> None:
        if self._sock is not None:
            return
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_hostname=self.server_hostname)
        sock.settimeout(self.timeout)
        self._sock = sock
        self._reader = FrameReader(self.max_frame_size)
        self._frames.clear()

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> MllpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sending ---------------------------------------------------------------------------

    def send(
        self, message: str | bytes | Message | Outgoing, *, application_ack: bool | None = None
    ) -> AckResult | None:
        """Send one message and return its accepting ACK; raises NegativeAck on AE/AR/CE/CR.

        Returns None, without waiting, for a message that asks for no ACK (enhanced mode, MSH-15
        NE/ER/SU and no MSH-16 AL): the receiver is right to stay silent about it.
        """
        out = message if isinstance(message, Outgoing) else prepare(message, application_ack=application_ack)
        ack = self._exchange([out], window=1)[0]
        if ack is not None and not ack.accepted:
            raise NegativeAck(ack)
        return ack

    def send_many(
        self,
        messages: Iterable[str | bytes | Message | Outgoing],
        *,
        window: int = 1,
        on_result: Callable[[int, AckResult | None], Any] | None = None,
    ) -> list[AckResult | None]:
        """Send messages in order, up to ``window`` in flight; returns every ACK (NAKs included, in order).

        A NAK does not stop the run: check ``.accepted`` on each result. A message that asks for no
        ACK (see ``send``) has None as its result.
        """
        if window < 1:
            raise ValueError("window must be at least 1")
        outgoing = [m if isinstance(m, Outgoing) else prepare(m) for m in messages]
        return self._exchange(outgoing, window=window, on_result=on_result)

    def _exchange(
        self,
        outgoing: Sequence[Outgoing],
        *,
        window: int,
        on_result: Callable[[int, AckResult | None], Any] | None = None,
    ) -> list[AckResult | None]:
        results: list[AckResult | None] = [None] * len(outgoing)
        queue: deque[int] = deque(range(len(outgoing)))
        in_flight: list[int] = []
        committed: set[int] = set()
        unanswered: set[str] = set()  # sent without waiting: a late NAK for one is logged, not an error
        failures = 0
        while queue or in_flight:
            try:
                self.connect()
                while queue and len(in_flight) < window:
                    index = queue.popleft()
                    in_flight.append(index)  # before sending: a failed send puts it back in the queue
                    self._sock.sendall(outgoing[index].frame)  # type: ignore[union-attr]
                    if not outgoing[index].expects_answer:
                        in_flight.pop()
                        unanswered.add(outgoing[index].control_id)
                        if on_result is not None:
                            on_result(index, None)
                if not in_flight:
                    continue
                ack = self._read_ack()
                if ack.control_id in unanswered and not any(
                    outgoing[i].control_id == ack.control_id for i in in_flight
                ):
                    log.warning("mllp answer to a message sent without waiting", code=ack.code)
                    continue
                index = _match(ack, in_flight, outgoing)
                if ack.code == "CA" and outgoing[index].wants_app_ack and index not in committed:
                    committed.add(index)  # stored by the receiver; its application ACK follows
                    continue
                in_flight.remove(index)
                committed.discard(index)
                results[index] = ack
                failures = 0
                if on_result is not None:
                    on_result(index, ack)
            except (OSError, MllpProtocolError, ConnectionError) as exc:
                self.close()
                failures += 1
                if failures > self.retries:
                    raise _gave_up(exc, self) from None
                log.warning(
                    "mllp send failed, reconnecting",
                    peer=f"{self.host}:{self.port}",
                    error_type=type(exc).__name__,
                    attempt=failures,
                    unacknowledged=len(in_flight),
                )
                self.reconnects += 1
                time.sleep(self.backoff * 2 ** (failures - 1))
                queue.extendleft(reversed(sorted(in_flight)))
                in_flight.clear()
                committed.clear()
        return results  # type: ignore[return-value]

    def _read_ack(self) -> AckResult:
        payload = self._next_frame()
        try:
            return parse_ack(payload)
        except HL7ParseError as exc:
            raise MllpProtocolError(f"the receiver's answer is not an ACK: {exc.reason}") from None

    def _next_frame(self) -> bytes:
        frames = self._frames
        while not frames:
            data = self._sock.recv(65536)  # type: ignore[union-attr]
            if not data:
                raise ConnectionError("connection closed by the receiver before its ACK")
            for event in self._reader.feed(data):
                if isinstance(event, Frame):
                    frames.append(event.payload)
                elif isinstance(event, Oversized):
                    raise MllpProtocolError("the receiver's answer exceeds the maximum frame size")
        return frames.popleft()


def _match(ack: AckResult, in_flight: list[int], outgoing: Sequence[Outgoing]) -> int:
    for index in in_flight:
        if outgoing[index].control_id == ack.control_id:
            return index
    if not ack.control_id and len(in_flight) == 1 and not ack.accepted:
        # A receiver that could not read our MSH rejects with an empty MSA-2 (HL7 allows it).
        return in_flight[0]
    raise MllpProtocolError("ACK does not match a message in flight (MSA-2 differs from MSH-10)")


def _gave_up(exc: BaseException, client: MllpClient) -> MllpConnectionError:
    where = f"{client.host}:{client.port}"
    if isinstance(exc, TimeoutError):
        return MllpTimeout(f"no ACK from {where} within {client.timeout:g} s after {client.retries} retries")
    if isinstance(exc, MllpProtocolError):
        return MllpConnectionError(f"{where}: {exc} (after {client.retries} retries)")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
    return MllpConnectionError(f"cannot deliver to {where}: {reason} (after {client.retries} retries)")
