"""Images, clients and integrity checks for the registry fault tests (shared with the report command).

Every image is made of fresh random layers, so nothing is already in the registry and every blob really travels
through the fault proxy. Integrity is checked in the registry's own storage (``RegistryServer.blob_path``), not
through kiln, so a kiln bug cannot hide a lost byte.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fixtures.registry import RegistryServer
from kiln.digest import Digest
from kiln.oci import FileLayer, Image, ImageConfig, mediatypes
from kiln.oci.manifest import Manifest
from kiln.oci.mutate import new_image
from kiln.reference import Reference
from kiln.registry import RegistryClient, RegistryOptions
from kiln.registry.keychain import default_keychain
from reliability.faultproxy import LogEntry

LAYER_BYTES = 300_000


def make_layer(directory: Path, name: str, size: int = LAYER_BYTES) -> FileLayer:
    """A gzip layer holding one file of random (incompressible) bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"data/{name}")
        payload = os.urandom(size)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    uncompressed = raw.getvalue()
    compressed = gzip.compress(uncompressed, mtime=0)
    path = directory / f"{name}.tar.gz"
    path.write_bytes(compressed)
    return FileLayer(
        path,
        Digest.of_bytes(compressed),
        Digest.of_bytes(uncompressed),
        len(compressed),
        mediatypes.OCI_LAYER_GZIP,
    )


def make_image(directory: Path, layers: int = 3) -> Image:
    directory.mkdir(parents=True, exist_ok=True)
    made = tuple(make_layer(directory, f"layer{i}") for i in range(layers))
    return new_image(ImageConfig(architecture="amd64", os="linux"), made)


@dataclass
class Sleeps:
    """Records every backoff the client asks for, and sleeps a capped amount so the suite stays fast."""

    cap: float = 0.05
    asked: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        time.sleep(min(seconds, self.cap))


def proxied_client(
    proxy_host: str,
    sleeps: Callable[[float], None],
    *,
    retries: int = 4,
    timeout: float = 10.0,
    **extra: object,
) -> RegistryClient:
    options = RegistryOptions(
        insecure_registries=(proxy_host,),
        push_retry=retries,
        image_download_retry=retries,
        request_retries=0,  # the table's budgets are the flags' alone
        retry_base_delay=0.01,
        timeout=timeout,
        environ={},
    )
    kwargs: dict[str, object] = {"sleep": sleeps}
    kwargs.update(extra)
    return RegistryClient(options, default_keychain({}), **kwargs)  # type: ignore[arg-type]


def direct_client(server: RegistryServer) -> RegistryClient:
    options = RegistryOptions(insecure_registries=(server.host,), retry_base_delay=0.01, environ={})
    return RegistryClient(options, default_keychain({}))


def stored_ok(server: RegistryServer, digest: Digest) -> bool:
    """Is the blob in the registry's storage with exactly the bytes its digest names?"""
    path = server.blob_path(str(digest))
    if not path.is_file():
        return False
    h = hashlib.new(digest.algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest() == digest.hex


@dataclass(frozen=True)
class Integrity:
    tags: int  # tags that exist in the repository
    incomplete: int  # tags pointing at a manifest with a missing or wrong blob
    bytes_lost: int  # bytes of blobs those manifests name that the registry does not hold intact


def check_repository(server: RegistryServer, repository: str) -> Integrity:
    """Every tag of ``repository`` must point at a manifest whose config and layers are all stored intact."""
    tags = incomplete = lost = 0
    with direct_client(server) as client:
        repo = Reference.parse(server.ref(repository)).context()
        for tag in client.list_tags(repo):
            tags += 1
            fetched = client.fetch_manifest(repo, Reference.parse(server.ref(f"{repository}:{tag}")))
            manifest = Manifest.from_bytes(fetched.raw)
            bad = [d for d in (manifest.config, *manifest.layers) if not stored_ok(server, d.digest)]
            if bad:
                incomplete += 1
                lost += sum(d.size for d in bad)
    return Integrity(tags, incomplete, lost)


def lost_in_directory(directory: Path) -> tuple[int, int]:
    """(bytes in files whose content does not match their digest name, partial files left behind)."""
    lost = partial = 0
    if not directory.exists():
        return 0, 0
    for path in directory.rglob("*"):
        if not path.is_file():
            continue
        if path.name.startswith(".partial-"):
            partial += 1
            continue
        digest = Digest(path.parent.name, path.name)
        h = hashlib.new(digest.algorithm)
        h.update(path.read_bytes())
        if h.hexdigest() != digest.hex:
            lost += path.stat().st_size
    return lost, partial


def manifest_before_blobs(log: list[LogEntry], manifests: dict[str, set[str]]) -> list[str]:
    """Manifest PUTs that reached the registry before every blob they name was stored (must be none).

    A blob counts as stored once the registry answered 201 to the PUT that closed its upload, 200 to a HEAD,
    or 201 to a mount -- whatever the client was then allowed to see of that answer.
    """
    present: set[str] = set()
    early: list[str] = []
    for entry in log:
        path = entry.path
        if entry.method == "PUT" and "/blobs/uploads/" in path and entry.status == 201 and "digest=" in path:
            present.add(path.split("digest=", 1)[1].split("&", 1)[0].replace("%3A", ":"))
        elif entry.method == "HEAD" and "/blobs/" in path and entry.status == 200:
            present.add(path.rsplit("/", 1)[1])
        elif entry.method == "POST" and "mount=" in path and entry.status == 201:
            present.add(path.split("mount=", 1)[1].split("&", 1)[0].replace("%3A", ":"))
        elif entry.method == "PUT" and "/manifests/" in path and entry.status in (200, 201):
            for digest_set in manifests.values():
                missing = digest_set - present
                if missing:
                    early.append(f"{path} before {sorted(missing)}")
    return early
