"""The Dockerfile front end: text -> nodes -> typed instructions -> stage graph (BuildKit semantics).

Typical use by the build executor::

    parsed = parse_dockerfile(text, "Dockerfile")
    graph = build_stages(parsed, build_args, target, target_platform=..., build_platform=...)
    for index in graph.build_order():
        for instruction in graph.stages[index].instructions:
            instruction = instruction.expand(stage_env, graph.escape)  # where it has expand()

See docs/dockerfile.md for which instructions and fields expand.
"""

from kiln.dockerfile.buildargs import (
    PLATFORM_ARGS,
    PROXY_ARGS,
    GlobalArgs,
    PlatformSpec,
    platform_args,
    resolve_global_args,
    resolve_stage_arg,
    unused_build_args,
)
from kiln.dockerfile.ignore import IgnoreMatcher, load_ignore
from kiln.dockerfile.lexer import LexError, expand_word, expand_words
from kiln.dockerfile.parser import Heredoc, Node, ParsedDockerfile, parse_dockerfile
from kiln.dockerfile.stages import SCRATCH, Stage, StageGraph, build_stages

__all__ = [
    "PLATFORM_ARGS",
    "PROXY_ARGS",
    "SCRATCH",
    "GlobalArgs",
    "Heredoc",
    "IgnoreMatcher",
    "LexError",
    "Node",
    "ParsedDockerfile",
    "PlatformSpec",
    "Stage",
    "StageGraph",
    "build_stages",
    "expand_word",
    "expand_words",
    "load_ignore",
    "parse_dockerfile",
    "platform_args",
    "resolve_global_args",
    "resolve_stage_arg",
    "unused_build_args",
]
