"""gs:// contexts against gcp-storage-emulator on loopback (reached through STORAGE_EMULATOR_HOST)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from context.ctx_helpers import SAMPLE, assert_sample, free_port, make_tar_gz
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


def test_gcs_rejected_credentials(tmp_path: Path) -> None:
    """A service account whose token request is refused (a loopback stub stands in for Google's OAuth2
    endpoint, which cannot run here): the real google-auth refresh fails before any storage request."""
    import http.server
    import json
    import threading

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b'{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}'
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key_file = tmp_path / "sa.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "kiln-test",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "ctx@kiln-test.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": f"http://127.0.0.1:{server.server_address[1]}/token",
            }
        )
    )
    (tmp_path / "w").mkdir()
    spec = ContextSpec("gs://ctx/a.tar.gz", environ={"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)})
    try:
        with pytest.raises(ContextError, match=r"gs://ctx/a\.tar\.gz: access denied") as info:
            open_context(spec).fetch(tmp_path / "w")
    finally:
        server.shutdown()
        server.server_close()
    assert "PRIVATE KEY" not in str(info.value)
