"""Push: every blob first (in parallel, streamed, mounted when possible), then the manifest for each tag.

Why this order: a registry may garbage-collect or refuse a manifest whose blobs are missing, and a tag must never
point at an image that cannot be pulled. The manifest goes up only after every blob is confirmed present.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

from kiln.digest import Digest
from kiln.errors import DigestMismatch, UsageError
from kiln.oci import Image, ImageIndex, Layer, mediatypes
from kiln.reference import Reference, Repository
from kiln.registry.client import RegistryClient
from kiln.registry.remote import RemoteLayer

DEFAULT_WORKERS = 4
# layers registries do not store (their URLs point elsewhere): never pushed, never copied
FOREIGN_LAYERS = frozenset(
    {
        mediatypes.DOCKER_FOREIGN_LAYER,
        mediatypes.OCI_LAYER_NONDIST,
        mediatypes.OCI_LAYER_NONDIST_GZIP,
        mediatypes.OCI_LAYER_NONDIST_ZSTD,
    }
)


def _mount_source(layer: Layer, repo: Repository) -> Repository | None:
    if isinstance(layer, RemoteLayer) and layer.repository.api_host == repo.api_host:
        return layer.repository
    return None


def _group_by_repository(refs: Sequence[Reference]) -> dict[Repository, list[Reference]]:
    if not refs:
        raise UsageError("nothing to push: no destination given")
    groups: dict[Repository, list[Reference]] = {}
    for ref in refs:
        groups.setdefault(ref.context(), []).append(ref)
    return groups


def push_blobs(
    client: RegistryClient, image: Image, repo: Repository, workers: int = DEFAULT_WORKERS
) -> None:
    """Upload the image's layers (concurrently) and config to ``repo``; returns when all are present."""
    uploads: list[tuple[Digest, int, Callable[[], BinaryIO], Repository | None]] = []
    for layer in image.layers():
        if layer.media_type in FOREIGN_LAYERS:
            continue
        uploads.append((layer.digest, layer.size, layer.open_compressed, _mount_source(layer, repo)))
    raw_config = image.raw_config()
    config_digest = image.manifest().config.digest
    if Digest.of_bytes(raw_config, config_digest.algorithm) != config_digest:
        raise DigestMismatch(str(config_digest), str(Digest.of_bytes(raw_config)), "image config")
    uploads.append((config_digest, len(raw_config), lambda: io.BytesIO(raw_config), None))
    seen: set[Digest] = set()
    unique = [u for u in uploads if not (u[0] in seen or seen.add(u[0]))]  # type: ignore[func-returns-value]
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="kiln-push") as pool:
        futures = [
            pool.submit(client.upload_blob, repo, digest, size, opener, mount_from=source)
            for digest, size, opener, source in unique
        ]
        for future in futures:
            future.result()  # re-raises the first failure; the manifest is never pushed then


def push_image(
    client: RegistryClient, image: Image, refs: Sequence[Reference], workers: int = DEFAULT_WORKERS
) -> Digest:
    """Push ``image`` to every destination (tags or digests, any repositories); returns the manifest digest."""
    raw = image.raw_manifest()
    for repo, targets in _group_by_repository(refs).items():
        push_blobs(client, image, repo, workers)
        for ref in targets:
            client.put_manifest(ref, raw, image.media_type())
    return image.digest()


def push_index(
    client: RegistryClient, index: ImageIndex, refs: Sequence[Reference], workers: int = DEFAULT_WORKERS
) -> Digest:
    """Push each child image by digest, then the index under every destination tag."""
    raw = index.raw_index()
    for repo, targets in _group_by_repository(refs).items():
        for desc in index.index().manifests:
            child = index.image(desc)
            push_blobs(client, child, repo, workers)
            client.put_manifest(repo.with_digest(desc.digest), child.raw_manifest(), child.media_type())
        for ref in targets:
            client.put_manifest(ref, raw, index.media_type())
    return index.digest()
