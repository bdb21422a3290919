"""Nodes -> typed, validated instructions; unknown keywords get a "did you mean" hint."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable

from kiln.dockerfile.instructions.base import Instruction, error, parse_flags
from kiln.dockerfile.instructions.command import (
    OnBuild,
    parse_cmd,
    parse_entrypoint,
    parse_healthcheck,
    parse_shell,
)
from kiln.dockerfile.instructions.copy import parse_copy
from kiln.dockerfile.instructions.env import parse_arg, parse_env, parse_label
from kiln.dockerfile.instructions.from_ import parse_from
from kiln.dockerfile.instructions.run import parse_run
from kiln.dockerfile.instructions.simple import (
    parse_expose,
    parse_maintainer,
    parse_stopsignal,
    parse_user,
    parse_volume,
    parse_workdir,
)
from kiln.dockerfile.parser import Node, ParsedDockerfile
from kiln.errors import DockerfileError, Location

_Parser = Callable[[Node, Location], Instruction]

_DISPATCH: dict[str, _Parser] = {
    "from": parse_from,
    "run": parse_run,
    "copy": lambda node, where: parse_copy(node, where, is_add=False),
    "add": lambda node, where: parse_copy(node, where, is_add=True),
    "arg": parse_arg,
    "env": parse_env,
    "label": parse_label,
    "expose": parse_expose,
    "volume": parse_volume,
    "user": parse_user,
    "workdir": parse_workdir,
    "stopsignal": parse_stopsignal,
    "maintainer": parse_maintainer,
    "cmd": parse_cmd,
    "entrypoint": parse_entrypoint,
    "shell": parse_shell,
    "healthcheck": parse_healthcheck,
}
_ONBUILD_PREFIX = re.compile(r"^\s*ONBUILD\s*", re.IGNORECASE)
KEYWORDS = (*sorted(_DISPATCH), "onbuild")


def parse_instruction(node: Node, filename: str) -> Instruction:
    """Type and validate one node; errors are DockerfileErrors located at the node's lines."""
    where = Location(filename, node.start_line, node.end_line)
    if node.cmd == "onbuild":
        return _parse_onbuild(node, where)
    parser = _DISPATCH.get(node.cmd)
    if parser is None:
        raise unknown_instruction(node.keyword, where)
    return parser(node, where)


class UnknownInstruction(DockerfileError):
    """An unknown keyword; renders BuildKit-style: ``Dockerfile:7: unknown instruction: RNU (did you mean RUN?)``."""

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        return f"{text} ({self.hint})" if self.hint else text


def unknown_instruction(keyword: str, where: Location) -> DockerfileError:
    close = difflib.get_close_matches(keyword.lower(), KEYWORDS, n=1, cutoff=0.6)
    hint = f"did you mean {close[0].upper()}?" if close else "see the Dockerfile reference for instructions"
    return UnknownInstruction(f"unknown instruction: {keyword}", where, hint)


def _parse_onbuild(node: Node, where: Location) -> OnBuild:
    parse_flags("ONBUILD", node.flags, {}, where)
    inner = node.sub
    if inner is None:
        raise error(where, "ONBUILD requires at least one argument", hint="ONBUILD <instruction>")
    keyword = inner.keyword.upper()
    if keyword == "ONBUILD":
        raise error(where, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if keyword in ("FROM", "MAINTAINER"):
        raise error(where, f"{keyword} isn't allowed as an ONBUILD trigger")
    inner_node = Node(
        inner.keyword,
        inner.flags,
        inner.args,
        inner.json,
        inner.original,
        node.start_line,
        node.end_line,
        node.heredocs,
        None,
    )
    trigger = parse_instruction(inner_node, where.file)
    expression = _ONBUILD_PREFIX.sub("", node.original, count=1)
    expression += "".join(f"\n{doc.content}{doc.name}" for doc in node.heredocs)
    return OnBuild(where, node.original, expression, trigger)


def parse_instructions(parsed: ParsedDockerfile) -> list[Instruction]:
    """Every node of a parsed file, typed, in order."""
    return [parse_instruction(node, parsed.filename) for node in parsed.nodes]
