"""--isolation=inplace's ignore list and its refusal to overwrite kiln's own files in ``/``."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.build.inplace import check_kiln_survives, inplace_ignore_list, kiln_files
from kiln.build.options import BuildOptions
from kiln.errors import UsageError
from kiln.fs.ignore import IgnoreList


def _config(directory: Path) -> Path:
    """A docker config.json in ``directory`` (the keychain only reads configs that exist)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text("{}")
    return directory / "config.json"


def test_ignore_list_covers_work_cache_context_credentials_and_runtime_files(tmp_path: Path) -> None:
    home = tmp_path / "home" / "ci"
    config = _config(home / ".docker")
    options = BuildOptions(
        kaniko_dir="/kaniko", cache_dir="/cache", ignore_paths=("/extra",), environ={"HOME": str(home)}
    )
    ignore = inplace_ignore_list(options, Path("/tmp/kiln-work"), Path("/workspace"))
    for path in ("/kaniko/x", "/tmp/kiln-work/build-1", "/cache/run-cache", "/workspace/Dockerfile",
                 str(config), "/etc/resolv.conf", "/etc/hosts", "/etc/hostname",
                 "/var/run/secrets/kubernetes.io/token", "/proc/1", "/extra"):  # fmt: skip
        assert ignore.ignored(path), path
    for path in ("/usr/bin/sh", "/etc/passwd", "/tmp/other", str(home / "file")):
        assert not ignore.ignored(path), path
    outputs = BuildOptions(tar_path="/out/image.tar", digest_file="https://h/put", oci_layout_path="/o/l")
    ignore = inplace_ignore_list(outputs, Path("/w"), Path("/c"))
    assert ignore.ignored("/out/image.tar") and ignore.ignored("/o/l/index.json")
    assert not ignore.ignored("/out/other") and ignore.guards("/out")
    creds = _config(tmp_path / "creds")
    mine = BuildOptions(environ={"DOCKER_CONFIG": str(creds.parent)})
    assert inplace_ignore_list(mine, Path("/w"), Path("/c")).ignored(str(creds))
    # $DOCKER_CONFIG without a config.json: the keychain reads $HOME's, so that is what stays
    (tmp_path / "empty").mkdir()
    fallback = BuildOptions(environ={"DOCKER_CONFIG": str(tmp_path / "empty"), "HOME": str(home)})
    assert inplace_ignore_list(fallback, Path("/w"), Path("/c")).ignored(str(config))


def test_mount_points_are_ignored() -> None:
    # every mount of this process (here /proc at least) is read from /proc/self/mountinfo
    ignore = inplace_ignore_list(BuildOptions(), Path("/w"), Path("/c"))
    assert ignore.ignored("/proc/self")


def test_refuses_when_kiln_runs_from_image_paths() -> None:
    ignore = IgnoreList.build(["/kaniko"])
    check_kiln_survives(ignore, ["/kaniko/python/bin/python3", "/kaniko/lib/libc.so.6"])
    with pytest.raises(UsageError, match=r"overwrite kiln's own files in /: /usr/lib/libz.so \(and 1 more\)"):
        check_kiln_survives(ignore, ["/kaniko/python", "/usr/lib/libz.so", "/usr/bin/python3"])


def test_kiln_files_lists_the_interpreter_and_mapped_libraries(tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.write_text(
        "7f00-7f01 r--p 00000000 fe:00 12 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
        "7f02-7f03 rw-p 00000000 00:00 0 \n"
        "7f04-7f05 r--p 00000000 00:00 0 [vdso]\n"
        "7f06-7f07 r--p 00000000 fe:00 13 /tmp/gone.so (deleted)\n"
    )
    files = kiln_files(str(maps))
    assert "/usr/lib/x86_64-linux-gnu/libc.so.6" in files and "/tmp/gone.so" in files
    assert not any(f.startswith("[") for f in files)
    assert any(f.endswith("/kiln") for f in files)  # the package dir
