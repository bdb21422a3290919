"""Every corpus case built by kiln, pushed to the real registry, pulled back by skopeo, unpacked by umoci."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e.helpers import check_expectations, options_for, prepare_case, unpack_from_registry
from fixtures.images import PushedImage
from fixtures.registry import RegistryServer
from kiln.build.executor import build

pytestmark = pytest.mark.privileged

CASES = ["basics", "copy_rules", "multistage", "onbuild", "escape"]


@pytest.mark.parametrize("case", CASES)
def test_corpus_case(
    case: str, tmp_path: Path, registry_http: RegistryServer, busybox_image: PushedImage
) -> None:
    context, expect = prepare_case(case, tmp_path)
    dest = registry_http.ref(f"e2e/{case}:latest")
    options = options_for(
        context,
        tmp_path / "work",
        registry_http.host,
        dest,
        build_args=(("BASE", busybox_image.ref),),
        **expect.get("build", {}),
    )
    result = build(options)
    rootfs, config = unpack_from_registry(dest, tmp_path)
    check_expectations(rootfs, config, expect)
    assert str(result.digest).startswith("sha256:")
    history = config["history"]
    assert len([h for h in history if not h.get("empty_layer")]) == len(config["rootfs"]["diff_ids"])
