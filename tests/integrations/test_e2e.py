"""Each adapter end to end with kiln's real executor, pushing to a real registry (docker-registry with
htpasswd auth, on loopback), checked with skopeo. No stand-ins here, except that the CI platforms
themselves are absent: their environment variables and files are set up by the test (and Tekton's
substitution and Jenkins' steps by the small stand-ins in tekton_runner.py / jenkins_harness.groovy).
"""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import pytest

from fixtures.registry import RegistryServer
from fixtures.tools import skopeo_inspect
from kiln.integrations import github, gitlab, tekton
from kiln.integrations.run import image_id_from_tarball

from .tekton_runner import run_step
from .test_github import parse_output_file
from .test_tekton import TASK, load

EXECUTOR = shutil.which("executor")
pytestmark = pytest.mark.skipif(EXECUTOR is None, reason="kiln's executor command is not installed")


@pytest.fixture
def context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "hello.txt").write_text("hello from kiln\n")
    (ctx / "Dockerfile").write_text(
        "FROM scratch\nARG VERSION=0\nCOPY hello.txt /hello.txt\nLABEL version=$VERSION\n"
    )
    return ctx


def local_flags(tmp_path: Path) -> str:
    """Keep kiln's work and cache dirs in the test's temp dir; the registry speaks plain HTTP."""
    return f"--insecure --kaniko-dir={tmp_path / 'kaniko'} --cache-dir={tmp_path / 'cache'}"


def base_env(tmp_path: Path) -> dict[str, str]:
    return {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path / "home"),
            "KILN_EXECUTOR": str(EXECUTOR)}  # fmt: skip


def assert_provenance_attached(registry: RegistryServer, tag: str, artifact: str, image_digest: str) -> None:
    """skopeo, as a judge: the fallback tag the adapter reported lists the artifact it reported, and that
    artifact is an in-toto statement whose subject is the pushed image (distribution 2.8 has no
    referrers API, so kiln must have taken the fallback path)."""
    repo = tag.rsplit(":", 1)[0]
    assert tag == f"{repo}:sha256-{image_digest.split(':')[1]}"
    assert artifact.startswith(f"{repo}@sha256:")
    index = skopeo_inspect(tag, creds=registry.creds, raw=True)
    assert [(m["digest"], m["artifactType"]) for m in index["manifests"]] == [
        (artifact.split("@", 1)[1], "application/vnd.in-toto+json")
    ]
    manifest = skopeo_inspect(artifact, creds=registry.creds, raw=True)
    assert manifest["subject"]["digest"] == image_digest
    assert manifest["annotations"]["in-toto.io/predicate-type"] == "https://slsa.dev/provenance/v1"


def test_github_action_builds_and_pushes(
    registry_basic: RegistryServer, context: Path, tmp_path: Path
) -> None:
    out_file, summary = tmp_path / "out", tmp_path / "summary"
    tag = registry_basic.ref("integ/github:1")
    env = {
        **base_env(tmp_path), "GITHUB_OUTPUT": str(out_file), "GITHUB_STEP_SUMMARY": str(summary),
        "RUNNER_TEMP": str(tmp_path), "INPUT_CONTEXT": str(context), "INPUT_TAGS": tag, "INPUT_PUSH": "true",
        "INPUT_BUILD_ARGS": "VERSION=7", "INPUT_REGISTRY": registry_basic.host,
        "INPUT_USERNAME": registry_basic.username or "", "INPUT_PASSWORD": registry_basic.password or "",
        "INPUT_OCI_LAYOUT": str(tmp_path / "layout"), "INPUT_TAR": str(tmp_path / "image.tar"),
        "INPUT_EXTRA_ARGS": local_flags(tmp_path), "INPUT_PROVENANCE": "true",
        "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/app", "GITHUB_SHA": "5" * 40,
    }  # fmt: skip
    stdout = io.StringIO()
    assert github.build(env, stdout) == 0
    outputs = parse_output_file(out_file.read_text())
    pushed = skopeo_inspect(tag, creds=registry_basic.creds)
    assert outputs["digest"] == pushed["Digest"]
    config = skopeo_inspect(tag, creds=registry_basic.creds, config=True)
    source = {"org.opencontainers.image.source": "https://github.com/acme/app",
              "org.opencontainers.image.revision": "5" * 40}  # fmt: skip
    assert config["config"]["Labels"] == {"version": "7", **source}
    assert outputs["imageid"].startswith("sha256:") and len(outputs["imageid"]) == 71
    assert image_id_from_tarball(tmp_path / "image.tar") == outputs["imageid"]  # both outputs agree
    manifest = skopeo_inspect(tag, creds=registry_basic.creds, raw=True)
    assert manifest["config"]["digest"] == outputs["imageid"]
    assert manifest["annotations"] == source
    meta = json.loads(outputs["metadata"])
    assert meta["containerimage.digest"] == pushed["Digest"]
    (prov,) = meta["kiln.provenance"]
    assert prov["via"] == "fallback-tag"
    assert_provenance_attached(registry_basic, prov["tag"], prov["artifact"], pushed["Digest"])
    assert f"`{pushed['Digest']}`" in summary.read_text()
    assert f"::add-mask::{registry_basic.password}" in stdout.getvalue()


@pytest.mark.parametrize("file_input", ["absolute", "relative", "default"])
def test_github_annotation_from_a_real_dockerfile_error(
    context: Path, tmp_path: Path, file_input: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (context / "Dockerfile").write_text("FROM scratch\n\nCOPY hello.txt /\nRUNN echo hi\n")
    monkeypatch.chdir(tmp_path)  # the runner starts steps in the workspace
    files = {"absolute": str(context / "Dockerfile"), "relative": "ctx/Dockerfile", "default": ""}
    env = {**base_env(tmp_path), "INPUT_CONTEXT": "ctx", "INPUT_FILE": files[file_input],
           "INPUT_EXTRA_ARGS": local_flags(tmp_path), "GITHUB_WORKSPACE": str(tmp_path)}  # fmt: skip
    stdout = io.StringIO()
    assert github.build(env, stdout) != 0
    annotation = stdout.getvalue().splitlines()[-1]
    assert annotation.startswith("::error file=ctx/Dockerfile,line=4,endLine=4,title=Dockerfile::"), (
        annotation
    )


def test_gitlab_job_and_a_downstream_job_reading_the_dotenv(
    registry_basic: RegistryServer, context: Path, tmp_path: Path
) -> None:
    env = {
        **base_env(tmp_path), "CI_REGISTRY": registry_basic.host,
        "CI_REGISTRY_IMAGE": registry_basic.ref("integ/gitlab"), "CI_REGISTRY_USER": registry_basic.username or "",
        "CI_REGISTRY_PASSWORD": registry_basic.password or "", "CI_COMMIT_SHORT_SHA": "0badc0de",
        "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main", "KILN_CONTEXT": str(context),
        "KILN_DOTENV": str(tmp_path / "kiln.env"), "KILN_EXTRA_ARGS": local_flags(tmp_path),
        "KILN_PROVENANCE": "true",
    }  # fmt: skip
    assert gitlab.build(env, io.StringIO()) == 0
    downstream = dict(line.split("=", 1) for line in (tmp_path / "kiln.env").read_text().splitlines())
    by_digest = skopeo_inspect(downstream["IMAGE_REF"], creds=registry_basic.creds)
    assert by_digest["Digest"] == downstream["IMAGE_DIGEST"]
    for tag in ("0badc0de", "latest"):
        pushed = skopeo_inspect(registry_basic.ref(f"integ/gitlab:{tag}"), creds=registry_basic.creds)
        assert pushed["Digest"] == downstream["IMAGE_DIGEST"]
    assert_provenance_attached(
        registry_basic, downstream["PROVENANCE_TAG"], downstream["PROVENANCE_REF"], downstream["IMAGE_DIGEST"]
    )


def test_tekton_task_step(registry_basic: RegistryServer, context: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    config = registry_basic.write_docker_config(tmp_path / "cfg")
    secret.mkdir()
    (secret / ".dockerconfigjson").write_text(config.read_text())
    image = registry_basic.ref("integ/tekton:v1")
    spec = load(TASK)["spec"]
    params = {"IMAGE": image, "BUILDER_IMAGE": "kiln:debug", "CONTEXT": "./ctx", "DOCKERFILE": "./ctx/Dockerfile",
              "BUILD_ARGS": ["VERSION=3"], "PROVENANCE": "true",
              "EXTRA_ARGS": local_flags(tmp_path).split()}  # fmt: skip
    run = run_step(
        spec["steps"][0], spec["params"], params, {"source": tmp_path, "dockerconfig": secret},
        [r["name"] for r in spec["results"]], tmp_path / "results", sys.executable, base_env(tmp_path),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    pushed = skopeo_inspect(image, creds=registry_basic.creds)
    results = {k: v.decode() for k, v in run.results.items()}
    assert {k: results[k] for k in ("IMAGE_DIGEST", "IMAGE_URL")} == {
        "IMAGE_DIGEST": pushed["Digest"],
        "IMAGE_URL": image,
    }
    assert_provenance_attached(
        registry_basic, results["PROVENANCE_TAG"], results["PROVENANCE_REF"], pushed["Digest"]
    )
    assert tekton.split_arrays(run.argv[run.argv.index("tekton") + 1 :])[0] == ["VERSION=3"]


@pytest.mark.skipif(shutil.which("groovy") is None, reason="Debian's groovy is not installed")
def test_jenkins_step(registry_basic: RegistryServer, context: Path, tmp_path: Path) -> None:
    import subprocess

    from .test_jenkins import HARNESS, LIB, java_home

    request = {
        "args": {"context": str(context), "destinations": [registry_basic.ref("integ/jenkins:5")],
                 "buildArgs": {"VERSION": "5"}, "credentialsId": "reg", "registry": registry_basic.host,
                 "extraArgs": local_flags(tmp_path).split(), "provenance": True},
        "credentials": {"reg": {"username": registry_basic.username, "password": registry_basic.password}},
    }  # fmt: skip
    (tmp_path / "request.json").write_text(json.dumps(request))
    workspace = tmp_path / "ws"
    workspace.mkdir()
    result = subprocess.run(
        ["groovy", str(HARNESS), str(LIB / "vars" / "kilnBuild.groovy"), str(LIB / "resources"), str(workspace),
         str(tmp_path / "request.json")],
        env={**base_env(tmp_path), "JAVA_HOME": java_home() or ""}, capture_output=True, text=True, check=False,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["error"] is None, out
    pushed = skopeo_inspect(registry_basic.ref("integ/jenkins:5"), creds=registry_basic.creds)
    assert out["result"]["digest"] == pushed["Digest"]
    assert out["result"]["ref"] == registry_basic.ref(f"integ/jenkins@{pushed['Digest']}")
    result = out["result"]
    assert_provenance_attached(
        registry_basic, result["provenanceTag"], result["provenanceRef"], pushed["Digest"]
    )
    archived = json.loads((workspace / "kiln-out" / "provenance-refs.json").read_text())  # kiln's own note
    assert archived["attached"][0]["artifact"] == result["provenanceRef"]
    assert all(str(registry_basic.password) not in call["script"] for call in out["sh"])
    assert str(registry_basic.password) not in out["shOutput"]


def test_tekton_sslcertdir_lets_kiln_trust_a_private_ca(
    registry_tls: RegistryServer, context: Path, tmp_path: Path
) -> None:
    assert registry_tls.ca_path is not None
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(registry_tls.ca_path, certs / "registry-ca.crt")
    image = registry_tls.ref("integ/tekton-tls:1")
    spec = load(TASK)["spec"]
    params = {"IMAGE": image, "BUILDER_IMAGE": "kiln:debug", "CONTEXT": "./ctx", "DOCKERFILE": "./ctx/Dockerfile",
              "EXTRA_ARGS": [f"--kaniko-dir={tmp_path / 'kaniko'}", f"--cache-dir={tmp_path / 'cache'}"]}  # fmt: skip

    def run(workspaces: dict[str, Path | None]) -> int:
        shutil.rmtree(tmp_path / "results", ignore_errors=True)
        return run_step(
            spec["steps"][0], spec["params"], params, workspaces, [r["name"] for r in spec["results"]],
            tmp_path / "results", sys.executable, base_env(tmp_path),
        ).returncode  # fmt: skip

    assert run({"source": tmp_path}) != 0, "without the CA the registry's certificate is not trusted"
    assert run({"source": tmp_path, "sslcertdir": certs}) == 0
    pushed = skopeo_inspect(image, tls_verify=False)
    assert (tmp_path / "results" / "IMAGE_DIGEST").read_text() == pushed["Digest"]
