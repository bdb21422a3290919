"""--isolation=inplace (kaniko's model): the stages live in ``/`` of kiln's own container.

The inplace build runs in a throw-away root (see e2e.throwaway): a tmpfs ``/`` in a private mount
namespace, with the interpreter, libraries and repository bind-mounted read-only. The same
Dockerfile built with the default chroot isolation is the reference: both images, pulled back by
skopeo and unpacked by umoci, must hold the same files (type, mode, owner, content, link target) and
the same config and history.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from e2e.helpers import check_expectations, options_for, prepare_case, tree, unpack_from_registry
from e2e.throwaway import REPO, TOOL, run_in_throwaway_root
from fixtures.images import PushedImage
from fixtures.registry import RegistryServer
from fixtures.tools import require_tool
from kiln.build.executor import build
from kiln.errors import BuildStepError, UsageError

pytestmark = pytest.mark.privileged


def inplace_build(
    context: Path, dest: str, registry_host: str, base: str, scratch: Path, extra: list[str]
) -> str:
    require_tool("unshare")
    argv = [
        sys.executable, "-m", "kiln.cli", "build", "--isolation=inplace", "--force",
        "--dockerfile", str(context / "Dockerfile"), "--context", str(context),
        "--destination", dest, "--insecure-registry", registry_host, "--insecure",
        "--build-arg", f"BASE={base}", "--kaniko-dir", "/kaniko", *extra,
    ]  # fmt: skip
    proc = run_in_throwaway_root(argv, scratch, writable=[str(context)], env={"PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


# Every corpus case, built both ways. --use-new-run (kaniko's RUN snapshotter): after RUN the walk
# counts a file as changed when its mtime moved; every RUN of the corpus writes what it changes, so the
# image must be the same.
CASES = [
    ("inplace", []),
    ("inplace", ["--use-new-run"]),
    ("basics", []),
    ("copy_rules", []),
    ("multistage", ["--skip-unused-stages"]),
    ("onbuild", []),
    ("escape", []),
    ("buildah_compare", []),
    ("buildah_multistage", []),
]


@pytest.mark.parametrize(
    ("case", "extra"), CASES, ids=[f"{c}{'-' if e else ''}{''.join(e)}" for c, e in CASES]
)
def test_inplace_build_equals_chroot_build(
    tmp_path: Path, registry_http: RegistryServer, busybox_image: PushedImage, case: str, extra: list[str]
) -> None:
    context, expect = prepare_case(case, tmp_path)
    repo = case.replace("_", "-")
    chroot_dest = registry_http.ref(f"e2e/inplace-{repo}:chroot")
    build(
        options_for(
            context, tmp_path / "work", registry_http.host, chroot_dest,
            build_args=(("BASE", busybox_image.ref),), **expect.get("build", {}),
        )
    )  # fmt: skip
    inplace_dest = registry_http.ref(f"e2e/inplace-{repo}:inplace")
    scratch = tmp_path / "root-mountpoint"
    log = inplace_build(context, inplace_dest, registry_http.host, busybox_image.ref, scratch, extra)
    if case == "inplace":
        assert "clearing / for the next stage" in log
    assert ("after RUN, a file counts as changed when its mtime moved" in log) == ("--use-new-run" in extra)
    assert os.listdir(scratch) == []  # the throw-away root lived only in the namespace

    inplace_root, inplace_config = unpack_from_registry(inplace_dest, tmp_path / "i")
    chroot_root, chroot_config = unpack_from_registry(chroot_dest, tmp_path / "c")
    check_expectations(inplace_root, inplace_config, expect)
    inplace_tree, chroot_tree = tree(inplace_root), tree(chroot_root)
    assert len(inplace_tree) > 5
    assert inplace_tree == chroot_tree
    assert inplace_config["config"] == chroot_config["config"]

    def history(config: dict[str, object]) -> list[tuple[object, object]]:
        return [(h["created_by"], h.get("empty_layer", False)) for h in config["history"]]  # type: ignore[attr-defined,index]

    assert history(inplace_config) == history(chroot_config)
    assert len(inplace_config["rootfs"]["diff_ids"]) == len(chroot_config["rootfs"]["diff_ids"])


def test_inplace_refused_outside_a_container(
    tmp_path: Path, registry_http: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This test machine is itself a container (/.dockerenv): the detection is replaced to say "no",
    # as on a developer's laptop. The Dockerfile could not harm / even if the refusal failed (FROM
    # scratch, one stage: nothing unpacked or cleared; `true` changes nothing).
    import kiln.sandbox.inplace

    monkeypatch.setattr(kiln.sandbox.inplace, "detect_container", lambda *a, **k: False)
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\nRUN true\n")
    options = options_for(context, tmp_path / "work", registry_http.host, None, isolation="inplace")
    with pytest.raises(UsageError, match="refusing --isolation=inplace outside a container"):
        build(options)
    assert REPO.exists()


def test_inplace_cleanup_empties_root_but_keeps_outputs_and_ignored_paths(
    tmp_path: Path, registry_http: RegistryServer, busybox_image: PushedImage
) -> None:
    context, _ = prepare_case("inplace", tmp_path)
    kiln = [
        sys.executable, "-m", "kiln.cli", "build", "--isolation=inplace", "--force", "--cleanup",
        "--dockerfile", str(context / "Dockerfile"), "--context", str(context), "--no-push",
        "--oci-layout-path", "/out/layout", "--insecure-registry", registry_http.host,
        "--build-arg", f"BASE={busybox_image.ref}", "--kaniko-dir", "/kiln-dir",
    ]  # fmt: skip
    report = context / "after"
    script = (
        " ".join(kiln) + f" && {TOOL} ls -a / > {report}/root && {TOOL} ls -a /out > {report}/out"
        f" && {TOOL} cp -r /out/layout {report}/layout"
    )
    report.mkdir()
    proc = run_in_throwaway_root(
        [TOOL, "sh", "-c", script],
        tmp_path / "mnt",
        writable=[str(context)],
        env={"PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "--cleanup: clearing /" in proc.stderr + proc.stdout
    left = set((report / "root").read_text().split()) - {".", ".."}
    assert not left & {"bin", "app", "home", "opt", "work-stage"}  # the image's files are gone
    assert {
        "proc",
        "dev",
        "sys",
        "kiln-dir",
        "out",
        ".throwaway",
    } <= left  # ignored, or guarding ignored paths
    assert set((report / "out").read_text().split()) == {".", "..", "layout"}
    index = (report / "layout" / "index.json").read_text()
    assert '"manifests"' in index


def test_inplace_refuses_when_kiln_itself_would_be_overwritten(
    tmp_path: Path, registry_http: RegistryServer
) -> None:
    # On this machine kiln's interpreter lives in /root/.pyenv and its libraries in /usr/lib: not on the
    # ignore list, so an inplace build (even forced) must stop before touching /. The Dockerfile could not
    # harm / even if the check failed (FROM scratch, one stage: nothing unpacked, nothing cleared).
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\nRUN true\n")
    options = options_for(
        context, tmp_path / "work", registry_http.host, None, isolation="inplace", force=True
    )
    with pytest.raises(UsageError, match="would overwrite kiln's own files in /"):
        build(options)


def test_inplace_build_without_run_stays_in_the_work_dir(
    tmp_path: Path, registry_http: RegistryServer, busybox_image: PushedImage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No RUN, nothing needs /: no container check, no self-check, / untouched (as before inplace builds)."""
    import kiln.sandbox.inplace

    monkeypatch.setattr(kiln.sandbox.inplace, "detect_container", lambda *a, **k: False)
    marker = f"/kiln-inplace-probe-{tmp_path.name}"
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "f.txt").write_text("copied\n")
    (context / "Dockerfile").write_text(f"FROM {busybox_image.ref}\nCOPY f.txt {marker}/f.txt\n")
    dest = registry_http.ref("e2e/inplace-no-run:latest")
    build(options_for(context, tmp_path / "work", registry_http.host, dest, isolation="inplace"))
    assert not os.path.lexists(marker)
    rootfs, _ = unpack_from_registry(dest, tmp_path / "u")
    assert (rootfs / marker.lstrip("/") / "f.txt").read_text() == "copied\n"


def test_onbuild_run_without_a_run_of_its_own_is_a_clear_error(
    tmp_path: Path, registry_http: RegistryServer, busybox_image: PushedImage
) -> None:
    parent_ctx = tmp_path / "parent"
    parent_ctx.mkdir()
    (parent_ctx / "Dockerfile").write_text(f"FROM {busybox_image.ref}\nONBUILD RUN echo hi > /hi\n")
    parent = registry_http.ref("e2e/inplace-onbuild-parent:latest")
    build(options_for(parent_ctx, tmp_path / "w1", registry_http.host, parent))
    child_ctx = tmp_path / "child"
    child_ctx.mkdir()
    (child_ctx / "Dockerfile").write_text(f"FROM {parent}\nLABEL a=b\n")
    options = options_for(child_ctx, tmp_path / "w2", registry_http.host, None, isolation="inplace")
    with pytest.raises(BuildStepError, match="ONBUILD trigger: with --isolation=inplace") as info:
        build(options)
    assert info.value.hint is not None and "--isolation=chroot" in info.value.hint
    assert not os.path.lexists("/hi")
