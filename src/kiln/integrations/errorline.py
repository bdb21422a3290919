"""Finding the Dockerfile location in kiln's one-line error, so CI can annotate the right line.

Why parse text: the executor runs as a child process (its own exit code, its own secrets scrubbing);
its last stderr line, ``error: Dockerfile:7: unknown instruction ...``, is the stable contract.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

_ERROR = re.compile(r"^error: (?P<file>[^\s:]+):(?P<start>\d+)(?:-(?P<end>\d+))?: (?P<message>.+)$")


@dataclass(frozen=True)
class DockerfileProblem:
    """A failure located in a Dockerfile (1-based lines)."""

    file: str
    line: int
    end_line: int
    message: str


def _same_file(reported: str, dockerfile: str) -> bool:
    if reported == dockerfile:
        return True
    return PurePosixPath(reported).name == PurePosixPath(dockerfile or "Dockerfile").name


def find_dockerfile_problem(lines: Iterable[str], dockerfile: str) -> DockerfileProblem | None:
    """The last ``error: <dockerfile>:<line>: ...`` line that names this build's Dockerfile."""
    found: DockerfileProblem | None = None
    for raw in lines:
        match = _ERROR.match(raw.strip())
        if match is None or not _same_file(match["file"], dockerfile):
            continue
        start = int(match["start"])
        end = int(match["end"]) if match["end"] else start
        found = DockerfileProblem(match["file"], start, end, match["message"])
    return found
