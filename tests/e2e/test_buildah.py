"""The same Dockerfile built by kiln and by buildah (the reference builder): same trees, same runtime config.

buildah runs with the vfs driver and every storage directory under tmp_path, so the host's container
storage is never touched.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from e2e.helpers import options_for, prepare_case, tree, unpack_from_registry
from fixtures.images import PushedImage
from fixtures.registry import RegistryServer
from fixtures.tools import require_tool, run_tool
from kiln.build.executor import build

pytestmark = pytest.mark.privileged

RUNTIME_KEYS = ("User", "Env", "Entrypoint", "Cmd", "WorkingDir", "ExposedPorts", "Volumes", "StopSignal")


def buildah_build(context: Path, base: str, tmp: Path) -> tuple[Path, dict[str, Any]]:
    require_tool("buildah")
    storage = ["--root", str(tmp / "b-root"), "--runroot", str(tmp / "b-run"), "--storage-driver", "vfs"]
    os.environ.setdefault("BUILDAH_ISOLATION", "chroot")
    run_tool(
        [
            "buildah", *storage, "bud", "--format", "docker", "--isolation", "chroot", "--tls-verify=false",
            "--build-arg", f"BASE={base}", "-t", "localhost/kiln-compare:t", "-f",
            str(context / "Dockerfile"), str(context),
        ],
        timeout=300,
    )  # fmt: skip
    tmp.mkdir(parents=True, exist_ok=True)
    layout = tmp / "b-oci"
    run_tool(["buildah", *storage, "push", "localhost/kiln-compare:t", f"oci:{layout}:t"])
    import json

    config = json.loads(run_tool(["skopeo", "inspect", "--config", "--raw", f"oci:{layout}:t"]).stdout)
    bundle = tmp / "b-bundle"
    run_tool(["umoci", "unpack", "--image", f"{layout}:t", str(bundle)])
    return bundle / "rootfs", config


CASES = {"buildah_compare": "srv", "buildah_multistage": "out"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_kiln_and_buildah_agree(
    case: str, tmp_path: Path, registry_http: RegistryServer, busybox_image: PushedImage
) -> None:
    context, _ = prepare_case(case, tmp_path)
    dest = registry_http.ref(f"e2e/{case.replace('_', '-')}:kiln")
    build(
        options_for(
            context, tmp_path / "work", registry_http.host, dest, build_args=(("BASE", busybox_image.ref),)
        )
    )
    kiln_root, kiln_config = unpack_from_registry(dest, tmp_path / "k")
    ref_root, ref_config = buildah_build(context, busybox_image.ref, tmp_path / "b")

    top = CASES[case]
    kiln_tree = {k: v for k, v in tree(kiln_root).items() if k.startswith(top)}
    ref_tree = {k: v for k, v in tree(ref_root).items() if k.startswith(top)}
    assert len(kiln_tree) > 5
    assert kiln_tree == ref_tree

    kiln_run, ref_run = kiln_config["config"], ref_config["config"]
    for key in RUNTIME_KEYS:
        assert kiln_run.get(key) == ref_run.get(key), key
    ref_labels = {k: v for k, v in (ref_run.get("Labels") or {}).items() if not k.startswith("io.buildah")}
    assert (kiln_run.get("Labels") or {}) == ref_labels
