"""kaniko's checks between reading the flags and building: can we push where we were told to?

A build can take many minutes; finding out at the very end that the credentials cannot push is
the most expensive way to learn it. kaniko opens (and cancels) a blob upload in every destination
repository first; kiln does the same, once per repository.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from kiln.errors import RegistryError
from kiln.reference import Reference

if TYPE_CHECKING:
    from kiln.build.options import BuildOptions
    from kiln.registry.client import RegistryClient

log = logging.getLogger(__name__)


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


def check_push_permissions(options: BuildOptions, client: RegistryClient) -> None:
    """Raise the registry's error (with the repository named) when a target refuses a push.

    ``client`` is the run's one client: its ping, credentials and token serve the build afterwards.
    """
    for ref in push_check_targets(options):
        log.debug("checking push permission for %s", ref.context())
        try:
            client.check_push_permission(ref)
        except RegistryError as err:
            err.message = f"checking push permission for {str(ref)!r}: {err.message}"
            raise


def check_index_inputs(options: BuildOptions, client: RegistryClient) -> None:
    """--publish-index: the other platforms' images must exist and not clash with this build's platform."""
    if not options.publish_index or options.no_push:
        return
    from kiln.build.publish import check_index_inputs as check

    check(client, options)
