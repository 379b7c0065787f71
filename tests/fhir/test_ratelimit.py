"""The per-connection budget, on a fake clock (the real-server pacing test is in test_against_sekmet)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from holovitals.fhir.ratelimit import RateLimit

pytestmark = pytest.mark.anyio


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def send_times(limit: RateLimit, clock: FakeClock, n: int, gaps: list[float] | None = None) -> list[float]:
    times = []
    for i in range(n):
        if gaps:
            clock.now += gaps[i % len(gaps)]
        await limit.acquire()
        times.append(clock.now)
    return times


def max_in_window(times: list[float], window: float) -> int:
    """Most requests in any half-open window of ``window`` seconds (times are sorted)."""
    best, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= window - 1e-9:
            first += 1
        best = max(best, last - first + 1)
    return best


async def test_never_more_than_250_requests_in_any_minute_for_eclinicalworks():
    clock = FakeClock()
    limit = RateLimit(per_minute=250, clock=clock, sleep=clock.sleep)
    times = await send_times(limit, clock, 1000)
    assert max_in_window(times, 60.0) <= 250
    assert times[-1] - times[0] < 250  # and it is not needlessly slow: ~4 minutes for 1000


@settings(max_examples=40, deadline=None)
@given(
    per_minute=st.integers(min_value=2, max_value=600),
    gaps=st.lists(st.floats(min_value=0, max_value=2.0), min_size=1, max_size=8),
)
def test_any_traffic_pattern_stays_within_the_limit_in_every_window(per_minute, gaps):
    clock = FakeClock()
    limit = RateLimit(per_minute=per_minute, clock=clock, sleep=clock.sleep)
    times = asyncio.run(send_times(limit, clock, min(3 * per_minute, 600), gaps))
    assert max_in_window(times, 60.0) <= per_minute


async def test_a_burst_goes_through_without_waiting():
    clock = FakeClock()
    limit = RateLimit(per_second=10, burst=4, clock=clock, sleep=clock.sleep)
    times = await send_times(limit, clock, 4)
    assert times == [1000.0] * 4


async def test_concurrent_callers_are_served_in_order_without_overshoot():
    clock = FakeClock()
    limit = RateLimit(per_second=5, burst=1, clock=clock, sleep=clock.sleep)
    delays = await asyncio.gather(*(limit.reserve() for _ in range(10)))
    assert sorted(delays) == list(delays)
    assert delays[-1] == pytest.approx(9 * 0.25)  # (5 - 1) per second after the first


async def test_pause_holds_every_request_of_the_connection():
    clock = FakeClock()
    limit = RateLimit(per_second=100, clock=clock, sleep=clock.sleep)
    limit.pause(30)
    await limit.acquire()
    assert clock.now == pytest.approx(1030)
    assert limit.waited == pytest.approx(30)


def test_a_limit_needs_exactly_one_rate():
    with pytest.raises(ValueError):
        RateLimit()
    with pytest.raises(ValueError):
        RateLimit(per_minute=10, per_second=1)
    with pytest.raises(ValueError):
        RateLimit(per_minute=0)
