"""Differential test: our parser and python-hl7 read every corpus message the same way.

python-hl7 is the oracle for structure: every segment, field, repetition, component and
subcomponent must agree, read through our public terse-path API. python-hl7 splits segments on
CR only, so it is fed our segments joined with CR (that also covers the LF and CRLF files).
"""

from __future__ import annotations

import re

import hl7
import pytest

from holovitals.hl7v2 import Message, Segment, parse

Tree = list[list[list[str]]]


def python_hl7_tree(field: object) -> Tree:
    """A python-hl7 field as repetitions -> components -> subcomponents."""
    if isinstance(field, str):
        return [[[field]]]
    items = list(field)  # type: ignore[call-overload]
    if len(items) == 1 and isinstance(items[0], str):
        return [[[items[0]]]]
    reps: Tree = []
    for rep in items:
        if isinstance(rep, str):
            reps.append([[rep]])
            continue
        parts = list(rep)
        if len(parts) == 1 and isinstance(parts[0], str):
            reps.append([[parts[0]]])
        else:
            reps.append([[c] if isinstance(c, str) else [str(s) for s in c] for c in parts])
    return reps


def our_tree(segment: Segment, field: int) -> Tree:
    """The same tree, read only through terse paths until they say None."""
    reps: Tree = []
    r = 1
    while segment.get(f"{field}({r})") is not None:
        comps: list[list[str]] = []
        c = 1
        while segment.get(f"{field}({r}).{c}") is not None:
            subs: list[str] = []
            s = 1
            while (value := segment.get(f"{field}({r}).{c}.{s}")) is not None:
                subs.append(value)
                s += 1
            comps.append(subs)
            c += 1
        reps.append(comps)
        r += 1
    return reps


def python_hl7_message(ours: Message) -> hl7.Message:
    return hl7.parse("\r".join(s.raw for s in ours))


def test_segment_and_field_counts_agree_with_python_hl7(corpus_text: str) -> None:
    ours = parse(corpus_text)
    theirs = python_hl7_message(ours)
    assert len(ours) == len(theirs)
    for our_segment, their_segment in zip(ours, theirs, strict=True):
        assert our_segment.name == str(their_segment[0])
        assert len(our_segment.fields) == len(their_segment)


def test_every_field_repetition_component_and_subcomponent_agrees_with_python_hl7(corpus_text: str) -> None:
    ours = parse(corpus_text)
    theirs = python_hl7_message(ours)
    for our_segment, their_segment in zip(ours, theirs, strict=True):
        for number in range(1, len(their_segment)):
            assert our_tree(our_segment, number) == python_hl7_tree(their_segment[number]), (
                f"{our_segment.name}-{number}"
            )


# Escape sequences both libraries decode the same way. Elsewhere they differ on purpose:
# python-hl7 turns \H\ and \N\ into "_", decodes \X..\ byte by byte as Latin-1 and drops
# sequences it does not know; we drop highlighting, decode hex as UTF-8 and keep unknown text.
_SHARED_SEQUENCE = re.compile(r"^(?:[FSTRE]|\.br|X(?:[0-7][0-9A-Fa-f])+)$")


def _comparable(raw: str, esc: str) -> bool:
    if raw == '""':
        return False  # we read the HL7 null as "", python-hl7 keeps the quotes
    pieces = raw.split(esc)
    if len(pieces) % 2 == 0:
        return False  # an unterminated sequence
    return all(_SHARED_SEQUENCE.match(seq) for seq in pieces[1::2])


def test_unescaped_values_agree_with_python_hl7(corpus_text: str) -> None:
    ours = parse(corpus_text)
    theirs = python_hl7_message(ours)
    esc = ours.delimiters.escape
    compared = 0
    for our_segment, their_segment in zip(ours, theirs, strict=True):
        if our_segment.name == "MSH":
            continue  # MSH-2 is the encoding characters, never unescaped
        for number in range(1, len(their_segment)):
            tree = python_hl7_tree(their_segment[number])
            for r, rep in enumerate(tree, start=1):
                for c, comp in enumerate(rep, start=1):
                    for s, leaf in enumerate(comp, start=1):
                        if not _comparable(leaf, esc):
                            continue
                        # \.br\ is a line break: python-hl7 writes CR, we write LF.
                        expected = theirs.unescape(leaf).replace("\r", "\n") if esc in leaf else leaf
                        if "\\X0D\\" in leaf:
                            expected = theirs.unescape(leaf)
                        assert our_segment.value(f"{number}({r}).{c}.{s}") == expected
                        compared += 1
    assert compared > 0


@pytest.mark.parametrize(
    "leaf",
    [r"A\F\B", r"x\S\y\T\z", r"one\R\two", r"back\E\slash", r"line\.br\next", r"hex\X41\\X42\ end"],
)
def test_escape_sequences_decode_like_python_hl7(leaf: str) -> None:
    theirs = hl7.parse("MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rZZZ|" + leaf)
    ours = parse("MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rZZZ|" + leaf)
    assert ours.value("ZZZ-1") == theirs.unescape(leaf).replace("\r", "\n")
