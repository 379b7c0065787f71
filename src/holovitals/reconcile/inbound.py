"""Reconcile incoming records against the last synced copy.

First step: the store's version guard decides (newer wins, replays change nothing). Records the user
changed locally are detected here once outbound sync exists; the seam returns what to store and what
became a conflict, so the runner never has to know how the decision was made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from holovitals.store.resources import IncomingResource


@dataclass
class Reconciled:
    accept: list[IncomingResource] = field(default_factory=list)
    conflicts: list[IncomingResource] = field(default_factory=list)


def reconcile(items: Sequence[IncomingResource]) -> Reconciled:
    return Reconciled(accept=list(items))
