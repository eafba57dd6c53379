"""Delivering mail: a small port with one adapter per way out.

The default, :class:`OutboxMailer`, writes each message as an RFC 5322 ``.eml`` file to a
local folder, where a person (or a test) can open it with any mail program or with
:mod:`email`; a deployment that sends real mail plugs in an adapter for its provider
behind the same :class:`Mailer` protocol.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    media_type: str = "application/pdf"


@dataclass(frozen=True)
class Mail:
    message_id: UUID
    to: str
    subject: str
    text: str
    attachments: tuple[Attachment, ...] = ()


class Mailer(Protocol):
    name: str

    async def send(self, mail: Mail) -> None: ...


def message(mail: Mail, sender: str) -> EmailMessage:
    built = EmailMessage()
    built["From"] = sender
    built["To"] = mail.to
    built["Subject"] = mail.subject
    built["Date"] = formatdate(localtime=False, usegmt=True)
    built["Message-ID"] = make_msgid(idstring=mail.message_id.hex, domain="learnstream.local")
    built.set_content(mail.text)
    for attachment in mail.attachments:
        main, sub = attachment.media_type.split("/", 1)
        built.add_attachment(attachment.content, maintype=main, subtype=sub, filename=attachment.filename)
    return built


class OutboxMailer:
    """Writes each message to ``<folder>/<message id>.eml`` (complete files only)."""

    name = "outbox"

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self.sender = sender

    async def send(self, mail: Mail) -> None:
        await asyncio.to_thread(self._write, mail)

    def _write(self, mail: Mail) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.folder / f"{mail.message_id}.eml.part"
        partial.write_bytes(bytes(message(mail, self.sender)))
        os.replace(partial, self.folder / f"{mail.message_id}.eml")
