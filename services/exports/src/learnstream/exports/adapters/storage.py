"""Where produced files are kept: a local directory (the default), or an S3-compatible
bucket when one is configured (several replicas then share the files).

A file is named by its export id only; the download link, not the name, is the secret.
Files are rendered into a local scratch file first; a local store renames it into place
when complete (a reader never sees half a file, a crash leaves only ``*.part`` files,
which the cleanup removes); an S3 store uploads it and removes the scratch file. boto3
is synchronous, so every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID


class Storage(Protocol):
    name: str

    def scratch(self, export_id: UUID) -> Path:
        """A local path to render into; :meth:`keep` makes it the export's file."""
        ...

    async def keep(self, export_id: UUID, scratch: Path, extension: str) -> tuple[str, int]:
        """Make ``scratch`` the export's file; returns its key and size."""
        ...

    async def fetch(self, key: str) -> Path | bytes | None:
        """The file (a local path or its bytes), or ``None`` when it is gone."""
        ...

    async def delete(self, key: str) -> bool: ...

    async def check(self) -> None:
        """Raises when files cannot be kept."""
        ...

    def leftovers(self) -> list[Path]:
        """Scratch files of renders that never finished."""
        ...


class LocalStorage:
    """Files in one directory of the local file system."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def scratch(self, export_id: UUID) -> Path:
        self._prepare()
        return self.root / f"{export_id}.part"

    async def keep(self, export_id: UUID, scratch: Path, extension: str) -> tuple[str, int]:
        key = f"{export_id}.{extension}"
        target = self.root / key
        os.replace(scratch, target)
        return key, target.stat().st_size

    async def fetch(self, key: str) -> Path | None:
        path = self.root / Path(key).name
        return path if path.is_file() else None

    async def delete(self, key: str) -> bool:
        try:
            (self.root / Path(key).name).unlink()
        except FileNotFoundError:
            return False
        return True

    async def check(self) -> None:
        await asyncio.to_thread(self._prepare)

    def leftovers(self) -> list[Path]:
        return list(self.root.glob("*.part")) if self.root.is_dir() else []


class S3Storage:
    """Objects ``<prefix><export id>.<ext>`` in an S3-compatible bucket (AWS S3, MinIO, Ceph…)."""

    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "exports/",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        scratch_dir: Path | None = None,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(
                retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60
            ),
        )
        self.scratch_dir = scratch_dir or Path(tempfile.gettempdir()) / "learnstream-exports"

    def scratch(self, export_id: UUID) -> Path:
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        return self.scratch_dir / f"{export_id}.part"

    async def keep(self, export_id: UUID, scratch: Path, extension: str) -> tuple[str, int]:
        key = f"{export_id}.{extension}"

        def upload() -> int:
            try:
                self.client.upload_file(str(scratch), self.bucket, self.prefix + key)
                return scratch.stat().st_size
            finally:
                scratch.unlink(missing_ok=True)

        return key, await asyncio.to_thread(upload)

    async def fetch(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        def read() -> bytes | None:
            try:
                answer = self.client.get_object(Bucket=self.bucket, Key=self.prefix + Path(key).name)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return None
                raise
            body: bytes = answer["Body"].read()
            return body

        return await asyncio.to_thread(read)

    async def delete(self, key: str) -> bool:
        await asyncio.to_thread(
            self.client.delete_object, Bucket=self.bucket, Key=self.prefix + Path(key).name
        )
        return True

    async def check(self) -> None:
        await asyncio.to_thread(self.client.head_bucket, Bucket=self.bucket)

    def leftovers(self) -> list[Path]:
        return list(self.scratch_dir.glob("*.part")) if self.scratch_dir.is_dir() else []
