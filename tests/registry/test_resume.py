"""A blob download whose connection drops midway resumes with a Range request (REAL registry behind a proxy).

The proxy forwards everything to the registry, but cuts the first full blob download after half the bytes
(the Content-Length promises all of them), as a flaky network would.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from fixtures.registry import RegistryServer
from kiln.digest import Digest
from kiln.errors import RegistryError
from kiln.reference import Reference
from kiln.registry.client import RegistryClient
from kiln.registry.keychain import Keychain
from kiln.registry.options import RegistryOptions
from registry.helpers import relay


class CuttingProxy:
    def __init__(self, registry: RegistryServer, cuts: int) -> None:
        self.cuts = cuts
        self.ranges: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
                resp = requests.request(
                    self.command,
                    registry.url + self.path,
                    headers=headers,
                    data=body,
                    allow_redirects=False,
                    timeout=10,
                )
                blob_get = self.command == "GET" and "/blobs/sha256:" in self.path
                if blob_get:
                    outer.ranges.append(self.headers.get("Range"))
                cut = blob_get and outer.cuts > 0 and resp.status_code == 200
                self.send_response(resp.status_code)
                for key, value in resp.headers.items():
                    if key.lower() not in (
                        "transfer-encoding",
                        "connection",
                        "content-length",
                        "content-encoding",
                    ):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(resp.content)))
                if cut:
                    self.send_header("Connection", "close")
                self.end_headers()
                if self.command == "HEAD":
                    return
                if cut:
                    outer.cuts -= 1
                    self.wfile.write(resp.content[: len(resp.content) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(resp.content)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stored_blob(registry_http: RegistryServer) -> Iterator[tuple[bytes, Digest]]:
    blob = bytes(range(256)) * 4096  # 1 MiB
    digest = Digest.of_bytes(blob)
    with RegistryClient(RegistryOptions(insecure_registries=(registry_http.host,)), Keychain([])) as client:
        client.upload_blob(
            Reference.parse(registry_http.ref("resume/app")).context(),
            digest,
            len(blob),
            lambda: io.BytesIO(blob),
        )
    yield blob, digest


def test_resumes_with_range(registry_http: RegistryServer, stored_blob: tuple[bytes, Digest]) -> None:
    blob, digest = stored_blob
    proxy = CuttingProxy(registry_http, cuts=1)
    try:
        options = RegistryOptions(
            insecure_registries=(proxy.host,), image_download_retry=2, retry_base_delay=0
        )
        with RegistryClient(options, Keychain([])) as client:
            repo = Reference.parse(f"{proxy.host}/resume/app").context()
            with client.open_blob(repo, digest, len(blob)) as reader:
                parts = []
                while part := reader.read(65536):
                    parts.append(part)
                assert b"".join(parts) == blob
        assert proxy.ranges[0] is None
        assert proxy.ranges[1] == f"bytes={len(blob) // 2}-"  # resumed, not restarted
    finally:
        proxy.close()


def test_without_flags_one_cut_is_resumed(
    registry_http: RegistryServer, stored_blob: tuple[bytes, Digest]
) -> None:
    """--image-download-retry 0 still leaves the request_retries floor (kaniko's transport retries)."""
    blob, digest = stored_blob
    proxy = CuttingProxy(registry_http, cuts=1)
    try:
        options = RegistryOptions(insecure_registries=(proxy.host,), retry_base_delay=0)
        with RegistryClient(options, Keychain([])) as client:
            repo = Reference.parse(f"{proxy.host}/resume/app").context()
            parts = []
            with client.open_blob(repo, digest, len(blob)) as reader:
                while part := reader.read(65536):
                    parts.append(part)
            assert b"".join(parts) == blob
        assert proxy.ranges == [None, f"bytes={len(blob) // 2}-"]
    finally:
        proxy.close()


def test_without_retries_the_cut_is_a_connection_error(
    registry_http: RegistryServer, stored_blob: tuple[bytes, Digest]
) -> None:
    blob, digest = stored_blob
    proxy = CuttingProxy(registry_http, cuts=1)
    try:
        options = RegistryOptions(insecure_registries=(proxy.host,), request_retries=0)
        with RegistryClient(options, Keychain([])) as client:
            repo = Reference.parse(f"{proxy.host}/resume/app").context()
            with pytest.raises(RegistryError) as info, client.open_blob(repo, digest, len(blob)) as reader:
                while reader.read(65536):
                    pass
        assert info.value.code == "CONNECTION" and "interrupted" in str(info.value)
    finally:
        proxy.close()


class HalfUploadProxy:
    """Forwards to the registry, but passes only half of the first blob PUT's body on, then hangs up on the client."""

    def __init__(self, registry: RegistryServer) -> None:
        self.cut_done = False
        self.puts = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                # Host is kept so that the registry's upload Locations point back at the proxy
                headers = {k: v for k, v in self.headers.items() if k.lower() != "content-length"}
                upload_put = self.command == "PUT" and "/blobs/uploads/" in self.path
                if upload_put:
                    outer.puts += 1
                if upload_put and not outer.cut_done:
                    outer.cut_done = True
                    # the registry receives a truncated body (and keeps it in the session); the client gets nothing
                    target = registry.url + self.path
                    requests.patch(target, headers=headers, data=body[: len(body) // 2], timeout=10)
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                resp = requests.request(
                    self.command,
                    registry.url + self.path,
                    headers=headers,
                    data=body or None,
                    allow_redirects=False,
                    timeout=10,
                )
                relay(self, resp)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_broken_upload_restarts_in_a_new_session(registry_http: RegistryServer) -> None:
    blob = bytes(range(256)) * 2048
    digest = Digest.of_bytes(blob)
    proxy = HalfUploadProxy(registry_http)
    try:
        options = RegistryOptions(insecure_registries=(proxy.host,), push_retry=2, retry_base_delay=0)
        with RegistryClient(options, Keychain([])) as client:
            repo = Reference.parse(f"{proxy.host}/resume/upload").context()
            client.upload_blob(repo, digest, len(blob), lambda: io.BytesIO(blob))
            with client.open_blob(repo, digest, len(blob)) as reader:
                assert reader.read() == blob
        assert proxy.cut_done and proxy.puts == 2
    finally:
        proxy.close()
