"""A blocking facade over :class:`FhirClient` for the CLI and scripts.

The async client runs on a private event loop in a daemon thread; each call is submitted to that
loop and waited for. One loop per facade keeps httpx's pool, the token lock and the rate limit on
the loop that created them (asyncio primitives must not cross loops).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

from holovitals.fhir.bundle import Page, PageFailure, SearchResult
from holovitals.fhir.client import BatchResult, FhirClient, Params, WriteResult

T = TypeVar("T")


class SyncFhirClient:
    """``SyncFhirClient(base_url, **FhirClient kwargs)``; or ``factory`` to build a client on the loop."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        factory: Callable[[], FhirClient] | None = None,
        call_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        if (base_url is None) == (factory is None):
            raise ValueError("give base_url or factory")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="holovitals-fhir-loop", daemon=True)
        self._thread.start()
        self._timeout = call_timeout
        self._closed = False

        async def build() -> FhirClient:  # httpx objects are created on the loop that will use them
            return factory() if factory is not None else FhirClient(base_url or "", **kwargs)

        self.client: FhirClient = self._run(build())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coro.close()
            raise RuntimeError("the client is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self._timeout)

    def call(self, fn: Callable[[FhirClient], Awaitable[T]]) -> T:
        """Run any coroutine that needs the async client (e.g. ``lambda c: BulkExport(c).run(sink)``)."""

        async def go() -> T:
            return await fn(self.client)

        return self._run(go())

    def _iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        async def step() -> tuple[bool, T | None]:
            try:
                return True, await agen.__anext__()
            except StopAsyncIteration:
                return False, None

        try:
            while True:
                more, item = self._run(step())
                if not more:
                    return
                yield item  # type: ignore[misc]
        finally:
            closer = getattr(agen, "aclose", None)
            if closer is not None and not self._closed:
                self._run(closer())

    # -- the client's API, blocking ----------------------------------------------------------
    def capabilities(self) -> dict[str, Any]:
        return self._run(self.client.capabilities())

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        return self._run(self.client.read(resource_type, resource_id))

    def vread(self, resource_type: str, resource_id: str, version_id: str | int) -> dict[str, Any]:
        return self._run(self.client.vread(resource_type, resource_id, version_id))

    def search_pages(
        self, resource_type: str | None, params: Params | None = None, **kw: Any
    ) -> Iterator[Page | PageFailure]:
        return self._iterate(self.client.search_pages(resource_type, params, **kw))

    def search_all(self, resource_type: str | None, params: Params | None = None, **kw: Any) -> SearchResult:
        return self._run(self.client.search_all(resource_type, params, **kw))

    def history_all(self, *args: Any, **kw: Any) -> SearchResult:
        return self._run(self.client.history_all(*args, **kw))

    def create(self, resource: dict[str, Any], **kw: Any) -> WriteResult:
        return self._run(self.client.create(resource, **kw))

    def update(self, resource: dict[str, Any], **kw: Any) -> WriteResult:
        return self._run(self.client.update(resource, **kw))

    def delete(self, resource_type: str, resource_id: str, **kw: Any) -> WriteResult:
        return self._run(self.client.delete(resource_type, resource_id, **kw))

    def batch(self, bundle: dict[str, Any]) -> BatchResult:
        return self._run(self.client.batch(bundle))

    def transaction(self, bundle: dict[str, Any]) -> BatchResult:
        return self._run(self.client.transaction(bundle))

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        try:
            self._run(self.client.aclose())
        finally:
            self._closed = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            if not self._loop.is_running():
                self._loop.close()

    def __enter__(self) -> SyncFhirClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
