"""The base-image cache of ``--cache-dir``, in kaniko's warmer format so the two can share a volume.

An entry is two files named by the image's manifest digest: ``sha256:<hex>`` (a docker-archive tarball
of the image) and ``sha256:<hex>.json`` (the registry manifest, so the cached image keeps the digest it
has in the registry). An entry is fresh while the tarball's mtime plus the TTL lies in the future.
kiln writes the manifest first and renames the tarball into place last, so a reader (kaniko's or
kiln's) never finds a tarball without its manifest.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from kiln.digest import Digest
from kiln.errors import CacheError, DigestMismatch
from kiln.oci import Image
from kiln.reference import Reference
from kiln.storage.atomic import atomic_write
from kiln.storage.tarball import write_docker_tarball
from kiln.storage.tarball_read import TarballImage

DEFAULT_TTL = 336 * 3600.0  # kaniko's --cache-ttl default (two weeks)

EntryState = Literal["fresh", "expired", "missing"]


class BaseImageCache:
    """One ``--cache-dir``: look cached base images up by manifest digest; add images to it (warmer)."""

    def __init__(self, root: Path, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.time) -> None:
        self.root = Path(root)
        self.ttl = ttl
        self._clock = clock

    def tarball_path(self, digest: Digest) -> Path:
        return self.root / str(digest)

    def manifest_path(self, digest: Digest) -> Path:
        return self.root / f"{digest}.json"

    def state(self, digest: Digest) -> EntryState:
        try:
            mtime = self.tarball_path(digest).stat().st_mtime
        except FileNotFoundError:
            return "missing"
        return "fresh" if mtime + self.ttl > self._clock() else "expired"

    def get(self, digest: Digest) -> Image | None:
        """The cached image with this manifest digest, or None when missing or expired (as kaniko)."""
        if self.state(digest) != "fresh":
            return None
        try:
            raw = self.manifest_path(digest).read_bytes()
        except FileNotFoundError:
            raise CacheError(
                f"cached image {digest} in {self.root} has no {digest}.json manifest",
                hint="re-run the warmer with --force for this image",
            ) from None
        if Digest.of_bytes(raw, digest.algorithm) != digest:
            raise DigestMismatch(str(digest), str(Digest.of_bytes(raw)), "cached manifest")
        return TarballImage(self.tarball_path(digest), raw_manifest=raw)

    def put(self, image: Image, name: str | Reference | None = None, force: bool = False) -> bool:
        """Store ``image`` under its digest; False when a fresh or expired entry is kept (no ``force``).

        Like kaniko's warmer, an expired entry counts as present unless ``force`` is given. ``name`` (the
        reference the image was pulled by) tags the tarball; a reference by digest alone leaves it untagged.
        """
        digest = image.digest()
        if not force and self.state(digest) != "missing":
            return False
        ref = Reference.parse(name) if isinstance(name, str) else name
        tags = [ref] if ref is not None and ref.tag else []
        self.root.mkdir(mode=0o755, parents=True, exist_ok=True)
        atomic_write(self.manifest_path(digest), image.raw_manifest())
        write_docker_tarball(self.tarball_path(digest), image, tags)
        return True

    def touch(self, digest: Digest) -> None:
        """Mark an entry fresh again (its bytes were checked against the registry)."""
        os.utime(self.tarball_path(digest))


__all__ = ["DEFAULT_TTL", "BaseImageCache", "EntryState"]
