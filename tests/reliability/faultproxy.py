"""A fault-injecting HTTP proxy on loopback, placed in front of the real registry fixture.

Why a real proxy and not a requests adapter: resets, truncated bodies and lying Content-Length headers only
happen on a socket; an adapter cannot make urllib3 see a half-read body. The proxy forwards every request to the
registry byte for byte (keeping the Host header, so the registry's Location URLs point back through the proxy)
and, when a :class:`Fault` rule matches, misbehaves instead. Every request is logged with what the client got,
so tests can check ordering (no manifest before its blobs) as well as outcomes.
"""

from __future__ import annotations

import http.client
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHUNK = 64 << 10
UPSTREAM_TIMEOUT = 3.0

# What a fault does:
# - status:       answer ``status`` (500/502/503/429 ...) without forwarding; ``retry_after`` adds Retry-After
# - reset:        forward, send headers and ``after_bytes`` of the body, then reset the connection (RST)
# - reset_upload: read ``after_bytes`` of the request body (forwarding them), then reset both connections
# - truncate:     send headers and ``after_bytes`` of the body, then close cleanly (FIN) short of Content-Length
# - long_length:  advertise Content-Length + 100 and close after the real body
# - short_length: advertise Content-Length - ``after_bytes`` (cut the body there) and close
# - corrupt:      flip one byte of the body at offset ``after_bytes`` (same length)
# - slow:         wait ``delay`` seconds before answering (beyond the client's timeout: a timeout)
# - stall:        send headers and ``after_bytes`` of the body, then wait ``delay`` seconds and reset
# - bad_digest:   forward, but answer with a wrong Docker-Content-Digest header
KINDS = frozenset(
    {
        "status",
        "reset",
        "reset_upload",
        "truncate",
        "long_length",
        "short_length",
        "corrupt",
        "slow",
        "stall",
        "bad_digest",
    }
)


@dataclass
class Fault:
    """Misbehave on the next ``times`` requests whose method matches and whose path matches ``path`` (regex)."""

    kind: str
    method: str
    path: str
    times: int = 1
    status: int = 503
    retry_after: str | None = None
    after_bytes: int = 0
    delay: float = 0.0
    injected: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")

    def matches(self, method: str, path: str) -> bool:
        return (
            self.injected < self.times
            and (self.method in ("*", method))
            and re.search(self.path, path) is not None
        )


@dataclass(frozen=True)
class LogEntry:
    method: str
    path: str
    status: int  # what the registry answered (the injected status for ``status``; 0 if it never saw it all)
    fault: str | None


@dataclass
class FaultProxy:
    """A running proxy: ``host`` (``127.0.0.1:PORT``) to point clients at, ``faults`` to arm, ``log`` to read."""

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)
    bytes_to_client: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.server_address[1]}"

    def arm(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def disarm(self) -> None:
        """Stop misbehaving (the faults stay listed, so ``injected`` still counts them)."""
        with self._lock:
            for fault in self.faults:
                fault.times = fault.injected

    def pings(self) -> int:
        """How many ``GET /v2/`` (registry pings) went through."""
        with self._lock:
            return sum(1 for entry in self.log if entry.method == "GET" and entry.path == "/v2/")

    @property
    def injected(self) -> int:
        with self._lock:
            return sum(f.injected for f in self.faults)

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.injected += 1
                    return fault
        return None

    def record(self, entry: LogEntry) -> None:
        with self._lock:
            self.log.append(entry)

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(_ProxyHandler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer sees ECONNRESET, not a clean end of stream."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FaultProxy

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._proxy()

    def do_HEAD(self) -> None:
        self._proxy()

    def do_PUT(self) -> None:
        self._proxy()

    def do_POST(self) -> None:
        self._proxy()

    def do_PATCH(self) -> None:
        self._proxy()

    def do_DELETE(self) -> None:
        self._proxy()

    # -- the one path every request takes --------------------------------------------------------------
    def _proxy(self) -> None:
        method, path = self.command, self.path
        fault = self.owner.take(method, path)
        kind = fault.kind if fault else None
        length = int(self.headers.get("Content-Length") or 0)
        if fault is not None and kind == "status":
            self._drain(length)
            self._answer_error(fault)
            self.owner.record(LogEntry(method, path, fault.status, kind))
            return
        if fault is not None and kind == "slow":
            time.sleep(fault.delay)
        # short: distribution 2.8 answers a Range at the blob's end with 416 but the blob's Content-Length and no
        # body; a client sees that as a cut connection, so the proxy gives up on such an answer the same way
        upstream = http.client.HTTPConnection(self.owner.upstream, timeout=UPSTREAM_TIMEOUT)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
            upstream.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for key, value in headers.items():
                upstream.putheader(key, value)
            upstream.endheaders()
            if fault is not None and kind == "reset_upload":
                self._copy_body(upstream, min(length, fault.after_bytes))
                upstream.close()
                _reset(self.connection)
                self.close_connection = True
                self.owner.record(LogEntry(method, path, 0, kind))
                return
            self._copy_body(upstream, length)
            resp = upstream.getresponse()
            # logged before relaying: what the registry did, whatever the client then gets to see of it
            self.owner.record(LogEntry(method, path, resp.status, kind))
            self._relay(resp, method, fault)
        finally:
            upstream.close()

    def _drain(self, length: int) -> None:
        while length > 0:
            data = self.rfile.read(min(CHUNK, length))
            if not data:
                break
            length -= len(data)

    def _copy_body(self, upstream: http.client.HTTPConnection, length: int) -> None:
        while length > 0:
            data = self.rfile.read(min(CHUNK, length))
            if not data:
                break
            upstream.send(data)
            length -= len(data)

    def _answer_error(self, fault: Fault) -> None:
        body = b'{"errors":[{"code":"UNAVAILABLE","message":"injected by the fault proxy"}]}'
        self.send_response(fault.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if fault.retry_after is not None:
            self.send_header("Retry-After", fault.retry_after)
        self.end_headers()
        self.wfile.write(body)

    def _relay(self, resp: http.client.HTTPResponse, method: str, fault: Fault | None) -> None:
        kind = fault.kind if fault else None
        declared = resp.getheader("Content-Length")
        has_body = method != "HEAD" and resp.status not in (204, 304)
        body_prefix = b""
        if has_body and declared is None:  # chunked or close-delimited: small answers, buffer them
            try:
                body_prefix = resp.read()
            except (OSError, http.client.HTTPException):
                body_prefix = b""
            size = len(body_prefix)
        else:
            size = int(declared or 0)
        advertised = size
        if fault is not None and kind == "long_length":
            advertised = size + 100
        if fault is not None and kind == "short_length":
            advertised = max(0, size - max(1, fault.after_bytes))
        self.send_response_only(resp.status, resp.reason)
        for key, value in resp.getheaders():
            low = key.lower()
            if low in ("content-length", "transfer-encoding", "connection", "keep-alive"):
                continue
            if low == "docker-content-digest" and kind == "bad_digest":
                value = "sha256:" + "0" * 64
            self.send_header(key, value)
        if has_body or method == "HEAD":
            self.send_header("Content-Length", str(advertised))
        if kind not in (None, "slow", "corrupt", "bad_digest"):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if not has_body:
            return
        limit: int | None = None
        if fault is not None and kind in ("reset", "truncate", "stall"):
            limit = min(fault.after_bytes, size)
        if kind == "short_length":
            limit = advertised
        sent = 0
        pending = body_prefix
        while True:
            try:
                data = pending or resp.read(CHUNK)
            except (OSError, http.client.HTTPException):
                self.close_connection = True
                return
            pending = b""
            if not data:
                break
            if fault is not None and kind == "corrupt" and sent <= fault.after_bytes < sent + len(data):
                i = fault.after_bytes - sent
                data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]
            if limit is not None and sent + len(data) >= limit:
                data = data[: limit - sent]
                self._write(data)
                sent += len(data)
                break
            self._write(data)
            sent += len(data)
        if fault is None or kind in ("slow", "corrupt", "bad_digest"):
            return
        if kind == "stall":
            time.sleep(fault.delay)
        if kind in ("reset", "stall"):
            _reset(self.connection)
        self.close_connection = True

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
            return
        with self.owner._lock:
            self.owner.bytes_to_client += len(data)
