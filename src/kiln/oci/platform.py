"""Platforms (os/arch/variant) with containerd's normalisation, for picking an image from an index."""

from __future__ import annotations

import platform as _host
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kiln.errors import KilnError

_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "amd64": "amd64",
    "i386": "386",
    "i686": "386",
    "386": "386",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "armv5tel": "arm",
    "armv6l": "arm",
    "armv7l": "arm",
    "armv8l": "arm",
    "arm": "arm",
}
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}
_ARCH_VARIANT = {
    "armhf": "v7",
    "armel": "v6",
    "armv5tel": "v5",
    "armv6l": "v6",
    "armv7l": "v7",
    "armv8l": "v8",
}
_COMPONENT = re.compile(r"^[A-Za-z0-9_.-]+$")


def _norm_variant(arch: str, variant: str | None) -> str | None:
    if not variant:
        return None
    v = variant.lower()
    if arch in ("arm", "arm64") and v.isdigit():
        v = "v" + v
    return v


@dataclass(frozen=True)
class Platform:
    """An OCI platform; construct through ``parse`` or ``from_json`` to get normalised values."""

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None
    os_features: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Platform:
        """``os/arch[/variant]`` as in ``--platform`` and ``--custom-platform``."""
        parts = text.strip().split("/")
        if not 2 <= len(parts) <= 3 or not all(p and _COMPONENT.match(p) for p in parts):
            raise KilnError(f"invalid platform {text!r}", hint="expected os/arch[/variant], e.g. linux/arm64")
        return cls.normalised(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    @classmethod
    def normalised(
        cls,
        os: str,
        architecture: str,
        variant: str | None = None,
        os_version: str | None = None,
        os_features: tuple[str, ...] = (),
    ) -> Platform:
        os_n = os.lower()
        if os_n == "macos":
            os_n = "darwin"
        raw_arch = architecture.lower()
        arch = _ARCH_ALIASES.get(raw_arch, raw_arch)
        var = _norm_variant(arch, variant) or _ARCH_VARIANT.get(raw_arch)
        if arch == "arm64" and var == "v8":
            var = None  # containerd drops arm64's default variant
        return cls(os_n, arch, var, os_version, tuple(os_features))

    @classmethod
    def host(cls) -> Platform:
        return cls.normalised("linux", _host.machine() or "amd64")

    def _variant_or_default(self) -> str | None:
        return self.variant or _DEFAULT_VARIANT.get(self.architecture)

    def matches(self, wanted: Platform) -> bool:
        """Whether an image for ``self`` satisfies a request for ``wanted`` (both normalised)."""
        if self.os != wanted.os or self.architecture != wanted.architecture:
            return False
        if wanted.os_version and self.os_version and wanted.os_version != self.os_version:
            return False
        if wanted.variant is None and wanted.architecture not in _DEFAULT_VARIANT:
            return True
        return self._variant_or_default() == wanted._variant_or_default()

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Platform:
        try:
            return cls.normalised(
                str(data["os"]),
                str(data["architecture"]),
                data.get("variant"),
                data.get("os.version"),
                tuple(data.get("os.features") or ()),
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise KilnError(f"invalid platform object {dict(data)!r}: missing {err}") from None
