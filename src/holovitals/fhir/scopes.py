"""SMART scopes, v1 (``patient/Observation.read``) and v2 (``patient/Observation.rs?category=...``).

Vendors mix them: Epic and Veradigm accept both, NextGen Enterprise only ``patient/*.*``, and a
server may grant something different from what was asked (a v2 server answering v1, or fewer
types), so the client compares by meaning, never by string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

ORDER = "cruds"
V1_TO_V2 = {"read": "rs", "write": "cud", "*": "cruds"}
V2_TO_V1 = {v: k for k, v in V1_TO_V2.items()}
CONTEXTS = ("patient", "user", "system")

# interaction name -> permission letter
INTERACTIONS = {
    "create": "c",
    "read": "r",
    "vread": "r",
    "history-instance": "r",
    "update": "u",
    "patch": "u",
    "delete": "d",
    "search": "s",
    "search-type": "s",
    "history-type": "s",
    **{letter: letter for letter in ORDER},
}

_SCOPE = re.compile(r"^(patient|user|system)/([A-Za-z]+|\*)\.([A-Za-z*]+)(\?[^\s]*)?$")
_V2_PERMS = re.compile(r"^c?r?u?d?s?$")


class ScopeError(ValueError):
    """A scope that looks like a resource scope but is not valid in v1 or v2."""


@dataclass(frozen=True)
class ResourceScope:
    """One resource scope; ``permissions`` are v2 letters in ``cruds`` order whatever the syntax was."""

    context: str
    resource_type: str  # a type or "*"
    permissions: str
    query: str | None = None
    version: int = 2

    def v2(self) -> str:
        return f"{self.context}/{self.resource_type}.{self.permissions}" + (f"?{self.query}" if self.query else "")

    def v1(self) -> str | None:
        """The v1 spelling, or None when v1 cannot say it (``.r`` alone, ``.cu``, a query)."""
        word = V2_TO_V1.get(self.permissions)
        if word is None or self.query:
            return None
        return f"{self.context}/{self.resource_type}.{word}"

    def __str__(self) -> str:
        if self.version == 1:
            return self.v1() or self.v2()
        return self.v2()

    def allows(self, resource_type: str, interaction: str, *, context: str | None = None) -> bool:
        """Whether this scope permits the interaction on the type (a query-limited scope permits some)."""
        letter = INTERACTIONS.get(interaction)
        if letter is None:
            raise ScopeError(f"unknown interaction {interaction!r}")
        if context is not None and self.context != context:
            return False
        return self.resource_type in ("*", resource_type) and letter in self.permissions

    def covers(self, other: ResourceScope) -> bool:
        """Whether everything ``other`` grants is granted by this scope."""
        if self.context != other.context or self.resource_type not in ("*", other.resource_type):
            return False
        if not set(other.permissions) <= set(self.permissions):
            return False
        return self.query is None or self.query == other.query


def parse_scope(text: str) -> ResourceScope | None:
    """A resource scope, or None for the others (``openid``, ``launch/patient``, ``offline_access``...).

    Raises :class:`ScopeError` for a resource scope with bad permissions (``.rcs``, ``.sr``, ``.foo``).
    """
    text = text.strip()
    if "/" not in text or text.split("/", 1)[0] not in CONTEXTS:
        return None
    match = _SCOPE.match(text)
    if not match:
        raise ScopeError(f"not a valid SMART scope: {text!r}")
    context, rtype, perms, query = match.groups()
    query = query[1:] if query else None
    if perms in V1_TO_V2:
        if query:
            raise ScopeError(f"v1 scopes cannot carry a query: {text!r}")
        return ResourceScope(context, rtype, V1_TO_V2[perms], None, version=1)
    if not perms or not _V2_PERMS.match(perms):
        raise ScopeError(f"permissions must be a subset of c, r, u, d, s in that order: {text!r}")
    return ResourceScope(context, rtype, perms, query or None, version=2)


def split_scopes(scopes: str | Iterable[str] | None) -> list[str]:
    """Space-separated string or iterable -> list, order kept, blanks and repeats dropped."""
    if scopes is None:
        return []
    items = scopes.split() if isinstance(scopes, str) else [s for part in scopes for s in str(part).split()]
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


def to_v2(scope: str) -> str:
    """``patient/Observation.read`` -> ``patient/Observation.rs``; other scopes unchanged."""
    parsed = parse_scope(scope)
    return parsed.v2() if parsed else scope.strip()


def to_v1(scope: str) -> str | None:
    """``patient/Observation.rs`` -> ``patient/Observation.read``; None when v1 cannot express it."""
    parsed = parse_scope(scope)
    return parsed.v1() if parsed else scope.strip()


def scopes_to_v2(scopes: str | Iterable[str]) -> list[str]:
    return split_scopes(to_v2(s) for s in split_scopes(scopes))


def scopes_to_v1(scopes: str | Iterable[str]) -> list[str]:
    """Every scope in v1; raises :class:`ScopeError` naming the first one v1 cannot express."""
    out = []
    for scope in split_scopes(scopes):
        v1 = to_v1(scope)
        if v1 is None:
            raise ScopeError(f"{scope!r} has no SMART v1 equivalent")
        out.append(v1)
    return split_scopes(out)


def scope_allows(
    scopes: str | Iterable[str], resource_type: str, interaction: str, *, context: str | None = None
) -> bool:
    """Whether any of the scopes permits ``interaction`` (``read``, ``search``, ``c``...) on the type."""
    for scope in split_scopes(scopes):
        try:
            parsed = parse_scope(scope)
        except ScopeError:
            continue
        if parsed and parsed.allows(resource_type, interaction, context=context):
            return True
    return False


def scope_covered(granted: str | Iterable[str], requested: str) -> bool:
    """Whether a requested scope is covered by what was granted (by meaning: v1 and v2 mix)."""
    try:
        wanted = parse_scope(requested)
    except ScopeError:
        wanted = None
    granted_list = split_scopes(granted)
    if wanted is None:
        return requested.strip() in granted_list
    for scope in granted_list:
        try:
            have = parse_scope(scope)
        except ScopeError:
            continue
        if have is not None and have.covers(wanted):
            return True
    return False


def missing_scopes(requested: str | Iterable[str], granted: str | Iterable[str]) -> list[str]:
    """Requested scopes the grant does not cover (the user unticked them, or the server narrowed them)."""
    granted_list = split_scopes(granted)
    return [s for s in split_scopes(requested) if not scope_covered(granted_list, s)]
