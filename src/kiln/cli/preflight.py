"""kaniko's checks between reading the flags and building: can we push where we were told to?

A build can take many minutes; finding out at the very end that the credentials cannot push is
the most expensive way to learn it. kaniko opens (and cancels) a blob upload in every destination
repository first; kiln does the same, once per repository.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

from kiln.build.options import BuildOptions
from kiln.errors import RegistryError
from kiln.reference import Reference
from kiln.registry.client import RegistryClient
from kiln.registry.options import RegistryOptions

log = logging.getLogger(__name__)


ClientFactory = Callable[[RegistryOptions], AbstractContextManager[RegistryClient]]


def push_check_targets(options: BuildOptions) -> list[Reference]:
    """Where kaniko checks push access: the destinations; the cache repo when only it is pushed to.

    Nothing with --skip-push-permission-check or an ``oci:`` cache; one reference per repository.
    """
    if options.skip_push_permission_check:
        return []
    if not options.no_push:
        names = list(options.destinations)
    elif options.cache_repo and not options.cache_repo.startswith("oci:"):
        names = [options.cache_repo]
    else:
        names = []
    seen: set[tuple[str, str]] = set()
    targets = []
    for ref in _parse_all(names):
        key = (ref.registry, ref.repository)
        if key not in seen:
            seen.add(key)
            targets.append(ref)
    return targets


def _parse_all(names: list[str]) -> Iterator[Reference]:
    for name in names:
        yield Reference.parse(name)


def check_push_permissions(options: BuildOptions, client_factory: ClientFactory = RegistryClient) -> None:
    """Raise the registry's error (with the repository named) when a target refuses a push."""
    targets = push_check_targets(options)
    if not targets:
        return
    with client_factory(options.registry) as client:
        for ref in targets:
            log.debug("checking push permission for %s", ref.context())
            try:
                client.check_push_permission(ref)
            except RegistryError as err:
                err.message = f"checking push permission for {str(ref)!r}: {err.message}"
                raise


def check_index_inputs(options: BuildOptions, client_factory: ClientFactory = RegistryClient) -> None:
    """--publish-index: the other platforms' images must exist and not clash with this build's platform."""
    if not options.publish_index or options.no_push:
        return
    from kiln.build.publish import check_index_inputs as check

    with client_factory(options.registry) as client:
        check(client, options)
