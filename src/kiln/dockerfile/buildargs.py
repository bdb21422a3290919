"""Build arguments: global (pre-FROM) ARGs, per-stage re-declaration, overrides and predefined args.

BuildKit's rules: an ARG before the first FROM is usable only in FROM lines, unless a
stage re-declares it (``ARG NAME`` without a value then inherits the global value).
``--build-arg`` overrides any declared default.  The proxy args are usable by RUN
without a declaration; the platform args are in the global scope automatically and
inside a stage once declared.
"""

from __future__ import annotations

import platform as _host
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kiln.dockerfile.instructions.base import Expander
from kiln.dockerfile.instructions.env import Arg
from kiln.errors import UsageError

PROXY_ARGS = (
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
    "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
)  # fmt: skip
PLATFORM_ARGS = (
    "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
    "BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT",
)  # fmt: skip
_MACHINE_ARCH = {
    "x86_64": ("amd64", ""), "amd64": ("amd64", ""), "aarch64": ("arm64", ""), "arm64": ("arm64", ""),
    "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"), "i386": ("386", ""), "i686": ("386", ""),
    "ppc64le": ("ppc64le", ""), "s390x": ("s390x", ""), "riscv64": ("riscv64", ""),
}  # fmt: skip


@dataclass(frozen=True)
class PlatformSpec:
    """``os/arch[/variant]`` as used by --platform and the TARGET*/BUILD* args."""

    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> PlatformSpec:
        parts = text.strip().lower().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise UsageError(f"invalid platform {text!r}", hint="use os/arch[/variant], e.g. linux/arm64")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "")

    @classmethod
    def host(cls) -> PlatformSpec:
        arch, variant = _MACHINE_ARCH.get(_host.machine().lower(), (_host.machine().lower(), ""))
        return cls("linux", arch, variant)

    def __str__(self) -> str:
        return f"{self.os}/{self.architecture}" + (f"/{self.variant}" if self.variant else "")


def platform_args(target: PlatformSpec, build: PlatformSpec) -> dict[str, str]:
    """The automatic TARGET* and BUILD* values."""
    return {
        "TARGETPLATFORM": str(target),
        "TARGETOS": target.os,
        "TARGETARCH": target.architecture,
        "TARGETVARIANT": target.variant,
        "BUILDPLATFORM": str(build),
        "BUILDOS": build.os,
        "BUILDARCH": build.architecture,
        "BUILDVARIANT": build.variant,
    }


@dataclass(frozen=True)
class GlobalArgs:
    """The scope FROM lines expand in: platform args plus the declared pre-FROM ARGs."""

    values: dict[str, str]
    declared: frozenset[str]


def resolve_global_args(
    meta: Iterable[Arg], build_args: Mapping[str, str], platform_env: Mapping[str, str], escape: str
) -> GlobalArgs:
    """Evaluate pre-FROM ARGs in order: a --build-arg wins, else the default expanded so far."""
    values = dict(platform_env)
    declared: set[str] = set()
    for instruction in meta:
        expander = Expander(values, escape, instruction.location)
        for decl in instruction.args:
            key = expander.word(decl.key)
            declared.add(key)
            if key in build_args:
                values[key] = build_args[key]
            elif decl.value is not None:
                values[key] = expander.word(decl.value)
    return GlobalArgs(values, frozenset(declared))


def resolve_stage_arg(
    key: str,
    default: str | None,
    build_args: Mapping[str, str],
    global_args: GlobalArgs,
) -> str | None:
    """Value of ``ARG key[=default]`` inside a stage (key and default already expanded), None if unset.

    Order: --build-arg, the declared default, the global ARG of the same name, the
    automatic platform value.
    """
    if key in build_args:
        return build_args[key]
    if default is not None:
        return default
    if key in global_args.values and (key in global_args.declared or key in PLATFORM_ARGS):
        return global_args.values[key]
    return None


def unused_build_args(build_args: Mapping[str, str], declared: Iterable[str]) -> list[str]:
    """--build-arg names nothing declared (BuildKit warns: "were not consumed"); proxies never count."""
    seen = set(declared) | set(PROXY_ARGS) | set(PLATFORM_ARGS)
    return sorted(name for name in build_args if name not in seen)
