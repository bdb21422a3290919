"""Building a corpus case with kiln and reading the result back with independent tools (skopeo, umoci)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fixtures.tools import run_tool
from kiln.build.executor import BuildResult, build
from kiln.build.options import BuildOptions
from kiln.registry.options import RegistryOptions

CORPUS = Path(__file__).parent / "corpus"


@dataclass(frozen=True)
class FileFacts:
    """What the tree comparison looks at for one path."""

    kind: str
    mode: str
    uid: int
    gid: int
    content: str  # sha256 of a regular file's bytes, else ""
    link: str


def options_for(
    context: Path, work: Path, registry_host: str, destination: str | None, **extra: Any
) -> BuildOptions:
    return BuildOptions(
        dockerfile=str(context / "Dockerfile"),
        context=str(context),
        destinations=(destination,) if destination else (),
        no_push=destination is None,
        work_dir=str(work),
        cache_dir=str(work / "cache"),
        registry=RegistryOptions(insecure_registries=(registry_host,)),
        **extra,
    )


def prepare_case(name: str, tmp: Path) -> tuple[Path, dict[str, Any]]:
    """Copy the case's context to ``tmp`` (git keeps no directory modes: the case sets them)."""
    context = tmp / "context"
    shutil.copytree(CORPUS / name, context, symlinks=True)
    expect: dict[str, Any] = json.loads((CORPUS / name / "expect.json").read_text())
    for rel, mode in expect.get("setup_chmod", {}).items():
        os.chmod(context / rel, int(mode, 8))
    return context, expect


def build_case(options: BuildOptions) -> BuildResult:
    return build(options)


def unpack_from_registry(ref: str, tmp: Path) -> tuple[Path, dict[str, Any]]:
    """skopeo copies the pushed image to an OCI layout, umoci unpacks it; returns (rootfs, config)."""
    tmp.mkdir(parents=True, exist_ok=True)
    layout = tmp / "pulled"
    run_tool(["skopeo", "copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{layout}:t"])
    config = json.loads(run_tool(["skopeo", "inspect", "--config", "--raw", f"oci:{layout}:t"]).stdout)
    bundle = tmp / "bundle"
    run_tool(["umoci", "unpack", "--image", f"{layout}:t", str(bundle)])
    return bundle / "rootfs", config


def tree(root: Path) -> dict[str, FileFacts]:
    out: dict[str, FileFacts] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            out[rel] = facts(path)
    return out


def facts(path: Path) -> FileFacts:
    st = path.lstat()
    kind = "dir" if stat.S_ISDIR(st.st_mode) else "link" if stat.S_ISLNK(st.st_mode) else "file"
    content = ""
    if stat.S_ISREG(st.st_mode):
        content = hashlib.sha256(path.read_bytes()).hexdigest()
    return FileFacts(
        kind,
        f"{stat.S_IMODE(st.st_mode):04o}",
        st.st_uid,
        st.st_gid,
        content,
        os.readlink(path) if kind == "link" else "",
    )


def check_expectations(rootfs: Path, config: dict[str, Any], expect: dict[str, Any]) -> None:
    for rel, want in expect.get("files", {}).items():
        path = rootfs / rel
        assert os.path.lexists(path), f"{rel} missing from the image"
        got = facts(path)
        if "content" in want:
            assert path.read_text() == want["content"], rel
        if "uid" in want:
            assert got.uid == want["uid"], (rel, got)
        if "gid" in want:
            assert got.gid == want["gid"], (rel, got)
        if "mode" in want:
            assert got.mode == want["mode"], (rel, got)
        if "link" in want:
            assert got.link == want["link"], (rel, got)
        if "type" in want:
            assert got.kind == want["type"], (rel, got)
    for rel in expect.get("absent", []):
        assert not os.path.lexists(rootfs / rel), f"{rel} should not be in the image"
    run = config.get("config", {})
    for key, value in expect.get("config", {}).items():
        assert run.get(key) == value, (key, run.get(key))
    env = run.get("Env", [])
    for item in expect.get("env_has", []):
        assert item in env, (item, env)
    for name in expect.get("env_lacks", []):
        assert not any(e.startswith(name + "=") for e in env), (name, env)
    if "author" in expect:
        assert config.get("author") == expect["author"]
    if expect.get("no_onbuild"):
        assert not run.get("OnBuild")
