"""RUN: a command run in the stage's filesystem (shell or exec form, mounts, network, security)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from kiln.dockerfile.heredoc import lone_heredoc, run_script
from kiln.dockerfile.instructions.base import (
    Expander,
    FlagKind,
    Instruction,
    error,
    list_flag,
    parse_flags,
    str_flag,
)
from kiln.dockerfile.instructions.mounts import Mount, parse_mount
from kiln.dockerfile.parser import Heredoc, Node
from kiln.errors import Location

NETWORK_MODES = ("default", "none", "host")
SECURITY_MODES = ("sandbox", "insecure")
_RUN_FLAGS = {"mount": FlagKind.LIST, "network": FlagKind.STRING, "security": FlagKind.STRING}


@dataclass(frozen=True)
class Run(Instruction):
    """The command is NOT expanded by kiln (the shell does it); only ``--mount`` values are.

    ``json`` tells exec form (``command`` is argv) from shell form (``command`` is one string
    for ``SHELL + [string]``).  ``heredocs`` hold here-document bodies from the parser.
    """

    command: tuple[str, ...]
    json: bool
    heredocs: tuple[Heredoc, ...]
    mount_specs: tuple[str, ...]
    mounts: tuple[Mount, ...]
    network: str
    security: str

    def expand(self, env: Mapping[str, str], escape: str = "\\") -> Run:
        x = Expander(env, escape, self.location)
        specs = tuple(x.word(spec) for spec in self.mount_specs)
        return replace(self, mount_specs=specs, mounts=tuple(parse_mount(s, self.location) for s in specs))

    def script(self) -> tuple[str, ...]:
        """argv for exec form, else the one string for ``SHELL + [string]`` with heredocs applied."""
        return run_script(self.command, self.json, self.heredocs)

    def lone_heredoc(self) -> Heredoc | None:
        """The heredoc when the command is only ``<<NAME`` (a ``#!`` body is run as a file)."""
        return lone_heredoc(self.command, self.json, self.heredocs)


def parse_run(node: Node, where: Location) -> Run:
    flags = parse_flags("RUN", node.flags, _RUN_FLAGS, where)
    if not node.args:
        raise error(where, "RUN requires at least one argument", hint='RUN <command> or RUN ["exe", "arg"]')
    network = str_flag(flags, "network") or "default"
    if network not in NETWORK_MODES:
        raise error(where, f"RUN: unsupported network mode {network!r}", hint="use default, none or host")
    security = str_flag(flags, "security") or "sandbox"
    if security not in SECURITY_MODES:
        raise error(where, f"RUN: unsupported security mode {security!r}", hint="use sandbox or insecure")
    specs = list_flag(flags, "mount")
    mounts = tuple(parse_mount(spec, where) for spec in specs if "$" not in spec)
    return Run(where, node.original, node.args, node.json, node.heredocs, specs, mounts, network, security)
