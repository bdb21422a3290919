"""Retries in front of the REAL registry: an adapter injects 503/429 answers before passing requests on.

The injected failures are synthetic (a requests transport adapter), because the real registry cannot be told to
fail on demand; everything after them is the real server. Sleeps are recorded instead of slept.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from fixtures.registry import RegistryServer
from kiln.digest import Digest
from kiln.errors import RegistryError
from kiln.oci import mediatypes
from kiln.reference import Reference, Repository
from kiln.registry.client import RegistryClient
from registry.helpers import options_for


class FailingAdapter(HTTPAdapter):
    """Answers the first ``failures`` requests whose path contains ``match`` with ``status`` itself."""

    def __init__(
        self,
        failures: int,
        status: int,
        match: str,
        retry_after: str | None = None,
        code: str = "UNAVAILABLE",
    ) -> None:
        super().__init__()
        self.failures = failures
        self.status = status
        self.match = match
        self.retry_after = retry_after
        self.code = code
        self.injected = 0
        self.passed: list[str] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if self.match in (request.url or "") and self.injected < self.failures:
            self.injected += 1
            resp = requests.Response()
            resp.status_code = self.status
            resp.url = request.url or ""
            resp.request = request
            resp.headers["Content-Type"] = "application/json"
            if self.retry_after is not None:
                resp.headers["Retry-After"] = self.retry_after
            resp._content = json.dumps({"errors": [{"code": self.code, "message": "injected"}]}).encode()
            return resp
        self.passed.append(request.method or "")
        return super().send(request, *args, **kwargs)


def _client(
    server: RegistryServer, adapter: FailingAdapter, sleeps: list[float], **extra: Any
) -> RegistryClient:
    session = requests.Session()
    session.mount("http://", adapter)
    options = options_for(server, **extra)
    return RegistryClient(options, session=session, sleep=sleeps.append)


def test_push_retries_503_then_succeeds(registry_http: RegistryServer) -> None:
    adapter = FailingAdapter(2, 503, "/blobs/uploads/")
    sleeps: list[float] = []
    blob = b"retry me" * 1000
    digest = Digest.of_bytes(blob)
    repo = Reference.parse(registry_http.ref("retry/push")).context()
    with _client(registry_http, adapter, sleeps, push_retry=3, retry_base_delay=0.5) as client:
        client.upload_blob(repo, digest, len(blob), lambda: io.BytesIO(blob))
        assert client.blob_exists(repo, digest)
    assert adapter.injected == 2
    assert sleeps == [0.5, 1.0]  # exponential backoff: base * 2**attempt


def test_pull_honours_retry_after_on_429(registry_http: RegistryServer) -> None:
    blob = b"x" * 10
    digest = Digest.of_bytes(blob)
    repo = Reference.parse(registry_http.ref("retry/pull")).context()
    with RegistryClient(options_for(registry_http)) as plain:
        plain.upload_blob(repo, digest, len(blob), lambda: io.BytesIO(blob))
    adapter = FailingAdapter(1, 429, f"/blobs/{digest}", retry_after="7")
    sleeps: list[float] = []
    client = _client(registry_http, adapter, sleeps, image_download_retry=2, retry_base_delay=0.01)
    with client, client.open_blob(repo, digest, len(blob)) as reader:
        assert reader.read() == blob
    assert sleeps == [7.0]


def test_retries_are_bounded(registry_http: RegistryServer) -> None:
    adapter = FailingAdapter(100, 503, "/manifests/")
    sleeps: list[float] = []
    client = _client(registry_http, adapter, sleeps, image_download_retry=2)
    with client, pytest.raises(RegistryError) as info:
        client.get_manifest(Reference.parse(registry_http.ref("retry/bounded:x")))
    assert adapter.injected == 3  # first try + 2 retries
    assert len(sleeps) == 2
    assert info.value.status == 503 and info.value.temporary
    assert info.value.code == "UNAVAILABLE"


def _stored_blob(server: RegistryServer, name: str) -> tuple[Repository, Digest]:
    blob = name.encode() * 100
    digest = Digest.of_bytes(blob)
    repo = Reference.parse(server.ref(name)).context()
    with RegistryClient(options_for(server)) as plain:
        plain.upload_blob(repo, digest, len(blob), lambda: io.BytesIO(blob))
    return repo, digest


def test_without_flags_a_request_is_tried_three_times(registry_http: RegistryServer) -> None:
    """kaniko's registry library retries a 5xx on its own (3 attempts) even with --push-retry 0, so a
    registry that answers one HEAD with a 500 while another job commits the same blob fails no build."""
    repo, digest = _stored_blob(registry_http, "retry/floor")
    adapter = FailingAdapter(2, 500, f"/blobs/{digest}")
    sleeps: list[float] = []
    with _client(registry_http, adapter, sleeps) as client:
        assert client.blob_exists(repo, digest)
    assert adapter.injected == 2 and sleeps == [0.01, 0.02]

    adapter = FailingAdapter(3, 500, f"/blobs/{digest}")
    with _client(registry_http, adapter, []) as client, pytest.raises(RegistryError) as info:
        client.blob_exists(repo, digest)
    assert adapter.injected == 3 and info.value.status == 500


def test_flags_raise_the_floor_and_request_retries_zero_removes_it(registry_http: RegistryServer) -> None:
    repo, digest = _stored_blob(registry_http, "retry/raised")
    adapter = FailingAdapter(4, 503, f"/blobs/{digest}")
    with _client(registry_http, adapter, [], image_download_retry=4) as client:
        assert client.blob_exists(repo, digest, push=False)
    assert adapter.injected == 4

    adapter = FailingAdapter(1, 503, "/manifests/")
    sleeps: list[float] = []
    with _client(registry_http, adapter, sleeps, request_retries=0) as client, pytest.raises(RegistryError):
        client.get_manifest(Reference.parse(registry_http.ref("retry/none:x")))
    assert adapter.injected == 1 and sleeps == []


def _manifest_naming(config: bytes, layer: bytes) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": {
                "mediaType": mediatypes.OCI_CONFIG,
                "digest": str(Digest.of_bytes(config)),
                "size": len(config),
            },
            "layers": [
                {"mediaType": mediatypes.OCI_LAYER, "digest": str(Digest.of_bytes(layer)), "size": len(layer)}
            ],
        }
    ).encode()


def test_manifest_put_is_sent_again_when_the_registry_could_not_read_a_blob_yet(
    registry_http: RegistryServer,
) -> None:
    """distribution answers DIGEST_INVALID when it checks a manifest while another job rewrites the link file of
    a blob the manifest names (seen in CI: two matrix jobs pushing one layer). The injected answer is synthetic;
    the second PUT goes to the real registry, which stores the manifest."""
    repo, layer_digest = _stored_blob(registry_http, "retry/manifest")
    layer = b"retry/manifest" * 100
    config = b'{"architecture":"amd64","os":"linux"}'
    with RegistryClient(options_for(registry_http)) as plain:
        plain.upload_blob(repo, Digest.of_bytes(config), len(config), lambda: io.BytesIO(config))
    raw = _manifest_naming(config, layer)
    ref = Reference.parse(registry_http.ref("retry/manifest:v1"))
    adapter = FailingAdapter(1, 400, "/manifests/", code="DIGEST_INVALID")
    sleeps: list[float] = []
    with _client(registry_http, adapter, sleeps) as client:
        assert client.put_manifest(ref, raw, mediatypes.OCI_MANIFEST) == Digest.of_bytes(raw)
        assert client.get_manifest(ref).raw == raw
    assert adapter.injected == 1 and sleeps == [0.01]
    assert layer_digest == Digest.of_bytes(layer)


def test_a_manifest_naming_a_missing_blob_still_fails_after_the_retries(
    registry_http: RegistryServer,
) -> None:
    config = b'{"architecture":"amd64","os":"linux"}'
    raw = _manifest_naming(config, b"never pushed")
    ref = Reference.parse(registry_http.ref("retry/missing:v1"))
    adapter = FailingAdapter(0, 400, "/manifests/")
    with _client(registry_http, adapter, []) as client, pytest.raises(RegistryError) as info:
        client.put_manifest(ref, raw, mediatypes.OCI_MANIFEST)
    assert info.value.code == "MANIFEST_BLOB_UNKNOWN"
    assert adapter.passed.count("PUT") == 3  # the first PUT and the 2 of the request_retries floor
