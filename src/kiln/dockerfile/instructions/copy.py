"""COPY and ADD: sources from the context, a stage, an image, a URL or a here-document."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from kiln.dockerfile.heredoc import copy_content
from kiln.dockerfile.instructions.base import (
    Expander,
    FlagKind,
    Instruction,
    bool_flag,
    error,
    list_flag,
    parse_flags,
    str_flag,
)
from kiln.dockerfile.parser import Heredoc, Node
from kiln.errors import Location

_COMMON = {
    "chown": FlagKind.STRING,
    "chmod": FlagKind.STRING,
    "link": FlagKind.BOOL,
    "parents": FlagKind.BOOL,
    "exclude": FlagKind.LIST,
}
_COPY_FLAGS = {**_COMMON, "from": FlagKind.STRING}
_ADD_FLAGS = {**_COMMON, "checksum": FlagKind.STRING, "keep-git-dir": FlagKind.BOOL}
_OCTAL = re.compile(r"^[0-7]{1,4}$")
_SYMBOLIC = re.compile(r"^([ugoa]*[-+=]([rwxXst]*|[ugo]))+(,([ugoa]*[-+=]([rwxXst]*|[ugo]))+)*$")


@dataclass(frozen=True)
class Copy(Instruction):
    """COPY (``is_add`` False) or ADD.  Sources/dest/chown/chmod/from expand at dispatch time.

    A source equal to ``<<NAME`` names the here-document with that name in ``heredocs``.
    """

    is_add: bool
    sources: tuple[str, ...]
    dest: str
    json: bool
    heredocs: tuple[Heredoc, ...]
    from_: str | None
    chown: str | None
    chmod: str | None
    link: bool
    parents: bool
    excludes: tuple[str, ...]
    checksum: str | None
    keep_git_dir: bool

    def expand(self, env: Mapping[str, str], escape: str = "\\") -> Copy:
        x = Expander(env, escape, self.location)
        sources = tuple(s if self.heredoc_for(s) is not None else x.word(s) for s in self.sources)
        chmod = x.optional(self.chmod)
        if chmod is not None:
            check_chmod(chmod, self.location)
        return replace(
            self,
            sources=sources,
            dest=x.word(self.dest),
            from_=x.optional(self.from_),
            chown=x.optional(self.chown),
            chmod=chmod,
            excludes=tuple(x.word(e) for e in self.excludes),
            checksum=x.optional(self.checksum),
        )

    def heredoc_for(self, source: str) -> Heredoc | None:
        """The here-document a source word (``<<NAME``) stands for, if any."""
        name = heredoc_name(source)
        return next((doc for doc in self.heredocs if doc.name == name), None)

    def heredoc_content(self, source: str, env: Mapping[str, str], escape: str = "\\") -> str | None:
        """What COPY/ADD writes for a ``<<NAME`` source (chomped, expanded unless quoted); None otherwise."""
        doc = self.heredoc_for(source)
        return None if doc is None else copy_content(doc, env, escape, self.location)


_HEREDOC_WORD = re.compile(r"^\d*<<-?(.+)$")


def heredoc_name(word: str) -> str | None:
    """``<<EOF``, ``<<-'EOF'`` -> ``EOF``; None for an ordinary word."""
    match = _HEREDOC_WORD.match(word)
    return match.group(1).replace("'", "").replace('"', "") if match else None


def check_chmod(value: str, where: Location) -> None:
    if "$" in value or _OCTAL.match(value) or _SYMBOLIC.match(value):
        return
    raise error(where, f"invalid chmod value {value!r}", hint="use an octal mode such as 0755 or u+x,g-w")


def parse_copy(node: Node, where: Location, *, is_add: bool) -> Copy:
    keyword = "ADD" if is_add else "COPY"
    flags = parse_flags(keyword, node.flags, _ADD_FLAGS if is_add else _COPY_FLAGS, where)
    args = node.args
    if len(args) < 2:
        if len(args) == 1 and node.heredocs and not node.json:
            raise error(
                where, f"{keyword} requires at least two arguments: a here-document and a destination"
            )
        raise error(
            where,
            f"{keyword} requires at least two arguments, but only one was provided. "
            "Destination could not be determined",
            hint=f"{keyword} <src>... <dest>",
        )
    if heredoc_name(args[-1]) is not None and not node.json:
        raise error(where, f"{keyword} cannot accept a heredoc as a destination")
    chmod = str_flag(flags, "chmod")
    if chmod is not None:
        check_chmod(chmod, where)
    return Copy(
        where,
        node.original,
        is_add,
        args[:-1],
        args[-1],
        node.json,
        node.heredocs,
        str_flag(flags, "from"),
        str_flag(flags, "chown"),
        chmod,
        bool_flag(flags, "link"),
        bool_flag(flags, "parents"),
        list_flag(flags, "exclude"),
        str_flag(flags, "checksum"),
        bool_flag(flags, "keep-git-dir"),
    )
