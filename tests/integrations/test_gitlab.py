"""GitLab adapter: default tags, credentials, dotenv report; the component and include template."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kiln.errors import AuthError, UsageError
from kiln.integrations import gitlab

from .conftest import FAKE_ARTIFACT, FAKE_DIGEST, FAKE_TAG_SUFFIX, FakeExecutor

REPO = Path(__file__).resolve().parents[2]
COMPONENT = REPO / "integrations" / "gitlab" / "templates" / "build.yml"
INCLUDE = REPO / "integrations" / "gitlab" / "kiln.gitlab-ci.yml"

JOB = {
    "CI_REGISTRY": "registry.gitlab.example",
    "CI_REGISTRY_IMAGE": "registry.gitlab.example/group/app",
    "CI_REGISTRY_USER": "gitlab-ci-token",
    "CI_REGISTRY_PASSWORD": "glcbt-job-secret",
    "CI_COMMIT_SHORT_SHA": "1a2b3c4d",
    "CI_DEFAULT_BRANCH": "main",
}


def test_default_tags_branch_pipeline() -> None:
    assert gitlab.default_destinations({**JOB, "CI_COMMIT_BRANCH": "feature/x"}) == [
        "registry.gitlab.example/group/app:1a2b3c4d"
    ]


def test_default_tags_default_branch_adds_latest() -> None:
    assert gitlab.default_destinations({**JOB, "CI_COMMIT_BRANCH": "main"}) == [
        "registry.gitlab.example/group/app:1a2b3c4d",
        "registry.gitlab.example/group/app:latest",
    ]


def test_default_tags_tag_pipeline_uses_the_tag_made_valid() -> None:
    env = {**JOB, "CI_COMMIT_TAG": "release/v1.2+build"}
    assert gitlab.default_destinations(env) == ["registry.gitlab.example/group/app:release-v1.2-build"]


def test_no_registry_and_no_destinations_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="CI_REGISTRY_IMAGE"):
        gitlab.plan_from_env({"CI_COMMIT_SHORT_SHA": "abc"})


def test_job_registry_credentials_and_dependency_proxy() -> None:
    env = {
        **JOB,
        "CI_DEPENDENCY_PROXY_SERVER": "gitlab.example:443",
        "CI_DEPENDENCY_PROXY_USER": "gitlab-ci-token",
        "CI_DEPENDENCY_PROXY_PASSWORD": "proxy-secret",
    }
    config = gitlab.docker_config_from(env)
    assert config is not None
    auths = config["auths"]
    assert set(auths) == {"registry.gitlab.example", "gitlab.example:443", "gitlab.example"}
    assert base64.b64decode(auths["gitlab.example"]["auth"]).decode() == "gitlab-ci-token:proxy-secret"


def test_docker_auth_config_wins() -> None:
    custom = '{"auths": {"quay.io": {"auth": "dTpw"}}}'
    config = gitlab.docker_config_from({**JOB, "DOCKER_AUTH_CONFIG": custom})
    assert config == {"auths": {"quay.io": {"auth": "dTpw"}}}


def test_bad_docker_auth_config_names_the_variable_not_its_value() -> None:
    with pytest.raises(AuthError, match="DOCKER_AUTH_CONFIG is not a JSON object") as err:
        gitlab.docker_config_from({"DOCKER_AUTH_CONFIG": "hunter2-not-json"})
    assert "hunter2" not in str(err.value)


def run_job(fake: FakeExecutor, tmp_path: Path, **extra: str) -> tuple[int, dict[str, Any]]:
    env = fake.environ(**JOB, CI_COMMIT_BRANCH="main", KILN_DOTENV=str(tmp_path / "kiln.env"), **extra)
    code = gitlab.build(env, io.StringIO(), fake.argv)
    return code, fake.record()


def test_job_builds_pushes_and_writes_dotenv(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    code, record = run_job(fake_executor, tmp_path, KILN_BUILD_ARGS="VERSION=1.2\nNAME=a b")
    assert code == 0
    argv = record["argv"]
    assert "--destination=registry.gitlab.example/group/app:latest" in argv
    assert "--build-arg=NAME=a b" in argv
    assert not any("glcbt-job-secret" in a for a in argv)
    assert "CI_REGISTRY_PASSWORD" not in record["env"]
    assert "registry.gitlab.example" in record["docker_config"]["auths"]
    dotenv = dict(line.split("=", 1) for line in (tmp_path / "kiln.env").read_text().splitlines())
    assert dotenv == {
        "IMAGE_DIGEST": FAKE_DIGEST,
        "IMAGE_REF": f"registry.gitlab.example/group/app@{FAKE_DIGEST}",
    }


def test_provenance_variable_turns_on_generate_provenance_and_the_dotenv_says_where(
    fake_executor: FakeExecutor, tmp_path: Path
) -> None:
    code, record = run_job(fake_executor, tmp_path, KILN_PROVENANCE="false")  # the component's default
    assert code == 0
    assert not any(a.startswith(("--generate-provenance", "--provenance")) for a in record["argv"])
    assert "PROVENANCE" not in (tmp_path / "kiln.env").read_text()
    code, record = run_job(fake_executor, tmp_path, KILN_PROVENANCE="true")
    assert code == 0
    assert "--generate-provenance" in record["argv"]
    assert any(a.startswith("--provenance-refs-file=") for a in record["argv"])
    dotenv = dict(line.split("=", 1) for line in (tmp_path / "kiln.env").read_text().splitlines())
    image = "registry.gitlab.example/group/app"
    assert dotenv == {
        "IMAGE_DIGEST": FAKE_DIGEST,
        "IMAGE_REF": f"{image}@{FAKE_DIGEST}",
        "PROVENANCE_REF": f"{image}@{FAKE_ARTIFACT}",
        "PROVENANCE_TAG": f"{image}{FAKE_TAG_SUFFIX}",
    }
    with pytest.raises(UsageError, match="KILN_PROVENANCE: expected true or false"):
        run_job(fake_executor, tmp_path, KILN_PROVENANCE="slsa")


def test_project_url_and_commit_become_source_metadata(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    project = {"CI_PROJECT_URL": "https://gitlab.example.com/group/app", "CI_COMMIT_SHA": "c" * 40}
    run_job(fake_executor, tmp_path, **project)
    argv = fake_executor.record()["argv"]
    assert "--image-source=https://gitlab.example.com/group/app" in argv
    assert f"--image-revision={'c' * 40}" in argv
    run_job(fake_executor, tmp_path, KILN_SOURCE_METADATA="false", **project)
    assert not any(
        a.startswith(("--image-source", "--image-revision")) for a in fake_executor.record()["argv"]
    )


def test_keep_oci_layout_switch(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    run_job(fake_executor, tmp_path, KILN_KEEP_OCI_LAYOUT="false", KILN_OCI_LAYOUT_PATH="kiln-oci-layout")
    assert not any(a.startswith("--oci-layout-path") for a in fake_executor.record()["argv"])
    run_job(fake_executor, tmp_path, KILN_KEEP_OCI_LAYOUT="true", KILN_OCI_LAYOUT_PATH="out/layout")
    assert "--oci-layout-path=out/layout" in fake_executor.record()["argv"]


def test_failed_build_writes_no_dotenv(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    code, _ = run_job(fake_executor, tmp_path, FAKE_FAIL="error: Dockerfile:1: no FROM", FAKE_EXIT="1")
    assert code == 1
    assert not (tmp_path / "kiln.env").exists()


# --- the YAML files -----------------------------------------------------------------------------

_INPUT = re.compile(r"\$\[\[\s*inputs\.([a-z0-9_-]+)\s*\]\]")


def component() -> tuple[dict[str, Any], str]:
    header, body = COMPONENT.read_text().split("\n---\n", 1)
    return yaml.safe_load(header), body


def interpolate(body: str, inputs: dict[str, str]) -> dict[str, Any]:
    """GitLab's $[[ inputs.x ]] interpolation for the test: defaults, overridden by ``inputs``."""
    spec = component()[0]["spec"]["inputs"]
    values = {name: str(d.get("default", "")).lower() if d.get("type") == "boolean" else d.get("default", "")
              for name, d in spec.items()}  # fmt: skip
    values.update(inputs)
    missing = [n for n in _INPUT.findall(body) if n not in values]
    assert not missing, f"inputs used but not declared: {missing}"

    def walk(node: Any) -> Any:  # GitLab interpolates parsed values, so a value never breaks the YAML
        if isinstance(node, str):
            return _INPUT.sub(lambda m: str(values[m[1]]), node)
        if isinstance(node, dict):
            return {walk(k): walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    data = walk(yaml.safe_load(body))
    assert isinstance(data, dict)
    return data


def validate_gitlab(tmp_path: Path, data: dict[str, Any]) -> None:
    path = tmp_path / "ci.yml"
    path.write_text(yaml.safe_dump(data))
    result = subprocess.run(
        ["check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


needs_checker = pytest.mark.skipif(shutil.which("check-jsonschema") is None, reason="no check-jsonschema")


@needs_checker
def test_component_is_valid_gitlab_ci(tmp_path: Path) -> None:
    header, body = component()
    validate_gitlab(tmp_path, header)
    validate_gitlab(tmp_path, interpolate(body, {"builder-image": "registry.example/kiln:debug"}))


@needs_checker
def test_include_template_is_valid_gitlab_ci(tmp_path: Path) -> None:
    data = yaml.safe_load(INCLUDE.read_text())
    data["build"] = {
        "extends": ".kiln-build",
        "image": {"name": "registry.example/kiln:debug", "entrypoint": [""]},
    }
    validate_gitlab(tmp_path, data)


def test_every_component_input_is_a_variable_the_adapter_reads() -> None:
    header, body = component()
    job = interpolate(body, {"builder-image": "x", "as": "kiln-build"})["kiln-build"]
    source = (REPO / "src" / "kiln" / "integrations" / "envrequest.py").read_text()
    source += (REPO / "src" / "kiln" / "integrations" / "gitlab.py").read_text()
    for name in job["variables"]:
        suffix = name.removeprefix("KILN_")
        assert f'"{suffix}"' in source or f'"{name}"' in source, name
    assert job["artifacts"]["reports"]["dotenv"] == job["variables"]["KILN_DOTENV"]
    assert set(header["spec"]["inputs"]) - {"as", "stage", "builder-image", "keep-oci-layout"} <= {
        n.lower().replace("_", "-") for n in (v.removeprefix("KILN_") for v in job["variables"])
    }


def test_no_input_is_pasted_into_a_script() -> None:
    _, body = component()
    for job in (yaml.safe_load(body), yaml.safe_load(INCLUDE.read_text())):
        for spec in job.values():
            for line in spec["script"]:
                assert "$[[" not in line and "$KILN" not in line, line


@needs_checker
def test_the_schema_check_can_fail(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="script"):
        validate_gitlab(tmp_path, {"job": {"script": {"not": "a list"}}})
