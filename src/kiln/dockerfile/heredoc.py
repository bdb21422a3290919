"""How here-documents turn into what RUN executes and what COPY writes (BuildKit's rules)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from kiln.dockerfile.lexer import LexError, expand_heredoc
from kiln.dockerfile.parser import Heredoc
from kiln.errors import DockerfileError, Location

_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)
_LONE_HEREDOC = re.compile(r"^(\d*)<<(-?)([^<]*)$")


def chomp(content: str) -> str:
    """``<<-`` bodies lose the leading tabs of every line."""
    return _LEADING_TABS.sub("", content)


def body(doc: Heredoc) -> str:
    """The body as used: chomped for ``<<-``, otherwise as read."""
    return chomp(doc.content) if doc.chomp else doc.content


def copy_content(doc: Heredoc, env: Mapping[str, str], escape: str, where: Location) -> str:
    """What ``COPY <<NAME dest`` writes: the body, expanded with the stage env unless NAME was quoted."""
    text = body(doc)
    if not doc.expand:
        return text
    try:
        return expand_heredoc(text, env, escape)
    except LexError as exc:
        raise DockerfileError(f"failed to expand here-document {doc.name}: {exc}", where) from None


def lone_heredoc(command: tuple[str, ...], json: bool, heredocs: tuple[Heredoc, ...]) -> Heredoc | None:
    """The heredoc when a shell-form RUN is only ``<<NAME`` (its body is the script), else None."""
    if json or len(command) != 1 or not heredocs:
        return None
    return heredocs[0] if _LONE_HEREDOC.match(command[0].strip()) else None


def run_script(command: tuple[str, ...], json: bool, heredocs: tuple[Heredoc, ...]) -> tuple[str, ...]:
    """The argv (exec form) or the single shell string (shell form) a RUN hands to its SHELL.

    As BuildKit: a lone ``RUN <<EOF`` runs the (chomped) body itself; a body starting with
    ``#!`` should instead be written to a file and executed (callers check ``lone_heredoc``);
    otherwise the heredoc bodies are appended after the command so the shell reads them as
    real here-documents.
    """
    if json or not heredocs:
        return command
    lone = lone_heredoc(command, json, heredocs)
    if lone is not None:
        return (body(lone),)
    script = command[0] + "".join(f"\n{doc.content}{doc.name}" for doc in heredocs)
    return (script,)
