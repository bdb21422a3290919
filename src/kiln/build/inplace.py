"""What --isolation=inplace must keep out of the image and out of harm's way in ``/``.

kaniko's model: the stage's root is ``/`` of kiln's own container. Its ignore list therefore grows
beyond the image rules: every mount point (volumes, the service account token, /etc/hosts), kiln's
work and cache dirs, the build context, the registry credentials. Those paths are never snapshotted,
never overwritten by a base image and never deleted between stages.

kiln itself must survive that too: kaniko is one static binary under /kaniko; kiln is an
interpreter, its libraries and its packages, all read again after the build has started (lazy
imports, extension modules). So before anything in ``/`` changes, every file kiln runs from must lie
on an ignored path; otherwise the build is refused rather than breaking half-way through a stage.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

import kiln
from kiln.build.options import BuildOptions
from kiln.errors import UsageError
from kiln.fs.ignore import DEFAULT_IGNORED, RUNTIME_FILES, IgnoreList, read_mount_points
from kiln.registry.keychain import find_docker_config


def inplace_ignore_list(options: BuildOptions, work_root: Path, context_dir: Path) -> IgnoreList:
    """The ignore list of a build whose stages live in ``/`` (read the mount table now, as kaniko)."""
    keep = [
        *RUNTIME_FILES,
        options.kaniko_dir,
        os.fspath(work_root),
        options.cache_dir,
        os.fspath(context_dir),
        *docker_config_dir(options),
        *output_files(options),
    ]
    return IgnoreList.build(
        [*options.ignore_paths, *keep],
        options.ignore_var_run,
        mounts=read_mount_points("/"),
        defaults=DEFAULT_IGNORED,
    )


def output_files(options: BuildOptions) -> list[str]:
    """Where outputs go: never snapshotted, and --cleanup (which empties ``/``) must leave them."""
    names = (options.tar_path, options.oci_layout_path, options.digest_file,
             options.image_name_with_digest_file, options.image_name_tag_with_digest_file)  # fmt: skip
    return [name for name in names if name and "://" not in name]


def docker_config_dir(options: BuildOptions) -> list[str]:
    """The directory of the docker config the build reads credentials from (lazily, at the first pull of a
    later stage's base), found as the keychain finds it; none when there is no config."""
    found = find_docker_config(options.environ)
    return [os.path.dirname(os.path.abspath(found))] if found is not None else []


def kiln_files(maps: str = "/proc/self/maps") -> list[str]:
    """The files this process runs from: interpreter, prefixes, kiln's package, every mapped library."""
    paths = [
        os.path.realpath(sys.executable),
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        os.path.dirname(os.path.realpath(kiln.__file__)),
    ]
    try:
        with open(maps, encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and fields[5].startswith("/"):
                    paths.append(fields[5].rstrip("\n").removesuffix(" (deleted)"))
    except OSError:
        pass
    return sorted({p for p in paths if p})


def check_kiln_survives(ignore: IgnoreList, files: Iterable[str]) -> None:
    """Refuse the build when a file kiln runs from would be overwritten or deleted in ``/``."""
    exposed = [path for path in files if not ignore.ignored(path)]
    if exposed:
        more = f" (and {len(exposed) - 1} more)" if len(exposed) > 1 else ""
        raise UsageError(
            f"--isolation=inplace would overwrite kiln's own files in /: {exposed[0]}{more}",
            hint="install kiln under --kaniko-dir (as kaniko's /kaniko/executor) or on a mounted volume, "
            "or use --isolation=chroot",
        )
