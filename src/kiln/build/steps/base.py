"""The minimal protocol every instruction's step follows.

A step is a function ``(instruction, ctx) -> Outcome``: it changes ``ctx.state`` (config, args)
and/or the files under ``ctx.state.root``; the stage then records the history entry the outcome
names and, when ``touches_fs`` is set, commits the changes as a layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kiln.build.state import StageState
from kiln.dockerfile import IgnoreMatcher
from kiln.sandbox import OutputSink, Runner


@dataclass(frozen=True)
class Outcome:
    """What a step did: its history ``created_by`` and whether it may have changed files."""

    created_by: str
    touches_fs: bool = False


class StageFiles(Protocol):
    """Read access to a finished stage (or an image) for ``COPY --from`` and ``RUN --mount=from``."""

    def root_of(self, ref: str) -> Path:
        """The host directory holding the files of stage or image ``ref``."""
        ...


@dataclass
class StepContext:
    """Everything a step may use besides the instruction itself."""

    state: StageState
    context_dir: Path
    ignore: IgnoreMatcher | None
    runner: Runner | None
    sources: StageFiles
    work_dir: Path
    cache_dir: Path
    secrets: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    output: OutputSink | None = None
    mtime: int | None = None
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)  # GIT_* for ADD of git URLs
