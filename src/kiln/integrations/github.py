"""GitHub Actions: action inputs -> executor argv; digest, imageid, metadata -> $GITHUB_OUTPUT.

Why these names: users move from docker/build-push-action, so the inputs and outputs keep its names
(``tags``, ``build-args``, ``digest``, ``imageid``, ``metadata``). A composite action does not set
``INPUT_*`` by itself; action.yml passes each input as ``INPUT_<NAME>`` (hyphens as underscores).
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TextIO

from kiln.integrations.dockerconfig import RegistryLogin, docker_config_json, existing_docker_config
from kiln.integrations.errorline import DockerfileProblem, find_dockerfile_problem
from kiln.integrations.request import ExecutorRequest, parse_bool, split_lines, split_list, split_words
from kiln.integrations.run import BuildOutcome, default_executor, image_id_from_layout, image_id_from_tarball
from kiln.integrations.session import Plan, execute

INPUT_NAMES = (
    "context", "file", "tags", "push", "build-args", "labels", "target", "cache", "cache-repository",
    "registry", "username", "password", "platform", "oci-layout", "tar", "source-metadata", "provenance",
    "extra-args",
)  # fmt: skip
SECRET_INPUTS = ("password",)


def input_variable(name: str) -> str:
    return "INPUT_" + name.upper().replace("-", "_").replace(" ", "_")


def read_input(environ: Mapping[str, str], name: str) -> str:
    """An input as action.yml passes it (``INPUT_BUILD_ARGS``), or as a JS action would (``INPUT_BUILD-ARGS``)."""
    for key in (input_variable(name), "INPUT_" + name.upper()):
        if key in environ:
            return environ[key].strip()
    return ""


def source_of(environ: Mapping[str, str]) -> tuple[str, str]:
    """The workflow's repository URL and commit (``$GITHUB_SERVER_URL/$GITHUB_REPOSITORY``, ``$GITHUB_SHA``)."""
    server, repository = environ.get("GITHUB_SERVER_URL", ""), environ.get("GITHUB_REPOSITORY", "")
    url = f"{server.rstrip('/')}/{repository}" if server and repository else ""
    return url, environ.get("GITHUB_SHA", "")


def plan_from_inputs(environ: Mapping[str, str]) -> tuple[Plan, list[str]]:
    """The build plan and the secrets to mask, from the action's inputs."""
    get = {name: read_input(environ, name) for name in INPUT_NAMES}
    request = ExecutorRequest(
        context=get["context"] or ".",
        dockerfile=get["file"],
        destinations=tuple(split_list(get["tags"])),
        push=parse_bool(get["push"], "push", default=False),
        build_args=tuple(split_lines(get["build-args"])),
        labels=tuple(split_lines(get["labels"])),
        target=get["target"],
        cache=parse_bool(get["cache"], "cache"),
        cache_repo=get["cache-repository"],
        platform=get["platform"],
        oci_layout_path=get["oci-layout"],
        tar_path=get["tar"],
        provenance=parse_bool(get["provenance"], "provenance"),
        extra_args=tuple(split_words(get["extra-args"], "extra-args")),
    ).with_source(parse_bool(get["source-metadata"], "source-metadata", default=True), *source_of(environ))
    secrets: list[str] = []
    config = None
    if get["username"] or get["password"]:
        login = RegistryLogin(get["registry"], get["username"], get["password"])
        config = docker_config_json([login], existing_docker_config(environ))
        secrets = login.secrets()
    drop = tuple(input_variable(n) for n in SECRET_INPUTS) + tuple(
        "INPUT_" + n.upper() for n in SECRET_INPUTS
    )
    return Plan(request, config, drop), secrets


def escape_data(text: str) -> str:
    """Workflow-command message escaping (``%``, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Workflow-command property escaping: data escaping plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def mask_commands(secrets: Sequence[str]) -> list[str]:
    """``::add-mask::`` lines, one per line of each secret (a mask covers a single line)."""
    out: list[str] = []
    for secret in secrets:
        out.extend(f"::add-mask::{escape_data(line)}" for line in secret.splitlines() if line.strip())
    return out


def annotation_path(problem: DockerfileProblem, request: ExecutorRequest, workspace: str) -> str:
    """The Dockerfile as a path from the repository root, which is how GitHub places annotations."""
    path = problem.file
    if not request.dockerfile and PurePosixPath(path).name == path:
        path = os.path.join(request.context or ".", path)
    if os.path.isabs(path) and workspace:
        path = os.path.relpath(path, workspace)
    return os.path.normpath(path)


def error_annotation(problem: DockerfileProblem, request: ExecutorRequest, workspace: str) -> str:
    file = escape_property(annotation_path(problem, request, workspace))
    return (
        f"::error file={file},line={problem.line},endLine={problem.end_line},title=Dockerfile::"
        f"{escape_data(problem.message)}"
    )


def output_block(name: str, value: str) -> str:
    """``name<<DELIM`` syntax with a delimiter the value cannot contain, so any value is safe."""
    while True:
        delimiter = f"ghadelimiter_{uuid.uuid4()}"
        if delimiter not in value:
            return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def write_outputs(path: Path, outputs: Mapping[str, str]) -> None:
    with path.open("a", encoding="utf-8") as f:
        for name, value in outputs.items():
            f.write(output_block(name, value))


def image_id(request: ExecutorRequest) -> str:
    """The config digest, when the build also wrote an OCI layout or a tarball to read it from."""
    if request.oci_layout_path:
        found = image_id_from_layout(Path(request.oci_layout_path))
        if found:
            return found
    if request.tar_path:
        return image_id_from_tarball(Path(request.tar_path))
    return ""


def metadata(request: ExecutorRequest, outcome: BuildOutcome, imageid: str) -> dict[str, object]:
    """build-push-action's metadata keys, for workflows that read them; with provenance on, kiln's own
    ``kiln.provenance``: per repository the attestation's ``artifact`` (``repo@digest``), ``via`` and the
    referrers fallback ``tag`` ('' when the registry lists referrers itself)."""
    data: dict[str, object] = {
        "containerimage.digest": outcome.digest,
        "image.name": ",".join(request.destinations),
    }
    if imageid:
        data["containerimage.config.digest"] = imageid
    if request.provenance:
        data["kiln.provenance"] = [ref.as_dict() for ref in outcome.provenance]
    return data


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or "-"


def summary_markdown(request: ExecutorRequest, outcome: BuildOutcome, imageid: str) -> str:
    """A step-summary table: what was built, where it went, and its digest."""
    rows = [
        ("Result", "built and pushed" if request.push else "built (not pushed)"),
        ("Tags", ", ".join(f"`{t}`" for t in request.destinations)),
        ("Digest", f"`{outcome.digest}`" if outcome.digest else ""),
        ("Image ID", f"`{imageid}`" if imageid else ""),
        ("Dockerfile", request.dockerfile or "Dockerfile"),
        ("Context", request.context),
        ("Platform", request.platform),
        ("OCI layout", request.oci_layout_path),
        ("Tarball", request.tar_path),
        ("Provenance", ", ".join(f"`{ref.tag or ref.artifact}`" for ref in outcome.provenance)),
    ]
    lines = ["### kiln build", "", "| | |", "|---|---|"]
    lines.extend(f"| {name} | {_cell(value)} |" for name, value in rows if value or name == "Digest")
    return "\n".join(lines) + "\n"


def last_error(outcome: BuildOutcome) -> str:
    """The executor's final ``error: ...`` line (already scrubbed of secrets by the executor), or ''."""
    for line in reversed(outcome.stderr_tail):
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    return ""


def failure_summary(problem: DockerfileProblem | None, outcome: BuildOutcome) -> str:
    reason = problem.message if problem else (outcome.stderr_tail[-1] if outcome.stderr_tail else "")
    return f"### kiln build failed\n\nexit code {outcome.exit_code}: {_cell(reason)}\n"


def build(environ: Mapping[str, str], stdout: TextIO, executor: Sequence[str] | None = None) -> int:
    """The action's one step: mask, plan, run, then outputs, summary and annotations; the exit code."""
    masked = mask_commands([read_input(environ, n) for n in SECRET_INPUTS])
    for line in masked:  # first, so even a failing plan cannot print them
        print(line, file=stdout, flush=True)
    plan, secrets = plan_from_inputs(environ)
    for line in mask_commands(secrets):
        if line not in masked:
            print(line, file=stdout, flush=True)
    tmp_root = environ.get("RUNNER_TEMP") or tempfile.gettempdir()
    with tempfile.TemporaryDirectory(prefix="kiln-", dir=tmp_root) as tmp:
        request, outcome = execute(plan, environ, Path(tmp), executor or default_executor(environ))
    summary_path = environ.get("GITHUB_STEP_SUMMARY")
    if not outcome.ok:
        problem = find_dockerfile_problem(outcome.stderr_tail, request.dockerfile or "Dockerfile")
        if problem is not None:
            print(
                error_annotation(problem, request, environ.get("GITHUB_WORKSPACE", "")),
                file=stdout,
                flush=True,
            )
        elif last_error(outcome):
            print(f"::error title=kiln build::{escape_data(last_error(outcome))}", file=stdout, flush=True)
        if summary_path:
            with open(summary_path, "a", encoding="utf-8") as f:
                f.write(failure_summary(problem, outcome))
        return outcome.exit_code
    imageid = image_id(request)
    outputs = {
        "digest": outcome.digest,
        "imageid": imageid,
        "metadata": json.dumps(metadata(request, outcome, imageid), indent=2, sort_keys=True),
    }
    if environ.get("GITHUB_OUTPUT"):
        write_outputs(Path(environ["GITHUB_OUTPUT"]), outputs)
    if summary_path:
        with open(summary_path, "a", encoding="utf-8") as f:
            f.write(summary_markdown(request, outcome, imageid))
    return 0
