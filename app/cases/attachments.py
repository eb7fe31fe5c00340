"""Files a department attaches to a ticket (photos of the fixed street lamp, a PDF letter).

Stored under ``<data_dir>/attachments/<ticket id>/`` with owner-only folders (0750) and files
(0640), named by a random id (the citizen-facing name stays in the database). The bytes are
written to ``<id>.part`` first and renamed only after the row is committed; a failed insert
deletes them, so no stored file is without its row (a ``.part`` left by a crash is never
served and may be removed). The type is
decided from the content, not the name or the browser's claim; only the allowed types pass.
Served only to who may see the ticket (``app.cases.loop`` decides that).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.cases.loop import CaseRefused
from app.models import Attachment, Ticket
from core.events import utcnow

MAX_BYTES = 10 * 1024 * 1024
PART = ".part"  # suffix while the row is not committed yet
_ZIP_TYPES = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def sniff(data: bytes, filename: str) -> str | None:
    """The content type the bytes really are, or None when not an allowed type."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"PK\x03\x04"):
        return _ZIP_TYPES.get(Path(filename).suffix.lower())
    return None


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        os.fchmod(fd, 0o640)  # whatever the umask
        os.write(fd, data)
    finally:
        os.close(fd)


class AttachmentStore:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        root: Path,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self.root = root
        self._now = now

    @staticmethod
    def check(filename: str, data: bytes, max_bytes: int = MAX_BYTES) -> str:
        """The file's content type, or CaseRefused (413 too large, 422 empty, 415 not allowed)."""
        if len(data) > max_bytes:
            raise CaseRefused(f"{filename}: larger than {max_bytes // (1024 * 1024)} MB", 413)
        if not data:
            raise CaseRefused(f"{filename}: the file is empty", 422)
        content_type = sniff(data, filename)
        if content_type is None:
            raise CaseRefused(
                f"{filename}: not an allowed file (JPEG, PNG, PDF, DOCX or XLSX, by content)",
                415,
            )
        return content_type

    async def stage(
        self, session: AsyncSession, ticket_id: int, filename: str, data: bytes, by: str
    ) -> tuple[Path, Attachment]:
        """Write the (checked) file as ``.part`` and add its row to ``session``; after the
        commit :meth:`publish` the returned path, after a rollback :meth:`discard` it."""
        content_type = self.check(filename, data, max_bytes=len(data) or 1)
        stored = f"{ticket_id}/{secrets.token_hex(16)}"
        final = self.root / stored
        part = final.with_name(final.name + PART)
        await asyncio.to_thread(_write, part, data)
        row = Attachment(
            ticket_id=ticket_id,
            filename=Path(filename).name[:200] or "file",
            content_type=content_type,
            size=len(data),
            stored_as=stored,
            uploaded_by=by,
            at=self._now(),
        )
        session.add(row)
        return part, row

    @staticmethod
    def publish(parts: list[Path]) -> None:
        for part in parts:
            os.replace(part, part.with_name(part.name.removesuffix(PART)))

    @staticmethod
    def discard(parts: list[Path]) -> None:
        for part in parts:
            part.unlink(missing_ok=True)

    async def add(self, ticket: Ticket, filename: str, data: bytes, by: str) -> Attachment:
        """Store the file for ``ticket`` (the caller checked the uploader may)."""
        self.check(filename, data)
        parts: list[Path] = []
        try:
            async with self._sessions.begin() as session:
                part, row = await self.stage(session, ticket.id, filename, data, by)
                parts.append(part)
        except BaseException:
            self.discard(parts)
            raise
        self.publish(parts)
        return row

    async def get(self, attachment_id: int) -> tuple[Attachment, Path]:
        async with self._sessions() as session:
            row = await session.get(Attachment, attachment_id)
        if row is None or not (path := self.root / row.stored_as).is_file():
            raise CaseRefused(f"attachment {attachment_id} does not exist", 404)
        return row, path
