"""A per-connection request budget, shared by every request of one client (token calls included).

eClinicalWorks allows 250 requests a minute per base URL, counts token calls, answers 429 with no
Retry-After and then blocks until the minute boundary: the only way to stay fast there is never to
cross the line. Most vendors publish no limit; they get ``None`` and the 429 path alone.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

import httpx


class RateLimit:
    """GCRA token bucket: at most ``per_minute`` requests in any 60 s window, bursts of ``burst``.

    A plain bucket refilling at N/60 per second lets ``burst + N`` through in a sliding minute, which
    is exactly the overshoot eClinicalWorks punishes; so the refill rate is ``(N - burst) / 60`` and
    the guarantee holds for every window. Reservations are taken under a lock and slept outside it,
    so waiters are served in order and the lock is never held across a sleep.
    """

    def __init__(
        self,
        per_minute: float | None = None,
        *,
        per_second: float | None = None,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if (per_minute is None) == (per_second is None):
            raise ValueError("give exactly one of per_minute or per_second")
        window, limit = (60.0, float(per_minute)) if per_minute is not None else (1.0, float(per_second or 0))
        if limit <= 0:
            raise ValueError("the limit must be positive")
        if burst is None:  # one second's worth
            burst = max(1, math.floor(limit / window))
        burst = max(1, int(burst))
        # Keep burst below the limit so that burst + refill over one window never exceeds it.
        if burst >= limit:
            burst = max(1, math.ceil(limit) - 1)
        refill = limit - burst if limit > burst else limit
        self.limit = limit
        self.window = window
        self.burst = burst
        self.interval = window / refill  # seconds per request in steady state
        self._tolerance = (burst - 1) * self.interval
        self._tat = 0.0  # theoretical arrival time of the next conforming request
        self._blocked_until = 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self.waited = 0.0  # total seconds spent waiting, for sync statistics

    @classmethod
    def per_minute_limit(cls, n: float) -> RateLimit:
        return cls(per_minute=n)

    async def reserve(self) -> float:
        """Take one slot; returns how long the caller must wait before sending (no sleeping here)."""
        async with self._lock:
            now = self._clock()
            start = max(now, self._tat - self._tolerance, self._blocked_until)
            self._tat = max(self._tat, start) + self.interval
            return start - now

    async def acquire(self) -> None:
        """Wait for a slot."""
        delay = await self.reserve()
        if delay > 0:
            self.waited += delay
            await self._sleep(delay)

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` (after a 429: the whole connection is throttled, not one call)."""
        if seconds > 0:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)


class RateLimitedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that takes a slot before every request, so any code sharing the client
    (token refreshes, bulk file downloads) spends the same budget."""

    def __init__(self, inner: httpx.AsyncBaseTransport, limit: RateLimit) -> None:
        self.inner = inner
        self.limit = limit

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self.limit.acquire()
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
