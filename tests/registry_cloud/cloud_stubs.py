"""Local stand-ins for cloud token endpoints (they cannot run here): small HTTP(S) servers on loopback.

The clients talking to them are the real libraries (google-auth, azure-identity/MSAL, requests); only the
server side is ours, answering as the documented OAuth2/STS/ACR endpoints do.
"""

from __future__ import annotations

import http.server
import json
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fixtures import certs

Handler = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, Any]]]


@dataclass
class Stub:
    """A running stub: its base URL and every request it saw (method, path, form/JSON fields)."""

    url: str
    host: str
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """This module's TLS identity (see fixtures.certs)."""
    return certs.self_signed(tmp, "stub")


@contextmanager
def serve(handler: Handler, tls: tuple[Path, Path] | None = None) -> Iterator[Stub]:
    """Serve ``handler(method, path, fields, body) -> (status, json)`` on 127.0.0.1, HTTPS if ``tls``."""
    stub = Stub(url="", host="")

    class _Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fields: dict[str, str] = {}
            ctype = self.headers.get("Content-Type", "")
            if "json" in ctype and body:
                fields = {k: str(v) for k, v in json.loads(body).items()}
            elif body:
                fields = dict(urllib.parse.parse_qsl(body.decode()))
            path = self.path
            stub.seen.append((self.command, path, fields))
            status, payload = handler(self.command, path, fields, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    stub.host = f"127.0.0.1:{server.server_address[1]}"
    stub.url = f"{scheme}://{stub.host}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
