"""GitHub adapter: inputs -> argv, masks, outputs file, summary, annotations; action.yml checks."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kiln.errors import UsageError
from kiln.integrations import github
from kiln.integrations.errorline import find_dockerfile_problem
from kiln.integrations.request import ExecutorRequest

from .conftest import FAKE_ARTIFACT, FAKE_DIGEST, FAKE_TAG_SUFFIX, FakeExecutor

REPO = Path(__file__).resolve().parents[2]
ACTION = REPO / "actions" / "build" / "action.yml"


def parse_output_file(text: str) -> dict[str, str]:
    """Read $GITHUB_OUTPUT the way the runner does (name<<DELIM ... DELIM, or name=value)."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line:
            name, delim = line.split("<<", 1)
            end = lines.index(delim, i + 1)
            out[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
            i += 1
        else:
            i += 1
    return out


def run_action(fake: FakeExecutor, tmp_path: Path, **inputs: str) -> tuple[int, str, Path, Path]:
    out_file, summary = tmp_path / "gh_output", tmp_path / "gh_summary"
    env = fake.environ(
        GITHUB_OUTPUT=str(out_file), GITHUB_STEP_SUMMARY=str(summary), RUNNER_TEMP=str(tmp_path),
        GITHUB_WORKSPACE=str(tmp_path), HOME=str(tmp_path / "home"),
    )  # fmt: skip
    env.update({github.input_variable(k.replace("_", "-")): v for k, v in inputs.items()})
    stdout = io.StringIO()
    code = github.build(env, stdout, fake.argv)
    return code, stdout.getvalue(), out_file, summary


def test_inputs_become_executor_flags(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    code, _, _, _ = run_action(
        fake_executor, tmp_path,
        context="app", file="app/Dockerfile.prod", tags="r.example/a:1, r.example/a:2\nr.example/a:3",
        push="true", build_args="A=1\nB=x,y\nBARE", labels="org.opencontainers.image.title=App, with comma",
        target="final", cache_repository="r.example/cache", platform="linux/arm64",
        extra_args="--reproducible --snapshot-mode='redo'",
    )  # fmt: skip
    assert code == 0
    argv = fake_executor.record()["argv"]
    assert argv[:2] == ["--context=app", "--dockerfile=app/Dockerfile.prod"]
    assert [a for a in argv if a.startswith("--destination")] == [
        "--destination=r.example/a:1", "--destination=r.example/a:2", "--destination=r.example/a:3",
    ]  # fmt: skip
    assert "--no-push" not in argv
    assert [a for a in argv if a.startswith("--build-arg")] == [
        "--build-arg=A=1",
        "--build-arg=B=x,y",
        "--build-arg=BARE",
    ]
    assert "--label=org.opencontainers.image.title=App, with comma" in argv
    for flag in (
        "--target=final",
        "--cache-repo=r.example/cache",
        "--custom-platform=linux/arm64",
        "--cache=true",
    ):
        assert flag in argv
    assert argv[-2:] == ["--reproducible", "--snapshot-mode=redo"]


def test_repository_and_commit_become_source_metadata(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    """GITHUB_SERVER_URL/GITHUB_REPOSITORY and GITHUB_SHA, as the runner sets them; off with source-metadata."""
    workflow = {
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/app",
        "GITHUB_SHA": "f" * 40,
    }
    assert github.source_of(workflow) == ("https://github.com/acme/app", "f" * 40)
    plan, _ = github.plan_from_inputs({**workflow, "INPUT_PUSH": "false"})
    argv = plan.request.argv([])
    assert "--image-source=https://github.com/acme/app" in argv
    assert f"--image-revision={'f' * 40}" in argv
    plan, _ = github.plan_from_inputs({**workflow, "INPUT_PUSH": "false", "INPUT_SOURCE_METADATA": "false"})
    assert not any(a.startswith(("--image-source", "--image-revision")) for a in plan.request.argv([]))
    assert github.source_of({"GITHUB_SHA": "abc"}) == ("", "abc")  # no server URL: no source label


def test_push_defaults_to_false_as_build_push_action(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    code, _, _, _ = run_action(fake_executor, tmp_path, tags="r.example/a:1")
    assert code == 0
    assert "--no-push" in fake_executor.record()["argv"]


def test_password_goes_to_a_private_config_not_argv_or_env(
    fake_executor: FakeExecutor, tmp_path: Path
) -> None:
    secret = "ghp_s3cretTOKENvalue"
    code, stdout, _, _ = run_action(
        fake_executor, tmp_path, tags="ghcr.io/o/a:1", push="true",
        registry="ghcr.io", username="octocat", password=secret,
    )  # fmt: skip
    assert code == 0
    record = fake_executor.record()
    assert not any(secret in a for a in record["argv"])
    assert not any(secret in v for v in record["env"].values())
    auth = record["docker_config"]["auths"]["ghcr.io"]["auth"]
    assert base64.b64decode(auth).decode() == f"octocat:{secret}"
    assert record["docker_config_mode"] == "0o600"
    assert f"::add-mask::{secret}" in stdout.splitlines()
    assert f"::add-mask::{auth}" in stdout.splitlines()
    assert stdout.index("::add-mask::") == 0  # masked before anything else is printed
    assert not list(tmp_path.glob("kiln-*")), "the private config dir is removed after the build"


def test_login_keeps_a_previous_login_steps_config(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    home_cfg = tmp_path / "home" / ".docker" / "config.json"
    home_cfg.parent.mkdir(parents=True)
    home_cfg.write_text(json.dumps({"auths": {"other.example": {"auth": "eDp5"}}, "credHelpers": {"x": "y"}}))
    run_action(fake_executor, tmp_path, username="u", password="p", tags="a/b:1")
    config = fake_executor.record()["docker_config"]
    assert set(config["auths"]) == {"other.example", "https://index.docker.io/v1/"}
    assert config["credHelpers"] == {"x": "y"}


def test_no_login_leaves_docker_config_alone(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    run_action(fake_executor, tmp_path, tags="a/b:1")
    assert "DOCKER_CONFIG" not in fake_executor.record()["env"]


def test_outputs_are_multiline_safe(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    code, _, out_file, summary = run_action(fake_executor, tmp_path, tags="r.example/a:1", push="true")
    assert code == 0
    outputs = parse_output_file(out_file.read_text())
    assert outputs["digest"] == FAKE_DIGEST
    assert outputs["imageid"] == ""
    meta = json.loads(outputs["metadata"])
    assert meta == {"containerimage.digest": FAKE_DIGEST, "image.name": "r.example/a:1"}
    assert "\n" in outputs["metadata"]
    table = summary.read_text()
    assert "| Digest | `" + FAKE_DIGEST + "` |" in table
    assert "| Tags | `r.example/a:1` |" in table


def test_provenance_input_turns_on_generate_provenance_and_reports_where(
    fake_executor: FakeExecutor, tmp_path: Path
) -> None:
    code, _, out_file, _ = run_action(fake_executor, tmp_path, tags="r.example/a:1", push="true")
    assert code == 0  # default off, as build-push-action's provenance is opt-in here (kaniko has none)
    assert not any(
        a.startswith(("--generate-provenance", "--provenance")) for a in fake_executor.record()["argv"]
    )
    assert "kiln.provenance" not in json.loads(parse_output_file(out_file.read_text())["metadata"])
    out_file.unlink()
    code, _, out_file, summary = run_action(
        fake_executor, tmp_path, tags="r.example/a:1,r.example/b:2", push="true", provenance="true"
    )
    assert code == 0
    argv = fake_executor.record()["argv"]
    assert "--generate-provenance" in argv
    (refs_flag,) = [a for a in argv if a.startswith("--provenance-refs-file=")]
    assert refs_flag.startswith(f"--provenance-refs-file={tmp_path}/kiln-")  # RUNNER_TEMP, removed after
    meta = json.loads(parse_output_file(out_file.read_text())["metadata"])
    assert meta["kiln.provenance"] == [
        {
            "artifact": f"r.example/{n}@{FAKE_ARTIFACT}",
            "tag": f"r.example/{n}{FAKE_TAG_SUFFIX}",
            "via": "fallback-tag",
        }
        for n in ("a", "b")
    ]
    assert (
        f"| Provenance | `r.example/a{FAKE_TAG_SUFFIX}`, `r.example/b{FAKE_TAG_SUFFIX}` |"
        in summary.read_text()
    )


def test_output_delimiter_never_occurs_in_the_value() -> None:
    hostile = "x\nghadelimiter_1\nEOF\n"
    block = github.output_block("metadata", hostile)
    header, _, rest = block.partition("\n")
    delim = header.split("<<", 1)[1]
    assert delim not in hostile
    assert rest.endswith(f"\n{delim}\n")
    assert parse_output_file(block)["metadata"] == hostile


def test_imageid_from_oci_layout(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    """The fake does not write layouts; a minimal hand-made one stands in for the executor's (with the
    provenance entry --generate-provenance lists after the image, which is not the image)."""
    layout = tmp_path / "layout"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    config_digest = "sha256:" + "cd" * 32
    manifest = json.dumps({"schemaVersion": 2, "config": {"digest": config_digest}}).encode()
    (layout / "blobs" / "sha256" / ("ef" * 32)).write_bytes(manifest)
    provenance = {"digest": "sha256:" + "12" * 32, "artifactType": "application/vnd.in-toto+json"}
    (layout / "index.json").write_text(
        json.dumps({"manifests": [{"digest": "sha256:" + "ef" * 32}, provenance]})
    )
    code, _, out_file, _ = run_action(fake_executor, tmp_path, tags="a/b:1", oci_layout=str(layout))
    assert code == 0
    assert parse_output_file(out_file.read_text())["imageid"] == config_digest
    assert f"--oci-layout-path={layout}" in fake_executor.record()["argv"]


def test_dockerfile_error_becomes_an_annotation(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    fake_executor_env_fail = "error: app/Dockerfile:7: unknown instruction: RUNN (hint: did you mean RUN?)"
    out_file, summary = tmp_path / "o", tmp_path / "s"
    env = fake_executor.environ(FAKE_FAIL=fake_executor_env_fail, GITHUB_OUTPUT=str(out_file),
                                GITHUB_STEP_SUMMARY=str(summary), INPUT_FILE="app/Dockerfile")  # fmt: skip
    stdout = io.StringIO()
    assert github.build(env, stdout, fake_executor.argv) == 1
    assert stdout.getvalue().splitlines()[-1] == (
        "::error file=app/Dockerfile,line=7,endLine=7,title=Dockerfile::unknown instruction: RUNN (hint: did you mean RUN?)"
    )
    assert not out_file.exists()
    assert "exit code 1" in summary.read_text()


def test_annotation_for_the_default_dockerfile_names_the_context() -> None:
    problem = find_dockerfile_problem(["error: Dockerfile:3-5: bad, 100%"], "Dockerfile")
    assert problem is not None
    line = github.error_annotation(problem, ExecutorRequest(context="svc/api"), "/ws")
    assert line == "::error file=svc/api/Dockerfile,line=3,endLine=5,title=Dockerfile::bad, 100%25"


def test_annotation_path_is_made_relative_to_the_workspace() -> None:
    problem = find_dockerfile_problem(["error: /ws/x/Dockerfile:2: nope"], "/ws/x/Dockerfile")
    assert problem is not None
    assert (
        github.annotation_path(problem, ExecutorRequest(dockerfile="/ws/x/Dockerfile"), "/ws")
        == "x/Dockerfile"
    )


def test_other_errors_are_not_dockerfile_annotations() -> None:
    assert find_dockerfile_problem(["error: registry.example:443: connection refused"], "Dockerfile") is None
    assert find_dockerfile_problem(["WARN Dockerfile:3: something"], "Dockerfile") is None


def test_property_escaping() -> None:
    assert github.escape_property("a:b,c%d\ne") == "a%3Ab%2Cc%25d%0Ae"


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"push": "true"}, "pushing needs at least one image name"),
        ({"tags": "a/b:1", "platform": "linux/amd64,linux/arm64"}, "one platform per build"),
        ({"tags": "a/b:1", "build_args": "1BAD=x"}, "not a valid name"),
        ({"tags": "a/b:1", "push": "maybe"}, "expected true or false"),
        ({"tags": "a/b:1", "provenance": "mode=max"}, "provenance: expected true or false"),  # buildx's modes
        ({"tags": "a/b:1", "extra_args": "--label='x"}, "balance the quotes"),
    ],
)
def test_bad_inputs_are_usage_errors(
    fake_executor: FakeExecutor, tmp_path: Path, inputs: dict[str, str], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        run_action(fake_executor, tmp_path, **inputs)
    assert not fake_executor.record_path.exists()


def test_cli_renders_a_usage_error_as_an_annotation(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kiln.integrations", "github"],
        env={"PATH": "/usr/bin:/bin", "INPUT_PUSH": "true", "INPUT_PASSWORD": "pw-secret-1"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "::add-mask::pw-secret-1" in result.stdout
    assert "::error title=kiln::pushing needs at least one image name" in result.stdout
    assert result.stderr.startswith("error: pushing needs at least one image name")


# --- action.yml ---------------------------------------------------------------------------------


def action() -> dict[str, object]:
    data = yaml.safe_load(ACTION.read_text())
    assert isinstance(data, dict)
    return data


@pytest.mark.skipif(shutil.which("check-jsonschema") is None, reason="check-jsonschema is not installed")
def test_action_yml_is_valid_for_github() -> None:
    result = subprocess.run(
        ["check-jsonschema", "--builtin-schema", "vendor.github-actions", str(ACTION)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_input_reaches_the_adapter_through_env() -> None:
    data = action()
    inputs = data["inputs"]
    assert isinstance(inputs, dict)
    steps = data["runs"]["steps"]  # type: ignore[index]
    build = next(s for s in steps if s.get("id") == "build")
    for name in github.INPUT_NAMES:
        assert name in inputs
        assert build["env"][github.input_variable(name)] == f"${{{{ inputs.{name} }}}}"
    assert set(data["outputs"]) == {"digest", "imageid", "metadata"}  # type: ignore[arg-type]
    assert inputs["provenance"]["default"] == "false"


def test_no_expression_is_pasted_into_a_script() -> None:
    for step in action()["runs"]["steps"]:  # type: ignore[index]
        assert "${{" not in step.get("run", ""), step
        assert not re.search(r"\$\{\{", step.get("run", ""))


def test_build_only_without_tags_asks_for_no_name_file(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    code, _, out_file, _ = run_action(fake_executor, tmp_path)
    assert code == 0
    assert not any(a.startswith("--image-name") for a in fake_executor.record()["argv"])
    assert parse_output_file(out_file.read_text())["digest"] == FAKE_DIGEST


def test_other_executor_errors_become_a_plain_error_annotation(
    fake_executor: FakeExecutor, tmp_path: Path
) -> None:
    env = fake_executor.environ(FAKE_FAIL="error: registry r.example: DENIED: no push access", FAKE_EXIT="1")
    stdout = io.StringIO()
    assert github.build(env, stdout, fake_executor.argv) == 1
    assert (
        stdout.getvalue().splitlines()[-1]
        == "::error title=kiln build::registry r.example: DENIED: no push access"
    )
