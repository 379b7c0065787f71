"""Per-flavour Bulk Data rules, as data: which kick-off levels exist and how concurrency is refused.

Real servers differ in ways a bulk client must survive, so the sandbox reproduces them instead of
being the one lenient server a client was only ever tested against (see ehr-vendors.md, bulk row).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LEVELS = frozenset({"system", "patient", "group"})


@dataclass(frozen=True)
class BulkPolicy:
    """How one flavour answers `$export`.

    - ``levels``: kick-off levels offered; others answer 400 `not-supported`.
    - ``one_per_client``: a client may hold one export at a time; a second kick-off gets 429 until
      the first is DELETEd. A *finished* export still counts: Epic tells clients to delete it.
    - ``refuse_identical``: an identical request from the same client while one is still running
      gets 429 (eClinicalWorks).
    - ``retry_after``: seconds sent in Retry-After while polling and with a 429; None = exporter default.
    - ``supported_types``: types this flavour exports; a listed `_type` outside it becomes an
      `error` line in the manifest rather than a failed kick-off. None = every type in the store.
    """

    levels: frozenset[str] = LEVELS
    one_per_client: bool = False
    refuse_identical: bool = False
    retry_after: int | None = None
    supported_types: frozenset[str] | None = None
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", frozenset(self.levels))
        if not self.levels <= LEVELS:
            raise ValueError(f"unknown bulk levels: {sorted(self.levels - LEVELS)}")
        if self.supported_types is not None:
            object.__setattr__(self, "supported_types", frozenset(self.supported_types))

    @classmethod
    def coerce(cls, value: BulkPolicy | Mapping[str, Any] | None) -> BulkPolicy | None:
        """Accept a policy or a plain dict (as read from a flavour's YAML/JSON profile)."""
        if value is None or isinstance(value, BulkPolicy):
            return value
        return cls(**dict(value))


# Facts from the shared ehr-vendors.md (bulk row); keys are `flavours.Flavour.key`.
VENDOR_BULK_POLICIES: dict[str, BulkPolicy] = {
    "plain": BulkPolicy(notes="reference behaviour: every level, no concurrency limits"),
    "epic": BulkPolicy(
        levels=frozenset({"group"}), one_per_client=True, notes="Group only; one export per client until DELETE"
    ),
    "cerner": BulkPolicy(levels=frozenset({"group", "patient"}), notes="Group and Patient (v1.0.1)"),
    "meditech": BulkPolicy(levels=frozenset({"group", "patient"})),
    "athena": BulkPolicy(levels=frozenset({"group"})),
    "ecw": BulkPolicy(levels=frozenset({"group"}), refuse_identical=True, notes="identical in-flight requests refused"),
    "nextgen": BulkPolicy(levels=frozenset({"group"})),
    "veradigm": BulkPolicy(levels=frozenset({"group"})),
}
