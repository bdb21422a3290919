"""The mutable state of one stage while its instructions are dispatched.

Kept apart from the steps so each step module sees one small object: the image config being built,
the stage's ARG scope, the history, and where the stage's files are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from kiln.dockerfile import PROXY_ARGS, GlobalArgs
from kiln.oci import ContainerConfig, History, ImageConfig

DEFAULT_SHELL = ("/bin/sh", "-c")


@dataclass
class StageState:
    """One stage being built: its config, ARG scope and history so far."""

    config: ImageConfig
    root: Path
    escape: str
    build_args: Mapping[str, str]
    global_args: GlobalArgs
    created: str | None
    args: dict[str, str] = field(default_factory=dict)
    declared_args: set[str] = field(default_factory=set)
    cmd_set: bool = False  # CMD given in this stage: ENTRYPOINT keeps it (else resets it)

    @property
    def run(self) -> ContainerConfig:
        return self.config.config

    def set_run(self, run: ContainerConfig) -> None:
        self.config = replace(self.config, config=run)

    def env_map(self) -> dict[str, str]:
        """The image's ENV as a mapping (later entries win)."""
        out: dict[str, str] = {}
        for item in self.run.env:
            key, _, value = item.partition("=")
            out[key] = value
        return out

    def expansion_env(self) -> dict[str, str]:
        """What ``$VAR`` means in this stage: ARGs, overridden by ENV (BuildKit's order)."""
        return {**self.args, **self.env_map()}

    def shell(self) -> tuple[str, ...]:
        return self.run.shell if self.run.shell else DEFAULT_SHELL

    def add_history(self, created_by: str, empty_layer: bool, comment: str = "") -> None:
        entry = History(created=self.created, created_by=created_by, comment=comment, empty_layer=empty_layer)
        self.config = replace(self.config, history=(*self.config.history, entry))

    def run_args(self) -> dict[str, str]:
        """ARGs a RUN sees in its environment (not overridden by ENV): BuildKit's ``|N K=V`` prefix."""
        env = self.env_map()
        proxies = {k: v for k, v in self.build_args.items() if k in PROXY_ARGS}
        return {k: v for k, v in {**proxies, **self.args}.items() if k not in env}
