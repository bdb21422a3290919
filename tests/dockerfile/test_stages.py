"""Stage graph and build-arg scoping."""

from __future__ import annotations

import pytest

from kiln.dockerfile import (
    PlatformSpec,
    build_stages,
    parse_dockerfile,
    resolve_stage_arg,
    unused_build_args,
)
from kiln.dockerfile.instructions import Arg, Copy
from kiln.errors import DockerfileError, UsageError

AMD64 = PlatformSpec("linux", "amd64")
ARM = PlatformSpec("linux", "arm", "v7")

MULTI = """\
ARG BASE=alpine
ARG TAG=3.19
FROM ${BASE}:${TAG} AS deps
RUN --mount=type=bind,from=tools,source=/bin/x,target=/x true
FROM busybox AS tools
FROM deps AS build
COPY --from=tools /a /b
FROM build AS unused
FROM scratch
COPY --from=build /out /out
COPY --from=0 /c /c
COPY --from=nginx:1.25 /etc/nginx /etc/nginx
"""


def graph(text: str, args: dict[str, str] | None = None, target: str | None = None):  # type: ignore[no-untyped-def]
    return build_stages(parse_dockerfile(text, "Dockerfile"), args or {}, target,
                        target_platform=ARM, build_platform=AMD64)  # fmt: skip


def test_stages_bases_and_dependencies() -> None:
    g = graph(MULTI, {"TAG": "3.20"})
    assert [s.name for s in g.stages] == ["deps", "tools", "build", "unused", None]
    assert [s.base for s in g.stages] == ["alpine:3.20", "busybox", "deps", "build", "scratch"]
    assert g.stages[0].dependencies == (1,)
    assert g.stages[2].base_stage == 0 and g.stages[2].dependencies == (0, 1)
    assert g.stages[4].dependencies == (0, 2)
    assert g.stages[4].images == ("nginx:1.25",)
    assert g.stages[4].is_scratch and not g.stages[0].is_scratch
    assert g.stages[0].images == ("alpine:3.20",)
    assert isinstance(g.stages[2].instructions[0], Copy)
    assert g.target == 4
    assert g.required_stages() == [0, 1, 2, 4]
    assert g.unused_stages() == [3]
    order = g.build_order()
    assert order.index(1) < order.index(0) < order.index(2) < order.index(4)
    assert g.stage("BUILD").index == 2 and g.stage(1).name == "tools"
    assert g.required_stages("tools") == [1]
    assert g.unused_stages("deps") == [2, 3, 4]


def test_target_selects_stage_and_unknown_target_fails() -> None:
    assert graph(MULTI, target="build").target == 2
    assert graph(MULTI, target="Unused").target == 3
    with pytest.raises(DockerfileError, match='target stage "nope" could not be found'):
        graph(MULTI, target="nope")


def test_global_args_and_platform_args_in_from() -> None:
    g = graph("ARG V\nFROM --platform=$BUILDPLATFORM img:${V:-latest}-$TARGETARCH$TARGETVARIANT\n")
    assert g.stages[0].base == "img:latest-armv7"
    assert g.stages[0].platform == "linux/amd64"
    assert g.global_args.values["TARGETPLATFORM"] == "linux/arm/v7"
    assert g.global_args.declared == {"V"}
    assert len(g.meta_args) == 1
    g2 = graph("ARG V=1\nARG W=${V}.0\nFROM img:$W\n", {"V": "2"})
    assert g2.stages[0].base == "img:2.0"


def test_undeclared_build_arg_is_not_visible_in_from() -> None:
    g = graph("FROM img:${V:-none}\n", {"V": "x"})
    assert g.stages[0].base == "img:none"


def test_stage_arg_resolution_order() -> None:
    g = graph("ARG G=global\nFROM a\nARG G\nARG L=local\nARG TARGETOS\nARG NOTHING\n")
    ga = g.global_args
    assert resolve_stage_arg("G", None, {}, ga) == "global"
    assert resolve_stage_arg("G", None, {"G": "cli"}, ga) == "cli"
    assert resolve_stage_arg("L", "local", {}, ga) == "local"
    assert resolve_stage_arg("L", "local", {"L": "cli"}, ga) == "cli"
    assert resolve_stage_arg("TARGETOS", None, {}, ga) == "linux"
    assert resolve_stage_arg("NOTHING", None, {}, ga) is None
    args = [i for i in g.stages[0].instructions if isinstance(i, Arg)]
    assert [a.args[0].key for a in args] == ["G", "L", "TARGETOS", "NOTHING"]


def test_unused_build_args() -> None:
    assert unused_build_args({"A": "1", "HTTP_PROXY": "x", "B": "2", "TARGETOS": "l"}, ["A"]) == ["B"]


def test_platform_spec() -> None:
    assert str(PlatformSpec.parse("Linux/ARM64/v8")) == "linux/arm64/v8"
    assert PlatformSpec.parse("linux/amd64").variant == ""
    assert PlatformSpec.host().os == "linux"
    with pytest.raises(UsageError):
        PlatformSpec.parse("linux")


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("RUN x\nFROM a\n", "no build stage in current context", 1),
        ("ARG A=1\n", "dockerfile contains no stages to build", 1),
        ("FROM a AS x\nFROM b AS X\n", "duplicate stage name 'x'", 2),
        (
            "FROM a AS one\nCOPY --from=two / /\nFROM b AS two\nCOPY --from=one / /\n",
            "circular dependency detected",
            3,
        ),
        ("FROM a\nCOPY --from=5 / /\n", "invalid stage reference --from=5", 2),
        ("FROM a\nCOPY --from=0 / /\n", "invalid stage reference --from=0", 2),
        ("ARG B\nFROM $B\n", "base name .* should not be blank", 2),
    ],
)
def test_stage_errors(text: str, message: str, line: int) -> None:
    with pytest.raises(DockerfileError, match=message) as info:
        graph(text)
    assert info.value.location is not None and info.value.location.start_line == line


def test_stage_name_equal_to_image_is_an_image_for_itself() -> None:
    g = graph("FROM golang AS golang\nFROM golang\n")
    assert g.stages[0].base_stage is None and g.stages[0].images == ("golang",)
    assert g.stages[1].base_stage == 0


def test_copy_from_uses_global_args() -> None:
    g = graph("ARG SRC=builder\nFROM a AS builder\nFROM b\nCOPY --from=$SRC / /\n")
    assert g.stages[1].dependencies == (0,)


def test_real_world_multi_stage_file() -> None:
    from pathlib import Path

    text = (Path(__file__).parent / "golden" / "realworld.Dockerfile").read_text()
    g = graph(text, {"GO_VERSION": "1.23"})
    build, final = g.stages
    assert (build.name, build.base, build.platform) == ("build", "golang:1.23-alpine3.19", "linux/amd64")
    assert (final.base, final.dependencies, g.target) == ("alpine:3.19", (0,), 1)
    assert g.unused_stages() == []
    copies = [i for i in final.instructions if isinstance(i, Copy)]
    assert [c.from_ for c in copies] == ["build", None]
    assert copies[1].heredoc_content("<<-EOT", {}) == 'listen = ":8080"\n'
