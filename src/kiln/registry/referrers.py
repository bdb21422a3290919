"""OCI 1.1 referrers: attach an artifact to a manifest and list what is attached, on any registry.

A registry with the referrers API indexes a pushed manifest's ``subject`` itself and says so with an
``OCI-Subject`` answer header; ``GET /v2/<name>/referrers/<digest>`` then lists the referrers. A registry
without it (distribution 2.8, Debian's docker-registry: it stores the ``subject`` field but ignores it and
answers the referrers endpoint with 404) needs the client to keep the list itself, in an OCI index under the
*referrers tag* ``<alg>-<hex>`` of the subject digest (distribution-spec 1.1, "referrers tag schema").
That update is a read-modify-write: existing entries are kept, the same manifest is never listed twice.
Two clients updating the same tag at the same moment can still lose an entry (the spec leaves that race to
clients; distribution 2.8 offers no conditional PUT to close it).
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from kiln.digest import Digest
from kiln.errors import KilnError, RegistryError
from kiln.oci import Descriptor, Index, mediatypes
from kiln.oci.artifact import Artifact
from kiln.reference import Repository
from kiln.registry.client import RegistryClient
from kiln.registry.copy import Copier

log = logging.getLogger(__name__)

SUBJECT_HEADER = "OCI-Subject"
_NOT_IN_TAG = re.compile(r"[^a-zA-Z0-9_.-]")
_MAX_PAGES = 100


@dataclass(frozen=True)
class Attached:
    """Where an artifact went: its manifest digest and how the registry learned about the subject."""

    repository: Repository
    digest: Digest
    via: Literal["referrers-api", "fallback-tag"]


def referrers_tag(digest: Digest) -> str:
    """The fallback tag for ``digest``: algorithm (first 32 chars) ``-`` encoded part (first 64 chars),
    characters a tag cannot hold replaced by ``-``."""
    return _NOT_IN_TAG.sub("-", f"{digest.algorithm[:32]}-{digest.hex[:64]}")


def merge_referrer(index: Index | None, entry: Descriptor) -> Index:
    """``index`` (None: none yet) with ``entry`` listed once: entries for other manifests are kept as they
    were, an older entry for the same manifest digest is replaced by ``entry``."""
    kept = tuple(d for d in index.manifests if d.digest != entry.digest) if index is not None else ()
    annotations = index.annotations if index is not None else None
    return Index(mediatypes.OCI_INDEX, (*kept, entry), annotations)


def attach(client: RegistryClient, repo: Repository, artifact: Artifact) -> Attached:
    """Push ``artifact`` to ``repo`` by digest (blobs first); keep the fallback tag when the registry does
    not index the subject itself. Push the subject first: the fallback index should only name images that
    can be pulled."""
    for digest, data in artifact.blobs.items():
        client.upload_blob(repo, digest, len(data), lambda d=data: io.BytesIO(d))  # type: ignore[misc]
    return put_referrer(
        client,
        repo,
        artifact.raw,
        artifact.manifest.media_type,
        artifact.subject.digest,
        artifact.descriptor(),
    )


def put_referrer(
    client: RegistryClient, repo: Repository, raw: bytes, media_type: str, subject: Digest, entry: Descriptor
) -> Attached:
    """Put a referrer manifest whose blobs are already in ``repo`` by digest, and list ``entry`` in the
    fallback tag of ``subject`` unless the registry says it indexed the subject itself."""
    digest, headers = client.put_manifest_answer(repo.with_digest(Digest.of_bytes(raw)), raw, media_type)
    if headers.get(SUBJECT_HEADER) == str(subject):
        return Attached(repo, digest, "referrers-api")
    update_fallback_tag(client, repo, subject, entry)
    return Attached(repo, digest, "fallback-tag")


def copy_referrers(
    client: RegistryClient, copier: Copier, source: Repository, subject: Digest, target: Repository
) -> tuple[Attached, ...]:
    """Bring everything attached to ``subject`` in ``source`` into ``target`` (where ``subject`` already is):
    each referrer's blobs, then its manifest byte for byte (same digest, same ``subject``), then the
    listing, through the referrers API or the fallback tag as ``target``'s registry needs. One level:
    referrers of referrers (a signature of an attestation) stay behind."""
    out: list[Attached] = []
    for entry in list_referrers(client, source, subject):
        fetched = client.fetch_manifest(source, source.with_digest(entry.digest))
        copier.copy_manifest(fetched, target, by_digest=False)  # blobs (and an index's children) only
        out.append(put_referrer(client, target, fetched.raw, fetched.media_type, subject, entry))
    return tuple(out)


def update_fallback_tag(client: RegistryClient, repo: Repository, subject: Digest, entry: Descriptor) -> None:
    """Add ``entry`` to the index under ``subject``'s referrers tag (created when missing)."""
    current = read_fallback_index(client, repo, subject, push=True)
    if current is not None and entry in current.manifests:
        return
    merged = merge_referrer(current, entry)
    tag = repo.with_tag(referrers_tag(subject))
    client.put_manifest(tag, merged.to_bytes(), mediatypes.OCI_INDEX)
    log.debug("referrers tag %s now lists %d manifests", tag, len(merged.manifests))


def read_fallback_index(
    client: RegistryClient, repo: Repository, subject: Digest, *, push: bool = False
) -> Index | None:
    """The index under ``subject``'s referrers tag in exactly ``repo``; None when the tag does not exist.
    ``push``: read while attaching, so the destination's transport settings apply (``--insecure``).

    Raises when the tag holds something other than an OCI index: overwriting it would destroy data that is
    not ours (distribution-spec 1.1 asks clients to stop there).
    """
    tag = repo.with_tag(referrers_tag(subject))
    try:
        # every type: a registry may hide others from a narrow Accept
        fetched = client.fetch_manifest(repo, tag, push=push)
    except RegistryError as err:
        if err.status == 404 or err.code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN", "NOT_FOUND"):
            return None
        raise
    if fetched.media_type != mediatypes.OCI_INDEX:
        raise RegistryError(
            f"{tag} holds a {fetched.media_type or 'manifest of unknown type'}, not a referrers index",
            code="MANIFEST_INVALID",
            hint="that tag name is reserved for OCI referrers (distribution-spec 1.1); move what it holds",
        )
    try:
        return Index.from_bytes(fetched.raw)
    except KilnError as err:
        raise RegistryError(f"{tag}: {err.message}", code="MANIFEST_INVALID") from None


def list_referrers(
    client: RegistryClient, repo: Repository, subject: Digest, artifact_type: str | None = None
) -> tuple[Descriptor, ...]:
    """What is attached to ``subject`` in ``repo``: the referrers API first; when the registry answers it
    with 404 (no API), the fallback tag; neither -> nothing attached. ``artifact_type`` filters."""
    found = _from_api(client, repo, subject, artifact_type)
    if found is None:
        fallback = read_fallback_index(client, repo, subject)
        found = fallback.manifests if fallback is not None else ()
    if artifact_type is not None:
        found = tuple(d for d in found if d.artifact_type == artifact_type)
    return found


def _from_api(
    client: RegistryClient, repo: Repository, subject: Digest, artifact_type: str | None
) -> tuple[Descriptor, ...] | None:
    """Every page of the referrers API's answer; None when the registry has no referrers API (404)."""
    path = f"/v2/{repo.repository}/referrers/{subject}"
    if artifact_type:
        path = f"{path}?artifactType={quote(artifact_type, safe='')}"
    what = f"list referrers of {repo}@{subject}"
    bodies = client.get_pages(repo, path, what, {"Accept": mediatypes.OCI_INDEX}, max_pages=_MAX_PAGES)
    if bodies is None:
        return None
    out: list[Descriptor] = []
    for body in bodies:
        try:
            out.extend(Index.from_bytes(body).manifests)
        except KilnError as err:
            raise RegistryError(f"{what}: {err.message}", code="UNSUPPORTED") from None
    return tuple(out)


__all__ = [
    "Attached",
    "attach",
    "copy_referrers",
    "list_referrers",
    "merge_referrer",
    "put_referrer",
    "read_fallback_index",
    "referrers_tag",
    "update_fallback_tag",
]
