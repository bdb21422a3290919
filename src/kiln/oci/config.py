"""The image configuration (runtime config, rootfs diff_ids, history) with Docker's JSON field names.

Unknown keys are kept in ``extra`` so a config read from a base image survives a round trip.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from kiln.digest import Digest
from kiln.errors import KilnError
from kiln.oci.manifest import dumps


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...]
    interval: int = 0  # nanoseconds, as Docker stores them
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Test": list(self.test)}
        for key, value in (
            ("Interval", self.interval),
            ("Timeout", self.timeout),
            ("StartPeriod", self.start_period),
            ("StartInterval", self.start_interval),
            ("Retries", self.retries),
        ):
            if value:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Healthcheck:
        return cls(
            test=tuple(data.get("Test") or ()),
            interval=int(data.get("Interval") or 0),
            timeout=int(data.get("Timeout") or 0),
            start_period=int(data.get("StartPeriod") or 0),
            start_interval=int(data.get("StartInterval") or 0),
            retries=int(data.get("Retries") or 0),
        )


@dataclass(frozen=True)
class ContainerConfig:
    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    volumes: tuple[str, ...] = ()
    working_dir: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    stop_signal: str = ""
    healthcheck: Healthcheck | None = None
    shell: tuple[str, ...] | None = None
    on_build: tuple[str, ...] = ()
    args_escaped: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def env_value(self, name: str) -> str | None:
        for item in self.env:
            key, _, value = item.partition("=")
            if key == name:
                return value
        return None

    def with_env(self, name: str, value: str) -> ContainerConfig:
        """Set ``name`` keeping the position of an existing entry (Docker's order)."""
        entry = f"{name}={value}"
        env = list(self.env)
        for i, item in enumerate(env):
            if item.partition("=")[0] == name:
                env[i] = entry
                break
        else:
            env.append(entry)
        return replace(self, env=tuple(env))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.user:
            out["User"] = self.user
        if self.exposed_ports:
            out["ExposedPorts"] = {p: {} for p in self.exposed_ports}
        if self.env:
            out["Env"] = list(self.env)
        if self.entrypoint is not None:
            out["Entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            out["Cmd"] = list(self.cmd)
        if self.volumes:
            out["Volumes"] = {v: {} for v in self.volumes}
        if self.working_dir:
            out["WorkingDir"] = self.working_dir
        if self.labels:
            out["Labels"] = dict(self.labels)
        if self.stop_signal:
            out["StopSignal"] = self.stop_signal
        if self.healthcheck is not None:
            out["Healthcheck"] = self.healthcheck.to_json()
        if self.args_escaped:
            out["ArgsEscaped"] = True
        if self.on_build:
            out["OnBuild"] = list(self.on_build)
        if self.shell is not None:
            out["Shell"] = list(self.shell)
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> ContainerConfig:
        if not data:
            return cls()
        known = {
            "User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels",
            "StopSignal", "Healthcheck", "ArgsEscaped", "OnBuild", "Shell",
        }  # fmt: skip
        entrypoint = data.get("Entrypoint")
        cmd = data.get("Cmd")
        shell = data.get("Shell")
        health = data.get("Healthcheck")
        return cls(
            user=data.get("User") or "",
            exposed_ports=tuple((data.get("ExposedPorts") or {}).keys()),
            env=tuple(data.get("Env") or ()),
            entrypoint=tuple(entrypoint) if entrypoint is not None else None,
            cmd=tuple(cmd) if cmd is not None else None,
            volumes=tuple((data.get("Volumes") or {}).keys()),
            working_dir=data.get("WorkingDir") or "",
            labels=dict(data.get("Labels") or {}),
            stop_signal=data.get("StopSignal") or "",
            healthcheck=Healthcheck.from_json(health) if health else None,
            shell=tuple(shell) if shell is not None else None,
            on_build=tuple(data.get("OnBuild") or ()),
            args_escaped=data.get("ArgsEscaped"),
            extra={k: v for k, v in data.items() if k not in known},
        )


@dataclass(frozen=True)
class History:
    created: str | None = None
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.created:
            out["created"] = self.created
        if self.created_by:
            out["created_by"] = self.created_by
        if self.author:
            out["author"] = self.author
        if self.comment:
            out["comment"] = self.comment
        if self.empty_layer:
            out["empty_layer"] = True
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> History:
        return cls(
            created=data.get("created"),
            created_by=data.get("created_by") or "",
            author=data.get("author") or "",
            comment=data.get("comment") or "",
            empty_layer=bool(data.get("empty_layer")),
        )


_TOP_KNOWN = {
    "architecture",
    "os",
    "variant",
    "os.version",
    "created",
    "author",
    "config",
    "rootfs",
    "history",
}


@dataclass(frozen=True)
class ImageConfig:
    architecture: str = ""
    os: str = "linux"
    variant: str | None = None
    os_version: str | None = None
    created: str | None = None
    author: str = ""
    config: ContainerConfig = field(default_factory=ContainerConfig)
    rootfs_diff_ids: tuple[Digest, ...] = ()
    history: tuple[History, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.created:
            out["created"] = self.created
        if self.author:
            out["author"] = self.author
        out["architecture"] = self.architecture
        if self.variant:
            out["variant"] = self.variant
        out["os"] = self.os
        if self.os_version:
            out["os.version"] = self.os_version
        out["config"] = self.config.to_json()
        out["rootfs"] = {"type": "layers", "diff_ids": [str(d) for d in self.rootfs_diff_ids]}
        if self.history:
            out["history"] = [h.to_json() for h in self.history]
        out.update(self.extra)
        return out

    def to_bytes(self) -> bytes:
        return dumps(self.to_json())

    @classmethod
    def from_bytes(cls, raw: bytes) -> ImageConfig:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as err:
            raise KilnError(f"invalid image config: not JSON ({err})") from None
        if not isinstance(data, dict):
            raise KilnError("invalid image config: expected a JSON object")
        return cls.from_json(data)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ImageConfig:
        rootfs = data.get("rootfs") or {}
        try:
            diff_ids = tuple(Digest.parse(str(d)) for d in rootfs.get("diff_ids") or ())
            return cls(
                architecture=data.get("architecture") or "",
                os=data.get("os") or "",
                variant=data.get("variant") or None,
                os_version=data.get("os.version") or None,
                created=data.get("created") or None,
                author=data.get("author") or "",
                config=ContainerConfig.from_json(data.get("config")),
                rootfs_diff_ids=diff_ids,
                history=tuple(History.from_json(h) for h in data.get("history") or ()),
                extra={k: v for k, v in data.items() if k not in _TOP_KNOWN},
            )
        except (AttributeError, TypeError, ValueError, KilnError) as err:
            raise KilnError(f"invalid image config: {err}") from None

    def non_empty_history(self) -> int:
        return sum(1 for h in self.history if not h.empty_layer)
