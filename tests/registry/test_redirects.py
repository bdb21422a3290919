"""Blob redirects to another host (as S3/GCS-backed registries do) never carry the registry's Authorization.

A tiny loopback proxy sits in front of the REAL basic-auth registry: it forwards everything, except blob GETs,
which it answers with a 307 to a second loopback "storage" server on another host name (localhost vs 127.0.0.1).
The storage server serves the registry's own blob file and records the headers it received.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from fixtures.registry import RegistryServer
from kiln.digest import Digest
from kiln.errors import DigestMismatch
from kiln.reference import Reference
from kiln.registry.client import RegistryClient
from kiln.registry.keychain import default_keychain
from registry.helpers import options_for, relay


class _Servers:
    def __init__(self, registry: RegistryServer) -> None:
        self.storage_headers: list[dict[str, str]] = []
        self.proxy_auth: list[str | None] = []
        outer = self

        class Storage(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                outer.storage_headers.append(dict(self.headers))
                data = registry.blob_path(self.path.rsplit("/", 1)[-1].split("?")[0]).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Proxy(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _forward(self) -> None:
                outer.proxy_auth.append(self.headers.get("Authorization"))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if (
                    self.command == "GET"
                    and "/blobs/sha256:" in self.path
                    and self.headers.get("Authorization")
                ):
                    digest = self.path.rsplit("/", 1)[-1]
                    self.send_response(307)
                    self.send_header(
                        "Location", f"http://localhost:{outer.storage_port}/store/{digest}?sig=SECRET"
                    )
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
                }
                resp = requests.request(
                    self.command,
                    registry.url + self.path,
                    headers=headers,
                    data=body,
                    allow_redirects=False,
                    timeout=10,
                )
                relay(self, resp)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self.storage = ThreadingHTTPServer(("127.0.0.1", 0), Storage)
        self.storage_port = self.storage.server_address[1]
        self.proxy = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
        self.host = f"127.0.0.1:{self.proxy.server_address[1]}"
        for server in (self.storage, self.proxy):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def close(self) -> None:
        for server in (self.storage, self.proxy):
            server.shutdown()
            server.server_close()


@pytest.fixture
def redirecting(registry_basic: RegistryServer) -> Iterator[_Servers]:
    servers = _Servers(registry_basic)
    yield servers
    servers.close()


def test_redirected_blob_download_drops_authorization(
    registry_basic: RegistryServer, redirecting: _Servers, tmp_path: Path
) -> None:
    blob = b"stored elsewhere " * 1000
    digest = Digest.of_bytes(blob)
    with RegistryClient(options_for(registry_basic, tmp_path)) as direct:
        direct.upload_blob(
            Reference.parse(registry_basic.ref("redir/app")).context(),
            digest,
            len(blob),
            lambda: io.BytesIO(blob),
        )
    proxied = RegistryServer(**{**registry_basic.__dict__, "host": redirecting.host})
    options = options_for(proxied, tmp_path / "proxied")
    repo = Reference.parse(proxied.ref("redir/app")).context()
    with RegistryClient(options, default_keychain(options.environ)) as client:
        with client.open_blob(repo, digest, len(blob)) as reader:
            assert reader.read() == blob
        assert redirecting.storage_headers, "the download was not redirected"
        assert all("Authorization" not in h and "authorization" not in h for h in redirecting.storage_headers)
        assert any(a and a.startswith("Basic ") for a in redirecting.proxy_auth)
        # a corrupted blob at the storage end is still caught, and the message hides the signed query
        registry_basic.blob_path(str(digest)).write_bytes(blob[:-1] + b"!")
        with pytest.raises(DigestMismatch), client.open_blob(repo, digest, len(blob)) as reader:
            reader.read()
        registry_basic.blob_path(str(digest)).write_bytes(blob)
