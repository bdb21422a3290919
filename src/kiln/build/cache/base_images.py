"""Builds read base images from ``--cache-dir`` (kaniko's warmer format) when ``--cache`` is on.

The registry still says which digest a tag names (one manifest request); the layers then come from
the cache directory instead of the network. A broken or unreadable entry is a warning, and the
registry copy is used: the base-image cache, like the layer cache, never fails a build.
"""

from __future__ import annotations

import logging
from pathlib import Path

from kiln.build.options import BuildOptions
from kiln.errors import KilnError
from kiln.oci import Image
from kiln.storage.base_cache import BaseImageCache

log = logging.getLogger(__name__)


def cached_base(options: BuildOptions, image: Image) -> Image:
    """The cached copy of ``image`` (same manifest digest) from --cache-dir, else ``image`` itself."""
    if not options.cache or not options.cache_dir:
        return image
    cache = BaseImageCache(Path(options.cache_dir), ttl=options.cache_ttl.total_seconds())
    digest = image.digest()
    try:
        cached = cache.get(digest)
    except (KilnError, OSError) as err:
        message = err.message if isinstance(err, KilnError) else type(err).__name__
        log.warning(
            "base-image cache %s: entry %s unusable (%s); pulling instead", cache.root, digest, message
        )
        return image
    if cached is None:
        log.info("base image %s is not in --cache-dir %s", digest.short, cache.root)
        return image
    log.info("using cached base image %s from %s", digest.short, cache.root)
    return cached
