"""MLLP framing: ``0x0B`` message ``0x1C 0x0D``, and a reader that survives real TCP streams.

TCP hands over bytes, not messages: one read may hold half a frame, three frames, or a frame
split inside its end block. :class:`FrameReader` accumulates across reads and yields whole frames.
Two field lessons shape it: some senders put junk (a stray newline, a keep-alive byte, the tail of
a frame they abandoned) between frames, so bytes outside a frame are dropped and reported, not
fatal; and a broken or hostile sender can stream a frame that never ends, so the reader stops
buffering at ``max_frame_size`` and keeps only the head (enough to read MSH and address a NAK).
"""

from __future__ import annotations

from dataclasses import dataclass

from .message import Message

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
_START = 0x0B
_FS = 0x1C

DEFAULT_MAX_FRAME_SIZE = 10 * 1024 * 1024
#: How much of an oversized frame is kept: MSH is always at the start and rarely past 1 KB.
OVERSIZED_HEAD = 4096
_WHITESPACE = b" \t\r\n"


class MllpFrameError(ValueError):
    """Bytes that are not one well-formed MLLP frame."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One complete message, without its framing bytes."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Junk:
    """Bytes outside any frame that were dropped (whitespace between frames is not reported)."""

    size: int


@dataclass(frozen=True, slots=True)
class Oversized:
    """A frame that passed the size limit: only its first bytes were kept, the rest is skipped."""

    head: bytes
    limit: int


FrameEvent = Frame | Junk | Oversized


def encode(message: str | bytes | Message, encoding: str | None = None) -> bytes:
    """Frame a message for the wire (``Message`` objects use their MSH-18 character set)."""
    if isinstance(message, Message):
        body = message.encode(encoding)
    elif isinstance(message, str):
        body = message.encode(encoding or "utf-8")
    else:
        body = bytes(message)
    return START_BLOCK + body + END_BLOCK


def decode(frame: bytes) -> bytes:
    """The payload of exactly one framed message; raises MllpFrameError otherwise."""
    if not frame.startswith(START_BLOCK):
        raise MllpFrameError("frame does not begin with the MLLP start block 0x0B")
    if not frame.endswith(END_BLOCK):
        raise MllpFrameError("frame does not end with the MLLP end block 0x1C 0x0D")
    payload = frame[1:-2]
    if START_BLOCK in payload or END_BLOCK in payload:
        raise MllpFrameError("more than one frame given")
    return payload


class FrameReader:
    """Turns a byte stream into frames; feed it every read, act on the events it returns.

    Memory stays bounded by ``max_frame_size`` (+ one read) whatever the sender does.
    """

    __slots__ = ("_buffer", "_in_frame", "_scan", "_skipping", "max_frame_size")

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        if max_frame_size < 16:
            raise ValueError("max_frame_size is too small to hold an MSH segment")
        self.max_frame_size = max_frame_size
        self._buffer = bytearray()
        self._in_frame = False  # buffer[0] is a start block
        self._scan = 1  # where to resume looking for the end block
        self._skipping = False  # inside an oversized frame: drop bytes until its end block

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held right now (a connection closing now truncates them)."""
        return len(self._buffer) if self._in_frame else 0

    @property
    def mid_frame(self) -> bool:
        return self._in_frame or self._skipping

    def feed(self, data: bytes) -> list[FrameEvent]:
        """Add bytes from one read; returns the frames completed and anything dropped, in order."""
        events: list[FrameEvent] = []
        if self._skipping:
            data = self._skip(data, events)
            if not data:
                return events
        buffer = self._buffer
        buffer += data
        while buffer:
            if not self._in_frame:
                start = buffer.find(_START)
                if start < 0:
                    self._drop(len(buffer), events)
                    break
                if start:
                    self._drop(start, events)
                self._in_frame = True
                self._scan = 1
            end = buffer.find(END_BLOCK, self._scan)
            restart = buffer.find(_START, self._scan, end if end >= 0 else len(buffer))
            if restart > 0:
                # A new start block before this frame ended: the sender gave up on the partial
                # frame (a reconnecting sender that reuses the socket does this). Drop the partial.
                self._drop(restart, events)
                self._scan = 1
                continue
            if end < 0:
                if len(buffer) - 1 > self.max_frame_size:
                    events.append(Oversized(bytes(buffer[1 : 1 + OVERSIZED_HEAD]), self.max_frame_size))
                    buffer.clear()
                    self._in_frame = False
                    self._skipping = True
                else:
                    # Resume just before the tail: the end block may be split across reads.
                    self._scan = max(1, len(buffer) - 1)
                break
            if end - 1 > self.max_frame_size:
                events.append(Oversized(bytes(buffer[1 : 1 + OVERSIZED_HEAD]), self.max_frame_size))
            else:
                events.append(Frame(bytes(buffer[1:end])))
            del buffer[: end + 2]
            self._in_frame = False
        return events

    def _skip(self, data: bytes, events: list[FrameEvent]) -> bytes:
        """Inside an oversized frame: drop everything up to and including its end block."""
        buffer = self._buffer
        if buffer:  # a 0x1C held back from the previous read
            data = bytes(buffer) + data
            buffer.clear()
        end = data.find(END_BLOCK)
        if end < 0:
            if data.endswith(b"\x1c"):
                buffer += b"\x1c"
            return b""
        self._skipping = False
        return data[end + 2 :]

    def _drop(self, count: int, events: list[FrameEvent]) -> None:
        dropped = self._buffer[:count]
        del self._buffer[:count]
        self._in_frame = False
        if dropped.strip(_WHITESPACE):
            events.append(Junk(count))
