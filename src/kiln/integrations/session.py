"""The shared middle of every adapter: credentials to a private config, run, collect the outputs.

Why shared: each platform differs only in how it fills a Plan and where it writes the outcome.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from kiln.integrations.dockerconfig import write_docker_config
from kiln.integrations.request import ExecutorRequest
from kiln.integrations.run import (
    BuildOutcome,
    read_digest,
    read_image_refs,
    read_provenance_refs,
    run_executor,
)


@dataclass(frozen=True)
class Plan:
    """A request plus the credentials it needs.

    ``docker_config`` None leaves the environment's own config.json (a login step, a mounted secret)
    in charge. ``drop_env`` names variables that carried secrets to the adapter and must not reach
    the executor's environment.
    """

    request: ExecutorRequest
    docker_config: Mapping[str, Any] | None = field(default=None, repr=False)
    drop_env: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.request.check()  # fail on bad inputs before looking for an executor or writing secrets


def child_environ(plan: Plan, environ: Mapping[str, str], work_dir: Path) -> dict[str, str]:
    """The executor's environment: secrets removed, DOCKER_CONFIG pointing at the private config."""
    env = {k: v for k, v in environ.items() if k not in plan.drop_env}
    if plan.docker_config is not None:
        env["DOCKER_CONFIG"] = str(write_docker_config(work_dir / "docker", plan.docker_config))
    return env


def with_output_files(request: ExecutorRequest, work_dir: Path) -> ExecutorRequest:
    """Ask for the digest files (with provenance on, also kiln's note of where the statement went) in
    ``work_dir`` unless the user named their own.

    The image-name file needs a destination (the executor refuses it without one), so a build-only
    request with no names gets just the digest file.
    """
    names_file = request.image_name_with_digest_file
    if not names_file and request.destinations:
        names_file = str(work_dir / "image-refs")
    refs_file = request.provenance_refs_file
    if request.provenance and not refs_file:
        refs_file = str(work_dir / "provenance-refs.json")
    return dataclasses.replace(
        request,
        digest_file=request.digest_file or str(work_dir / "digest"),
        image_name_with_digest_file=names_file,
        provenance_refs_file=refs_file,
    )


def execute(
    plan: Plan,
    environ: Mapping[str, str],
    work_dir: Path,
    executor: Sequence[str],
    echo: TextIO | None = None,
) -> tuple[ExecutorRequest, BuildOutcome]:
    """Run the plan's build; the request as run (with its output files) and what came of it."""
    work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    request = with_output_files(plan.request, work_dir)
    argv = request.argv(executor)
    code, tail = run_executor(argv, child_environ(plan, environ, work_dir), echo)
    outcome = BuildOutcome(
        exit_code=code,
        stderr_tail=tail,
        digest=read_digest(Path(request.digest_file)) if code == 0 else "",
        image_refs=read_image_refs(Path(request.image_name_with_digest_file))
        if code == 0 and request.image_name_with_digest_file
        else (),
        provenance=read_provenance_refs(Path(request.provenance_refs_file))
        if code == 0 and request.provenance_refs_file
        else (),
    )
    return request, outcome
