"""Pull mirrors (kaniko's ``--registry-map ORIG=MIRROR[/PREFIX]`` and ``--registry-mirror``).

Mirrors are tried in order; the original registry comes last unless ``skip_default_registry_fallback``.
A failing mirror is logged and skipped; a failure at the original registry is the error the user sees.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from kiln.errors import RegistryError
from kiln.reference import Repository
from kiln.registry.options import RegistryOptions

log = logging.getLogger(__name__)
T = TypeVar("T")


def mirror_candidates(options: RegistryOptions, repo: Repository) -> Iterator[Repository]:
    """Where to look for ``repo``: each mapped mirror (with its path prefix), then ``repo`` itself."""
    mirrors = options.registry_maps.get(repo.api_host, ()) or options.registry_maps.get(repo.registry, ())
    for mirror in mirrors:
        host, _, prefix = mirror.removeprefix("https://").removeprefix("http://").rstrip("/").partition("/")
        path = f"{prefix}/{repo.repository}" if prefix else repo.repository
        yield Repository(host, path)
    if not mirrors or not options.skip_default_registry_fallback:
        yield repo


def first_working(
    candidates: Iterable[Repository], repo: Repository, what: str, op: Callable[[Repository], T]
) -> T:
    """``op`` on the first candidate that answers; errors from the original registry are raised as they are."""
    errors: list[RegistryError] = []
    for candidate in candidates:
        try:
            return op(candidate)
        except RegistryError as err:
            if candidate.registry == repo.registry:
                raise
            log.warning("mirror %s failed for %s: %s", candidate.registry, what, err.message)
            errors.append(err)
    if not errors:
        raise RegistryError(f"{what}: no registry to try", code="CONFIG")
    last = errors[-1]
    raise RegistryError(
        f"{what}: every mirror failed and fallback to {repo.registry} is disabled (last: {last.message})",
        code=last.code,
        status=last.status,
        hint="check --registry-map/--registry-mirror, or drop --skip-default-registry-fallback",
    )
