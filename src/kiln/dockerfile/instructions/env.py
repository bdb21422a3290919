"""ARG, ENV and LABEL: name/value pairs, both the ``k=v`` form and ENV/LABEL's legacy ``k v`` form."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from kiln.dockerfile.instructions.base import Expander, Instruction, error, parse_flags
from kiln.dockerfile.parser import Node
from kiln.errors import Location


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: str


@dataclass(frozen=True)
class ArgDecl:
    """``ARG name`` (value None: take a --build-arg or stay unset) or ``ARG name=default``."""

    key: str
    value: str | None


@dataclass(frozen=True)
class Env(Instruction):
    """Keys and values are expanded (one word each, quotes removed) with the env before this ENV."""

    pairs: tuple[KeyValue, ...]

    def expand(self, env: Mapping[str, str], escape: str = "\\") -> Env:
        x = Expander(env, escape, self.location)
        return replace(self, pairs=tuple(KeyValue(x.word(p.key), x.word(p.value)) for p in self.pairs))


@dataclass(frozen=True)
class Label(Instruction):
    """As ENV: keys and values expanded at dispatch."""

    pairs: tuple[KeyValue, ...]

    def expand(self, env: Mapping[str, str], escape: str = "\\") -> Label:
        x = Expander(env, escape, self.location)
        return replace(self, pairs=tuple(KeyValue(x.word(p.key), x.word(p.value)) for p in self.pairs))


@dataclass(frozen=True)
class Arg(Instruction):
    """Names and default values are expanded at dispatch (a default may use earlier ARG/ENV)."""

    args: tuple[ArgDecl, ...]

    def expand(self, env: Mapping[str, str], escape: str = "\\") -> Arg:
        x = Expander(env, escape, self.location)
        return replace(self, args=tuple(ArgDecl(x.word(a.key), x.optional(a.value)) for a in self.args))


def _pairs(node: Node, keyword: str, where: Location) -> tuple[KeyValue, ...]:
    parse_flags(keyword, node.flags, {}, where)
    if not node.args:
        raise error(where, f"{keyword} requires at least one argument", hint=f"{keyword} <key>=<value> ...")
    if "=" not in node.args[0]:
        key, value = node.args
        pairs = [KeyValue(key, value)]
    else:
        pairs = [KeyValue(*word.split("=", 1)) for word in node.args]
    for pair in pairs:
        if not pair.key:
            raise error(where, f"{keyword} names can not be blank")
    return tuple(pairs)


def parse_env(node: Node, where: Location) -> Env:
    return Env(where, node.original, _pairs(node, "ENV", where))


def parse_label(node: Node, where: Location) -> Label:
    return Label(where, node.original, _pairs(node, "LABEL", where))


def parse_arg(node: Node, where: Location) -> Arg:
    parse_flags("ARG", node.flags, {}, where)
    if not node.args:
        raise error(where, "ARG requires at least one argument", hint="ARG <name>[=<default>]")
    decls: list[ArgDecl] = []
    for word in node.args:
        key, has_value, value = word.partition("=")
        if not key:
            raise error(where, "ARG names can not be blank")
        decls.append(ArgDecl(key, value if has_value else None))
    return Arg(where, node.original, tuple(decls))
