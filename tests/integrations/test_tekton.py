"""Tekton: the Task and StepAction against the CRD schemas, and their step run by a stand-in runner."""

from __future__ import annotations

import base64
import copy
import functools
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from kiln.integrations import tekton

from .conftest import FAKE_ARTIFACT, FAKE_DIGEST, FAKE_TAG_SUFFIX, FakeExecutor
from .tekton_runner import StepRun, run_step

REPO = Path(__file__).resolve().parents[2]
TASK = REPO / "tekton" / "task" / "kiln" / "0.1" / "kiln.yaml"
STEPACTION = REPO / "tekton" / "stepaction" / "kiln" / "0.1" / "kiln.yaml"
SCHEMAS = Path("/work/shared/schemas")


def strict(schema: Any) -> Any:
    """The CRD schema with unknown fields refused (the CRDs prune them instead of failing)."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


@functools.cache
def crd_schema(file: str, version: str) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load((SCHEMAS / file).read_text(), Loader=loader)
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            return strict(v["schema"]["openAPIV3Schema"])
    raise AssertionError(f"{version} not in {file}")


needs_schemas = pytest.mark.skipif(not SCHEMAS.is_dir(), reason="CRD schemas not available")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


@needs_schemas
def test_task_matches_the_v1_task_crd() -> None:
    task = load(TASK)
    assert (task["apiVersion"], task["kind"]) == ("tekton.dev/v1", "Task")
    jsonschema.validate(task, crd_schema("300-task.yaml", "v1"))


@needs_schemas
def test_stepaction_matches_the_v1beta1_crd() -> None:
    action = load(STEPACTION)
    assert (action["apiVersion"], action["kind"]) == ("tekton.dev/v1beta1", "StepAction")
    jsonschema.validate(action, crd_schema("300-stepaction.yaml", "v1beta1"))


@needs_schemas
def test_the_strict_schema_refuses_a_misspelt_field() -> None:
    task = load(TASK)
    task["spec"]["steps"][0]["workingdir"] = "/x"
    with pytest.raises(jsonschema.ValidationError, match="workingdir"):
        jsonschema.validate(task, crd_schema("300-task.yaml", "v1"))


def test_params_workspaces_results_as_the_catalog_names_them() -> None:
    spec = load(TASK)["spec"]
    params = {p["name"]: p for p in spec["params"]}
    assert set(params) == {
        "IMAGE",
        "DOCKERFILE",
        "CONTEXT",
        "BUILD_ARGS",
        "EXTRA_ARGS",
        "SKIP_PUSH",
        "BUILDER_IMAGE",
        "SOURCE_URL",
        "SOURCE_REVISION",
        "PROVENANCE",
    }
    assert params["PROVENANCE"]["default"] == "false"
    assert params["BUILD_ARGS"]["type"] == params["EXTRA_ARGS"]["type"] == "array"
    assert {w["name"]: w.get("optional", False) for w in spec["workspaces"]} == {
        "source": False, "dockerconfig": True, "sslcertdir": True,
    }  # fmt: skip
    assert {r["name"] for r in spec["results"]} == {
        "IMAGE_DIGEST",
        "IMAGE_URL",
        "PROVENANCE_REF",
        "PROVENANCE_TAG",
    }


@pytest.mark.parametrize("path", [TASK, STEPACTION], ids=["task", "stepaction"])
def test_string_params_only_in_env_never_in_a_script(path: Path) -> None:
    data = load(path)
    step = data["spec"]["steps"][0] if data["kind"] == "Task" else data["spec"]
    assert "script" not in step
    for word in step["command"]:
        assert "$(" not in word
    for item in step["args"]:
        assert item == "--" or item.endswith("[*])"), item


def run_task(
    fake: FakeExecutor, tmp_path: Path, params: dict[str, Any], workspaces: dict[str, Path | None]
) -> StepRun:
    spec = load(TASK)["spec"]
    return run_step(
        spec["steps"][0], spec["params"], params, workspaces, [r["name"] for r in spec["results"]],
        tmp_path / "results", sys.executable, fake.environ(KILN_EXECUTOR=" ".join(fake.argv)),
    )  # fmt: skip


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "source"
    src.mkdir()
    (src / "Dockerfile").write_text("FROM scratch\n")
    return src


def test_task_step_builds_and_writes_results_without_newline(
    fake_executor: FakeExecutor, tmp_path: Path, source: Path
) -> None:
    params = {
        "IMAGE": "registry.example/team/app:v1",
        "BUILDER_IMAGE": "kiln:debug",
        "BUILD_ARGS": ["A=1", "B=two words", "C=$(not-a-ref)"],
        "EXTRA_ARGS": ["--reproducible", "--label=x=--"],
    }
    run = run_task(fake_executor, tmp_path, params, {"source": source})
    assert run.returncode == 0, run.stderr
    assert run.results == {
        "IMAGE_DIGEST": FAKE_DIGEST.encode(),
        "IMAGE_URL": b"registry.example/team/app:v1",
        "PROVENANCE_REF": b"",  # PROVENANCE defaults to "false"
        "PROVENANCE_TAG": b"",
    }
    argv = fake_executor.record()["argv"]
    assert argv[:3] == [
        "--context=./",
        "--dockerfile=./Dockerfile",
        "--destination=registry.example/team/app:v1",
    ]
    assert [a for a in argv if a.startswith("--build-arg")] == [
        "--build-arg=A=1", "--build-arg=B=two words", "--build-arg=C=$(not-a-ref)",
    ]  # fmt: skip
    assert argv[-2:] == ["--reproducible", "--label=x=--"]
    assert "DOCKER_CONFIG" not in fake_executor.record()["env"]


def test_source_params_become_source_metadata(
    fake_executor: FakeExecutor, tmp_path: Path, source: Path
) -> None:
    params = {"IMAGE": "r.example/a:1", "BUILDER_IMAGE": "k", "SOURCE_URL": "https://git.example/acme/app",
              "SOURCE_REVISION": "e" * 40}  # fmt: skip
    assert run_task(fake_executor, tmp_path, params, {"source": source}).returncode == 0
    argv = fake_executor.record()["argv"]
    assert "--image-source=https://git.example/acme/app" in argv and f"--image-revision={'e' * 40}" in argv
    params = {"IMAGE": "r.example/a:1", "BUILDER_IMAGE": "k"}  # the defaults: none
    assert run_task(fake_executor, tmp_path, params, {"source": source}).returncode == 0
    assert not any(
        a.startswith(("--image-source", "--image-revision")) for a in fake_executor.record()["argv"]
    )


@pytest.mark.parametrize("path", [TASK, STEPACTION], ids=["task", "stepaction"])
def test_provenance_param_turns_on_generate_provenance_and_fills_the_results(
    fake_executor: FakeExecutor, tmp_path: Path, source: Path, path: Path
) -> None:
    spec = load(path)["spec"]
    step = spec["steps"][0] if path == TASK else spec
    params: dict[str, Any] = {"IMAGE": "r.example/a:1", "BUILDER_IMAGE": "k", "PROVENANCE": "true"}
    if path == STEPACTION:
        params["SOURCE_PATH"] = str(source)
    run = run_step(
        step, spec["params"], params, {"source": source}, [r["name"] for r in spec["results"]],
        tmp_path / "results", sys.executable, fake_executor.environ(KILN_EXECUTOR=" ".join(fake_executor.argv)),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    argv = fake_executor.record()["argv"]
    assert "--generate-provenance" in argv and any(a.startswith("--provenance-refs-file=") for a in argv)
    assert run.results["PROVENANCE_REF"] == f"r.example/a@{FAKE_ARTIFACT}".encode()
    assert run.results["PROVENANCE_TAG"] == f"r.example/a{FAKE_TAG_SUFFIX}".encode()
    params["PROVENANCE"] = "false"
    run = run_step(
        step, spec["params"], params, {"source": source}, [r["name"] for r in spec["results"]],
        tmp_path / "results2", sys.executable, fake_executor.environ(KILN_EXECUTOR=" ".join(fake_executor.argv)),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert not any(
        a.startswith(("--generate-provenance", "--provenance")) for a in fake_executor.record()["argv"]
    )
    assert run.results["PROVENANCE_REF"] == run.results["PROVENANCE_TAG"] == b""


def test_dockerconfigjson_secret_workspace(fake_executor: FakeExecutor, tmp_path: Path, source: Path) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    auth = base64.b64encode(b"robot:tkn-secret").decode()
    (secret / ".dockerconfigjson").write_text(json.dumps({"auths": {"registry.example": {"auth": auth}}}))
    params = {"IMAGE": "registry.example/a:1", "BUILDER_IMAGE": "kiln:debug", "SKIP_PUSH": "true"}
    run = run_task(fake_executor, tmp_path, params, {"source": source, "dockerconfig": secret})
    assert run.returncode == 0, run.stderr
    record = fake_executor.record()
    assert record["docker_config"] == {"auths": {"registry.example": {"auth": auth}}}
    assert "--no-push" in record["argv"]
    assert not any("tkn-secret" in a or auth in a for a in record["argv"])


def test_sslcertdir_workspace_adds_its_certificates(
    fake_executor: FakeExecutor, tmp_path: Path, source: Path
) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    pem = "-----BEGIN CERTIFICATE-----\nTESTCA\n-----END CERTIFICATE-----\n"
    (certs / "ca.crt").write_text(pem)
    params = {"IMAGE": "registry.example/a:1", "BUILDER_IMAGE": "kiln:debug"}
    run = run_task(fake_executor, tmp_path, params, {"source": source, "sslcertdir": certs})
    assert run.returncode == 0, run.stderr
    env = fake_executor.record()["env"]
    assert env["SSL_CERT_DIR"] == str(certs)
    assert env["REQUESTS_CA_BUNDLE"].endswith("ca-bundle.pem")


def test_empty_dockerconfig_workspace_is_a_clear_error(
    fake_executor: FakeExecutor, tmp_path: Path, source: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    params = {"IMAGE": "registry.example/a:1", "BUILDER_IMAGE": "kiln:debug"}
    run = run_task(fake_executor, tmp_path, params, {"source": source, "dockerconfig": empty})
    assert run.returncode == 1
    assert "neither config.json nor .dockerconfigjson" in run.stderr
    assert run.results == {}


def test_failed_build_writes_no_results(fake_executor: FakeExecutor, tmp_path: Path, source: Path) -> None:
    spec = load(TASK)["spec"]
    run = run_step(
        spec["steps"][0], spec["params"], {"IMAGE": "r.example/a:1", "BUILDER_IMAGE": "k"}, {"source": source},
        [r["name"] for r in spec["results"]], tmp_path / "results", sys.executable,
        fake_executor.environ(KILN_EXECUTOR=" ".join(fake_executor.argv), FAKE_FAIL="error: Dockerfile:1: bad", FAKE_EXIT="3"),
    )  # fmt: skip
    assert run.returncode == 3
    assert run.results == {}


def test_stepaction_step_runs_the_same_way(fake_executor: FakeExecutor, tmp_path: Path, source: Path) -> None:
    action = load(STEPACTION)["spec"]
    params = {
        "IMAGE": "r.example/a:2",
        "BUILDER_IMAGE": "k",
        "SOURCE_PATH": str(source),
        "BUILD_ARGS": ["X=1"],
    }
    run = run_step(
        action, action["params"], params, {}, [r["name"] for r in action["results"]], tmp_path / "results",
        sys.executable, fake_executor.environ(KILN_EXECUTOR=" ".join(fake_executor.argv)),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.results["IMAGE_DIGEST"] == FAKE_DIGEST.encode()
    assert "--build-arg=X=1" in fake_executor.record()["argv"]
    assert "DOCKER_CONFIG" not in fake_executor.record()["env"]


def test_split_arrays() -> None:
    assert tekton.split_arrays(["A=1", "--", "--x", "--"]) == (["A=1"], ["--x", "--"])
    assert tekton.split_arrays(["A=1"]) == (["A=1"], [])
