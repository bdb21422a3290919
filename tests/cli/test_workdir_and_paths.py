"""Where kiln works (kaniko's /kaniko, or a private temp dir) and how relative paths are resolved."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kiln.build.options import BuildOptions
from kiln.cli.buildopts import executor_options
from kiln.cli.executor import executor
from kiln.cli.workdir import choose_work_dir, resolve_kaniko_dir
from kiln.errors import UsageError


def _options(argv: list[str], cwd: Path, environ: dict[str, str] | None = None) -> BuildOptions:
    """Options as the CLI makes them, from ``argv`` and an explicit environment (not os.environ)."""
    ctx = executor.make_context("executor", argv)
    return executor_options(ctx.params, environ or {}, "kiln/test", cwd=str(cwd), in_container=lambda: False)


def test_resolve_precedence() -> None:
    assert resolve_kaniko_dir("/kaniko", {}) == ("/kaniko", False)
    assert resolve_kaniko_dir("/kaniko", {"KANIKO_DIR": "/e"}) == ("/e", True)
    assert resolve_kaniko_dir("/f", {"KANIKO_DIR": "/e"}) == ("/f", True)


def test_existing_writable_default_is_used(tmp_path: Path) -> None:
    default = tmp_path / "kaniko"
    default.mkdir()
    assert choose_work_dir(str(default), False, lambda: False) == str(default)


def test_missing_default_outside_a_container_falls_back_to_temp(tmp_path: Path) -> None:
    default = tmp_path / "kaniko"
    chosen = choose_work_dir(str(default), False, lambda: False, tmp_root=str(tmp_path))
    assert not default.exists()
    assert Path(chosen).parent == tmp_path and Path(chosen).name.startswith("kiln-")
    assert Path(chosen).stat().st_mode & 0o777 == 0o700


def test_missing_default_inside_a_container_is_created(tmp_path: Path) -> None:
    default = tmp_path / "kaniko"
    assert choose_work_dir(str(default), False, lambda: True, tmp_root=str(tmp_path)) == str(default)
    assert default.is_dir()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_default_falls_back(tmp_path: Path) -> None:
    default = tmp_path / "kaniko"
    default.mkdir(mode=0o555)
    assert choose_work_dir(str(default), False, lambda: True, tmp_root=str(tmp_path)) != str(default)


def test_chosen_dir_that_cannot_be_made_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UsageError, match="cannot create --kaniko-dir"):
        choose_work_dir(str(blocker / "sub"), True, lambda: False)


def test_relative_paths_become_absolute(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile.dev").write_text("FROM scratch\n")
    o = _options(
        ["--no-push", "-c", "ctx", "-f", "Dockerfile.dev", "--tar-path", "out/i.tar", "--oci-layout-path",
         "lay", "--digest-file", "d", "--cache-dir", "c", "--kaniko-dir", str(tmp_path / "k")],
        tmp_path,
    )  # fmt: skip
    assert o.context == str(tmp_path / "ctx")
    assert o.dockerfile == str(tmp_path / "Dockerfile.dev")
    assert o.tar_path == str(tmp_path / "out/i.tar")
    assert o.oci_layout_path == str(tmp_path / "lay")
    assert o.digest_file == str(tmp_path / "d")
    assert o.cache_dir == str(tmp_path / "c")
    assert o.image_name_with_digest_file == ""  # unset stays unset


def test_kept_as_given(tmp_path: Path) -> None:
    o = _options(
        ["--no-push", "-c", "git://github.com/x/y.git", "-f", "sub/Dockerfile", "--digest-file",
         "https://example.com/put", "--kaniko-dir", str(tmp_path / "k")],
        tmp_path,
    )  # fmt: skip
    assert o.context == "git://github.com/x/y.git"
    assert o.dockerfile == "sub/Dockerfile"  # not next to us: looked up inside the context later
    assert o.digest_file == "https://example.com/put"


def test_default_context_keeps_its_trailing_slash(tmp_path: Path) -> None:
    o = _options(["--no-push", "--kaniko-dir", str(tmp_path / "k")], tmp_path)
    assert o.context == "/workspace/"


def test_moved_kaniko_dir_brings_its_docker_config(tmp_path: Path) -> None:
    kdir = tmp_path / "k"
    (kdir / ".docker").mkdir(parents=True)
    (kdir / ".docker" / "config.json").write_text('{"auths": {}}')
    o = _options(["--no-push", "--kaniko-dir", str(kdir)], tmp_path)
    assert o.environ["DOCKER_CONFIG"] == str(kdir / ".docker")
    assert o.registry.environ["DOCKER_CONFIG"] == str(kdir / ".docker")
    assert "DOCKER_CONFIG" not in os.environ or os.environ["DOCKER_CONFIG"] != str(kdir / ".docker")


def test_users_docker_config_wins_and_no_config_means_no_change(tmp_path: Path) -> None:
    kdir = tmp_path / "k"
    (kdir / ".docker").mkdir(parents=True)
    (kdir / ".docker" / "config.json").write_text("{}")
    o = _options(["--no-push", "--kaniko-dir", str(kdir)], tmp_path, {"DOCKER_CONFIG": "/mine"})
    assert o.registry.environ["DOCKER_CONFIG"] == "/mine"
    o = _options(["--no-push", "--kaniko-dir", str(tmp_path / "empty")], tmp_path)
    assert "DOCKER_CONFIG" not in o.registry.environ
