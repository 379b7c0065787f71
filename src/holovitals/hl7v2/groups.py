"""Segment groups: the tree of a message (orders and their observations, patients and visits).

The v2 -> FHIR converter iterates this tree instead of guessing from flat segment order, e.g.::

    tree = group_message(msg)                       # root group named after the structure
    for order in tree.find_groups("ORDER_OBSERVATION"):
        obr = order.segment("OBR")
        for obs in order.groups("OBSERVATION"):
            obx, notes = obs.segment("OBX"), obs.segments("NTE")

Matching is greedy and forgiving, as real feeds need: Z-segments and segments unknown to the
structure join the group they follow, a missing required segment is skipped, and a segment out
of place is kept (at the top level) and matching resumes after it. Each of those is also
reported as an issue (code 100) so strict mode can reject what lenient mode reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cache

from .errors import HL7Issue, HL7Location
from .message import Message, Segment
from .structures import DEFAULT_STRUCTURE, STRUCTURES, structure_for


@dataclass(frozen=True)
class SegmentRule:
    names: frozenset[str]
    required: bool = True
    repeating: bool = False

    @property
    def label(self) -> str:
        return "|".join(sorted(self.names))

    @property
    def first(self) -> frozenset[str]:
        return self.names


@dataclass(frozen=True)
class GroupRule:
    name: str
    children: tuple[SegmentRule | GroupRule, ...]
    required: bool = True
    repeating: bool = False
    first: frozenset[str] = frozenset()
    known: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        return self.name


Rule = SegmentRule | GroupRule


@dataclass
class Group:
    """A segment group: its segments and subgroups in message order."""

    name: str
    items: list[Segment | Group] = field(default_factory=list)

    def segment(self, name: str) -> Segment | None:
        """The first segment with that name directly in this group."""
        return next((s for s in self.items if isinstance(s, Segment) and s.name == name), None)

    def segments(self, name: str | None = None) -> list[Segment]:
        return [s for s in self.items if isinstance(s, Segment) and (name is None or s.name == name)]

    def group(self, name: str) -> Group | None:
        return next((g for g in self.items if isinstance(g, Group) and g.name == name), None)

    def groups(self, name: str | None = None) -> list[Group]:
        return [g for g in self.items if isinstance(g, Group) and (name is None or g.name == name)]

    def find_groups(self, name: str) -> list[Group]:
        """Every group with that name at any depth, in message order."""
        found: list[Group] = []
        for item in self.items:
            if isinstance(item, Group):
                if item.name == name:
                    found.append(item)
                found.extend(item.find_groups(name))
        return found

    def all_segments(self) -> list[Segment]:
        """Every segment in this group and its subgroups, in message order."""
        out: list[Segment] = []
        for item in self.items:
            if isinstance(item, Group):
                out.extend(item.all_segments())
            else:
                out.append(item)
        return out

    def __iter__(self) -> Iterator[Segment | Group]:
        return iter(self.items)

    def __repr__(self) -> str:
        inner = " ".join(i.name if isinstance(i, Segment) else repr(i) for i in self.items)
        return f"{self.name}({inner})"


# -- structure definitions -------------------------------------------------------------------

_SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_TOKEN = re.compile(r"\s*(\[|\]|\{|\}|\)|[A-Z][A-Z0-9_]*\(|[A-Z0-9]{3}(?:\|[A-Z0-9]{3})*)")


def compile_structure(name: str, definition: str) -> GroupRule:
    """Turn the notation of ``structures.py`` into rules."""
    tokens = _TOKEN.findall(definition)
    if "".join(tokens).replace(" ", "") != definition.replace(" ", ""):
        raise ValueError(f"cannot read structure {name}")
    children, pos = _parse_children(tokens, 0, name)
    if pos != len(tokens):
        raise ValueError(f"unbalanced structure {name}")
    return _group_rule(name, tuple(children))


def _parse_children(tokens: list[str], pos: int, name: str) -> tuple[list[Rule], int]:
    children: list[Rule] = []
    while pos < len(tokens) and tokens[pos] not in ("]", "}", ")"):
        child, pos = _parse_element(tokens, pos, name)
        children.append(child)
    return children, pos


def _parse_element(tokens: list[str], pos: int, name: str) -> tuple[Rule, int]:
    token = tokens[pos]
    if token in ("[", "{"):
        inner, pos = _parse_element(tokens, pos + 1, name)
        closing = "]" if token == "[" else "}"
        if pos >= len(tokens) or tokens[pos] != closing:
            raise ValueError(f"unbalanced {token} in structure {name}")
        flag = {"required": False} if token == "[" else {"repeating": True}
        return replace(inner, **flag), pos + 1
    if token.endswith("("):
        children, pos = _parse_children(tokens, pos + 1, name)
        if pos >= len(tokens) or tokens[pos] != ")":
            raise ValueError(f"unbalanced group in structure {name}")
        return _group_rule(token[:-1], tuple(children)), pos + 1
    return SegmentRule(frozenset(token.split("|"))), pos + 1


def _group_rule(name: str, children: tuple[Rule, ...]) -> GroupRule:
    first: set[str] = set()
    for child in children:
        first |= child.first
        if child.required:
            break
    known: set[str] = set()
    for child in children:
        known |= child.names if isinstance(child, SegmentRule) else child.known
    return GroupRule(name, children, first=frozenset(first), known=frozenset(known))


@cache
def structure_rule(structure: str) -> GroupRule | None:
    definition = STRUCTURES.get(structure)
    return compile_structure(structure, definition) if definition else None


# -- matching --------------------------------------------------------------------------------


class _Matcher:
    def __init__(self, segments: list[Segment], root: GroupRule) -> None:
        self.segments = segments
        self.known = root.known
        self.pos = 0
        self.issues: list[HL7Issue] = []
        seen: dict[str, int] = {}
        self.occurrence: list[int] = []
        for segment in segments:
            seen[segment.name] = seen.get(segment.name, 0) + 1
            self.occurrence.append(seen[segment.name])

    def location(self, index: int) -> HL7Location:
        return HL7Location(self.segments[index].name, self.occurrence[index])

    def match(self, rule: GroupRule, node: Group, start: int = 0, report_missing: bool = True) -> Group:
        segments = self.segments
        known = self.known
        total = len(segments)
        for child in rule.children[start:]:
            count = 0
            while True:
                # Checked here, not only in _absorb_unknown: a structure has dozens of optional
                # children, and a call for each cost a tenth of matching (16.8 -> 15.2 us an ADT^A01).
                if self.pos < total and segments[self.pos].name not in known:
                    self._absorb_unknown(node)
                if self.pos >= total:
                    break
                name = segments[self.pos].name
                if name not in child.first:
                    break
                if isinstance(child, SegmentRule):
                    node.items.append(segments[self.pos])
                    self.pos += 1
                else:
                    node.items.append(self.match(child, Group(child.name)))
                count += 1
                if not child.repeating:
                    break
            if count == 0 and child.required and report_missing:
                self._missing(child, rule)
        return node

    def _absorb_unknown(self, node: Group) -> None:
        while self.pos < len(self.segments) and self.segments[self.pos].name not in self.known:
            segment = self.segments[self.pos]
            # Z-segments are the sanctioned extension point; a line that is no segment at all
            # is reported by the validator by position (its "name" may be patient text).
            if not segment.name.startswith("Z") and _SEGMENT_ID.match(segment.name):
                self.issues.append(
                    HL7Issue(
                        100, f"{segment.name} segment is not part of this message structure", self.location(self.pos)
                    )
                )
            node.items.append(segment)
            self.pos += 1

    def _missing(self, child: Rule, parent: GroupRule) -> None:
        if isinstance(child, SegmentRule):
            segment = sorted(child.names)[0]
            text = f"required {child.label} segment missing"
        else:
            segment = _first_required_segment(child)
            text = f"required {child.name} group missing ({segment} segment)"
        if parent.name not in STRUCTURES:
            text += f" in {parent.name}"
        self.issues.append(HL7Issue(100, text, HL7Location(segment, None)))


def _first_required_segment(rule: GroupRule) -> str:
    for child in rule.children:
        if child.required:
            if isinstance(child, SegmentRule):
                return sorted(child.names)[0]
            return _first_required_segment(child)
    return sorted(rule.first)[0] if rule.first else rule.name


def structure_of(message: Message) -> str | None:
    """The structure to read a message with: MSH-9.3 when we know it, else the standard one for
    type and trigger, else the usual one for the type (senders get MSH-9.3 wrong often enough)."""
    sent = message.get("MSH-9.3")
    if sent in STRUCTURES:
        return sent
    message_type = message.message_type or ""
    return structure_for(message_type, message.trigger_event or "") or DEFAULT_STRUCTURE.get(message_type)


def match_structure(message: Message, structure: str | None = None) -> tuple[Group, list[HL7Issue]]:
    """Group a message and report every deviation from its structure (for strict validation)."""
    structure_id = structure or structure_of(message)
    rule = structure_rule(structure_id) if structure_id else None
    segments = message.segments()
    if rule is None:
        return Group(structure_id or "MESSAGE", list(segments)), []
    matcher = _Matcher(segments, rule)
    root = matcher.match(rule, Group(rule.name))
    after_stray = False
    while matcher.pos < len(segments):
        before = matcher.pos
        stray = segments[matcher.pos]
        # Resume at the first part of the structure this segment can start (skipping MSH), so
        # one misplaced segment does not flatten everything after it.
        resume = next((i for i, c in enumerate(rule.children) if i and stray.name in c.first), None)
        if resume is None or not after_stray:
            # Right after a segment we could not place, the next one is only "out of sequence"
            # because of it: report the culprit, not its neighbour.
            matcher.issues.append(
                HL7Issue(100, f"{stray.name} segment is out of sequence", matcher.location(matcher.pos))
            )
        if resume is not None:
            matcher.match(rule, root, start=resume, report_missing=False)
        after_stray = matcher.pos == before
        if after_stray:
            root.items.append(stray)
            matcher.pos += 1
    return root, matcher.issues


def group_message(message: Message, structure: str | None = None) -> Group:
    """The segment-group tree of a message.

    The structure comes from MSH-9.3, else from type and trigger, else the usual structure of
    the type; a message of another type comes back as one flat group.
    """
    return match_structure(message, structure)[0]
