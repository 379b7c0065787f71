"""Per-base-URL request limits in fixed one-minute windows, as eClinicalWorks enforces them.

eClinicalWorks counts every request to a base URL (token calls included) and, past 250 in a
minute, answers 429 with no Retry-After until the next minute boundary. A fixed window on the
wall clock reproduces exactly that: a client that backs off for less than the rest of the minute
is refused again. The clock is injectable so tests cross the boundary without sleeping.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

WINDOW_S = 60.0


class RateLimiter:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._windows: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self.refused = 0

    def allow(self, key: str, limit: int) -> bool:
        """Count one request against ``key``; False when it is over ``limit`` for this minute."""
        window = int(self.clock() // WINDOW_S)
        with self._lock:
            current, count = self._windows.get(key, (window, 0))
            if current != window:
                count = 0
            count += 1
            self._windows[key] = (window, count)
            if count > limit:
                self.refused += 1
                return False
            return True

    def seconds_to_boundary(self) -> int:
        return max(1, math.ceil(WINDOW_S - self.clock() % WINDOW_S))

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
            self.refused = 0
