"""Pulls and pushes through a fault-injecting proxy in front of the REAL registry (docker-registry on loopback).

The faults are real socket behaviour (resets, short bodies, lying headers, stalls) made by ``faultproxy``; the
registry behind it is the real one. Each case states what must happen: ``survive`` (the operation completes with
intact bytes thanks to retries/resumes) or ``reject`` (a clean kiln error, nothing wrong accepted, and a second,
fault-free run completes). In every case no byte is lost: no wrong file under a digest name, no partial files,
no tag pointing at an image with a missing blob, and no manifest PUT before its blobs.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.registry import RegistryServer
from kiln.digest import Digest
from kiln.errors import DigestMismatch, KilnError, RegistryError
from kiln.oci import Image, Platform
from kiln.reference import Reference
from kiln.registry import download_layers, pull, push_image
from reliability import stats
from reliability.faultproxy import Fault, FaultProxy
from reliability.registry_world import (
    Sleeps,
    check_repository,
    direct_client,
    lost_in_directory,
    make_image,
    manifest_before_blobs,
    proxied_client,
    stored_ok,
)

pytestmark = pytest.mark.registry

Faults = Callable[[dict[str, str]], list[Fault]]


@dataclass(frozen=True)
class Case:
    name: str
    faults: Faults
    expect: str  # "survive" or "reject"
    timeout: float = 10.0
    retries: int = 4
    retry_after: float | None = None  # a Retry-After the client must have waited at least
    client_extra: tuple[tuple[str, int], ...] = ()


@pytest.fixture
def proxy(registry_http: RegistryServer) -> Iterator[FaultProxy]:
    with FaultProxy(registry_http.host) as running:
        yield running


def _digests(image: Image) -> dict[str, str]:
    layers = image.layers()
    return {
        "layer0": str(layers[0].digest),
        "layer1": str(layers[1].digest),
        "layer2": str(layers[2].digest),
        "config": str(image.manifest().config.digest),
    }


PULL_CASES = [
    Case(
        "blob connection reset mid-body (x2)",
        lambda d: [Fault("reset", "GET", d["layer0"], 2, after_bytes=100_000)],
        "survive",
    ),
    Case(
        "blob body truncated, clean close (x2)",
        lambda d: [Fault("truncate", "GET", d["layer1"], 2, after_bytes=50_000)],
        "survive",
    ),
    Case(
        "blob Content-Length longer than body",
        lambda d: [Fault("long_length", "GET", d["layer2"])],
        "survive",
    ),
    Case("blob GET 500", lambda d: [Fault("status", "GET", d["layer0"], status=500)], "survive"),
    Case("manifest GET 502", lambda d: [Fault("status", "GET", "/manifests/", status=502)], "survive"),
    Case(
        "manifest GET 503 (x3)", lambda d: [Fault("status", "GET", "/manifests/", 3, status=503)], "survive"
    ),
    Case("ping /v2/ 503 (x2)", lambda d: [Fault("status", "GET", r"^/v2/$", 2, status=503)], "survive"),
    Case(
        "blob GET 429 Retry-After: 2",
        lambda d: [Fault("status", "GET", d["layer1"], status=429, retry_after="2")],
        "survive",
        retry_after=2.0,
    ),
    Case(
        "manifest answer slower than the timeout",
        lambda d: [Fault("slow", "GET", "/manifests/", delay=1.5)],
        "survive",
        timeout=0.5,
    ),
    Case(
        "blob stalls mid-body beyond the timeout",
        lambda d: [Fault("stall", "GET", d["layer2"], after_bytes=20_000, delay=1.5)],
        "survive",
        timeout=0.5,
    ),
    Case(
        "config blob reset mid-body",
        lambda d: [Fault("reset", "GET", d["config"], after_bytes=20)],
        "survive",
    ),
    Case(
        "manifest connection reset mid-body",
        lambda d: [Fault("reset", "GET", "/manifests/", after_bytes=40)],
        "survive",
    ),
    Case(
        "blob byte flipped (same length)",
        lambda d: [Fault("corrupt", "GET", d["layer0"], after_bytes=12_345)],
        "reject",
    ),
    Case(
        "blob Content-Length shorter than body",
        lambda d: [Fault("short_length", "GET", d["layer1"], after_bytes=1000)],
        "reject",
    ),
    Case(
        "manifest with a wrong Docker-Content-Digest",
        lambda d: [Fault("bad_digest", "GET", "/manifests/")],
        "reject",
    ),
    Case(
        "config blob byte flipped", lambda d: [Fault("corrupt", "GET", d["config"], after_bytes=5)], "reject"
    ),
    Case(
        "blob 503 beyond the retry budget",
        lambda d: [Fault("status", "GET", d["layer2"], 10, status=503)],
        "reject",
        retries=2,
    ),
]


def _pull_into(client_host: str, repository: str, target: Path, case: Case | None, sleeps: Sleeps) -> None:
    timeout = case.timeout if case else 10.0
    retries = case.retries if case else 4
    with proxied_client(client_host, sleeps, retries=retries, timeout=timeout) as client:
        ref = Reference.parse(f"{client_host}/{repository}:v1")
        image = pull(client, ref, Platform.parse("linux/amd64"))
        download_layers(image, target)


@pytest.mark.parametrize("case", PULL_CASES, ids=[c.name for c in PULL_CASES])
def test_pull_through_faults(
    case: Case, proxy: FaultProxy, registry_http: RegistryServer, tmp_path: Path
) -> None:
    repository = "faults/pull-" + "".join(ch if ch.isalnum() else "-" for ch in case.name.lower())[:60].strip(
        "-"
    )
    image = make_image(tmp_path / "src")
    with direct_client(registry_http) as client:
        push_image(client, image, [Reference.parse(registry_http.ref(f"{repository}:v1"))])
    expected = {str(layer.digest): Path(layer.path).read_bytes() for layer in image.layers()}  # type: ignore[attr-defined]
    proxy.arm(*case.faults(_digests(image)))
    sleeps = Sleeps()
    target = tmp_path / "blobs"
    error: KilnError | None = None
    try:
        _pull_into(proxy.host, repository, target, case, sleeps)
    except KilnError as err:
        error = err
    injected = proxy.injected
    lost, partial = lost_in_directory(target)
    second_run = False
    if case.expect == "survive":
        assert error is None, f"{case.name}: {error}"
    else:
        assert error is not None, f"{case.name}: a lying answer was accepted"
        assert isinstance(error, (DigestMismatch, RegistryError))
        proxy.disarm()  # the outage is over: a clean rerun must complete
        _pull_into(proxy.host, repository, target, None, Sleeps())
        second_run = True
    for digest, data in expected.items():
        path = target / "sha256" / Digest.parse(digest).hex
        must_exist = error is None or second_run
        if (path.exists() and path.read_bytes() != data) or (must_exist and not path.exists()):
            lost += len(data)
    stats.record(
        "registry",
        f"pull: {case.name}",
        injected=injected,
        survived=error is None,
        second_run=second_run,
        bytes_lost=lost,
        partial_files=partial,
    )
    assert injected >= 1, "the fault never fired: the case tests nothing"
    assert lost == 0 and partial == 0
    if case.retry_after is not None:
        assert max(sleeps.asked) >= case.retry_after
    if case.name == "manifest GET 503 (x3)":
        assert sleeps.asked[:3] == [0.01, 0.02, 0.04]  # exponential backoff from retry_base_delay


PUSH_CASES = [
    Case(
        "upload start POST 503 (x2)",
        lambda d: [Fault("status", "POST", "/blobs/uploads/", 2, status=503)],
        "survive",
    ),
    Case(
        "blob PUT reset mid-body (x2)",
        lambda d: [Fault("reset_upload", "PUT", d["layer0"].replace(":", "%3A"), 2, after_bytes=100_000)],
        "survive",
    ),
    Case("blob PUT 500", lambda d: [Fault("status", "PUT", "/blobs/uploads/", status=500)], "survive"),
    Case(
        "blob HEAD 429 Retry-After: 1",
        lambda d: [Fault("status", "HEAD", d["layer1"], status=429, retry_after="1")],
        "survive",
        retry_after=1.0,
    ),
    Case(
        "blob PUT answer slower than the timeout",
        lambda d: [Fault("slow", "PUT", d["layer2"].replace(":", "%3A"), delay=1.5)],
        "survive",
        timeout=0.5,
    ),
    Case("manifest PUT 503", lambda d: [Fault("status", "PUT", "/manifests/", status=503)], "survive"),
    Case(
        "manifest PUT reset mid-body",
        lambda d: [Fault("reset_upload", "PUT", "/manifests/", after_bytes=10)],
        "survive",
    ),
    Case(
        "chunked PATCH reset mid-chunk",
        lambda d: [Fault("reset_upload", "PATCH", "/blobs/uploads/", after_bytes=1000)],
        "survive",
        client_extra=(("chunked_threshold", 1), ("chunk_size", 128 << 10)),
    ),
    Case(
        "blob PUT reset, no retries allowed",
        lambda d: [Fault("reset_upload", "PUT", d["layer1"].replace(":", "%3A"), after_bytes=50_000)],
        "reject",
        retries=0,
    ),
    Case(
        "manifest PUT 503 beyond the retry budget",
        lambda d: [Fault("status", "PUT", "/manifests/", 10, status=503)],
        "reject",
        retries=1,
    ),
]


def _push(proxy: FaultProxy, image: Image, repository: str, case: Case | None, sleeps: Sleeps) -> None:
    extra = dict(case.client_extra) if case else {}
    timeout = case.timeout if case else 10.0
    retries = case.retries if case else 4
    with proxied_client(proxy.host, sleeps, retries=retries, timeout=timeout, **extra) as client:
        push_image(client, image, [Reference.parse(f"{proxy.host}/{repository}:v1")])


@pytest.mark.parametrize("case", PUSH_CASES, ids=[c.name for c in PUSH_CASES])
def test_push_through_faults(
    case: Case, proxy: FaultProxy, registry_http: RegistryServer, tmp_path: Path
) -> None:
    repository = "faults/push-" + "".join(ch if ch.isalnum() else "-" for ch in case.name.lower())[:60].strip(
        "-"
    )
    image = make_image(tmp_path / "src")
    proxy.arm(*case.faults(_digests(image)))
    sleeps = Sleeps()
    error: KilnError | None = None
    try:
        _push(proxy, image, repository, case, sleeps)
    except KilnError as err:
        error = err
    injected = proxy.injected
    after_fault = check_repository(registry_http, repository)
    second_run = False
    if case.expect == "survive":
        assert error is None, f"{case.name}: {error}"
    else:
        assert isinstance(error, RegistryError), f"{case.name}: expected a registry error, got {error!r}"
        assert after_fault.tags == 0, "an interrupted push left a tag behind"
        proxy.disarm()
        _push(proxy, image, repository, None, Sleeps())
        second_run = True
    final = check_repository(registry_http, repository)
    blobs = {str(d.digest) for d in (image.manifest().config, *image.manifest().layers)}
    early = manifest_before_blobs(proxy.log, {"image": blobs})
    stats.record(
        "registry",
        f"push: {case.name}",
        injected=injected,
        survived=error is None,
        second_run=second_run,
        bytes_lost=after_fault.bytes_lost + final.bytes_lost,
        incomplete_tags=after_fault.incomplete + final.incomplete,
        manifest_before_blobs=len(early),
    )
    assert injected >= 1, "the fault never fired: the case tests nothing"
    assert early == []
    assert after_fault.incomplete == 0 and final.incomplete == 0
    assert final.tags == 1 and final.bytes_lost == 0
    if case.retry_after is not None:
        assert max(sleeps.asked) >= case.retry_after


def test_corrupt_local_layer_is_never_stored_under_its_digest(
    proxy: FaultProxy, registry_http: RegistryServer, tmp_path: Path
) -> None:
    """A layer file that changed on disk after its digest was taken: the registry refuses it, no tag appears."""
    image = make_image(tmp_path / "src")
    layer = image.layers()[1]
    path = Path(layer.path)  # type: ignore[attr-defined]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    repository = "faults/push-corrupt-local"
    with (
        proxied_client(proxy.host, Sleeps(), retries=2) as client,
        pytest.raises(KilnError) as info,
    ):
        push_image(client, image, [Reference.parse(f"{proxy.host}/{repository}:v1")])
    integrity = check_repository(registry_http, repository)
    assert not stored_ok(registry_http, layer.digest)
    assert not registry_http.blob_path(str(layer.digest)).exists()
    assert integrity.tags == 0
    stats.record(
        "registry",
        "push: local layer corrupted after hashing",
        injected=1,
        survived=False,
        second_run=False,
        bytes_lost=0,
        rejected=isinstance(info.value, KilnError),
    )


def test_interrupted_push_leaves_existing_tag_intact(
    proxy: FaultProxy, registry_http: RegistryServer, tmp_path: Path
) -> None:
    """Re-pushing a tag that is cut off halfway keeps the old, complete image under the tag."""
    repository = "faults/push-retag"
    old = make_image(tmp_path / "old")
    with direct_client(registry_http) as client:
        old_digest = push_image(client, old, [Reference.parse(registry_http.ref(f"{repository}:v1"))])
    new = make_image(tmp_path / "new")
    proxy.arm(Fault("reset_upload", "PUT", "/blobs/uploads/", 10, after_bytes=1000))
    with proxied_client(proxy.host, Sleeps(), retries=1) as client, pytest.raises(RegistryError):
        push_image(client, new, [Reference.parse(f"{proxy.host}/{repository}:v1")])
    integrity = check_repository(registry_http, repository)
    assert integrity.tags == 1 and integrity.incomplete == 0
    with direct_client(registry_http) as client:
        head = client.head_manifest(Reference.parse(registry_http.ref(f"{repository}:v1")))
    assert head is not None and head.digest == old_digest
    stats.record(
        "registry",
        "push: re-tag interrupted",
        injected=proxy.injected,
        survived=False,
        second_run=False,
        bytes_lost=integrity.bytes_lost,
    )


def test_upload_body_is_streamed_not_buffered(proxy: FaultProxy, tmp_path: Path) -> None:
    """The fault proxy forwards uploads byte for byte: what arrives is exactly the blob (a check of the proxy)."""
    blob = b"kiln" * 50_000
    digest = Digest.of_bytes(blob)
    repo = Reference.parse(f"{proxy.host}/faults/proxy-check").context()
    with proxied_client(proxy.host, Sleeps()) as client:
        client.upload_blob(repo, digest, len(blob), lambda: io.BytesIO(blob))
        with client.open_blob(repo, digest, len(blob)) as reader:
            assert reader.read() == blob
