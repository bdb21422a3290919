"""Where the provenance statement goes: every destination repository (as an OCI 1.1 referrer of the image,
pushed after the image itself) and the OCI layout (an index entry plus a sibling file).

docker-load tarballs (``--tar-path``) have no place for an attestation: nothing is added to them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kiln.build.options import BuildOptions
from kiln.build.provenance import PREDICATE_TYPE, ProvenanceFacts, statement, statement_bytes
from kiln.digest import Digest
from kiln.oci import Descriptor, Image, mediatypes
from kiln.oci.artifact import Artifact, Payload, make_artifact
from kiln.reference import Reference, Repository
from kiln.registry import RegistryClient
from kiln.registry.referrers import Attached, attach, referrers_tag
from kiln.storage.atomic import atomic_write
from kiln.storage.layout import REF_NAME, Layout

log = logging.getLogger(__name__)

PREDICATE_ANNOTATION = "in-toto.io/predicate-type"
CREATED_ANNOTATION = "org.opencontainers.image.created"
LAYOUT_SUFFIX = ".provenance.json"
UNNAMED_REF = "latest"


@dataclass(frozen=True)
class Attestation:
    """The statement as written and everywhere it was put."""

    statement: bytes
    artifact: Artifact
    attached: tuple[Attached, ...]
    layout_file: Path | None


def provenance_artifact(body: bytes, image: Image, created: str) -> Artifact:
    """The in-toto artifact manifest holding ``body``, with the image as its subject."""
    return make_artifact(
        mediatypes.IN_TOTO,
        [Payload(mediatypes.IN_TOTO, body, {PREDICATE_ANNOTATION: PREDICATE_TYPE})],
        image.descriptor(),
        annotations={PREDICATE_ANNOTATION: PREDICATE_TYPE, CREATED_ANNOTATION: created},
    )


def subject_names(options: BuildOptions, pushed: Sequence[str], digest: Digest) -> tuple[str, ...]:
    """Names for the statement's subjects: the references pushed to, else the destinations named, else the
    layout (``oci:<path>``). With --publish-index the destination tags name the index, not this image: the
    subjects are then ``repo@digest`` in each destination repository."""
    if pushed and options.publish_index:
        return tuple(dict.fromkeys(str(Reference.parse(p).with_digest(digest)) for p in pushed))
    if pushed:
        return tuple(pushed)
    if options.destinations:
        return tuple(str(Reference.parse(d)) for d in options.destinations)
    if options.oci_layout_path:
        return (f"oci:{options.oci_layout_path}",)
    return ("image",)


def layout_sibling(layout_path: str) -> Path:
    """``<layout>.provenance.json``: the statement next to the layout directory, for tools that want a file."""
    return Path(layout_path.rstrip("/") + LAYOUT_SUFFIX)


def publish_provenance(
    image: Image,
    options: BuildOptions,
    client: RegistryClient,
    pushed: Sequence[str],
    facts: ProvenanceFacts,
    secret_values: Sequence[bytes] = (),
) -> Attestation:
    """Build the statement for ``facts`` and attach it to every pushed repository and the OCI layout."""
    body = statement_bytes(statement(facts, options, secret_values))
    artifact = provenance_artifact(body, image, facts.finished_on)
    attached: list[Attached] = []
    repos: list[Repository] = []
    for name in pushed:
        repo = Reference.parse(name).context()
        if repo not in repos:
            repos.append(repo)
    for repo in repos:
        done = attach(client, repo, artifact)
        attached.append(done)
        log.info("attached provenance %s to %s@%s (%s)", done.digest, repo, image.digest(), done.via)
    layout_file = None
    if options.oci_layout_path:
        layout_file = write_to_layout(Path(options.oci_layout_path), artifact, body)
        log.info("wrote provenance into the OCI layout and to %s", layout_file)
    if options.tar_path:
        log.info(
            "--tar-path: docker-load tarballs have no place for provenance; not added to %s", options.tar_path
        )
    if not attached and layout_file is None:
        log.warning(
            "--generate-provenance: nothing was pushed and no --oci-layout-path given; provenance not kept"
        )
    result = Attestation(body, artifact, tuple(attached), layout_file)
    if options.provenance_refs_file:
        atomic_write(Path(options.provenance_refs_file), refs_json(result, image.digest()))
    return result


def refs_json(done: Attestation, image_digest: Digest) -> bytes:
    """``--provenance-refs-file``: the image digest and, per repository, the artifact's ``repo@digest``,
    how the registry lists it and (fallback only) the tag ``repo:sha256-<hex>`` holding that list."""
    attached = [
        {
            "repository": str(a.repository),
            "artifact": str(a.repository.with_digest(a.digest)),
            "via": a.via,
            "tag": str(a.repository.with_tag(referrers_tag(image_digest))) if a.via == "fallback-tag" else "",
        }
        for a in done.attached
    ]
    data = {
        "image": str(image_digest),
        "attached": attached,
        "layoutFile": str(done.layout_file) if done.layout_file else "",
    }
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def write_to_layout(path: Path, artifact: Artifact, body: bytes) -> Path:
    """The artifact's blobs and an index.json entry (artifactType set, no ref name, so tools that pick an
    image by name still find the image), then the sibling file with the statement alone.

    With two manifests in the index, skopeo and umoci can only select the image by name: an image the
    layout lists without one (no --destination) is named ``latest``.
    """
    layout = Layout(path)
    for data in artifact.blobs.values():
        layout.write_bytes_blob(data)
    layout.write_bytes_blob(artifact.raw)
    subject = artifact.subject
    listed = [d for d in layout.images() if d.digest == subject.digest]
    if listed and not any((d.annotations or {}).get(REF_NAME) for d in listed):
        named = Descriptor(listed[0].media_type, subject.digest, listed[0].size, {REF_NAME: UNNAMED_REF})
        layout.remove_from_index(subject.digest)
        layout.add_to_index(named)
    layout.add_to_index(artifact.descriptor(), replace_ref=False)
    sibling = layout_sibling(str(path))
    atomic_write(sibling, body)
    return sibling


__all__ = [
    "LAYOUT_SUFFIX",
    "Attestation",
    "layout_sibling",
    "provenance_artifact",
    "publish_provenance",
    "refs_json",
    "subject_names",
    "write_to_layout",
]
