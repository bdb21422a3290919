"""EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL, MAINTAINER: small instructions whose words expand."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from kiln.dockerfile.instructions.base import Expander, Instruction, error, parse_flags
from kiln.dockerfile.parser import Node
from kiln.errors import Location

_PORT = re.compile(r"^(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?$", re.IGNORECASE)


@dataclass(frozen=True)
class Expose(Instruction):
    """Ports as written (``80``, ``53/udp``, ``8000-8010``); expand() validates and lowercases the protocol."""

    ports: tuple[str, ...]

    def expand(self, env: Mapping[str, str], escape: str = "\\") -> Expose:
        x = Expander(env, escape, self.location)
        ports: list[str] = []
        for word in self.ports:
            for port in x.words(word):
                ports.append(check_port(port, self.location))
        return replace(self, ports=tuple(ports))


def check_port(port: str, where: Location) -> str:
    """``80`` -> ``80/tcp``; ranges kept; bad values are located errors."""
    match = _PORT.match(port)
    if match is None or int(match.group(1)) > 65535 or int(match.group(2) or 0) > 65535:
        raise error(
            where, f"invalid port {port!r} in EXPOSE", hint="use <port>[/tcp|/udp|/sctp] or a range a-b"
        )
    proto = (match.group(3) or "tcp").lower()
    span = match.group(1) + (f"-{match.group(2)}" if match.group(2) else "")
    return f"{span}/{proto}"


@dataclass(frozen=True)
class Volume(Instruction):
    paths: tuple[str, ...]
    json: bool

    def expand(self, env: Mapping[str, str], escape: str = "\\") -> Volume:
        x = Expander(env, escape, self.location)
        paths = tuple(x.word(p) for p in self.paths)
        if any(not p.strip() for p in paths):
            raise error(self.location, "VOLUME specified can not be an empty string")
        return replace(self, paths=paths)


@dataclass(frozen=True)
class User(Instruction):
    """``user[:group]``, names or ids, resolved against the image's passwd at build time."""

    user: str

    def expand(self, env: Mapping[str, str], escape: str = "\\") -> User:
        return replace(self, user=Expander(env, escape, self.location).word(self.user))


@dataclass(frozen=True)
class Workdir(Instruction):
    path: str

    def expand(self, env: Mapping[str, str], escape: str = "\\") -> Workdir:
        return replace(self, path=Expander(env, escape, self.location).word(self.path))


@dataclass(frozen=True)
class StopSignal(Instruction):
    signal: str

    def expand(self, env: Mapping[str, str], escape: str = "\\") -> StopSignal:
        return replace(self, signal=Expander(env, escape, self.location).word(self.signal))


@dataclass(frozen=True)
class Maintainer(Instruction):
    """Deprecated; sets the image author.  Not expanded."""

    name: str


def _one(node: Node, keyword: str, where: Location) -> str:
    parse_flags(keyword, node.flags, {}, where)
    if len(node.args) != 1:
        raise error(where, f"{keyword} requires exactly one argument")
    return node.args[0]


def _some(node: Node, keyword: str, where: Location) -> tuple[str, ...]:
    parse_flags(keyword, node.flags, {}, where)
    if not node.args:
        raise error(where, f"{keyword} requires at least one argument")
    return node.args


def parse_expose(node: Node, where: Location) -> Expose:
    ports = _some(node, "EXPOSE", where)
    for port in ports:
        if "$" not in port:
            check_port(port, where)
    return Expose(where, node.original, ports)


def parse_volume(node: Node, where: Location) -> Volume:
    paths = tuple(p.strip() for p in _some(node, "VOLUME", where))
    if not all(paths):
        raise error(where, "VOLUME specified can not be an empty string")
    return Volume(where, node.original, paths, node.json)


def parse_user(node: Node, where: Location) -> User:
    return User(where, node.original, _one(node, "USER", where))


def parse_workdir(node: Node, where: Location) -> Workdir:
    return Workdir(where, node.original, _one(node, "WORKDIR", where))


def parse_stopsignal(node: Node, where: Location) -> StopSignal:
    return StopSignal(where, node.original, _one(node, "STOPSIGNAL", where))


def parse_maintainer(node: Node, where: Location) -> Maintainer:
    return Maintainer(where, node.original, _one(node, "MAINTAINER", where))
