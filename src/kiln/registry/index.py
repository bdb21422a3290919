"""Merge per-platform images that are already in registries into one OCI index or Docker manifest list.

Why here and not in the build: multi-arch builds run on one native machine per architecture, each pushing
its image by digest; a last step only has those digests. It reads each child's platform from its *config*
(what the image really is, not what a CI variable claims), refuses two children for one platform, brings
children that live in other repositories into the destination repository (mounted on the same registry,
streamed otherwise), and puts the index last, so a tag never names an index whose children are missing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kiln.digest import Digest
from kiln.errors import KilnError, RegistryError, UsageError
from kiln.oci import Descriptor, Platform, mediatypes
from kiln.oci.manifest import Index
from kiln.reference import Reference, Repository
from kiln.registry.client import FetchedManifest, RegistryClient
from kiln.registry.remote import RemoteImage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexChild:
    """One image to put in the index: where it is (by digest or tag) and who named it (for errors)."""

    ref: Reference
    origin: str


def child_by_digest(digest: Digest, name: Reference | None, origin: str, home: Repository) -> IndexChild:
    """A child named by a digest file: in the repository the file names, else (bare digest) in ``home``."""
    repo = name.context() if name is not None else home
    return IndexChild(repo.with_digest(digest), origin)


@dataclass(frozen=True)
class IndexRequest:
    children: tuple[IndexChild, ...]
    destinations: tuple[Reference, ...]
    legacy: bool = False  # a Docker manifest list instead of an OCI image index
    annotations: Mapping[str, str] = field(default_factory=dict)
    platforms: tuple[Platform, ...] = ()  # when given: exactly these platforms, no more, no fewer


@dataclass(frozen=True)
class ResolvedChild:
    child: IndexChild
    manifest: FetchedManifest
    platform: Platform

    def descriptor(self) -> Descriptor:
        m = self.manifest
        return Descriptor(m.media_type, m.digest, m.size, platform=self.platform)


@dataclass(frozen=True)
class PublishedIndex:
    digest: Digest
    media_type: str
    raw: bytes = field(repr=False)
    children: tuple[ResolvedChild, ...]
    pushed: tuple[Reference, ...]


def _name(child: IndexChild) -> str:
    ref = child.ref
    return f"{ref.context()}@{ref.digest}" if ref.digest else str(ref)


def _fetch_config(client: RegistryClient, fetched: FetchedManifest, child: IndexChild) -> Platform:
    raw = RemoteImage(client, fetched).raw_config()  # size-capped and verified
    try:
        config = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        config = None
    if not isinstance(config, dict) or not config.get("os") or not config.get("architecture"):
        raise UsageError(
            f"{_name(child)} (from {child.origin}) has no platform: its config lacks os/architecture",
            hint="an index entry needs a platform; build the image with --custom-platform",
        )
    return Platform.from_json(config)


def resolve_child(client: RegistryClient, child: IndexChild) -> ResolvedChild:
    """Fetch the child's manifest from its own registry (no mirrors) and its platform from its config."""
    try:
        fetched = client.fetch_manifest(child.ref.context(), child.ref)
    except RegistryError as err:
        raise RegistryError(
            f"{_name(child)} (from {child.origin}): {err.message}",
            code=err.code,
            status=err.status,
            hint=err.hint or "was the per-platform image pushed to that repository?",
        ) from None
    if mediatypes.is_index(fetched.media_type):
        raise UsageError(
            f"{_name(child)} (from {child.origin}) is itself an index, not a single-platform image",
            hint="name its per-platform images instead (skopeo inspect --raw lists them)",
        )
    if not mediatypes.is_image_manifest(fetched.media_type):
        raise UsageError(f"{_name(child)} (from {child.origin}): unsupported media type {fetched.media_type}")
    return ResolvedChild(child, fetched, _fetch_config(client, fetched, child))


def _dedupe(children: Sequence[IndexChild], home: Repository) -> list[IndexChild]:
    """One entry per digest (a build's digest file and name file name the same image); prefer ``home``."""
    by_digest: dict[Digest, IndexChild] = {}
    others: list[IndexChild] = []
    for child in children:
        digest = child.ref.digest
        if digest is None:
            others.append(child)
            continue
        kept = by_digest.get(digest)
        if kept is None or (kept.ref.context() != home and child.ref.context() == home):
            by_digest[digest] = child
    return list(by_digest.values()) + others


def check_platforms(resolved: Sequence[ResolvedChild], wanted: Sequence[Platform]) -> None:
    """Refuse two different images for one platform, and (when ``wanted``) a missing or unexpected one."""
    seen: dict[Platform, ResolvedChild] = {}
    for item in resolved:
        key = Platform(item.platform.os, item.platform.architecture, item.platform.variant,
                       item.platform.os_version)  # fmt: skip
        first = seen.get(key)
        if first is not None and first.manifest.digest != item.manifest.digest:
            raise UsageError(
                f"two images for platform {item.platform}: {_name(first.child)} (from {first.child.origin})"
                f" and {_name(item.child)} (from {item.child.origin})",
                hint="each platform may appear once; drop one of them or fix the build's --custom-platform",
            )
        seen[key] = item
    if wanted:
        have = {str(p) for p in seen}
        want = {str(p) for p in wanted}
        if have != want:
            missing, extra = sorted(want - have), sorted(have - want)
            parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
                [f"unexpected {', '.join(extra)}"] if extra else []
            )
            raise UsageError(
                f"the index would not hold the expected platforms: {'; '.join(parts)}",
                hint=f"expected {', '.join(sorted(want))}; got {', '.join(sorted(have)) or 'nothing'}",
            )


def build_index(resolved: Sequence[ResolvedChild], legacy: bool, annotations: Mapping[str, str]) -> Index:
    """The index document; a Docker list takes only Docker v2.2 manifests and has no annotations."""
    if legacy:
        for item in resolved:
            if item.manifest.media_type != mediatypes.DOCKER_MANIFEST:
                raise UsageError(
                    f"{_name(item.child)} ({item.platform}) is an OCI manifest; a Docker manifest list"
                    " holds only Docker v2.2 manifests",
                    hint="drop --legacy-manifest-list (an OCI index takes both kinds), or build every"
                    " platform from a Docker-typed base image",
                )
        if annotations:
            raise UsageError(
                "a Docker manifest list cannot carry annotations",
                hint="drop --index-annotations or --legacy-manifest-list",
            )
    return Index(
        media_type=mediatypes.index_type(legacy),
        manifests=tuple(item.descriptor() for item in resolved),
        annotations=dict(annotations) or None,
    )


def _copy_children(client: RegistryClient, resolved: Sequence[ResolvedChild], repo: Repository) -> None:
    """Each child from another repository, then what is attached to it there (provenance): an index whose
    child has lost its attestations on the way would pass for an image that never had any."""
    from kiln.registry.copy import Copier  # here: every build's outputs import this module, few copy
    from kiln.registry.referrers import copy_referrers

    copier = Copier(client)
    for item in resolved:
        source = item.manifest.source
        if source == repo:
            continue
        log.info("copying %s into %s", _name(item.child), repo)
        copier.copy_manifest(item.manifest, repo)
        try:
            copied = copy_referrers(client, copier, source, item.manifest.digest, repo)
        except KilnError as err:
            raise RegistryError(
                f"copy the referrers (attestations) of {source}@{item.manifest.digest} into {repo}:"
                f" {err.message}",
                code=err.code if isinstance(err, RegistryError) else None,
                status=err.status if isinstance(err, RegistryError) else None,
                hint=err.hint
                or "the index was not pushed; run again once the referrers can be read and pushed",
            ) from None
        for attached in copied:
            log.info("copied referrer %s of %s into %s (%s)", attached.digest, item.manifest.digest, repo,
                     attached.via)  # fmt: skip


def publish_index(client: RegistryClient, request: IndexRequest) -> PublishedIndex:
    """Resolve and check every child, copy children into each destination repository, then put the index.

    Nothing is pushed until every child is resolved and the index is known to be valid.
    """
    if not request.destinations:
        raise UsageError("nothing to push the index to: no destination given", hint="add --destination")
    if not request.children:
        raise UsageError("no images to put in the index", hint="name images by digest or give --digests-from")
    home = request.destinations[0].context()
    resolved = [resolve_child(client, c) for c in _dedupe(request.children, home)]
    unique = list({item.manifest.digest: item for item in resolved}.values())
    check_platforms(unique, request.platforms)
    index = build_index(unique, request.legacy, request.annotations)
    raw = index.to_bytes()
    for repo in dict.fromkeys(ref.context() for ref in request.destinations):
        _copy_children(client, unique, repo)
    for ref in request.destinations:
        client.put_manifest(ref, raw, index.media_type)
        log.info("pushed %s %s@%s (%d images)", "list" if request.legacy else "index", ref,
                 index.digest(), len(unique))  # fmt: skip
    return PublishedIndex(index.digest(), index.media_type, raw, tuple(unique), request.destinations)
