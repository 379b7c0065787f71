"""Documents: attachments of DocumentReference and DiagnosticReport, kept in a content-addressed store.

Files are named by their SHA-256, so the same PDF attached to ten reports is stored once and a
re-sync never writes it again. Downloads stream to a temporary file and stop at the size limit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class DocumentTooLarge(Exception):
    pass


@dataclass(frozen=True)
class StoredDocument:
    sha256: str
    size: int
    path: Path
    content_type: str | None
    new: bool  # False: the same bytes were already stored


class FileStore:
    def __init__(self, root: Path, *, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put_stream(self, chunks: Iterator[bytes], content_type: str | None = None) -> StoredDocument:
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise DocumentTooLarge(f"attachment exceeds the {self.max_bytes}-byte limit")
                    digest.update(chunk)
                    fh.write(chunk)
            sha = digest.hexdigest()
            final = self.path_for(sha)
            if final.exists():
                return StoredDocument(sha, size, final, content_type, new=False)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
            tmp = ""
            return StoredDocument(sha, size, final, content_type, new=True)
        finally:
            if tmp and os.path.exists(tmp):
                os.unlink(tmp)

    def put_bytes(self, data: bytes, content_type: str | None = None) -> StoredDocument:
        return self.put_stream(iter([data]), content_type)


def attachments_of(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The attachments a sync should fetch: DocumentReference.content and DiagnosticReport.presentedForm."""
    rtype = resource.get("resourceType")
    if rtype == "DocumentReference":
        return [c["attachment"] for c in resource.get("content") or [] if isinstance(c.get("attachment"), dict)]
    if rtype == "DiagnosticReport":
        return [a for a in resource.get("presentedForm") or [] if isinstance(a, dict)]
    return []


def inline_bytes(attachment: dict[str, Any]) -> bytes | None:
    data = attachment.get("data")
    if not isinstance(data, str):
        return None
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return None
