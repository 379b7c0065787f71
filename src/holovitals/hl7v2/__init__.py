"""HL7 v2: parse and build ER7 messages, segment groups, strict validation, ACKs, batches.

Typical use::

    msg = parse(text)                      # lenient; parse(text, strict=True) validates
    msg["PID-5.1"], msg.value("PID-5.1")   # raw text / unescaped value, None when absent
    msg.is_null("PID-8")                   # the sender sent "" (delete)
    tree = group_message(msg)              # orders, observations, patients, visits
    ack = build_ack(msg)                   # AA, or CA when the sender asked for enhanced mode
"""

from .ack import AckResult, ack_code, ack_mode, build_ack, build_reject, parse_ack, wants_ack
from .batch import Batch, BatchFile, build_batch, iter_messages, parse_batch, split_messages
from .delimiters import DEFAULT_DELIMITERS, Delimiters
from .errors import (
    ERROR_CODES,
    HL7Error,
    HL7Issue,
    HL7Location,
    HL7ParseError,
    HL7ValidationError,
)
from .escape import escape, unescape
from .groups import Group, group_message, match_structure, structure_of
from .message import (
    NULL,
    Message,
    Repetition,
    Segment,
    build_msh,
    decode_message,
    format_timestamp,
    new_control_id,
    parse,
    split_segments,
)
from .paths import TersePath, parse_path
from .validate import find_issues, validate

__all__ = [
    "DEFAULT_DELIMITERS",
    "ERROR_CODES",
    "NULL",
    "AckResult",
    "Batch",
    "BatchFile",
    "Delimiters",
    "Group",
    "HL7Error",
    "HL7Issue",
    "HL7Location",
    "HL7ParseError",
    "HL7ValidationError",
    "Message",
    "Repetition",
    "Segment",
    "TersePath",
    "ack_code",
    "ack_mode",
    "build_ack",
    "build_batch",
    "build_msh",
    "build_reject",
    "decode_message",
    "escape",
    "find_issues",
    "format_timestamp",
    "group_message",
    "iter_messages",
    "match_structure",
    "new_control_id",
    "parse",
    "parse_ack",
    "parse_batch",
    "parse_path",
    "split_messages",
    "split_segments",
    "structure_of",
    "unescape",
    "validate",
    "wants_ack",
]
