"""Terse paths such as ``PID-5.1``, ``PID-3(2).1``, ``OBX(2)-5`` and ``PID-5.1.1``.

Grammar (every number 1-based, as in the HL7 standard)::

    SEG[(occurrence)][-field[(repetition)][.component[.subcomponent]]]

``-`` is accepted in place of ``.`` between field, component and subcomponent (HAPI style).
A field path without ``(repetition)`` means the whole field, all repetitions included; a path
that goes down to a component without one reads the first repetition.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_SEGMENT_PATH = re.compile(
    r"^([A-Za-z][A-Za-z0-9]{2})(?:\((\d+)\))?"
    r"(?:[-.](\d+)(?:\((\d+)\))?(?:[.-](\d+)(?:[.-](\d+))?)?)?$"
)
_FIELD_PATH = re.compile(r"^(\d+)(?:\((\d+)\))?(?:[.-](\d+)(?:[.-](\d+))?)?$")


class FieldPath(NamedTuple):
    """The part of a path inside one segment."""

    field: int | None
    repetition: int | None = None
    component: int | None = None
    subcomponent: int | None = None


class TersePath(NamedTuple):
    segment: str
    occurrence: int
    field: int | None
    repetition: int | None
    component: int | None
    subcomponent: int | None

    @property
    def in_segment(self) -> FieldPath:
        return FieldPath(self.field, self.repetition, self.component, self.subcomponent)


# Paths are few and read millions of times: parse each once.
_path_cache: dict[str, TersePath] = {}
_field_cache: dict[str | int, FieldPath] = {}
_CACHE_LIMIT = 4096


def _number(text: str | None) -> int | None:
    if text is None:
        return None
    value = int(text)
    if value < 1:
        raise ValueError("HL7 path positions start at 1")
    return value


def parse_path(path: str) -> TersePath:
    """Parse a terse path; raises ValueError for a malformed one (a bug in the caller, not the data)."""
    cached = _path_cache.get(path)
    if cached is not None:
        return cached
    match = _SEGMENT_PATH.match(path.strip())
    if match is None:
        raise ValueError(f"not a terse HL7 path: {path!r}")
    seg, occ, field, rep, comp, sub = match.groups()
    parsed = TersePath(seg.upper(), _number(occ) or 1, _number(field), _number(rep), _number(comp), _number(sub))
    if len(_path_cache) >= _CACHE_LIMIT:
        _path_cache.clear()
    _path_cache[path] = parsed
    return parsed


def parse_field_path(path: str | int) -> FieldPath:
    """Parse the in-segment part of a path: ``5``, ``"5.1"``, ``"3(2).1"``, ``"5.1.1"``."""
    cached = _field_cache.get(path)
    if cached is not None:
        return cached
    if isinstance(path, int):
        parsed = FieldPath(_number(str(path)))
    else:
        match = _FIELD_PATH.match(path.strip())
        if match is None:
            raise ValueError(f"not an HL7 field path: {path!r}")
        parsed = FieldPath(*(_number(g) for g in match.groups()))
    if len(_field_cache) >= _CACHE_LIMIT:
        _field_cache.clear()
    _field_cache[path] = parsed
    return parsed
