"""Content descriptors: a blob's media type, digest and size (and optional extras)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kiln.digest import Digest
from kiln.errors import KilnError
from kiln.oci.platform import Platform


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    annotations: Mapping[str, str] | None = None
    platform: Platform | None = None
    urls: tuple[str, ...] = ()
    artifact_type: str | None = None
    data: str | None = None  # OCI 1.1 embedded content, base64; kept so rewritten indexes lose nothing

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.data is not None:
            out["data"] = self.data
        return out

    @classmethod
    def from_json(cls, data: Any) -> Descriptor:
        if not isinstance(data, Mapping):
            raise KilnError(f"invalid descriptor: expected an object, got {type(data).__name__}")
        try:
            size = data["size"]
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise KilnError(f"invalid descriptor size {size!r}")
            annotations = data.get("annotations")
            if annotations is not None and not _is_str_map(annotations):
                raise KilnError(f"invalid descriptor annotations {annotations!r}: expected strings")
            urls = data.get("urls") or ()
            if not isinstance(urls, list | tuple) or not all(isinstance(u, str) for u in urls):
                raise KilnError(f"invalid descriptor urls {urls!r}: expected a list of strings")
            media_type = data.get("mediaType", "")
            if not isinstance(media_type, str):
                raise KilnError(f"invalid descriptor mediaType {media_type!r}")
            embedded = data.get("data")
            if embedded is not None and not isinstance(embedded, str):
                raise KilnError(f"invalid descriptor data {embedded!r}: expected base64 text")
            platform = data.get("platform")
            return cls(
                media_type=media_type,
                digest=Digest.parse(str(data["digest"])),
                size=size,
                annotations=dict(annotations) if annotations else None,
                platform=Platform.from_json(platform) if platform else None,
                urls=tuple(urls),
                artifact_type=data.get("artifactType"),
                data=embedded,
            )
        except KeyError as err:
            raise KilnError(f"invalid descriptor: missing {err}") from None


def _is_str_map(value: Any) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )
