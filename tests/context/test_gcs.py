"""gs:// contexts against gcp-storage-emulator on loopback (reached through STORAGE_EMULATOR_HOST)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ctx_helpers import SAMPLE, assert_sample, free_port, make_tar_gz

from kiln.context import ContextSpec, open_context
from kiln.errors import ContextError

emulator = pytest.importorskip("gcp_storage_emulator.server")
storage = pytest.importorskip("google.cloud.storage")


@pytest.fixture(scope="module")
def gcs_host() -> Iterator[str]:
    from google.auth.credentials import AnonymousCredentials

    port = free_port()
    server = emulator.create_server("127.0.0.1", port, in_memory=True)
    server.start()
    host = f"http://127.0.0.1:{port}"
    client = storage.Client(
        project="kiln", credentials=AnonymousCredentials(), client_options={"api_endpoint": host}
    )
    bucket = client.create_bucket("ctx")
    bucket.blob("builds/ctx.tar.gz").upload_from_string(make_tar_gz(SAMPLE))
    bucket.blob("builds/plain.tar.gz").upload_from_string(b"plain text, no gzip here\n" * 40)
    try:
        yield host
    finally:
        server.stop()


def fetch(url: str, host: str, tmp_path: Path, sub_path: str = "") -> Path:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    spec = ContextSpec(url, sub_path=sub_path, environ={"STORAGE_EMULATOR_HOST": host})
    return open_context(spec).fetch(work)


def test_gcs_context(gcs_host: str, tmp_path: Path) -> None:
    assert_sample(fetch("gs://ctx/builds/ctx.tar.gz", gcs_host, tmp_path))


def test_gcs_context_sub_path(gcs_host: str, tmp_path: Path) -> None:
    root = fetch("gs://ctx/builds/ctx.tar.gz", gcs_host, tmp_path, sub_path="app")
    assert sorted(p.name for p in root.iterdir()) == ["main.py"]


def test_gcs_missing_bucket(gcs_host: str, tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="bucket 'nobucket' does not exist"):
        fetch("gs://nobucket/ctx.tar.gz", gcs_host, tmp_path)


def test_gcs_missing_key(gcs_host: str, tmp_path: Path) -> None:
    with pytest.raises(ContextError, match=r"no object 'nope\.tar\.gz' in bucket 'ctx'"):
        fetch("gs://ctx/nope.tar.gz", gcs_host, tmp_path)


def test_gcs_non_gzip_object(gcs_host: str, tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="not a gzip-compressed tar"):
        fetch("gs://ctx/builds/plain.tar.gz", gcs_host, tmp_path)


def test_gcs_bad_credentials_file(tmp_path: Path) -> None:
    bad = tmp_path / "key.json"
    bad.write_text('{"type": "service_account"}')
    spec = ContextSpec("gs://ctx/a.tar.gz", environ={"GOOGLE_APPLICATION_CREDENTIALS": str(bad)})
    (tmp_path / "w").mkdir()
    with pytest.raises(ContextError, match="no Google credentials"):
        open_context(spec).fetch(tmp_path / "w")
