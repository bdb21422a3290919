"""Jenkins: kilnBuild.groovy run by Debian's groovy against stand-in pipeline steps.

The pipeline steps (sh, withEnv, withCredentials, readFile, archiveArtifacts, ...) are stand-ins in
jenkins_harness.groovy because there is no Jenkins here; ``sh`` really runs its script, which runs the
Python adapter, which runs the stand-in executor (see conftest.py).
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kiln.integrations import jenkins

from .conftest import FAKE_ARTIFACT, FAKE_DIGEST, FAKE_TAG_SUFFIX, FakeExecutor

REPO = Path(__file__).resolve().parents[2]
LIB = REPO / "integrations" / "jenkins"
HARNESS = Path(__file__).with_name("jenkins_harness.groovy")
SECRET = "jenkins-pw-Zq9"


def java_home() -> str | None:
    java = shutil.which("java")
    return str(Path(java).resolve().parents[1]) if java else None


needs_groovy = pytest.mark.skipif(
    shutil.which("groovy") is None or java_home() is None, reason="Debian's groovy (and a JDK) not installed"
)


def run_step(
    fake: FakeExecutor,
    tmp_path: Path,
    args: dict[str, Any],
    step: str = "kilnBuild",
    calls: list[dict[str, Any]] | None = None,
    **extra_env: str,
) -> dict[str, Any]:
    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    config_file = tmp_path / "cfg.json"
    config_file.write_text(json.dumps({"auths": {"quay.io": {"auth": "cTpw"}}}))
    request = {
        "args": args,
        "calls": calls,
        "credentials": {
            "registry-login": {"username": "ci-bot", "password": SECRET},
            "cfg": {"file": str(config_file)},
        },
    }
    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps(request))
    env = fake.environ(
        JAVA_HOME=java_home() or "", KILN_EXECUTOR=" ".join(fake.argv), HOME=str(tmp_path),
        PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}", **extra_env,
    )  # fmt: skip
    result = subprocess.run(
        ["groovy", str(HARNESS), str(LIB / "vars" / f"{step}.groovy"), str(LIB / "resources"), str(workspace), str(request_file)],
        env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


@needs_groovy
def test_kiln_build_step_keeps_the_secret_off_every_command_line(
    fake_executor: FakeExecutor, tmp_path: Path
) -> None:
    out = run_step(
        fake_executor, tmp_path,
        {"context": "app", "destinations": ["registry.example/team/app:7", "registry.example/team/app:latest"],
         "buildArgs": {"VERSION": "1.2.3", "NOTE": "it's"}, "credentialsId": "registry-login",
         "registry": "registry.example", "extraArgs": ["--reproducible", "--label=a=b c"]},
    )  # fmt: skip
    assert out["error"] is None, out
    assert out["sh"] == [{"script": "python3 -m kiln.integrations jenkins", "label": "kiln build"}]
    assert out["result"] == {
        "digest": FAKE_DIGEST,
        "ref": f"registry.example/team/app@{FAKE_DIGEST}",
        "refs": [f"registry.example/team/app@{FAKE_DIGEST}"] * 2,
    }
    assert out["archived"] == [{"artifacts": "kiln-out/*", "fingerprint": True}]
    record = fake_executor.record()
    argv = record["argv"]
    assert not any(SECRET in a for a in argv)
    assert "KILN_REGISTRY_PASSWORD" not in record["env"]
    assert "--build-arg=NOTE=it's" in argv and "--build-arg=VERSION=1.2.3" in argv
    assert argv[-2:] == ["--reproducible", "--label=a=b c"]
    auth = record["docker_config"]["auths"]["registry.example"]["auth"]
    assert base64.b64decode(auth).decode() == f"ci-bot:{SECRET}"


@needs_groovy
def test_docker_config_file_credential(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    out = run_step(
        fake_executor, tmp_path, {"destinations": "quay.io/a/b:1", "dockerConfigCredentialsId": "cfg"}
    )
    assert out["error"] is None, out
    assert fake_executor.record()["docker_config"] == {"auths": {"quay.io": {"auth": "cTpw"}}}
    assert "KILN_DOCKER_CONFIG_FILE" not in fake_executor.record()["env"]


@needs_groovy
def test_git_plugin_variables_become_source_metadata(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    """GIT_URL may carry a token (https://user:token@...): only the public URL reaches the image."""
    git = {"GIT_URL": "https://jenkins:tok-Zq9@git.example.com/acme/app.git", "GIT_COMMIT": "d" * 40}
    out = run_step(fake_executor, tmp_path, {"destinations": "r.example/a:1"}, **git)
    assert out["error"] is None, out
    argv = fake_executor.record()["argv"]
    assert "--image-source=https://git.example.com/acme/app.git" in argv
    assert f"--image-revision={'d' * 40}" in argv
    assert not any("tok-Zq9" in a for a in argv)
    out = run_step(fake_executor, tmp_path, {"destinations": "r.example/a:1", "sourceMetadata": False}, **git)
    assert out["error"] is None, out
    assert not any(
        a.startswith(("--image-source", "--image-revision")) for a in fake_executor.record()["argv"]
    )


BAD_ARGUMENTS = [
    ({"destination": "x"}, "unknown argument(s): destination"),
    ({}, "destinations is required unless push: false"),
    ({"destinations": ["a/b:1"], "buildArgs": ["A=1\nB=2"]}, "buildArgs values cannot contain line breaks"),
]


@needs_groovy
def test_bad_arguments_fail_before_running_anything(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    out = run_step(fake_executor, tmp_path, {}, calls=[args for args, _ in BAD_ARGUMENTS])
    for outcome, (_, message) in zip(out["outcomes"], BAD_ARGUMENTS, strict=True):
        assert message in (outcome["error"] or ""), outcome
        assert outcome["shCalls"] == 0


@needs_groovy
def test_failed_build_fails_the_step(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    out = run_step(
        fake_executor,
        tmp_path,
        {"destinations": ["a/b:1"]},
        FAKE_FAIL="error: Dockerfile:2: bad",
        FAKE_EXIT="1",
    )
    assert out["error"] == "script returned exit code 1"
    assert out["archived"] == []


@needs_groovy
def test_provenance_argument_turns_on_generate_provenance_and_the_result_says_where(
    fake_executor: FakeExecutor, tmp_path: Path
) -> None:
    dests = ["registry.example/team/app:7", "registry.example/team/web:7"]
    calls = [{"destinations": dests}, {"destinations": dests, "provenance": True}]
    out = run_step(fake_executor, tmp_path, {}, calls=calls)
    off, on = out["outcomes"]
    assert off["error"] is None and on["error"] is None, out
    assert [env["KILN_PROVENANCE"] for env in out["shEnv"]] == ["false", "true"]
    assert set(off["result"]) == {"digest", "ref", "refs"}  # default off: the map as before
    repos = ["registry.example/team/app", "registry.example/team/web"]
    assert on["result"] == {
        "digest": FAKE_DIGEST,
        "ref": f"{repos[0]}@{FAKE_DIGEST}",
        "refs": [f"{r}@{FAKE_DIGEST}" for r in repos],
        "provenanceRef": f"{repos[0]}@{FAKE_ARTIFACT}",
        "provenanceRefs": [f"{r}@{FAKE_ARTIFACT}" for r in repos],
        "provenanceTag": f"{repos[0]}{FAKE_TAG_SUFFIX}",
        "provenanceTags": [f"{r}{FAKE_TAG_SUFFIX}" for r in repos],
    }
    argv = fake_executor.record()["argv"]  # the second call's
    assert "--generate-provenance" in argv
    assert "--provenance-refs-file=kiln-out/provenance-refs.json" in argv  # archived with the digest files


def test_provenance_off_passes_no_flag(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    env = fake_executor.environ(KILN_DESTINATIONS="r.example/a:1", KILN_OUTPUT_DIR=str(tmp_path / "out"))
    assert jenkins.build({**env, "KILN_PROVENANCE": "false"}, io.StringIO(), fake_executor.argv) == 0
    assert not any(
        a.startswith(("--generate-provenance", "--provenance")) for a in fake_executor.record()["argv"]
    )
    assert not (tmp_path / "out" / "provenance-refs").exists()
    assert jenkins.build({**env, "KILN_PROVENANCE": "true"}, io.StringIO(), fake_executor.argv) == 0
    assert (tmp_path / "out" / "provenance-tags").read_text() == f"r.example/a{FAKE_TAG_SUFFIX}\n"


@needs_groovy
def test_pod_yaml_resource(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    import yaml

    calls = [{"image": "registry.example/kiln/executor:debug"}, {"image": "x; rm -rf /"}]
    good, bad = run_step(fake_executor, tmp_path, {}, step="kilnPodYaml", calls=calls)["outcomes"]
    pod = yaml.safe_load(good["result"])
    assert pod["spec"]["containers"][0]["name"] == "kiln"
    assert pod["spec"]["containers"][0]["image"] == "registry.example/kiln/executor:debug"
    assert "not an image reference" in bad["error"]


def test_python_side_reads_the_step_variables(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    """Without groovy: the variables kilnBuild sets, straight into the adapter."""
    env = fake_executor.environ(
        KILN_DESTINATIONS="r.example/a:1\nr.example/a:2", KILN_PUSH="true", KILN_REGISTRY="r.example",
        KILN_REGISTRY_USER="u", KILN_REGISTRY_PASSWORD=SECRET, KILN_OUTPUT_DIR=str(tmp_path / "out"),
        KILN_EXTRA_ARGS="'--label=x=it'\"'\"'s'",
    )  # fmt: skip
    assert jenkins.build(env, io.StringIO(), fake_executor.argv) == 0
    assert (tmp_path / "out" / "digest").read_text() == FAKE_DIGEST
    assert (tmp_path / "out" / "image-tag-refs").read_text().splitlines() == [
        f"r.example/a:1@{FAKE_DIGEST}", f"r.example/a:2@{FAKE_DIGEST}",
    ]  # fmt: skip
    assert fake_executor.record()["argv"][-1] == "--label=x=it's"


def test_build_only_without_names_still_leaves_every_output_file(
    fake_executor: FakeExecutor, tmp_path: Path
) -> None:
    env = fake_executor.environ(KILN_PUSH="false", KILN_OUTPUT_DIR=str(tmp_path / "out"))
    assert jenkins.build(env, io.StringIO(), fake_executor.argv) == 0
    argv = fake_executor.record()["argv"]
    assert not any(a.startswith("--image-name") for a in argv)
    assert {p.name: p.read_text() for p in (tmp_path / "out").iterdir()} == {
        "digest": FAKE_DIGEST, "image-refs": "", "image-tag-refs": "",
    }  # fmt: skip


@needs_groovy
def test_the_docs_jenkinsfile_runs(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    import re

    text = (REPO / "docs" / "ci" / "jenkins.md").read_text()
    (example,) = re.findall(r"```groovy\n(.*?)```", text, re.S)
    jenkinsfile = tmp_path / "Jenkinsfile"
    jenkinsfile.write_text(example)
    (tmp_path / "request.json").write_text(json.dumps({
        "args": {}, "credentials": {"registry-login": {"username": "ci-bot", "password": SECRET}},
    }))  # fmt: skip
    (tmp_path / "ws").mkdir()
    env = fake_executor.environ(
        JAVA_HOME=java_home() or "", KILN_EXECUTOR=" ".join(fake_executor.argv), HOME=str(tmp_path),
        PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    )  # fmt: skip
    result = subprocess.run(
        ["groovy", str(HARNESS), str(jenkinsfile), str(LIB / "resources"), str(tmp_path / "ws"), str(tmp_path / "request.json")],
        env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["error"] is None, out
    assert 'image: "registry.example.com/kiln/executor:debug"' in out["pods"][0]
    assert out["echo"] == [f"pushed registry.example.com/team/app@{FAKE_DIGEST} ({FAKE_DIGEST})"]
    argv = fake_executor.record()["argv"]
    assert "--destination=registry.example.com/team/app:42" in argv
    assert not any(SECRET in a for a in argv)
