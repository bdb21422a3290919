"""kaniko's --force-build-metadata end to end: a layer for every step, empty ones included.

kaniko snapshots after every command with the flag and appends the tar even when nothing changed
(its ``saveSnapshotToLayer``): metadata-only steps and RUNs that change nothing get an empty layer
instead of an ``empty_layer`` history entry. The image must stay valid for skopeo and umoci, and hold
the same files as without the flag.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from e2e.helpers import options_for, tree
from fixtures.images import PushedImage
from fixtures.registry import RegistryServer
from fixtures.tools import run_tool
from kiln.build.executor import build

pytestmark = pytest.mark.privileged


def _built(tmp: Path, context: Path, registry: RegistryServer, **extra: Any) -> tuple[dict[str, Any], Path]:
    layout = tmp / "layout"
    build(options_for(context, tmp / "work", registry.host, None, oci_layout_path=str(layout), **extra))
    tagged = tmp / "tagged"
    run_tool(["skopeo", "copy", f"oci:{layout}", f"oci:{tagged}:t"])
    config = json.loads(run_tool(["skopeo", "inspect", "--config", "--raw", f"oci:{tagged}:t"]).stdout)
    run_tool(["umoci", "unpack", "--image", f"{tagged}:t", str(tmp / "bundle")])
    return config, tmp / "bundle" / "rootfs"


@pytest.mark.parametrize("single_snapshot", [False, True])
def test_force_build_metadata_makes_a_layer_per_step(
    tmp_path: Path, registry_http: RegistryServer, busybox_image: PushedImage, single_snapshot: bool
) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "f.txt").write_text("f\n")
    (context / "Dockerfile").write_text(
        f'FROM {busybox_image.ref}\nENV A=1\nLABEL x=y\nRUN true\nCOPY f.txt /f.txt\nCMD ["sh"]\n'
    )
    extra = {"single_snapshot": single_snapshot}
    plain, plain_root = _built(tmp_path / "plain", context, registry_http, **extra)
    forced, forced_root = _built(
        tmp_path / "forced", context, registry_http, force_build_metadata=True, **extra
    )

    base_layers = sum(not h.get("empty_layer", False) for h in plain["history"][:-5])
    steps = forced["history"][-5:]
    assert [h.get("empty_layer", False) for h in steps] == [False] * 5
    assert len(forced["rootfs"]["diff_ids"]) == base_layers + 5
    plain_steps = [h.get("empty_layer", False) for h in plain["history"][-5:]]
    assert plain_steps[0] and plain_steps[1] and len(plain["rootfs"]["diff_ids"]) < base_layers + 5
    assert tree(forced_root) == tree(plain_root)
    assert forced["config"]["Env"] == plain["config"]["Env"] and forced["config"]["Labels"] == {"x": "y"}
