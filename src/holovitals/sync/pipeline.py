"""One page through transform -> validate -> reconcile -> store, in one transaction with its checkpoint."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from holovitals.reconcile.inbound import reconcile
from holovitals.store.resources import IncomingResource, InvalidResource, UpsertResult, upsert_resources
from holovitals.transform.pipeline import Transformer
from holovitals.transform.validate import ValidationMode, validate


@dataclass
class RecordError:
    resource_type: str | None
    resource_id: str | None
    message: str


@dataclass
class PageOutcome:
    result: UpsertResult = field(default_factory=UpsertResult)
    errors: list[RecordError] = field(default_factory=list)
    filtered: int = 0
    conflicts: int = 0
    stored: list[IncomingResource] = field(default_factory=list)


class Pipeline:
    """Per-record failures are collected, never raised: the rest of the page is still stored."""

    def __init__(self, *, mode: ValidationMode = ValidationMode.STRUCTURAL, transformer: Transformer | None = None):
        self.mode = mode
        self.transformer = transformer or Transformer()

    def prepare(self, resources: Sequence[Any], texts: Sequence[str] | None = None) -> PageOutcome:
        """``texts``: the JSON each resource arrived as (an NDJSON line); kept as sent when no transform
        changed the resource, which also saves serialising it again."""
        out = PageOutcome()
        items: list[IncomingResource] = []
        for n, resource in enumerate(resources):
            rtype = resource.get("resourceType") if isinstance(resource, dict) else None
            rid = resource.get("id") if isinstance(resource, dict) else None
            transformed = self.transformer(resource) if isinstance(resource, dict) else resource
            if transformed is None:
                out.filtered += 1
                continue
            issues = validate(transformed, self.mode)
            if issues:
                out.errors.append(RecordError(rtype, rid if isinstance(rid, str) else None, "; ".join(issues)))
                continue
            try:
                if texts is not None and transformed is resource:
                    text = texts[n]
                    items.append(IncomingResource.from_parts(transformed, text, text.encode()))
                else:
                    items.append(IncomingResource.from_dict(transformed))
            except InvalidResource as exc:
                out.errors.append(RecordError(rtype, rid if isinstance(rid, str) else None, str(exc)))
        decided = reconcile(items)
        out.conflicts = len(decided.conflicts)
        out.stored = decided.accept
        return out

    def store(self, session: Session, connection_id: str, outcome: PageOutcome, *, source: str) -> PageOutcome:
        outcome.result = upsert_resources(session, connection_id, outcome.stored, source=source)
        return outcome
