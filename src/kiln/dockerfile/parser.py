"""Dockerfile text -> untyped nodes with line ranges, as BuildKit's parser produces them.

Handles parser directives (``# escape=``, ``# syntax=``, ``# check=``), comments,
continuations with the escape token, exec (JSON) vs shell form, leading ``--flags``,
heredocs for RUN/COPY/ADD (also under ONBUILD), BOM and CRLF.  Unknown keywords are
kept here (as BuildKit does) and rejected by the typed layer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from kiln.dockerfile.lexer import LexError, is_space, split_raw_words, split_words_skip_unset
from kiln.dockerfile.words import (
    WHITESPACE,
    NotStringArray,
    parse_json_array,
    parse_words,
    split_command,
)
from kiln.errors import DockerfileError, Location

_DIRECTIVE = re.compile(r"^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$")
_KNOWN_DIRECTIVES = ("escape", "syntax", "check")
_HEREDOC = re.compile(r"^(\d*)<<(-?)([^<]*)$")
_LINES = re.compile(r"[^\n]*\n|[^\n]+$")
_HEREDOC_KEYWORDS = frozenset({"run", "copy", "add"})


@dataclass(frozen=True)
class Heredoc:
    """A here-document body attached to RUN/COPY/ADD; ``expand`` is False when its name was quoted."""

    name: str
    content: str
    expand: bool
    chomp: bool
    fd: int


@dataclass(frozen=True)
class Node:
    """One instruction as parsed: keyword, flag words, argument words and its source lines."""

    keyword: str
    flags: tuple[str, ...]
    args: tuple[str, ...]
    json: bool
    original: str
    start_line: int
    end_line: int
    heredocs: tuple[Heredoc, ...] = ()
    sub: Node | None = None

    @property
    def cmd(self) -> str:
        return self.keyword.lower()


@dataclass(frozen=True)
class ParsedDockerfile:
    """A whole file: its directives (lowercase names), escape token and instruction nodes."""

    filename: str
    directives: dict[str, str] = field(hash=False)
    escape: str
    nodes: tuple[Node, ...]
    warnings: tuple[str, ...] = ()


class _Directives:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.escape = "\\"
        self.values: dict[str, str] = {}
        self.done = False

    def feed(self, line: str, lineno: int) -> None:
        if self.done:
            return
        match = _DIRECTIVE.match(line)
        if match is None or match.group(1).lower() not in _KNOWN_DIRECTIVES:
            self.done = True
            return
        name, value = match.group(1).lower(), match.group(2)
        where = Location(self.filename, lineno, lineno)
        if name in self.values:
            raise DockerfileError(f"only one {name} parser directive can be used", where)
        if name == "escape":
            if value not in ("`", "\\"):
                raise DockerfileError(
                    f"invalid escape token '{value}' does not match ` or \\",
                    where,
                    hint="use '# escape=`' or '# escape=\\'",
                )
            self.escape = value
        self.values[name] = value


class _LineError(ValueError):
    """A malformed instruction line; turned into a located DockerfileError by the caller."""


def _lstrip_space(text: str) -> str:
    stripped = text.lstrip()
    for i in range(len(text) - len(stripped)):
        if not is_space(text[i]):
            return text[i:]
    return stripped


def _is_comment(line: str) -> bool:
    return _lstrip_space(line).startswith("#")


def _trim_newline(line: str) -> str:
    return line.rstrip("\r\n")


def parse_dockerfile(text: str, filename: str = "Dockerfile") -> ParsedDockerfile:
    """Parse Dockerfile text; every problem is a DockerfileError located at its lines."""
    if text.startswith("\ufeff"):
        text = text[1:]
    flat = _LINES.findall(text)
    directives = _Directives(filename)
    nodes: list[Node] = []
    warnings: list[str] = []
    i = 0
    total = len(flat)
    while i < total:
        raw = flat[i]
        i += 1
        start = i
        stripped = _lstrip_space(_trim_newline(raw))
        directives.feed(stripped, start)
        first = "" if _is_comment(raw) else stripped
        line, continues = _trim_continuation(first, directives)
        if not continues and not line:
            continue
        empty_continuation = False
        while continues and i < total:
            raw = flat[i]
            i += 1
            directives.feed(_trim_newline(raw), i)
            if _is_comment(raw):
                continue
            piece = _trim_newline(raw)
            if not _lstrip_space(piece):
                empty_continuation = True
                continue
            piece, continues = _trim_continuation(piece, directives)
            line += piece
        where = Location(filename, start, i)
        if empty_continuation:
            warnings.append(f"{where}: empty continuation line (BuildKit warns; it may become an error)")
        node = _node_from_line(line, directives.escape, where)
        heredoc_host = node.sub if node.cmd == "onbuild" and node.sub is not None else node
        docs: tuple[Heredoc, ...] = ()
        if heredoc_host.cmd in _HEREDOC_KEYWORDS and not heredoc_host.json and "<<" in line:
            docs, i = _read_heredocs(flat, i, _heredoc_markers(line, where), Location(filename, start, start))
        node = _with_lines(node, start, i, docs)
        nodes.append(node)
    if not nodes:
        raise DockerfileError(
            "file with no instructions",
            Location(filename, max(total, 1), max(total, 1)),
            hint="a Dockerfile needs at least a FROM instruction",
        )
    return ParsedDockerfile(
        filename, dict(directives.values), directives.escape, tuple(nodes), tuple(warnings)
    )


def _read_heredocs(
    flat: list[str], i: int, markers: list[tuple[str, bool, bool, int]], where: Location
) -> tuple[tuple[Heredoc, ...], int]:
    """Read each marker's body from line index ``i`` on; returns the heredocs and the next index."""
    docs: list[Heredoc] = []
    for name, expand, chomp, fd in markers:
        body: list[str] = []
        terminated = False
        while i < len(flat):
            raw = flat[i]
            i += 1
            candidate = _trim_newline(raw)
            if chomp:
                candidate = candidate.lstrip("\t")
            if candidate == name:
                terminated = True
                break
            body.append(raw)
        if not terminated:
            raise DockerfileError(
                "unterminated heredoc",
                Location(where.file, where.start_line, i),
                hint=f"end the here-document with a line holding only {name}",
            )
        docs.append(Heredoc(name, "".join(body), expand, chomp, fd))
    return tuple(docs), i


def _trim_continuation(line: str, directives: _Directives) -> tuple[str, bool]:
    """A trailing escape token (spaces/tabs after it allowed) continues the line.

    As BuildKit, an escape token preceded by another one (``foo \\\\``) is not a
    continuation: the line ends there and keeps both characters.
    """
    body = line.rstrip(" \t")
    escape = directives.escape
    if not body.endswith(escape):
        return line, False
    if len(body) >= 2 and body[-2] == escape:
        return line, False
    return body[:-1], True


def _with_lines(node: Node, start: int, end: int, docs: tuple[Heredoc, ...]) -> Node:
    sub = node.sub
    if sub is not None:
        sub = Node(sub.keyword, sub.flags, sub.args, sub.json, sub.original, start, end, (), None)
    return Node(node.keyword, node.flags, node.args, node.json, node.original, start, end, docs, sub)


def _node_from_line(line: str, escape: str, where: Location) -> Node:
    keyword, flags, rest = split_command(line)
    cmd = keyword.lower()
    args: list[str] = []
    is_json = False
    sub: Node | None = None
    try:
        if cmd in ("run", "cmd", "entrypoint", "shell"):
            args, is_json = _maybe_json(rest)
        elif cmd in ("add", "copy", "volume"):
            parsed = parse_json_array(rest)
            args, is_json = (parsed, True) if parsed is not None else (_whitespace_split(rest), False)
        elif cmd in ("from", "expose"):
            args = _whitespace_split(rest)
        elif cmd in ("maintainer", "stopsignal", "user", "workdir"):
            args = [rest] if rest else []
        elif cmd in ("env", "label"):
            args = _name_values(rest, keyword.upper(), escape)
        elif cmd == "arg":
            args = parse_words(rest, escape)
        elif cmd == "healthcheck":
            args, is_json = _healthcheck(rest)
        elif cmd == "onbuild" and rest:
            sub = _node_from_line(rest, escape, where)
    except (NotStringArray, _LineError) as exc:
        raise DockerfileError(str(exc), where) from None
    return Node(
        keyword, tuple(flags), tuple(args), is_json, line, where.start_line, where.start_line, (), sub
    )


def _whitespace_split(rest: str) -> list[str]:
    return WHITESPACE.split(rest) if rest else []


def _maybe_json(rest: str) -> tuple[list[str], bool]:
    if not rest:
        return [], False
    parsed = parse_json_array(rest)
    if parsed is not None:
        return parsed, True
    return [rest], False


def _name_values(rest: str, keyword: str, escape: str) -> list[str]:
    words = parse_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise _LineError(f"{keyword} must have two arguments")
        return parts
    for word in words:
        if "=" not in word:
            raise _LineError(
                f"Syntax error - can't find = in {json.dumps(word)}. Must be of the form: name=value"
            )
    return words


def _healthcheck(rest: str) -> tuple[list[str], bool]:
    sep = 0
    while sep < len(rest) and not is_space(rest[sep]):
        sep += 1
    if sep == 0:
        return [], False
    nxt = sep
    while nxt < len(rest) and is_space(rest[nxt]):
        nxt += 1
    cmd, is_json = _maybe_json(rest[nxt:])
    return [rest[:sep], *cmd], is_json


def _heredoc_markers(line: str, where: Location) -> list[tuple[str, bool, bool, int]]:
    """Find ``[fd]<<[-]NAME`` words; a quoted NAME disables expansion of the body."""
    try:
        words = split_raw_words(line, raw_escapes=True, skip_unset=True)
    except LexError:
        words = []
    found: list[tuple[str, bool, bool, int]] = []
    for word in words:
        match = _HEREDOC.match(word)
        if match is None or not match.group(3):
            continue
        rest = match.group(3)
        try:
            plain = split_words_skip_unset(rest)
            raw = split_raw_words(rest, raw_escapes=False, skip_unset=True)
        except LexError as exc:
            raise DockerfileError(str(exc), where) from None
        if len(plain) != 1 or len(raw) != 1:
            continue
        quotes = plain[0].count("'") + plain[0].count('"')
        raw_quotes = raw[0].count("'") + raw[0].count('"')
        fd = int(match.group(1)) if match.group(1) else 0
        found.append((plain[0], quotes == raw_quotes, match.group(2) == "-", fd))
    return found
