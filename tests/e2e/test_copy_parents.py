"""COPY --parents end to end: BuildKit's documented results (Dockerfile reference, "COPY --parents").

buildah 1.28 (Debian's) predates the flag (its Dockerfile parser refuses it), so the expected trees
are the reference's examples, plus the metadata rules kiln applies to every copied directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from e2e.helpers import facts, options_for
from fixtures.images import PushedImage
from fixtures.registry import RegistryServer
from fixtures.tools import run_tool
from kiln.build.executor import build
from kiln.errors import BuildStepError

pytestmark = pytest.mark.privileged


def _unpack(layout: Path, tmp: Path) -> Path:
    """skopeo tags the (untagged) layout's image, umoci unpacks it."""
    tagged = tmp / "tagged"
    run_tool(["skopeo", "copy", f"oci:{layout}", f"oci:{tagged}:t"])
    run_tool(["umoci", "unpack", "--image", f"{tagged}:t", str(tmp / "bundle")])
    return tmp / "bundle" / "rootfs"


def _context(tmp_path: Path, dockerfile: str) -> Path:
    context = tmp_path / "ctx"
    for rel in ("x/a.txt", "y/a.txt", "p/q/1.txt", "p/q/2.txt", "p/top.txt", "src/a.txt", "src/x/b.txt",
                "src/x/y/c.txt", "src/x/y/d.md", "src/x/skip/e.txt"):  # fmt: skip
        (context / rel).parent.mkdir(parents=True, exist_ok=True)
        (context / rel).write_text(rel + "\n")
    os.chmod(context / "src" / "x", 0o700)
    (context / ".dockerignore").write_text("src/x/skip\n")
    (context / "Dockerfile").write_text(dockerfile)
    return context


def test_copy_parents_follows_the_reference(
    tmp_path: Path, registry_http: RegistryServer, busybox_image: PushedImage
) -> None:
    dockerfile = f"""FROM {busybox_image.ref} AS stage
RUN mkdir -p /opt/app/bin && echo tool > /opt/app/bin/tool && chmod 0750 /opt/app/bin \\
 && chown 5:6 /opt/app/bin/tool
FROM {busybox_image.ref}
COPY ./x/a.txt ./y/a.txt /no_parents/
COPY --parents ./x/a.txt ./y/a.txt /parents/
COPY --parents ./p/./q/*.txt /pivot/
COPY --parents ./src/**/*.txt /star/
COPY --parents --chown=7:8 src/x /owned
COPY --from=stage --parents /opt/./app/bin/tool /from/
WORKDIR /rel
COPY --parents x/a.txt sub/
"""
    context = _context(tmp_path, dockerfile)
    layout = tmp_path / "out"
    build(options_for(context, tmp_path / "work", registry_http.host, None, oci_layout_path=str(layout)))
    root = _unpack(layout, tmp_path)

    def read(rel: str) -> str:
        return (root / rel).read_text()

    assert sorted(os.listdir(root / "no_parents")) == ["a.txt"] and read("no_parents/a.txt") == "y/a.txt\n"
    assert read("parents/x/a.txt") == "x/a.txt\n" and read("parents/y/a.txt") == "y/a.txt\n"
    assert sorted(os.listdir(root / "pivot")) == ["q"]
    assert sorted(os.listdir(root / "pivot/q")) == ["1.txt", "2.txt"]
    star = sorted(
        os.path.relpath(os.path.join(d, f), root / "star")
        for d, _, files in os.walk(root / "star")
        for f in files
    )
    assert star == ["src/a.txt", "src/x/b.txt", "src/x/y/c.txt"]  # no .md, nothing .dockerignore'd
    assert facts(root / "star/src/x").mode == "0700"  # a parent keeps its source directory's mode
    assert (facts(root / "star/src/x").uid, facts(root / "star/src/x/b.txt").uid) == (0, 0)

    for rel in ("owned/src", "owned/src/x", "owned/src/x/b.txt", "owned/src/x/y/c.txt"):
        assert (facts(root / rel).uid, facts(root / rel).gid) == (7, 8), rel
    assert not (root / "owned/src/x/skip").exists()

    tool = facts(root / "from/app/bin/tool")
    assert (tool.uid, tool.gid) == (5, 6) and read("from/app/bin/tool") == "tool\n"
    assert facts(root / "from/app/bin").mode == "0750"
    assert not (root / "from/opt").exists()
    assert read("rel/sub/x/a.txt") == "x/a.txt\n"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("COPY --parents ./nope/*.txt /dst/", r"'\./nope/\*\.txt' not found in the build context"),
        ("COPY --parents ./missing/./a.txt /dst/", r"'\./missing/\./a\.txt' not found"),
        ("ADD --parents ./x/a.txt /dst/", "ADD --parents is not supported"),
    ],
)
def test_copy_parents_errors_are_located(
    tmp_path: Path, registry_http: RegistryServer, busybox_image: PushedImage, line: str, message: str
) -> None:
    context = _context(tmp_path, f"FROM {busybox_image.ref}\n{line}\n")
    options = options_for(
        context, tmp_path / "work", registry_http.host, None, oci_layout_path=str(tmp_path / "o")
    )
    with pytest.raises(BuildStepError, match=message) as info:
        build(options)
    assert info.value.location is not None and info.value.location.start_line == 2
    assert not (tmp_path / "o").exists()
