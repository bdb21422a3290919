"""Image manifests and indexes (OCI and Docker v2.2 / manifest list), as exact bytes and typed values."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kiln.digest import Digest
from kiln.errors import KilnError
from kiln.oci import mediatypes as mt
from kiln.oci.descriptor import Descriptor
from kiln.oci.platform import Platform


def dumps(obj: Any) -> bytes:
    """The compact JSON kiln writes for manifests and configs (stable key order, no spaces)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _load(raw: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise KilnError(f"invalid {what}: not JSON ({err})") from None
    if not isinstance(data, dict):
        raise KilnError(f"invalid {what}: expected a JSON object")
    return data


def _descriptors(data: dict[str, Any], key: str, what: str) -> tuple[Descriptor, ...]:
    items = data.get(key)
    if items is None:
        return ()
    if not isinstance(items, list):
        raise KilnError(f"invalid {what}: {key!r} is not a list")
    return tuple(Descriptor.from_json(d) for d in items)


def _media_type(data: dict[str, Any], default: str, allowed: frozenset[str], what: str) -> str:
    media_type = data.get("mediaType") or default
    if media_type not in allowed:
        raise KilnError(f"invalid {what}: unexpected mediaType {media_type!r}")
    if data.get("schemaVersion") != 2:
        raise KilnError(f"invalid {what}: schemaVersion {data.get('schemaVersion')!r} is not 2")
    return str(media_type)


def _envelope(doc: Manifest | Index, body: dict[str, Any]) -> dict[str, Any]:
    """The fields manifests and indexes share, in the order kiln writes them around ``body``."""
    out: dict[str, Any] = {"schemaVersion": doc.schema_version, "mediaType": doc.media_type}
    if doc.artifact_type:
        out["artifactType"] = doc.artifact_type
    out.update(body)
    if doc.subject is not None:
        out["subject"] = doc.subject.to_json()
    if doc.annotations:
        out["annotations"] = dict(doc.annotations)
    return out


@dataclass(frozen=True)
class Manifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str] | None = None
    subject: Descriptor | None = None
    artifact_type: str | None = None
    schema_version: int = 2

    def to_json(self) -> dict[str, Any]:
        body = {"config": self.config.to_json(), "layers": [d.to_json() for d in self.layers]}
        return _envelope(self, body)

    def to_bytes(self) -> bytes:
        return dumps(self.to_json())

    def digest(self) -> Digest:
        return Digest.of_bytes(self.to_bytes())

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        data = _load(raw, "image manifest")
        media_type = _media_type(data, mt.OCI_MANIFEST, mt.IMAGE_MANIFESTS, "image manifest")
        if "config" not in data:
            raise KilnError("invalid image manifest: no config descriptor")
        subject = data.get("subject")
        return cls(
            media_type=media_type,
            config=Descriptor.from_json(data["config"]),
            layers=_descriptors(data, "layers", "image manifest"),
            annotations=dict(data["annotations"]) if data.get("annotations") else None,
            subject=Descriptor.from_json(subject) if subject else None,
            artifact_type=data.get("artifactType"),
        )


@dataclass(frozen=True)
class Index:
    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: Mapping[str, str] | None = None
    subject: Descriptor | None = None
    artifact_type: str | None = None
    schema_version: int = 2

    def to_json(self) -> dict[str, Any]:
        return _envelope(self, {"manifests": [d.to_json() for d in self.manifests]})

    def to_bytes(self) -> bytes:
        return dumps(self.to_json())

    def digest(self) -> Digest:
        return Digest.of_bytes(self.to_bytes())

    @classmethod
    def from_bytes(cls, raw: bytes) -> Index:
        data = _load(raw, "image index")
        media_type = _media_type(data, mt.OCI_INDEX, mt.INDEXES, "image index")
        subject = data.get("subject")
        return cls(
            media_type=media_type,
            manifests=_descriptors(data, "manifests", "image index"),
            annotations=dict(data["annotations"]) if data.get("annotations") else None,
            subject=Descriptor.from_json(subject) if subject else None,
            artifact_type=data.get("artifactType"),
        )

    def select(self, wanted: Platform) -> Descriptor:
        """The first image manifest for ``wanted``; an error listing what the index offers otherwise.

        An entry without a platform counts as linux/amd64, as go-containerregistry (and so kaniko) reads it.
        """
        for desc in self.manifests:
            if _platform_of(desc).matches(wanted) and not _is_attestation(desc):
                return desc
        offered = sorted({str(_platform_of(d)) for d in self.manifests if not _is_attestation(d)})
        raise KilnError(
            f"no image for platform {wanted} in the index",
            hint=f"available: {', '.join(offered) or 'none'}; pick one with --custom-platform",
        )


_DEFAULT_PLATFORM = Platform("linux", "amd64")


def _platform_of(desc: Descriptor) -> Platform:
    return desc.platform if desc.platform is not None else _DEFAULT_PLATFORM


def _is_attestation(desc: Descriptor) -> bool:
    return bool(
        desc.annotations and desc.annotations.get("vnd.docker.reference.type") == "attestation-manifest"
    )


def media_type_of(raw: bytes) -> str | None:
    """The mediaType a manifest or index declares in its body, if any."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(data, dict):
        value = data.get("mediaType")
        if isinstance(value, str):
            return value
        if "manifests" in data:
            return mt.OCI_INDEX
        if "config" in data:
            return mt.OCI_MANIFEST
    return None
