"""Typed, validated Dockerfile instructions (frozen dataclasses that keep their words unexpanded).

Call ``expand(env, escape)`` at dispatch time on the instructions that expand (FROM, ARG,
ENV, LABEL, EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL, COPY, ADD, and RUN's ``--mount``).
"""

from kiln.dockerfile.instructions.base import Expander, Instruction
from kiln.dockerfile.instructions.command import Cmd, Entrypoint, Healthcheck, OnBuild, Shell, parse_duration
from kiln.dockerfile.instructions.copy import Copy, heredoc_name
from kiln.dockerfile.instructions.env import Arg, ArgDecl, Env, KeyValue, Label
from kiln.dockerfile.instructions.from_ import From
from kiln.dockerfile.instructions.mounts import Mount, parse_mount
from kiln.dockerfile.instructions.parse import KEYWORDS, parse_instruction, parse_instructions
from kiln.dockerfile.instructions.run import Run
from kiln.dockerfile.instructions.simple import Expose, Maintainer, StopSignal, User, Volume, Workdir

__all__ = [
    "KEYWORDS",
    "Arg",
    "ArgDecl",
    "Cmd",
    "Copy",
    "Entrypoint",
    "Env",
    "Expander",
    "Expose",
    "From",
    "Healthcheck",
    "Instruction",
    "KeyValue",
    "Label",
    "Maintainer",
    "Mount",
    "OnBuild",
    "Run",
    "Shell",
    "StopSignal",
    "User",
    "Volume",
    "Workdir",
    "heredoc_name",
    "parse_duration",
    "parse_instruction",
    "parse_instructions",
    "parse_mount",
]
