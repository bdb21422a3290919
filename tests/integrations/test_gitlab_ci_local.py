"""The include template run by gitlab-ci-local (npm, 4.73.0) with --force-shell-executor: GitLab's
own variables, the job's script, the dotenv report and a downstream job that ``needs`` the build,
with kiln's real executor pushing to a real registry."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.registry import RegistryServer
from fixtures.tools import skopeo_inspect

from .test_e2e import assert_provenance_attached

REPO = Path(__file__).resolve().parents[2]
GCL = shutil.which("gitlab-ci-local")

PIPELINE = """\
include:
  - local: kiln.gitlab-ci.yml

build-image:
  extends: .kiln-build
  variables:
    KILN_CONTEXT: $CI_PROJECT_DIR/ctx
    KILN_BUILD_ARGS: "VERSION=4"
    KILN_KEEP_OCI_LAYOUT: "true"

use-image:
  stage: test
  needs: [build-image]
  script:
    - printf '%s\\n%s\\n' "$IMAGE_REF" "$IMAGE_DIGEST" > "$OUT_FILE"
"""


COMPONENT_PIPELINE = """\
include:
  - local: templates/build.yml
    inputs:
      as: build-image
      builder-image: registry.example.com/kiln/executor:debug
      context: ctx
      build-args: |
        VERSION=4
      keep-oci-layout: true
      provenance: true

use-image:
  stage: test
  needs: [build-image]
  script:
    - printf '%s\\n%s\\n%s\\n%s\\n' "$IMAGE_REF" "$IMAGE_DIGEST" "$PROVENANCE_REF" "$PROVENANCE_TAG" > "$OUT_FILE"
"""

needs_gcl = pytest.mark.skipif(
    GCL is None or shutil.which("executor") is None or shutil.which("rsync") is None,
    reason="gitlab-ci-local (and the rsync it needs) or kiln missing",
)


@needs_gcl
def test_include_template_under_gitlab_ci_local(registry_basic: RegistryServer, tmp_path: Path) -> None:
    run_pipeline(registry_basic, tmp_path, PIPELINE, "integ/gcl")


@needs_gcl
def test_component_with_inputs_under_gitlab_ci_local(registry_basic: RegistryServer, tmp_path: Path) -> None:
    run_pipeline(registry_basic, tmp_path, COMPONENT_PIPELINE, "integ/gcl-component", provenance=True)


def run_pipeline(
    registry_basic: RegistryServer, tmp_path: Path, pipeline: str, repository: str, provenance: bool = False
) -> None:
    repo = tmp_path / "repo"
    (repo / "ctx").mkdir(parents=True)
    shutil.copy(REPO / "integrations" / "gitlab" / "kiln.gitlab-ci.yml", repo / "kiln.gitlab-ci.yml")
    shutil.copytree(REPO / "integrations" / "gitlab" / "templates", repo / "templates")
    (repo / "ctx" / "hello.txt").write_text("hi\n")
    (repo / "ctx" / "Dockerfile").write_text(
        "FROM scratch\nARG VERSION\nCOPY hello.txt /\nLABEL v=$VERSION\n"
    )
    (repo / ".gitlab-ci.yml").write_text(pipeline)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run(["git", "config", "user.name", "t"], cwd=repo, check=True)
    subprocess.run(["git", "config", "user.email", "t@example.invalid"], cwd=repo, check=True)
    subprocess.run(
        ["git", "remote", "add", "origin", "https://gitlab.example.com/group/app.git"], cwd=repo, check=True
    )
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], cwd=repo, check=True)
    out_file = tmp_path / "downstream.txt"
    flags = f"--insecure --kaniko-dir={tmp_path / 'kaniko'} --cache-dir={tmp_path / 'cache'}"
    variables = {
        "CI_REGISTRY": registry_basic.host, "CI_REGISTRY_IMAGE": registry_basic.ref(repository),
        "CI_REGISTRY_USER": str(registry_basic.username), "CI_REGISTRY_PASSWORD": str(registry_basic.password),
        "KILN_EXTRA_ARGS": flags, "OUT_FILE": str(out_file),
    }  # fmt: skip
    args = [
        str(GCL),
        "--force-shell-executor",
        "--no-color",
        "--ignore-predefined-vars",
        "CI_REGISTRY,CI_REGISTRY_IMAGE",
    ]
    for key, value in variables.items():
        args += ["--variable", f"{key}={value}"]
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
    }
    result = subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    ref, digest, *where = out_file.read_text().splitlines()
    pushed = skopeo_inspect(ref, creds=registry_basic.creds)
    if provenance:  # the component input reached kiln, and the downstream job got where it went
        assert_provenance_attached(registry_basic, where[1], where[0], digest)
    assert pushed["Digest"] == digest
    assert ref == registry_basic.ref(f"{repository}@{digest}")
    assert str(registry_basic.password) not in result.stdout
    kept = repo / ".gitlab-ci-local" / "artifacts" / "build-image" / "kiln-oci-layout" / "index.json"
    assert kept.is_file(), "the OCI layout is kept as the job's artifact"
