"""FROM: the base of a stage, optionally named (``AS name``) and pinned to a platform."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from kiln.dockerfile.instructions.base import Expander, FlagKind, Instruction, error, parse_flags, str_flag
from kiln.dockerfile.parser import Node
from kiln.errors import Location

_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")


@dataclass(frozen=True)
class From(Instruction):
    """``base`` and ``platform`` stay unexpanded until the stage graph expands them with global ARGs."""

    base: str
    stage_name: str | None
    platform: str | None

    def expand(self, env: Mapping[str, str], escape: str = "\\") -> From:
        x = Expander(env, escape, self.location)
        return replace(self, base=x.word(self.base), platform=x.optional(self.platform))


def parse_from(node: Node, where: Location) -> From:
    flags = parse_flags("FROM", node.flags, {"platform": FlagKind.STRING}, where)
    args = node.args
    name: str | None = None
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            raise error(
                where,
                f"invalid name for build stage: {json.dumps(args[2])}, name can't start with a number or contain symbols",
            )
    elif len(args) != 1:
        raise error(where, "FROM requires either one or three arguments", hint="FROM <image> [AS <name>]")
    return From(where, node.original, args[0], name, str_flag(flags, "platform"))
