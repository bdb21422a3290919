"""Real git servers on loopback for the git context tests: ``git daemon`` and git's smart HTTP.

The HTTP server is a small WSGI wrapper that checks an ``Authorization: Basic`` header and runs
``git http-backend`` (git's own CGI program) for each request.
"""

from __future__ import annotations

import base64
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from context.ctx_helpers import free_port, wait_for_port
from fixtures import certs


def _git(*args: str, cwd: Path) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "HOME": str(cwd),
        "PATH": "/usr/bin:/bin",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return subprocess.run(
        ["git", "-c", "protocol.file.allow=always", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    _git("add", "-A", cwd=repo)
    _git("commit", "-q", "-m", message, cwd=repo)
    return _git("rev-parse", "HEAD", cwd=repo)


def make_superproject(root: Path, name: str, submodule_url: str) -> None:
    """A bare repo ``name`` under ``root`` whose only submodule lives at ``submodule_url``."""
    work = root / f"src-{name}"
    work.mkdir()
    _git("init", "-q", "-b", "main", cwd=work)
    commit(work, {"Dockerfile": "FROM scratch\n"}, "first")
    _git("submodule", "add", "-q", submodule_url, "vendor/lib", cwd=work)
    _git("commit", "-q", "-m", "submodule", cwd=work)
    _git("clone", "-q", "--bare", "--no-local", str(work), str(root / name), cwd=root)
    shutil.rmtree(work)


def make_repos(root: Path, submodule_url: str) -> dict[str, str]:
    """Bare repos ``lib.git`` and ``app.git`` under ``root``: branches, a tag, a submodule. Returns commit ids."""
    ids: dict[str, str] = {}
    lib = root / "src-lib"
    lib.mkdir()
    _git("init", "-q", "-b", "main", cwd=lib)
    ids["lib"] = commit(lib, {"lib.txt": "library\n"}, "lib")
    app = root / "src-app"
    app.mkdir()
    _git("init", "-q", "-b", "main", cwd=app)
    ids["first"] = commit(app, {"Dockerfile": "FROM scratch\n", "version.txt": "1\n"}, "first")
    _git("tag", "v1", cwd=app)
    ids["second"] = commit(app, {"version.txt": "2\n", "sub/dir/file.txt": "deep\n"}, "second")
    _git("checkout", "-q", "-b", "feature", cwd=app)
    ids["feature"] = commit(app, {"version.txt": "feature\n"}, "feature")
    _git("checkout", "-q", "-b", "pr", "main", cwd=app)
    ids["pull"] = commit(app, {"version.txt": "pull request\n"}, "pull request")
    _git("checkout", "-q", "main", cwd=app)
    _git("clone", "-q", "--bare", str(lib), str(root / "lib.git"), cwd=root)
    _git("submodule", "add", "-q", str(root / "lib.git"), "vendor/lib", cwd=app)
    _git("config", "-f", ".gitmodules", "submodule.vendor/lib.url", submodule_url, cwd=app)
    _git("add", ".gitmodules", cwd=app)
    _git("commit", "-q", "-m", "submodule", cwd=app)
    ids["main"] = _git("rev-parse", "HEAD", cwd=app)
    _git("clone", "-q", "--bare", "--no-local", str(app), str(root / "app.git"), cwd=root)
    # The pull request exists only as refs/pull/1/head, as on GitHub: no branch reaches it.
    _git("update-ref", "refs/pull/1/head", ids["pull"], cwd=root / "app.git")
    _git("branch", "-D", "pr", cwd=root / "app.git")
    for repo in ("app.git", "lib.git"):
        (root / repo / "git-daemon-export-ok").touch()
        _git("config", "http.receivepack", "false", cwd=root / repo)
        _git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=root / repo)
    shutil.rmtree(app)
    shutil.rmtree(lib)
    return ids


@contextmanager
def git_daemon(base: Path) -> Iterator[str]:
    """``git daemon`` serving ``base``; yields ``host:port``."""
    port = free_port()
    proc = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--listen=127.0.0.1",
            f"--port={port}",
            f"--base-path={base}",
            str(base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _http_backend_app(base: Path, user: str, password: str, seen: list[str] | None) -> Any:
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if seen is not None:
            seen.append(environ.get("HTTP_AUTHORIZATION", ""))
        elif environ.get("HTTP_AUTHORIZATION") != expected:
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="git"')])
            return [b"unauthorized\n"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        cgi_env = {
            "GIT_PROJECT_ROOT": str(base),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": environ.get("PATH_INFO", ""),
            "QUERY_STRING": environ.get("QUERY_STRING", ""),
            "REQUEST_METHOD": environ["REQUEST_METHOD"],
            "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": user,
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_PROTOCOL": environ.get("HTTP_GIT_PROTOCOL", ""),
            "HTTP_CONTENT_ENCODING": environ.get("HTTP_CONTENT_ENCODING", ""),
            "PATH": "/usr/bin:/bin",
        }
        out = subprocess.run(
            ["git", "http-backend"], input=body, env=cgi_env, capture_output=True, check=False
        ).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = "200 OK"
        headers = []
        for line in head.decode().split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = value.strip()
            elif key:
                headers.append((key, value.strip()))
        start_response(status, headers)
        return [payload]

    return app


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """This module's TLS identity (see fixtures.certs)."""
    return certs.self_signed(tmp, "git")


@contextmanager
def git_http(
    base: Path,
    user: str,
    password: str,
    tls: tuple[Path, Path] | None = None,
    record_auth: list[str] | None = None,
) -> Iterator[str]:
    """Smart HTTP over ``git http-backend`` requiring ``user:password``; yields ``http(s)://127.0.0.1:PORT``.

    With ``record_auth`` it requires nothing and records every Authorization header it is sent instead.
    """
    server: WSGIServer = make_server(
        "127.0.0.1", 0, _http_backend_app(base, user, password, record_auth), handler_class=_Quiet
    )
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
