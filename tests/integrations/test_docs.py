"""docs/ci: the copy-paste examples parse, validate, and use only names the adapters know."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from .test_tekton import crd_schema, needs_schemas

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "ci"
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def blocks(doc: str, lang: str) -> list[str]:
    found = [body for kind, body in _FENCE.findall((DOCS / doc).read_text()) if kind == lang]
    assert found, f"{doc} has no {lang} example"
    return found


def yaml_blocks(doc: str) -> list[dict[str, Any]]:
    out = []
    for body in blocks(doc, "yaml"):
        data = yaml.safe_load(body)
        assert isinstance(data, dict)
        out.append(data)
    return out


def check_schema(tmp_path: Path, schema: str, text: str) -> None:
    """Validate the example as written (a YAML 1.1 round trip would turn ``on:`` into ``true:``)."""
    path = tmp_path / "example.yml"
    path.write_text(text)
    result = subprocess.run(
        ["check-jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


needs_checker = pytest.mark.skipif(shutil.which("check-jsonschema") is None, reason="no check-jsonschema")


def action() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "actions" / "build" / "action.yml").read_text())
    return data


@needs_checker
def test_github_examples_are_valid_workflows_using_real_inputs(tmp_path: Path) -> None:
    spec = action()
    for text, workflow in zip(blocks("github.md", "yaml"), yaml_blocks("github.md"), strict=True):
        check_schema(tmp_path, "vendor.github-workflows", text)
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                if "actions/build@" not in step.get("uses", ""):
                    continue
                assert set(step["with"]) <= set(spec["inputs"]), set(step["with"]) - set(spec["inputs"])
                text = yaml.safe_dump(job)
                for used in re.findall(r"steps\.kiln\.outputs\.(\w+)", text):
                    assert used in spec["outputs"]


def test_github_inputs_table_matches_action_yml() -> None:
    text = (DOCS / "github.md").read_text()
    documented = set()
    for row in re.findall(r"^\| (`.*?`) \|", text, re.M):
        documented.update(re.findall(r"`([a-z-]+)`", row))
    assert documented == set(action()["inputs"])


def component_inputs() -> dict[str, Any]:
    header = (REPO / "integrations" / "gitlab" / "templates" / "build.yml").read_text().split("\n---\n")[0]
    inputs: dict[str, Any] = yaml.safe_load(header)["spec"]["inputs"]
    return inputs


@needs_checker
def test_gitlab_examples_are_valid_and_use_real_inputs(tmp_path: Path) -> None:
    inputs = component_inputs()
    template = yaml.safe_load((REPO / "integrations" / "gitlab" / "kiln.gitlab-ci.yml").read_text())
    adapter = "".join(
        (REPO / "src" / "kiln" / "integrations" / n).read_text() for n in ("envrequest.py", "gitlab.py")
    )
    for text, pipeline in zip(blocks("gitlab.md", "yaml"), yaml_blocks("gitlab.md"), strict=True):
        check_schema(tmp_path, "vendor.gitlab-ci", text)
        for include in pipeline["include"]:
            if "component" in include:
                assert include["component"].endswith("/build@main")
                assert set(include["inputs"]) <= set(inputs)
                required = {n for n, d in inputs.items() if "default" not in d}
                assert required <= set(include["inputs"])
        for name, job in pipeline.items():
            if name in ("include", "stages"):
                continue
            if job.get("extends") == ".kiln-build":
                assert ".kiln-build" in template
                for var in job["variables"]:
                    assert f'"{var.removeprefix("KILN_")}"' in adapter, var
            for line in job.get("script", []):
                for var in re.findall(r"\$(IMAGE_\w+)", line):
                    assert var in ("IMAGE_DIGEST", "IMAGE_REF")  # what the dotenv report provides


def tekton(path: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "tekton" / path).read_text())
    return data


def test_tekton_taskrun_example_matches_the_task() -> None:
    task = tekton("task/kiln/0.1/kiln.yaml")["spec"]
    params = {p["name"]: p for p in task["params"]}
    run = next(d for d in yaml_blocks("tekton.md") if d["kind"] == "TaskRun")
    assert run["spec"]["taskRef"]["name"] == tekton("task/kiln/0.1/kiln.yaml")["metadata"]["name"]
    given = {p["name"]: p["value"] for p in run["spec"]["params"]}
    assert set(given) <= set(params)
    assert {n for n, p in params.items() if "default" not in p} <= set(given)
    for name, value in given.items():
        assert isinstance(value, list) == (params[name].get("type") == "array"), name
    assert {w["name"] for w in run["spec"]["workspaces"]} <= {w["name"] for w in task["workspaces"]}


@needs_schemas
def test_tekton_stepaction_example_is_a_valid_task_using_real_params() -> None:
    task = next(d for d in yaml_blocks("tekton.md") if d["kind"] == "Task")
    jsonschema.validate(task, crd_schema("300-task.yaml", "v1"))
    action = tekton("stepaction/kiln/0.1/kiln.yaml")
    declared = {p["name"]: p for p in action["spec"]["params"]}
    step = next(s for s in task["spec"]["steps"] if "ref" in s)
    assert step["ref"]["name"] == action["metadata"]["name"]
    given = {p["name"] for p in step["params"]}
    assert given <= set(declared)
    assert {n for n, p in declared.items() if "default" not in p} <= given


def test_jenkins_example_uses_known_arguments() -> None:
    source = (REPO / "integrations" / "jenkins" / "vars" / "kilnBuild.groovy").read_text()
    known = set(re.findall(r"'(\w+)'", source[source.index("def known") : source.index("def unknown")]))
    (example,) = blocks("jenkins.md", "groovy")
    call = example[example.index("kilnBuild(") : example.index("echo")]
    used = set(re.findall(r"(?:^|\()\s*(\w+):", call, re.M))
    assert used and used <= known, used - known
    assert "kilnPodYaml(image:" in example
    assert (REPO / "integrations" / "jenkins" / "vars" / "kilnPodYaml.groovy").is_file()
