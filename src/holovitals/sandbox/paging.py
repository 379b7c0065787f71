"""Server-side paging sessions behind opaque next links, with expiry a test can trigger.

A search runs once: its result list is kept in a session and each page is a slice of it, so page
N costs a slice and a join, never a rescan. Every next link carries a fresh random token that maps
to (session, offset). Sessions expire after a TTL or on demand (`expire_all`, the
``paging-expiry`` fault), and a client then gets the vendor's "session expired" error (Epic 4113)
and must re-issue the search, as it must against the real thing.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from .store import Record


class PageExpired(Exception):
    """The token is unknown or its session has expired."""


@dataclass
class PagingSession:
    id: str
    flavour_key: str
    path: str  # "Observation" or "Patient/123/$everything": a token only continues the same search
    records: list[Record]
    page_size: int
    created: float
    applied: list[tuple[str, str]] = field(default_factory=list)
    overlap: int = 0
    patient: str | None = None  # the patient-context restriction it was opened under
    tokens: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.records)

    def next_offset(self, offset: int, shown: int) -> int | None:
        """Where the next page starts, or None on the last page. Overlap repeats trailing entries."""
        end = offset + shown
        if end >= len(self.records) or shown == 0:
            return None
        step = shown - self.overlap if shown > self.overlap else shown
        return offset + step


class PagingSessions:
    """All open sessions of one sandbox app (every flavour); bounded in number and age."""

    def __init__(self, *, ttl_s: float, clock: Callable[[], float], max_sessions: int = 5000) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, PagingSession] = OrderedDict()
        self._tokens: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def open(
        self,
        *,
        flavour_key: str,
        path: str,
        records: list[Record],
        page_size: int,
        applied: list[tuple[str, str]],
        overlap: int = 0,
        patient: str | None = None,
    ) -> PagingSession:
        now = self.clock()
        session = PagingSession(
            id=secrets.token_hex(8),
            flavour_key=flavour_key,
            path=path,
            records=records,
            page_size=page_size,
            created=now,
            applied=applied,
            overlap=overlap,
            patient=patient,
        )
        with self._lock:
            self._prune(now)
            self._sessions[session.id] = session
            while len(self._sessions) > self.max_sessions:
                self._drop(next(iter(self._sessions)))
        return session

    def token_for(self, session: PagingSession, offset: int) -> str:
        token = secrets.token_urlsafe(12)
        with self._lock:
            self._tokens[token] = (session.id, offset)
            session.tokens.append(token)
        return token

    def resolve(self, token: str) -> tuple[PagingSession, int]:
        with self._lock:
            found = self._tokens.get(token)
            session = self._sessions.get(found[0]) if found else None
            if found is None or session is None:
                raise PageExpired("this paging session does not exist or has expired; re-issue the search")
            if self._too_old(session, self.clock()):
                self._drop(session.id)
                raise PageExpired("this paging session has expired; re-issue the search")
            return session, found[1]

    def expire_all(self) -> int:
        """End every open session now (each next link then fails as expired); returns how many."""
        with self._lock:
            count = len(self._sessions)
            self._sessions.clear()
            self._tokens.clear()
            return count

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()
            self._tokens.clear()

    def _too_old(self, session: PagingSession, now: float) -> bool:
        return now - session.created > self.ttl_s

    def _prune(self, now: float) -> None:
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if not self._too_old(oldest, now):
                break
            self._drop(oldest.id)

    def _drop(self, session_id: str) -> None:
        session = self._sessions.pop(session_id, None)
        if session is not None:
            for token in session.tokens:
                self._tokens.pop(token, None)
