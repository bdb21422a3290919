"""OCI 1.1 referrers: the fallback tag name, the merge of its index, attach + list against the real registry
(distribution 2.8 has no referrers API) and, through a loopback stub, a registry that has one."""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import requests

from fixtures.images import LayoutImage, push_layout
from fixtures.registry import RegistryServer
from fixtures.tools import skopeo_inspect
from kiln.digest import Digest
from kiln.errors import RegistryError
from kiln.oci import Descriptor, Index, mediatypes
from kiln.oci.artifact import EMPTY_DESCRIPTOR, Payload, make_artifact
from kiln.reference import Reference
from kiln.registry.client import RegistryClient
from kiln.registry.copy import Copier
from kiln.registry.options import RegistryOptions
from kiln.registry.referrers import attach, copy_referrers, list_referrers, merge_referrer, referrers_tag
from registry.helpers import client_for, relay

_n = itertools.count()
SBOM = "application/vnd.example.sbom.v1+json"


def _entry(data: bytes, artifact_type: str = mediatypes.IN_TOTO) -> Descriptor:
    return Descriptor(mediatypes.OCI_MANIFEST, Digest.of_bytes(data), len(data), artifact_type=artifact_type)


def test_referrers_tag_follows_the_spec() -> None:
    sha256 = Digest("sha256", "a" * 64)
    assert referrers_tag(sha256) == "sha256-" + "a" * 64
    sha512 = Digest("sha512", "b" * 128)
    assert referrers_tag(sha512) == "sha512-" + "b" * 64  # encoded part cut to 64 characters


def test_merge_keeps_existing_entries_and_never_duplicates() -> None:
    first, second = _entry(b"one"), _entry(b"two", SBOM)
    start = merge_referrer(None, first)
    assert start.media_type == mediatypes.OCI_INDEX and start.manifests == (first,)
    both = merge_referrer(Index(mediatypes.OCI_INDEX, (first,), {"keep": "me"}), second)
    assert both.manifests == (first, second)
    assert both.annotations == {"keep": "me"}
    again = merge_referrer(both, second)
    assert again.manifests == (first, second)
    relabelled = Descriptor(second.media_type, second.digest, second.size, {"new": "1"}, artifact_type=SBOM)
    replaced = merge_referrer(both, relabelled)
    assert replaced.manifests == (first, relabelled)  # one entry per manifest digest, the newest wins


def test_artifact_manifest_shape() -> None:
    subject = Descriptor(mediatypes.OCI_MANIFEST, Digest.of_bytes(b"img"), 3, {"dropped": "x"})
    artifact = make_artifact(SBOM, [Payload(SBOM, b'{"sbom":1}')], subject, {"a": "b"})
    data = json.loads(artifact.raw)
    assert data["artifactType"] == SBOM
    assert data["config"] == {
        "mediaType": mediatypes.OCI_EMPTY_JSON,
        "digest": str(EMPTY_DESCRIPTOR.digest),
        "size": 2,
    }
    assert (
        str(EMPTY_DESCRIPTOR.digest)
        == "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    )
    assert data["subject"] == {"mediaType": mediatypes.OCI_MANIFEST, "digest": str(subject.digest), "size": 3}
    assert artifact.blobs == {EMPTY_DESCRIPTOR.digest: b"{}", Digest.of_bytes(b'{"sbom":1}'): b'{"sbom":1}'}
    desc = artifact.descriptor()
    assert (desc.artifact_type, desc.annotations, desc.digest) == (SBOM, {"a": "b"}, artifact.digest)


def _pushed(registry: RegistryServer, layout: LayoutImage) -> tuple[Reference, Descriptor]:
    n = next(_n)
    pushed = push_layout(layout, registry, f"refs-test/app{n}:v1")
    ref = Reference.parse(pushed.ref)
    raw = (layout.path / "blobs" / "sha256" / pushed.digest.split(":")[1]).read_bytes()
    return ref, Descriptor(mediatypes.OCI_MANIFEST, Digest.parse(pushed.digest), len(raw))


def test_attach_without_referrers_api_keeps_the_fallback_tag(
    registry_any: RegistryServer, busybox_layout: LayoutImage, tmp_path: Path
) -> None:
    ref, subject = _pushed(registry_any, busybox_layout)
    repo = ref.context()
    first = make_artifact(mediatypes.IN_TOTO, [Payload(mediatypes.IN_TOTO, b'{"n":1}')], subject)
    second = make_artifact(SBOM, [Payload(SBOM, b'{"n":2}')], subject, {"org.example": "yes"})
    with client_for(registry_any, tmp_path) as client:
        assert list_referrers(client, repo, subject.digest) == ()
        done = attach(client, repo, first)
        assert (done.via, done.digest) == ("fallback-tag", first.digest)
        attach(client, repo, second)
        attach(client, repo, first)  # again: listed once
        listed = list_referrers(client, repo, subject.digest)
        only_sbom = list_referrers(client, repo, subject.digest, SBOM)
    assert [d.digest for d in listed] == [first.digest, second.digest]
    assert [d.digest for d in only_sbom] == [second.digest]
    tag_index = skopeo_inspect(
        f"{repo.name}:{referrers_tag(subject.digest)}", raw=True, creds=registry_any.creds
    )
    assert [m["digest"] for m in tag_index["manifests"]] == [str(first.digest), str(second.digest)]
    assert tag_index["manifests"][1]["artifactType"] == SBOM
    assert tag_index["manifests"][1]["annotations"] == {"org.example": "yes"}
    stored = skopeo_inspect(f"{repo.name}@{first.digest}", raw=True, creds=registry_any.creds)
    assert stored["subject"]["digest"] == str(subject.digest)  # the registry kept the field as sent


def test_attach_over_plain_http_with_insecure_alone(
    registry_http: RegistryServer, busybox_layout: LayoutImage, tmp_path: Path
) -> None:
    """--insecure (plain HTTP for pushes, kaniko's usual flag for a local registry) covers the fallback tag's
    read-modify-write: that read is part of the push, not a pull (--insecure-pull)."""
    ref, subject = _pushed(registry_http, busybox_layout)
    artifact = make_artifact(mediatypes.IN_TOTO, [Payload(mediatypes.IN_TOTO, b'{"n":3}')], subject)
    with client_for(registry_http, tmp_path, insecure_registries=(), insecure=True) as client:
        done = attach(client, ref.context(), artifact)
        attach(client, ref.context(), artifact)  # the second attach reads the tag the first one wrote
    assert done.via == "fallback-tag"
    tag = f"{ref.context()}:{referrers_tag(subject.digest)}"
    index = skopeo_inspect(tag, raw=True)
    assert [m["digest"] for m in index["manifests"]] == [str(artifact.digest)]


def test_a_foreign_manifest_under_the_referrers_tag_is_not_overwritten(
    registry_http: RegistryServer, busybox_layout: LayoutImage, tmp_path: Path
) -> None:
    ref, subject = _pushed(registry_http, busybox_layout)
    squatter = push_layout(busybox_layout, registry_http, f"{ref.repository}:{referrers_tag(subject.digest)}")
    artifact = make_artifact(mediatypes.IN_TOTO, [Payload(mediatypes.IN_TOTO, b"{}x")], subject)
    with client_for(registry_http, tmp_path) as client, pytest.raises(RegistryError) as err:
        attach(client, ref.context(), artifact)
    assert "not a referrers index" in err.value.message
    info = skopeo_inspect(f"{ref.context().name}:{referrers_tag(subject.digest)}", raw=True)
    assert info["mediaType"] == mediatypes.OCI_MANIFEST and squatter.digest  # still the image


class _ReferrersStub(BaseHTTPRequestHandler):
    """STUB (no registry with the referrers API is installed here): relays to the real registry, adds the
    ``OCI-Subject`` header to manifest PUTs that carry a subject and answers ``/referrers/`` itself from what
    it saw pushed, so kiln's API branch is exercised against a registry that really stores everything."""

    upstream = ""
    seen: ClassVar[dict[str, list[dict[str, object]]]] = {}

    def log_message(self, *args: object) -> None:
        pass

    def _relay(self, body: bytes | None) -> requests.Response:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        return requests.request(
            self.command,
            self.upstream + self.path,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=30,
        )

    def do_GET(self) -> None:
        if re.match(r"^/v2/.+/referrers/[^/]+$", self.path):
            digest = self.path.rsplit("/", 1)[1]
            entries = self.seen.get(digest, [])
            body = json.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": entries})
            self.send_response(200)
            self.send_header("Content-Type", mediatypes.OCI_INDEX)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())
            return
        relay(self, self._relay(None))

    do_HEAD = do_GET

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_POST(self) -> None:
        relay(self, self._relay(self._body()))

    def do_PATCH(self) -> None:
        relay(self, self._relay(self._body()))

    def do_PUT(self) -> None:
        body = self._body()
        resp = self._relay(body)
        if "/manifests/" in self.path and resp.status_code == 201:
            doc = json.loads(body)
            if "subject" in doc:
                self.seen.setdefault(doc["subject"]["digest"], []).append(
                    {
                        "mediaType": doc["mediaType"],
                        "digest": str(Digest.of_bytes(body)),
                        "size": len(body),
                        "artifactType": doc["artifactType"],
                    }
                )
                resp.headers["OCI-Subject"] = doc["subject"]["digest"]
        relay(self, resp)


@pytest.fixture
def referrers_stub(registry_http: RegistryServer) -> Iterator[str]:
    handler = type("Stub", (_ReferrersStub,), {"upstream": registry_http.url, "seen": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_attach_with_referrers_api_sets_no_fallback_tag(
    registry_http: RegistryServer, busybox_layout: LayoutImage, referrers_stub: str
) -> None:
    real, subject = _pushed(registry_http, busybox_layout)
    repo = Reference.parse(f"{referrers_stub}/{real.repository}:v1").context()
    artifact = make_artifact(mediatypes.IN_TOTO, [Payload(mediatypes.IN_TOTO, b'{"api":1}')], subject)
    client = RegistryClient(RegistryOptions(insecure_registries=(referrers_stub,), retry_base_delay=0.01))
    with client:
        done = attach(client, repo, artifact)
        listed = list_referrers(client, repo, subject.digest)
    assert done.via == "referrers-api"
    assert [d.digest for d in listed] == [artifact.digest]
    tags = requests.get(f"{registry_http.url}/v2/{real.repository}/tags/list", timeout=30).json()["tags"]
    assert referrers_tag(subject.digest) not in tags


def test_copy_referrers_into_a_registry_with_the_api_sets_no_fallback_tag(
    registry_http: RegistryServer, busybox_layout: LayoutImage, referrers_stub: str
) -> None:
    """The source keeps its referrers under the fallback tag (the real registry); the destination, reached
    through the stub, indexes the subject itself: the copy is listed by its API, and no tag is written."""
    real, subject = _pushed(registry_http, busybox_layout)
    source = real.context()
    artifact = make_artifact(mediatypes.IN_TOTO, [Payload(mediatypes.IN_TOTO, b'{"copy":1}')], subject)
    target = Reference.parse(f"{referrers_stub}/copied/{real.repository}:v1").context()
    client = RegistryClient(
        RegistryOptions(insecure_registries=(referrers_stub, registry_http.host), retry_base_delay=0.01)
    )
    with client:
        assert attach(client, source, artifact).via == "fallback-tag"
        copier = Copier(client)
        copier.copy_manifest(client.fetch_manifest(source, source.with_digest(subject.digest)), target)
        (done,) = copy_referrers(client, copier, source, subject.digest, target)
        listed = list_referrers(client, target, subject.digest)
    assert (done.via, done.digest) == ("referrers-api", artifact.digest)
    assert [d.digest for d in listed] == [artifact.digest]
    listing = requests.get(f"{registry_http.url}/v2/copied/{real.repository}/tags/list", timeout=30).json()
    assert referrers_tag(subject.digest) not in (listing.get("tags") or [])  # no tag at all: no "tags" key
    stored = requests.get(
        f"{registry_http.url}/v2/copied/{real.repository}/manifests/{artifact.digest}",
        headers={"Accept": mediatypes.OCI_MANIFEST},
        timeout=30,
    )
    assert stored.content == artifact.raw  # byte for byte: same digest, same subject
