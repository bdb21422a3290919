"""The warmer: fill ``--cache-dir`` with base images, in kaniko's format, for builds with ``--cache``.

Images come from ``--image`` and from the FROM lines of ``--dockerfile`` (with ``--build-arg``s
expanded; stages and scratch are skipped). An image already cached (fresh or expired, as kaniko) is
kept unless ``force``. Writes are atomic (BaseImageCache), so concurrent warmers and builds may share
the directory.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kiln.build.source_policy import check_reference
from kiln.dockerfile import build_stages, parse_dockerfile
from kiln.errors import ContextError
from kiln.oci import Platform
from kiln.policy import SourcePolicy
from kiln.reference import Reference
from kiln.registry import RegistryClient, RegistryOptions, pull
from kiln.storage.base_cache import BaseImageCache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Warmed:
    reference: str
    digest: str
    stored: bool  # False: already in the cache and kept


def dockerfile_bases(path: Path, build_args: Mapping[str, str]) -> list[str]:
    """The external images a Dockerfile's stages start from, in order, without duplicates."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ContextError(f"cannot read Dockerfile {path}: {err.strerror}") from None
    graph = build_stages(parse_dockerfile(text, str(path)), build_args)
    out: list[str] = []
    for stage in graph.stages:
        if stage.base_stage is None and not stage.is_scratch and stage.base not in out:
            out.append(stage.base)
    return out


def warm(
    images: Sequence[str],
    cache_dir: Path,
    registry: RegistryOptions,
    platform: Platform,
    ttl_seconds: float,
    force: bool = False,
    policy: SourcePolicy | None = None,
) -> list[Warmed]:
    """Pull ``images`` into ``cache_dir``; every one is checked against ``policy`` before the first request."""
    refs = [Reference.parse(name) for name in images]
    for ref in refs:
        check_reference(policy or SourcePolicy(), registry, ref, "image")
    cache = BaseImageCache(cache_dir, ttl=ttl_seconds)
    client = RegistryClient(registry)
    out: list[Warmed] = []
    try:
        for ref in refs:
            image = pull(client, ref, platform)
            stored = cache.put(image, ref, force=force)
            log.info(
                "%s %s (%s) in %s", "cached" if stored else "already cached:", ref, image.digest(), cache_dir
            )
            out.append(Warmed(str(ref), str(image.digest()), stored))
    finally:
        client.close()
    return out
