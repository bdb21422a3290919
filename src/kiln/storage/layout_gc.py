"""Removing blobs no image in a layout's index needs (cache housekeeping for shared layouts).

Writers put blobs in place without the lock and name them in index.json afterwards, so a blob that no
entry references yet may be one a writer is about to reference. Pruning therefore spares every file
younger than a grace period, and runs under the index lock so no entry appears while it decides.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from kiln.digest import Digest
from kiln.errors import KilnError
from kiln.oci import Descriptor, Index, Manifest, mediatypes
from kiln.storage.atomic import locked
from kiln.storage.layout import LOCK_FILE, Layout

DEFAULT_GRACE = 3600.0


def reachable_blobs(layout: Layout) -> set[Digest]:
    """Every blob the index names, directly or through nested indexes and image manifests."""
    seen: set[Digest] = set()
    pending: list[Descriptor] = list(layout.index().manifests)
    while pending:
        desc = pending.pop()
        if desc.digest in seen:
            continue
        seen.add(desc.digest)
        if not layout.has_blob(desc.digest):
            continue
        if mediatypes.is_index(desc.media_type):
            pending.extend(Index.from_bytes(layout.read_blob(desc.digest)).manifests)
        elif mediatypes.is_image_manifest(desc.media_type):
            manifest = Manifest.from_bytes(layout.read_blob(desc.digest))
            seen.add(manifest.config.digest)
            seen.update(layer.digest for layer in manifest.layers)
    return seen


def _blob_files(layout: Layout) -> Iterator[tuple[Path, Digest | None]]:
    blobs = layout.root / "blobs"
    if not blobs.is_dir():
        return
    for algorithm_dir in blobs.iterdir():
        if not algorithm_dir.is_dir():
            continue
        for path in algorithm_dir.iterdir():
            try:
                digest: Digest | None = Digest(algorithm_dir.name, path.name)
            except KilnError:
                digest = None  # a writer's temporary file, or something that is no blob
            yield path, digest


def prune(
    layout: Layout, grace: float = DEFAULT_GRACE, clock: Callable[[], float] = time.time
) -> list[Digest]:
    """Delete unreferenced blobs (and stale temporary files) older than ``grace`` seconds.

    Returns the digests removed. Blobs of images removed from the index go once the grace period
    has passed; blobs shared with a kept image stay.
    """
    removed: list[Digest] = []
    with locked(layout.root / LOCK_FILE):
        keep = reachable_blobs(layout)
        cutoff = clock() - grace
        for path, digest in _blob_files(layout):
            if digest in keep:
                continue
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime > cutoff:
                    continue
                path.unlink()
                if digest is not None:
                    removed.append(digest)
    return sorted(removed)


__all__ = ["DEFAULT_GRACE", "prune", "reachable_blobs"]
