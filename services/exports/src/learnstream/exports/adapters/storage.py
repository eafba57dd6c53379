"""Where produced files are kept: a local directory (the default).

A file is named by its export id only; the download link, not the name, is the secret.
Files are written under a temporary name and renamed when complete, so a reader never
sees half a file and a crash leaves only ``*.part`` files, which the cleanup removes.
"""

from __future__ import annotations

import os
from pathlib import Path
from uuid import UUID


class LocalStorage:
    """Files in one directory of the local file system."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def scratch(self, export_id: UUID) -> Path:
        """A path to render into; :meth:`keep` makes it the export's file."""
        self.prepare()
        return self.root / f"{export_id}.part"

    def keep(self, export_id: UUID, scratch: Path, extension: str) -> tuple[str, int]:
        """Make ``scratch`` the export's file; returns its key and size."""
        key = f"{export_id}.{extension}"
        target = self.root / key
        os.replace(scratch, target)
        return key, target.stat().st_size

    def path(self, key: str) -> Path | None:
        """The file's path, or ``None`` when it is gone."""
        path = self.root / Path(key).name
        return path if path.is_file() else None

    def delete(self, key: str) -> bool:
        path = self.root / Path(key).name
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def leftovers(self) -> list[Path]:
        """Partial files of renders that never finished."""
        return list(self.root.glob("*.part")) if self.root.is_dir() else []
