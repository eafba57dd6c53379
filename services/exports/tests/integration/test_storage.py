"""One test case run against every storage backend: the local directory and an
S3-compatible bucket (moto's S3 server, a real HTTP S3 API, started by the fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import boto3
import pytest
from moto.server import ThreadedMotoServer

from learnstream.devstack.servers import free_port
from learnstream.exports.adapters.storage import LocalStorage, S3Storage, Storage

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "files")
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"exports-{uuid4().hex[:8]}"
    credentials = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}
    boto3.client("s3", endpoint_url=endpoint, **credentials).create_bucket(Bucket=bucket)
    return S3Storage(
        bucket,
        endpoint_url=endpoint,
        region="us-east-1",
        access_key="test",
        secret_key="test",
        scratch_dir=tmp_path / "scratch",
    )


async def test_a_kept_file_is_fetched_whole_and_deleted(storage: Storage) -> None:
    await storage.check()
    export_id = uuid4()
    scratch = storage.scratch(export_id)
    content = b"name,progress\r\n" + b"".join(f"Learner {i},{i % 100}\r\n".encode() for i in range(20_000))
    scratch.write_bytes(content)
    key, size = await storage.keep(export_id, scratch, "csv")
    assert key == f"{export_id}.csv" and size == len(content)
    assert not scratch.exists() and storage.leftovers() == []
    found = await storage.fetch(key)
    assert (found.read_bytes() if isinstance(found, Path) else found) == content
    assert await storage.delete(key)
    assert await storage.fetch(key) is None
    assert await storage.fetch(f"{uuid4()}.csv") is None


async def test_an_unfinished_render_is_a_leftover(storage: Storage) -> None:
    scratch = storage.scratch(uuid4())
    scratch.write_bytes(b"half a file")
    assert storage.leftovers() == [scratch]
