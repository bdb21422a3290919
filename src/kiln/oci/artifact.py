"""OCI 1.1 artifacts: an image manifest that carries data about another manifest (its ``subject``).

image-spec 1.1 shapes an artifact without a config of its own as: ``artifactType`` set on the manifest,
the config slot filled by the *empty descriptor* (media type ``application/vnd.oci.empty.v1+json``, the
two bytes ``{}``), one layer per payload, and ``subject`` pointing at the manifest it describes. The
same bytes go to a registry (through the referrers API or its fallback tag) and into an OCI layout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kiln.digest import Digest
from kiln.oci import mediatypes
from kiln.oci.descriptor import Descriptor
from kiln.oci.manifest import Manifest

EMPTY_JSON = b"{}"
EMPTY_DESCRIPTOR = Descriptor(mediatypes.OCI_EMPTY_JSON, Digest.of_bytes(EMPTY_JSON), len(EMPTY_JSON))


@dataclass(frozen=True)
class Payload:
    """One layer of an artifact: its media type, bytes and descriptor annotations."""

    media_type: str
    data: bytes = field(repr=False)
    annotations: Mapping[str, str] | None = None

    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, Digest.of_bytes(self.data), len(self.data), self.annotations)


@dataclass(frozen=True)
class Artifact:
    """An artifact manifest (exact bytes) and every blob it references, the empty config included."""

    manifest: Manifest
    raw: bytes = field(repr=False)
    blobs: Mapping[Digest, bytes] = field(repr=False)

    @property
    def digest(self) -> Digest:
        return Digest.of_bytes(self.raw)

    @property
    def subject(self) -> Descriptor:
        assert self.manifest.subject is not None  # make_artifact always sets one
        return self.manifest.subject

    def descriptor(self) -> Descriptor:
        """How an index lists this artifact: with its artifactType and its annotations (distribution 1.1)."""
        return referrer_descriptor(self.manifest, self.raw)


def make_artifact(
    artifact_type: str,
    payloads: Sequence[Payload],
    subject: Descriptor,
    annotations: Mapping[str, str] | None = None,
) -> Artifact:
    """The artifact manifest for ``payloads`` about ``subject`` (only its media type, digest and size are kept)."""
    manifest = Manifest(
        media_type=mediatypes.OCI_MANIFEST,
        config=EMPTY_DESCRIPTOR,
        layers=tuple(p.descriptor() for p in payloads),
        annotations=dict(annotations) if annotations else None,
        subject=Descriptor(subject.media_type, subject.digest, subject.size),
        artifact_type=artifact_type,
    )
    blobs = {EMPTY_DESCRIPTOR.digest: EMPTY_JSON}
    for payload in payloads:
        blobs[Digest.of_bytes(payload.data)] = payload.data
    return Artifact(manifest, manifest.to_bytes(), blobs)


def referrer_descriptor(manifest: Manifest, raw: bytes) -> Descriptor:
    """The descriptor a referrers list holds for ``manifest``: artifactType (else the config's media type)
    and every annotation of the manifest, as distribution-spec 1.1 asks of registries and of clients that
    maintain the fallback tag."""
    return Descriptor(
        manifest.media_type,
        Digest.of_bytes(raw),
        len(raw),
        annotations=dict(manifest.annotations) if manifest.annotations else None,
        artifact_type=manifest.artifact_type or manifest.config.media_type,
    )


__all__ = ["EMPTY_DESCRIPTOR", "EMPTY_JSON", "Artifact", "Payload", "make_artifact", "referrer_descriptor"]
