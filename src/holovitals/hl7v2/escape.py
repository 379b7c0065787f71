"""HL7 v2 escape sequences (chapter 2.7): encode values for writing, decode raw text for reading.

Parsing never unescapes: the raw text is kept so a message round-trips byte for byte, and values
are decoded only when asked for (``Message.value``, ``unescape``).
"""

from __future__ import annotations

from functools import lru_cache

from .delimiters import DEFAULT_DELIMITERS, Delimiters

#: Formatting commands (FT data type) and what they become in plain text.
_FORMATTING = {".br": "\n", ".sp": "\n", ".ce": "\n", ".sk": " ", ".fi": "", ".nf": "", ".in": "", ".ti": ""}


@lru_cache(maxsize=32)
def _escape_table(delimiters: Delimiters) -> dict[int, str]:
    esc = delimiters.escape
    table: dict[int, str] = {}
    # Control characters would break MLLP framing (0x0B, 0x1C) or segment splitting (CR), so they
    # travel as hex; a newline is the one that has a readable HL7 spelling.
    for code in range(0x20):
        if code != 0x09:
            table[code] = f"{esc}X{code:02X}{esc}"
    table[0x0A] = f"{esc}.br{esc}"
    table[0x7F] = f"{esc}X7F{esc}"
    table[ord(delimiters.field)] = f"{esc}F{esc}"
    table[ord(delimiters.component)] = f"{esc}S{esc}"
    table[ord(delimiters.repetition)] = f"{esc}R{esc}"
    table[ord(delimiters.subcomponent)] = f"{esc}T{esc}"
    table[ord(esc)] = f"{esc}E{esc}"
    if delimiters.truncation:
        table[ord(delimiters.truncation)] = f"{esc}P{esc}"
    return table


@lru_cache(maxsize=32)
def _unescape_table(delimiters: Delimiters) -> dict[str, str]:
    table = {
        "F": delimiters.field,
        "S": delimiters.component,
        "R": delimiters.repetition,
        "T": delimiters.subcomponent,
        "E": delimiters.escape,
        # Highlighting on/off has no plain-text meaning; drop the markers, keep the text.
        "H": "",
        "N": "",
    }
    if delimiters.truncation:
        table["P"] = delimiters.truncation
    return table


def escape(value: str, delimiters: Delimiters = DEFAULT_DELIMITERS) -> str:
    """Encode a plain value so it can sit inside one field, component or subcomponent.

    A value that is literally two double quotes is hex-encoded: written as is, it would be the
    HL7 null and tell the receiver to delete the field. (Write the null with ``set_null``.)
    """
    if value == '""':
        return f"{delimiters.escape}X2222{delimiters.escape}"
    return value.translate(_escape_table(delimiters))


def unescape(text: str, delimiters: Delimiters = DEFAULT_DELIMITERS) -> str:
    """Decode escape sequences in raw ER7 text.

    Unknown or malformed sequences are kept literally rather than dropped: real senders forget
    to escape backslashes (Windows paths, free text), and losing that text is worse than
    showing it.
    """
    esc = delimiters.escape
    if esc not in text:
        return text
    table = _unescape_table(delimiters)
    out: list[str] = []
    pos = 0
    while True:
        start = text.find(esc, pos)
        if start < 0:
            break
        end = text.find(esc, start + 1)
        if end < 0:
            break
        decoded = _decode_sequence(text[start + 1 : end], table)
        if decoded is None:
            # Not a sequence: keep the escape character and rescan from the next one, which may
            # open a real sequence.
            out.append(text[pos : start + 1])
            pos = start + 1
            continue
        out.append(text[pos:start])
        out.append(decoded)
        pos = end + 1
    out.append(text[pos:])
    return "".join(out)


def _decode_sequence(seq: str, table: dict[str, str]) -> str | None:
    if not seq:
        return None
    simple = table.get(seq)
    if simple is not None:
        return simple
    head = seq[0]
    if head == "X":
        return _decode_hex(seq[1:])
    if head == ".":
        command = _FORMATTING.get(seq[:3])
        if command is None:
            return None
        count_text = seq[3:].strip()
        if not count_text:
            return command
        try:
            count = int(count_text)
        except ValueError:
            return None
        return command * max(count, 1) if command in ("\n", " ") else command
    if head in ("C", "M") and _is_hex(seq[1:]):
        # Character-set switches (ISO 2022): the text after them is already decoded by the
        # transport, so the marker itself carries nothing for us.
        return ""
    return None


def _is_hex(text: str) -> bool:
    return bool(text) and len(text) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in text)


def _decode_hex(digits: str) -> str | None:
    if not _is_hex(digits):
        return None
    data = bytes.fromhex(digits)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Older senders hex-encode single-byte Latin-1 characters.
        return data.decode("latin-1")
