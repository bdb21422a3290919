"""``kiln debug``: show what kiln understood of a Dockerfile (also the conformance-check contract).

``parse FILE`` prints one JSON object per instruction; ``expand`` answers JSON-line
requests for shell word expansion.  Both formats are compared with BuildKit's by a
conformance checker, so their keys and meaning must not drift.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from kiln.errors import KilnError

if TYPE_CHECKING:
    # the Dockerfile code is imported where used: ``kiln --help`` lists this group without it
    from kiln.dockerfile.parser import Node


@click.group()
def debug() -> None:
    """Inspect how kiln reads Dockerfiles."""


def node_to_json(node: Node) -> dict[str, Any]:
    """The contract shape of one parsed instruction."""
    return {
        "cmd": node.cmd,
        "flags": list(node.flags),
        "args": list(node.args),
        "json": node.json,
        "heredocs": [
            {"name": h.name, "content": h.content, "expand": h.expand, "chomp": h.chomp, "fd": h.fd}
            for h in node.heredocs
        ],
        "start_line": node.start_line,
        "end_line": node.end_line,
        "sub": node_to_json(node.sub) if node.sub is not None else None,
    }


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@debug.command("parse")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def parse_command(file: Path) -> None:
    """Print each instruction of FILE as one JSON object per line."""
    from kiln.dockerfile.parser import parse_dockerfile

    try:
        data = file.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror}")
    try:
        parsed = parse_dockerfile(data.decode("utf-8", errors="replace"), str(file))
    except KilnError as exc:
        _fail(str(exc))
    out = sys.stdout
    for node in parsed.nodes:
        out.write(json.dumps(node_to_json(node), ensure_ascii=False) + "\n")


@debug.command("stages")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--target", default=None, help="stage to build (default: the last one)")
@click.option("--build-arg", "build_args", multiple=True, help="NAME=VALUE, repeatable")
@click.option("--platform", default=None, help="target platform os/arch[/variant]")
def stages_command(file: Path, target: str | None, build_args: tuple[str, ...], platform: str | None) -> None:
    """Print each stage of FILE (base, dependencies, whether the target needs it) as JSON lines."""
    from kiln.dockerfile.buildargs import PlatformSpec
    from kiln.dockerfile.parser import parse_dockerfile
    from kiln.dockerfile.stages import build_stages

    try:
        text = file.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror}")
    args = {name: value for name, _, value in (arg.partition("=") for arg in build_args)}
    try:
        target_platform = PlatformSpec.parse(platform) if platform else None
        graph = build_stages(parse_dockerfile(text, str(file)), args, target, target_platform=target_platform)
    except KilnError as exc:
        _fail(str(exc))
    needed = set(graph.required_stages())
    for stage in graph.stages:
        row = {
            "index": stage.index,
            "name": stage.name,
            "base": stage.base,
            "platform": stage.platform,
            "base_stage": stage.base_stage,
            "dependencies": list(stage.dependencies),
            "images": list(stage.images),
            "instructions": len(stage.instructions),
            "target": stage.index == graph.target,
            "required": stage.index in needed,
        }
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


def answer_expand_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """Answer one ``expand`` request (see the module docstring for the line format)."""
    from kiln.dockerfile.lexer import LexError, expand_word, expand_words

    op = request.get("op")
    word = request.get("word")
    env = request.get("env") or {}
    escape = request.get("escape", "\\")
    if op not in ("word", "words") or not isinstance(word, str) or not isinstance(env, dict):
        return {"error": "bad request: need op word|words, a string word and an env object"}
    if escape not in ("\\", "`"):
        return {"error": f"bad request: escape must be \\ or `, not {escape!r}"}
    env_map = {str(k): str(v) for k, v in env.items()}
    folded = bool(request.get("env_case_insensitive", False))
    try:
        if op == "word":
            return {"value": expand_word(word, env_map, escape, case_insensitive=folded)}
        return {"words": expand_words(word, env_map, escape, case_insensitive=folded)}
    except LexError as exc:
        return {"error": str(exc)}


@debug.command("expand")
def expand_command() -> None:
    """Read JSON requests on stdin, answer each with one JSON line."""
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except ValueError as exc:
            answer: dict[str, Any] = {"error": f"bad request: not JSON: {exc}"}
        else:
            answer = (
                answer_expand_request(request)
                if isinstance(request, dict)
                else {"error": "bad request: not a JSON object"}
            )
        sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
        sys.stdout.flush()
