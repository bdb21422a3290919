"""Build the layer cache a build asked for (``--cache``, ``--cache-repo``, ``--cache-ttl``...)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from kiln.build.cache.layer_cache import LayerCache
from kiln.build.cache.store import CacheStore, LayoutStore, RegistryStore, default_cache_repo
from kiln.build.options import BuildOptions
from kiln.oci import Platform

if TYPE_CHECKING:
    from kiln.registry.client import RegistryClient

log = logging.getLogger(__name__)


class OpenCache:
    """The cache; ``close()`` joins its pushes (the registry client is its caller's, still open then)."""

    def __init__(self, cache: LayerCache) -> None:
        self.cache = cache

    def close(self) -> None:
        self.cache.close()


def open_cache(options: BuildOptions, platform: Platform, client: RegistryClient) -> OpenCache | None:
    """None unless --cache is on (and there is somewhere to cache: --cache-repo or a destination).

    A registry cache talks through ``client``, the build's one client (same ping, credentials, tokens).
    """
    if not options.cache:
        return None
    store: CacheStore
    if options.cache_repo.startswith("oci:"):
        store = LayoutStore(Path(options.cache_repo[len("oci:") :]), platform)
    else:
        repo = options.cache_repo or default_cache_repo(options.destinations)
        if not repo:
            log.warning("--cache is set but there is no --cache-repo and no --destination: not caching")
            return None
        store = RegistryStore(client, repo, platform)
    log.info(
        "layer cache: %s (ttl %s%s)",
        store.describe(),
        options.cache_ttl,
        ", no push" if options.no_push_cache else "",
    )
    cache = LayerCache(store, options.cache_ttl, platform, push=not options.no_push_cache)
    return OpenCache(cache)
