"""WWW-Authenticate parsing and the token flows against the fixture token server (real HTTP)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from fixtures.registry import RegistryServer
from kiln.errors import AuthError
from kiln.reference import Reference
from kiln.registry.auth import Challenge, parse_challenges, pick_challenge
from kiln.registry.client import RegistryClient
from kiln.registry.keychain import Credential, Keychain, StaticProvider
from registry.helpers import options_for, relay


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('Basic realm="Registry Realm"', [Challenge("basic", {"realm": "Registry Realm"})]),
        (
            'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
            [
                Challenge(
                    "bearer",
                    {
                        "realm": "https://auth.example/token",
                        "service": "registry.example",
                        "scope": "repository:a/b:pull,push",
                    },
                )
            ],
        ),
        (
            'bearer realm="x\\"y", error=insufficient_scope',
            [Challenge("bearer", {"realm": 'x"y', "error": "insufficient_scope"})],
        ),
        (
            'Basic realm="a", Bearer realm="b"',
            [Challenge("basic", {"realm": "a"}), Challenge("bearer", {"realm": "b"})],
        ),
        ("", []),
    ],
)
def test_parse_challenges(header: str, expected: list[Challenge]) -> None:
    assert parse_challenges(header) == expected


def test_bearer_preferred() -> None:
    picked = pick_challenge(parse_challenges('Basic realm="a", Bearer realm="b"'))
    assert picked is not None and picked.scheme == "bearer"


def test_identity_token_uses_oauth2_refresh_grant(registry_token: RegistryServer, tmp_path: Path) -> None:
    """Get a refresh token the way `docker login` does (password grant, offline), then pull with it only."""
    realm = registry_token.token_realm
    assert realm is not None
    resp = requests.post(
        realm,
        data={
            "grant_type": "password",
            "username": registry_token.username,
            "password": registry_token.password,
            "service": "kiln-test-registry",
            "access_type": "offline",
            "client_id": "test",
        },
        timeout=10,
    )
    refresh = resp.json()["refresh_token"]
    chain = Keychain([StaticProvider({registry_token.host: Credential(identity_token=refresh)})])
    ref = Reference.parse(registry_token.ref("auth/upload"))
    with RegistryClient(options_for(registry_token), chain) as client:
        client.check_push_permission(ref)
    bad = Keychain([StaticProvider({registry_token.host: Credential(identity_token="not-a-token")})])
    with RegistryClient(options_for(registry_token), bad) as client, pytest.raises(AuthError) as info:
        client.check_push_permission(ref)
    assert "not-a-token" not in str(info.value)


def test_mount_asks_for_both_scopes(registry_token: RegistryServer, tmp_path: Path) -> None:
    import io

    from fixtures.registry import TokenServer  # noqa: F401  (type only)
    from kiln.digest import Digest

    blob = b"mount me"
    digest = Digest.of_bytes(blob)
    options = options_for(registry_token, tmp_path)
    with RegistryClient(options) as client:
        src = Reference.parse(registry_token.ref("auth/src")).context()
        dst = Reference.parse(registry_token.ref("auth/dst")).context()
        client.upload_blob(src, digest, len(blob), lambda: io.BytesIO(blob))
        assert client.mount_blob(dst, digest, src) is None  # 201: mounted, no upload needed
        assert client.blob_exists(dst, digest)


def test_config_json_written_by_fixture(registry_basic: RegistryServer, tmp_path: Path) -> None:
    path = registry_basic.write_docker_config(tmp_path)
    data = json.loads(path.read_text())
    assert registry_basic.host in data["auths"]


def test_tokens_renewed_before_they_expire(registry_token: RegistryServer) -> None:
    """The fixture's token server issues 300 s tokens; a fake clock moves time instead of sleeping."""
    from kiln.registry.auth import TokenSource

    now = [1000.0]
    cred = Credential(registry_token.username, registry_token.password)
    tokens = TokenSource(
        requests.Session(), lambda host: cred, lambda url: {"timeout": 10}, "kiln-test", clock=lambda: now[0]
    )
    challenge = Challenge(
        "bearer", {"realm": registry_token.token_realm or "", "service": "kiln-test-registry"}
    )
    scopes = ["repository:auth/expiry:pull"]
    first = tokens.header(registry_token.host, challenge, scopes)
    now[0] += 200
    assert tokens.header(registry_token.host, challenge, scopes) == first  # cached while fresh
    now[0] += 95  # 295 s: within the renewal margin of a 300 s token
    renewed = tokens.header(registry_token.host, challenge, scopes)
    assert renewed is not None and renewed != first
    assert renewed.startswith("Bearer ")


def test_open_ping_but_protected_repository(registry_basic: RegistryServer, tmp_path: Path) -> None:
    """Some registries answer /v2/ anonymously and challenge only per repository: the challenge is adopted."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from typing import Any

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            if self.path == "/v2/":
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            resp = requests.get(registry_basic.url + self.path, headers=headers, timeout=10)
            relay(self, resp)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proxied = RegistryServer(
            **{**registry_basic.__dict__, "host": f"127.0.0.1:{server.server_address[1]}"}
        )
        with RegistryClient(options_for(proxied, tmp_path), _keychain_for(proxied)) as client:
            assert client.list_tags(Reference.parse(proxied.ref("auth/none")).context()) == []
            assert client.transport.endpoint(proxied.host, False).challenge is not None
    finally:
        server.shutdown()
        server.server_close()


def _keychain_for(server: RegistryServer) -> Keychain:
    return Keychain([StaticProvider({server.host: Credential(server.username, server.password)})])
