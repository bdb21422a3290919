"""Multi-arch from the executor: push the built image by digest, and optionally publish an index of it.

``--push-by-digest`` (every per-platform job) and ``--publish-index`` (the job that also merges: its own
image plus the ``--digests-from`` ones) share one rule: the image goes to each destination *repository*
by digest, and only the index, pushed last, takes the destinations' tags.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from kiln.build.options import BuildOptions
from kiln.errors import UsageError
from kiln.oci import Image, Platform
from kiln.reference import Reference
from kiln.registry import RegistryClient
from kiln.registry.index import (
    IndexChild,
    IndexRequest,
    PublishedIndex,
    check_platforms,
    child_by_digest,
    publish_index,
    resolve_child,
)
from kiln.storage.digest_files import read_digest_records

log = logging.getLogger(__name__)


def by_digest(refs: Sequence[Reference], image: Image) -> list[Reference]:
    """One digest reference per destination repository (tags dropped, repositories kept in order)."""
    repos = dict.fromkeys(ref.context() for ref in refs)
    return [repo.with_digest(image.digest()) for repo in repos]


def publish_build_index(
    client: RegistryClient, image: Image, options: BuildOptions, refs: Sequence[Reference]
) -> PublishedIndex:
    """The index of this build's image (already pushed by digest) and the ``--digests-from`` images."""
    children = [IndexChild(refs[0].context().with_digest(image.digest()), "this build")]
    children += _others(options, refs)
    request = IndexRequest(
        children=tuple(children),
        destinations=tuple(refs),
        legacy=options.legacy_manifest_list,
        annotations=dict(options.index_annotations),
        platforms=(),
    )
    published = publish_index(client, request)
    log.info(
        "published %s of %s",
        published.digest,
        ", ".join(str(c.platform) for c in published.children),
    )  # fmt: skip
    return published


def _others(options: BuildOptions, refs: Sequence[Reference]) -> list[IndexChild]:
    home = refs[0].context()
    return [
        child_by_digest(r.digest, r.name, r.origin, home) for r in read_digest_records(options.digests_from)
    ]


def check_index_inputs(client: RegistryClient, options: BuildOptions) -> None:
    """Before building: every --digests-from file reads, every image in them resolves to one platform,
    and none is for the platform being built, so a bad input fails in seconds and nothing is pushed."""
    if not options.publish_index or not options.destinations:
        return
    refs = [Reference.parse(d) for d in options.destinations]
    resolved = [resolve_child(client, child) for child in _others(options, refs)]
    check_platforms(resolved, ())
    own = Platform.parse(options.platform)
    for item in resolved:
        p = item.platform
        if (p.os, p.architecture, p.variant) == (own.os, own.architecture, own.variant):
            raise UsageError(
                f"{item.child.ref} (from {item.child.origin}) is already an image for {own},"
                " the platform this build makes",
                hint="each platform may appear once in the index; check --custom-platform and --digests-from",
            )
