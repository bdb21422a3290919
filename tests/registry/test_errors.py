"""Registry errors: codes from OCI error bodies, one-line messages, no secrets, scrubbed URLs."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from fixtures.registry import RegistryServer
from kiln.errors import AuthError, RegistryError
from kiln.reference import Reference
from kiln.registry.errors import error_from_response, scrub_text, scrub_url
from registry.helpers import client_for


def _response(
    status: int, body: bytes, url: str = "https://r.io/v2/a/manifests/x", **headers: str
) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = body
    resp.url = url
    resp.headers.update(headers)
    return resp


def test_oci_error_body_gives_code_and_message() -> None:
    body = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}'
    err = error_from_response(_response(404, body), "pull manifest r.io/a:x")
    assert err.code == "MANIFEST_UNKNOWN" and err.status == 404 and not err.temporary
    assert "manifest unknown" in str(err) and "pull manifest r.io/a:x" in str(err)
    assert err.hint and "\n" not in str(err)


@pytest.mark.parametrize(
    ("status", "code", "kind", "temporary"),
    [
        (401, "UNAUTHORIZED", AuthError, False),
        (403, "DENIED", AuthError, False),
        (429, "TOOMANYREQUESTS", RegistryError, True),
        (503, "HTTP_503", RegistryError, True),
        (418, "HTTP_418", RegistryError, False),
    ],
)
def test_status_without_body(status: int, code: str, kind: type[RegistryError], temporary: bool) -> None:
    err = error_from_response(_response(status, b"<html>oops</html>"), "x")
    assert type(err) is kind and err.code == code and err.temporary is temporary


def test_retry_after_parsed() -> None:
    assert error_from_response(_response(429, b"", **{"Retry-After": "12"}), "x").retry_after == 12.0
    assert (
        error_from_response(
            _response(503, b"", **{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), "x"
        ).retry_after
        == 0.0
    )


def test_urls_are_scrubbed() -> None:
    signed = "https://user:pw@storage.example:8443/blob/abc?X-Amz-Signature=SECRET&token=T#frag"
    assert scrub_url(signed) == "https://storage.example:8443/blob/abc"
    assert "SECRET" not in scrub_text(f"failed to GET {signed} because") and "pw@" not in scrub_text(signed)
    err = error_from_response(
        _response(500, b'{"errors":[{"code":"X","message":"see ' + signed.encode() + b'"}]}', url=signed), "x"
    )
    assert "SECRET" not in str(err) and "pw" not in str(err)


def test_insufficient_scope_is_auth_error_not_a_loop(registry_token: RegistryServer, tmp_path: Path) -> None:
    with client_for(registry_token, tmp_path) as client:
        ref = Reference.parse(registry_token.ref("readonly/app:1"))
        with pytest.raises(AuthError) as info:
            client.check_push_permission(ref)
    assert info.value.status == 401 and info.value.code == "UNAUTHORIZED"
    assert registry_token.password is not None and registry_token.password not in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("mode", ["basic", "token"])
def test_no_secrets_in_debug_logs(
    mode: str, request: pytest.FixtureRequest, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import base64
    import io
    import logging

    from kiln.digest import Digest

    server: RegistryServer = request.getfixturevalue(f"registry_{mode}")
    assert server.password is not None
    blob = b"log me not"
    with caplog.at_level(logging.DEBUG), client_for(server, tmp_path) as client:
        repo = Reference.parse(server.ref("logs/app")).context()
        client.upload_blob(repo, Digest.of_bytes(blob), len(blob), lambda: io.BytesIO(blob))
        header = client.transport.tokens.header(
            server.host, client.transport.endpoint(server.host, True).challenge, [repo.scope("pull", "push")]
        )
        assert repr(client.transport.keychain.resolve(server.host)).count(server.password) == 0
    assert caplog.records, "expected debug logging from the HTTP stack"
    secret_b64 = base64.b64encode(f"{server.username}:{server.password}".encode()).decode()
    assert header is not None
    for secret in (server.password, secret_b64, header.split(" ", 1)[1]):
        assert secret not in caplog.text
