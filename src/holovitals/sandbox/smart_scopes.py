"""SMART scope grammar (v1 and v2) as pure functions: parse, grant, and check an interaction.

Kept free of I/O so the equivalences clients rely on (``.read`` == ``.rs``, ``.write`` == ``.cud``,
``*`` == every type) can be property-tested, and so the bulk and REST layers can ask the same
questions the token checks ask.

The v2 query suffix (``patient/Observation.rs?category=laboratory``) is parsed and carried through
granting, but not enforced: the sandbox treats it as the unfiltered scope. Enforcing it would need
the search parameters, which :meth:`SmartAuthServer.authenticate` does not receive.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

CONTEXTS = ("patient", "user", "system")
PERMISSION_ORDER = "cruds"
V1_PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset("rs"),
    "write": frozenset("cud"),
    "*": frozenset("cruds"),
}
NON_RESOURCE_SCOPES = frozenset({"openid", "fhirUser", "launch", "launch/patient", "offline_access", "online_access"})

# Which permission letters an interaction needs. export reads in bulk, so it needs both r and s.
INTERACTION_PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset("r"),
    "vread": frozenset("r"),
    "history": frozenset("r"),
    "everything": frozenset("r"),
    "search": frozenset("s"),
    "create": frozenset("c"),
    "update": frozenset("u"),
    "delete": frozenset("d"),
    "export": frozenset("rs"),
}
READ_INTERACTIONS = frozenset({"read", "vread", "history", "search"})

# Types outside the Patient compartment: a patient-scoped token may read them without naming a
# patient (a synced Observation points at its Practitioner and Organization; clients follow those).
NON_COMPARTMENT_TYPES = frozenset(
    {
        "Practitioner", "PractitionerRole", "Organization", "Location", "Medication", "Endpoint",
        "HealthcareService", "Substance", "ValueSet", "CodeSystem", "ConceptMap", "StructureDefinition",
        "Questionnaire", "SearchParameter", "OperationDefinition", "CapabilityStatement",
    }
)  # fmt: skip

_SCOPE_RE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]*)\.([a-z]+|\*)(?:\?(\S+))?$")


@dataclass(frozen=True)
class ResourceScope:
    """One ``context/Type.permissions[?query]`` scope, normalised to a set of v2 letters."""

    context: str
    resource_type: str
    permissions: frozenset[str]
    query: str = ""

    def applies_to(self, resource_type: str) -> bool:
        """A wildcard scope covers every type; a typed scope never covers the wildcard ``*``."""
        return self.resource_type in ("*", resource_type)

    def to_v2(self) -> str:
        letters = "".join(c for c in PERMISSION_ORDER if c in self.permissions)
        text = f"{self.context}/{self.resource_type}.{letters}"
        return f"{text}?{self.query}" if self.query else text


def parse_permissions(text: str) -> frozenset[str] | None:
    """v1 word (read, write, *) or v2 letters: a non-empty subsequence of ``cruds`` in that order."""
    if text in V1_PERMISSIONS:
        return V1_PERMISSIONS[text]
    if not text or "".join(c for c in PERMISSION_ORDER if c in text) != text:
        return None
    return frozenset(text)


def parse_resource_scope(text: str) -> ResourceScope | None:
    """The resource scope ``text`` names, or None for anything else (malformed, launch, openid...)."""
    match = _SCOPE_RE.match(text)
    if match is None:
        return None
    context, resource_type, perms, query = match.groups()
    permissions = parse_permissions(perms)
    if permissions is None:
        return None
    return ResourceScope(context, resource_type, permissions, query or "")


def is_recognised(text: str) -> bool:
    return text in NON_RESOURCE_SCOPES or parse_resource_scope(text) is not None


def split_scope(scope: str | None) -> list[str]:
    """Space-separated scope parameter to a de-duplicated list, order kept."""
    return list(dict.fromkeys((scope or "").split()))


def intersect(requested: ResourceScope, allowed: ResourceScope) -> ResourceScope | None:
    """The part of ``requested`` that ``allowed`` also covers, or None when they share nothing."""
    if requested.context != allowed.context:
        return None
    if allowed.resource_type == "*":
        resource_type = requested.resource_type
    elif requested.resource_type in ("*", allowed.resource_type):
        resource_type = allowed.resource_type
    else:
        return None
    permissions = requested.permissions & allowed.permissions
    if not permissions:
        return None
    return ResourceScope(requested.context, resource_type, permissions, requested.query or allowed.query)


def grant_scopes(requested: Iterable[str], allowed: Iterable[str]) -> list[str]:
    """Requested scopes narrowed to what ``allowed`` permits; unknown scopes are dropped.

    A requested scope that survives whole keeps its spelling (a v1 client sees its v1 scopes back);
    a narrowed one comes back in v2 form, which is how the client learns what it really got.
    """
    allowed = list(allowed)
    allowed_plain = {s for s in allowed if s in NON_RESOURCE_SCOPES}
    allowed_resource = [r for r in (parse_resource_scope(s) for s in allowed) if r is not None]
    granted: list[str] = []
    for text in split_scope(" ".join(requested)):
        if text in NON_RESOURCE_SCOPES:
            if text in allowed_plain:
                granted.append(text)
            continue
        wanted = parse_resource_scope(text)
        if wanted is None:
            continue
        merged: dict[tuple[str, str, str], set[str]] = {}
        for candidate in allowed_resource:
            part = intersect(wanted, candidate)
            if part is not None:
                merged.setdefault((part.context, part.resource_type, part.query), set()).update(part.permissions)
        pieces = [ResourceScope(c, t, frozenset(letters), q) for (c, t, q), letters in merged.items()]
        if wanted in pieces:
            granted.append(text)
            continue
        granted.extend(p.to_v2() for p in pieces if not any(subsumes(o, p) for o in pieces if o != p))
    return list(dict.fromkeys(granted))


def subsumes(outer: ResourceScope, inner: ResourceScope) -> bool:
    """``outer`` allows everything ``inner`` does (an unfiltered scope subsumes a filtered one)."""
    return (
        outer.context == inner.context
        and outer.applies_to(inner.resource_type)
        and inner.permissions <= outer.permissions
        and outer.query in ("", inner.query)
    )


def permitting_contexts(scopes: Iterable[str], resource_type: str, interaction: str) -> set[str]:
    """The contexts (patient, user, system) whose scopes, taken together, allow the interaction."""
    needed = INTERACTION_PERMISSIONS[interaction]
    held: dict[str, set[str]] = {}
    for text in scopes:
        scope = parse_resource_scope(text)
        if scope is not None and scope.applies_to(resource_type):
            held.setdefault(scope.context, set()).update(scope.permissions)
    return {context for context, letters in held.items() if needed <= letters}


def covers_all(requested: Iterable[str], granted: Iterable[str]) -> bool:
    """True when every requested scope is within ``granted`` (used to refuse widening on refresh)."""
    granted = list(granted)
    for text in split_scope(" ".join(requested)):
        if text in NON_RESOURCE_SCOPES:
            if text not in granted:
                return False
            continue
        wanted = parse_resource_scope(text)
        if wanted is None:
            return False
        held: set[str] = set()
        for other in granted:
            scope = parse_resource_scope(other)
            if scope is not None and scope.context == wanted.context and scope.applies_to(wanted.resource_type):
                held |= scope.permissions
        if not wanted.permissions <= held:
            return False
    return True
