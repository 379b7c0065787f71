"""Fault injection: make the sandbox fail the way real EHRs fail, on purpose and reproducibly.

Kinds: ``429`` (with or without Retry-After), ``500``, ``503``, ``slow`` (answer after a delay),
``drop`` (close the connection without a response), ``token-expiry`` (every access token dies, so
the request in hand gets a 401) and ``paging-expiry`` (every paging session ends, so the next link
in hand fails). A rule matches on path, method, flavour, bearer token or SMART client id, can let
``after`` matching requests through first, and fires ``count`` times (None: until cleared).

Rules come from the admin API (``POST /_sandbox/faults``), from code (``app.state.faults.add``),
or, for one request, from an ``X-Sandbox-Fault: 503`` header (``429; retry-after=2``,
``slow; delay=0.5``, ``drop``...). Rules naming a ``client_id`` are checked after authentication,
the others before anything else.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from starlette.responses import Response
from starlette.types import Scope, Send

from .outcomes import outcome_response

FAULT_KINDS = ("429", "500", "503", "slow", "drop", "token-expiry", "paging-expiry")
FAULT_HEADER = "x-sandbox-fault"
RAW_SEND_KEY = "holovitals.sandbox.raw_send"  # the server's own send(), stashed by the app for `drop`
_MESSAGES = {
    "429": "Too many requests (injected fault)",
    "500": "Internal server error (injected fault)",
    "503": "Service unavailable (injected fault)",
}


class DropConnection(Exception):
    """Raised below the middleware to ask it to close the connection without answering."""


@dataclass
class FaultRule:
    kind: str
    count: int | None = 1
    after: int = 0
    retry_after: int | None = None
    delay_s: float = 1.0
    path_contains: str | None = None
    flavour: str | None = None
    method: str | None = None
    client_id: str | None = None
    token: str | None = None
    id: str = field(default_factory=lambda: secrets.token_hex(4))
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(FAULT_KINDS)}")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be at least 1 (or null for every request)")
        if self.after < 0 or self.delay_s < 0 or (self.retry_after is not None and self.retry_after < 0):
            raise ValueError("after, delay_s and retry_after cannot be negative")

    @classmethod
    def from_json(cls, data: Any) -> FaultRule:
        if not isinstance(data, dict):
            raise ValueError("a fault is a JSON object")
        allowed = {"kind", "count", "after", "retry_after", "delay_s", "delay", "path_contains", "flavour", "method"}
        allowed |= {"client_id", "token"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        fields = dict(data)
        if "delay" in fields:
            fields["delay_s"] = fields.pop("delay")
        fields["kind"] = str(fields.get("kind", ""))
        try:
            return cls(**fields)
        except TypeError as exc:
            raise ValueError(str(exc)) from None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def active(self) -> bool:
        return self.count is None or self.fired < self.count

    def matches(self, *, path: str, method: str, flavour: str | None, token: str | None, client_id: str | None) -> bool:
        return (
            (self.path_contains is None or self.path_contains in path)
            and (self.method is None or self.method.upper() == method)
            and (self.flavour is None or self.flavour == flavour)
            and (self.token is None or self.token == token)
            and (self.client_id is None or self.client_id == client_id)
        )


def parse_fault_header(value: str) -> FaultRule:
    """`503`, `429; retry-after=2`, `slow; delay=0.5`, `drop`, `token-expiry`, `paging-expiry`."""
    kind, *options = [part.strip() for part in value.split(";")]
    fields: dict[str, Any] = {"kind": kind}
    for option in options:
        name, _, raw = option.partition("=")
        name = name.strip().lower()
        if name == "retry-after":
            fields["retry_after"] = int(raw)
        elif name == "delay":
            fields["delay_s"] = float(raw)
        else:
            raise ValueError(f"unknown {FAULT_HEADER} option {name!r}")
    return FaultRule(**fields)


class Faults:
    """The rules of one sandbox app, and what firing each one does."""

    def __init__(
        self,
        *,
        expire_tokens: Callable[[], None] | None = None,
        expire_paging: Callable[[], object] | None = None,
    ) -> None:
        self.expire_tokens = expire_tokens
        self.expire_paging = expire_paging
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self.fired: dict[str, int] = {}

    def add(self, rule: FaultRule | None = None, /, **fields: Any) -> FaultRule:
        """`faults.add(kind="429", count=3, retry_after=2)` or `faults.add(FaultRule(...))`."""
        rule = rule or FaultRule(**fields)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def one_off(self, rule: FaultRule) -> FaultRule:
        """Count a header-requested fault that fires right away."""
        with self._lock:
            rule.fired += 1
            self.fired[rule.kind] = self.fired.get(rule.kind, 0) + 1
        return rule

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return [r for r in self._rules if r.active]

    def take(
        self,
        *,
        path: str,
        method: str,
        flavour: str | None,
        token: str | None,
        client_id: str | None = None,
        after_auth: bool = False,
    ) -> FaultRule | None:
        """The rule that fires for this request, if any (counting it). Client-id rules wait for auth."""
        if not self._rules:
            return None
        with self._lock:
            for rule in self._rules:
                if not rule.active or (rule.client_id is not None) != after_auth:
                    continue
                if not rule.matches(path=path, method=method, flavour=flavour, token=token, client_id=client_id):
                    continue
                rule.seen += 1
                if rule.seen <= rule.after:
                    continue
                rule.fired += 1
                self.fired[rule.kind] = self.fired.get(rule.kind, 0) + 1
                return rule
        return None

    async def perform(self, rule: FaultRule) -> Response | None:
        """Do what the rule says: a response to send instead, or None to go on (after any side effect).

        ``drop`` raises DropConnection for the middleware to act on.
        """
        if rule.kind in _MESSAGES:
            headers = {"Retry-After": str(rule.retry_after)} if rule.kind == "429" and rule.retry_after else {}
            return outcome_response(int(rule.kind), _MESSAGES[rule.kind], headers=headers)
        if rule.kind == "slow":
            await asyncio.sleep(rule.delay_s)
        elif rule.kind == "drop":
            raise DropConnection
        elif rule.kind == "token-expiry" and self.expire_tokens is not None:
            self.expire_tokens()
        elif rule.kind == "paging-expiry" and self.expire_paging is not None:
            self.expire_paging()
        return None


async def drop_connection(scope: Scope, send: Send) -> None:
    """Close the TCP connection without a byte of response, as a crashed proxy or EHR does.

    Under uvicorn the server's own send() is a bound method of its request cycle, which holds the
    transport; closing it is the only way an ASGI app can hang up. Elsewhere (in-process test
    clients) we send headers promising a body that never comes, which clients also see as a
    protocol error.
    """
    raw_send = scope.get(RAW_SEND_KEY)
    transport = getattr(getattr(raw_send, "__self__", None), "transport", None)
    if transport is not None and hasattr(transport, "close"):
        transport.close()
        for _ in range(3):  # let the server notice the disconnect before we return
            await asyncio.sleep(0)
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1024")]})
