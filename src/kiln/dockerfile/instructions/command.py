"""CMD, ENTRYPOINT, SHELL, HEALTHCHECK and ONBUILD: recorded in the image config, never expanded by kiln."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from kiln.dockerfile.instructions.base import FlagKind, FlagValue, Instruction, error, parse_flags, str_flag
from kiln.dockerfile.parser import Node
from kiln.errors import Location

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
_MIN_INTERVAL_NS = 1_000_000


@dataclass(frozen=True)
class Cmd(Instruction):
    """``json`` True: exec form argv; False: ``command`` is one string run by the stage's SHELL."""

    command: tuple[str, ...]
    json: bool


@dataclass(frozen=True)
class Entrypoint(Instruction):
    command: tuple[str, ...]
    json: bool


@dataclass(frozen=True)
class Shell(Instruction):
    shell: tuple[str, ...]


@dataclass(frozen=True)
class Healthcheck(Instruction):
    """``test`` is the OCI/Docker form: ``["NONE"]``, ``["CMD", ...]`` or ``["CMD-SHELL", cmd]``.

    Durations are nanoseconds (0 = inherit the default), as in the image config.
    """

    test: tuple[str, ...]
    interval: int
    timeout: int
    start_period: int
    start_interval: int
    retries: int


@dataclass(frozen=True)
class OnBuild(Instruction):
    """``expression`` is the trigger text stored in the image config; ``trigger`` its typed form."""

    expression: str
    trigger: Instruction


def parse_duration(text: str) -> int:
    """A Go ``time.Duration`` string (``1m30s``, ``500ms``, ``0``) in nanoseconds."""
    if text in ("0", "+0", "-0"):
        return 0
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    total = 0.0
    pos = 0
    for match in _DURATION_PART.finditer(body):
        if match.start() != pos:
            raise ValueError(text)
        total += float(match.group(1)) * _UNIT_NS[match.group(2)]
        pos = match.end()
    if pos != len(body) or not body:
        raise ValueError(text)
    return sign * int(total)


def _interval(flags: Mapping[str, FlagValue], name: str, where: Location) -> int:
    value = flags.get(name)
    if not isinstance(value, str):
        return 0
    try:
        ns = parse_duration(value)
    except ValueError:
        raise error(
            where, f"HEALTHCHECK: invalid duration for --{name}: {value!r}", hint="e.g. 30s, 1m30s"
        ) from None
    if ns < 0:
        raise error(where, f"HEALTHCHECK: --{name} cannot be negative ({value})")
    if 0 < ns < _MIN_INTERVAL_NS:
        raise error(where, f"HEALTHCHECK: --{name} cannot be less than 1ms ({value})")
    return ns


def parse_cmd(node: Node, where: Location) -> Cmd:
    parse_flags("CMD", node.flags, {}, where)
    return Cmd(where, node.original, node.args, node.json)


def parse_entrypoint(node: Node, where: Location) -> Entrypoint:
    parse_flags("ENTRYPOINT", node.flags, {}, where)
    return Entrypoint(where, node.original, node.args, node.json)


def parse_shell(node: Node, where: Location) -> Shell:
    parse_flags("SHELL", node.flags, {}, where)
    if not node.args:
        raise error(where, "SHELL requires at least one argument")
    if not node.json:
        raise error(where, "SHELL requires the arguments to be in JSON form", hint='SHELL ["/bin/sh", "-c"]')
    return Shell(where, node.original, node.args)


_HEALTH_FLAGS = {
    "interval": FlagKind.STRING,
    "timeout": FlagKind.STRING,
    "start-period": FlagKind.STRING,
    "start-interval": FlagKind.STRING,
    "retries": FlagKind.STRING,
}


def parse_healthcheck(node: Node, where: Location) -> Healthcheck:
    flags = parse_flags("HEALTHCHECK", node.flags, _HEALTH_FLAGS, where)
    if not node.args:
        raise error(
            where, "HEALTHCHECK requires an argument", hint="HEALTHCHECK [options] CMD <command> | NONE"
        )
    kind = node.args[0].upper()
    if kind == "NONE":
        if len(node.args) != 1:
            raise error(where, "HEALTHCHECK NONE takes no arguments")
        return Healthcheck(where, node.original, ("NONE",), 0, 0, 0, 0, 0)
    if kind != "CMD":
        raise error(where, f"Unknown type {json.dumps(node.args[0])} in HEALTHCHECK (try CMD)")
    command = node.args[1:]
    if not command:
        raise error(where, "Missing command after HEALTHCHECK CMD")
    test = ("CMD", *command) if node.json else ("CMD-SHELL", command[0])
    retries_text = str_flag(flags, "retries")
    retries = 0
    if retries_text is not None:
        try:
            retries = int(retries_text)
        except ValueError:
            raise error(where, f"HEALTHCHECK: invalid --retries value {retries_text!r}") from None
        if retries < 0:
            raise error(where, f"--retries cannot be negative ({retries})")
    return Healthcheck(
        where,
        node.original,
        test,
        _interval(flags, "interval", where),
        _interval(flags, "timeout", where),
        _interval(flags, "start-period", where),
        _interval(flags, "start-interval", where),
        retries,
    )
