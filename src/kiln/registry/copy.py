"""Copy an image or index between repositories/registries byte for byte (what ``crane copy`` does).

Why at this level: copying (the cache warmer, re-tagging, mirroring a base image) must keep digests identical,
so manifests are moved as the exact bytes served, and blobs are streamed from the source straight into the
upload (verified against their digest on the way; a corrupted source blob fails the copy before any manifest
is written). Only the descriptors' digests and sizes are read from the JSON; this is not an image model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO

from kiln.digest import Digest
from kiln.errors import KilnError, RegistryError, UsageError
from kiln.reference import Reference, Repository
from kiln.registry.client import FetchedManifest, RegistryClient
from kiln.registry.push import FOREIGN_LAYERS

DEFAULT_WORKERS = 4


@dataclass(frozen=True)
class BlobRef:
    """A blob a manifest points at: its digest, size and media type."""

    digest: Digest
    size: int
    media_type: str


def _descriptor(value: Any, where: str) -> BlobRef:
    try:
        return BlobRef(
            Digest.parse(str(value["digest"])), int(value["size"]), str(value.get("mediaType", ""))
        )
    except (KeyError, TypeError, ValueError, KilnError):
        raise RegistryError(f"{where}: malformed descriptor in manifest", code="MANIFEST_INVALID") from None


def manifest_references(fetched: FetchedManifest) -> tuple[list[BlobRef], list[BlobRef]]:
    """(blobs, child manifests) named by a manifest or index: config+layers, or the index's manifests."""
    where = f"{fetched.source}@{fetched.digest}"
    try:
        data = json.loads(fetched.raw)
    except ValueError:
        raise RegistryError(f"{where}: manifest is not JSON", code="MANIFEST_INVALID") from None
    if not isinstance(data, dict):
        raise RegistryError(f"{where}: manifest is not a JSON object", code="MANIFEST_INVALID")
    if "manifests" in data:
        return [], [_descriptor(d, where) for d in data.get("manifests") or []]
    if "config" not in data:
        raise RegistryError(
            f"{where}: schema 1 or unknown manifests cannot be copied", code="MANIFEST_INVALID"
        )
    blobs = [_descriptor(data["config"], where)] + [_descriptor(d, where) for d in data.get("layers") or []]
    return blobs, []


class Copier:
    """Streams blobs from one repository to another with a small thread pool, then writes manifests."""

    def __init__(self, client: RegistryClient, workers: int = DEFAULT_WORKERS) -> None:
        self.client = client
        self.workers = max(1, workers)

    def copy_blobs(self, source: Repository, target: Repository, blobs: Sequence[BlobRef]) -> None:
        """Every blob present in ``target`` when this returns (mounted if on the same registry), or an error."""
        unique = {b.digest: b for b in blobs if b.media_type not in FOREIGN_LAYERS}.values()
        mount_from = source if source.api_host == target.api_host else None

        def opener(blob: BlobRef) -> Callable[[], BinaryIO]:
            return lambda: self.client.open_blob(source, blob.digest, blob.size)  # type: ignore[return-value]

        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="kiln-copy") as pool:
            futures = [
                pool.submit(
                    self.client.upload_blob, target, b.digest, b.size, opener(b), mount_from=mount_from
                )
                for b in unique
            ]
            for future in futures:
                future.result()

    def copy_manifest(self, fetched: FetchedManifest, target: Repository, *, by_digest: bool = True) -> None:
        """Copy what ``fetched`` needs into ``target`` (children before parents), then put it by digest."""
        blobs, children = manifest_references(fetched)
        for child in children:
            child_ref = Reference(fetched.source.registry, fetched.source.repository, None, child.digest)
            self.copy_manifest(self.client.fetch_manifest(fetched.source, child_ref), target)
        self.copy_blobs(fetched.source, target, blobs)
        if by_digest:
            self.client.put_manifest(target.with_digest(fetched.digest), fetched.raw, fetched.media_type)

    def copy(self, src: Reference, destinations: Sequence[Reference]) -> Digest:
        """Copy ``src`` (image or index, through mirrors) to every destination; returns the manifest digest."""
        if not destinations:
            raise UsageError("nothing to copy to: no destination given")
        fetched = self.client.get_manifest(src)
        done: set[Repository] = set()
        for dest in destinations:
            repo = dest.context()
            if repo not in done:
                self.copy_manifest(fetched, repo, by_digest=False)  # the tags below put it
                done.add(repo)
            self.client.put_manifest(dest, fetched.raw, fetched.media_type)
        return fetched.digest


def copy_image(
    client: RegistryClient, src: Reference, destinations: Sequence[Reference], workers: int = DEFAULT_WORKERS
) -> Digest:
    """Shorthand for ``Copier(client, workers).copy(src, destinations)``."""
    return Copier(client, workers).copy(src, destinations)
