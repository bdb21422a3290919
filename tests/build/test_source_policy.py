"""The source policy at plan time: every image a Dockerfile names, located, before anything is pulled.

These tests send no request at all (the registries named do not exist): a refusal must come from the plan.
The registry-backed proofs (0 requests seen by a proxy in front of the real registry) are in
tests/cli/test_source_policy_cli.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from kiln.build.options import BuildOptions
from kiln.build.source_policy import check_cache_repo, check_plan, onbuild_check, pull_registries
from kiln.dockerfile import build_stages, parse_dockerfile
from kiln.dockerfile.instructions import parse_instruction
from kiln.errors import PolicyError
from kiln.policy import SourcePolicy
from kiln.reference import Reference
from kiln.registry.options import RegistryOptions

DOCKERFILE = """\
ARG TOOLS=quay.io/org/tools:1
FROM alpine:3.20 AS base
RUN true
FROM base AS build
COPY --from=${TOOLS} /bin/tool /bin/tool
RUN --mount=type=bind,from=ghcr.io/team/data:2,target=/data true
FROM scratch
COPY --from=build /bin/tool /tool
COPY --from=registry.example.com:5000/extra/files /x /x
"""


def plan(policy: SourcePolicy, text: str = DOCKERFILE, **extra: object) -> None:
    options = BuildOptions(source_policy=policy, **extra)  # type: ignore[arg-type]
    graph = build_stages(parse_dockerfile(text, "Dockerfile"), {})
    check_plan(options, graph, list(range(len(graph.stages))))


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (
            SourcePolicy.from_flags(denied_registries=["docker.io"]),
            "Dockerfile:2: base image docker.io/library/alpine:3.20 refused by --denied-registries=docker.io",
        ),
        (
            SourcePolicy.from_flags(denied_repos=["quay.io/org/*"]),
            "Dockerfile:5: COPY --from image quay.io/org/tools:1 refused by --denied-repos=quay.io/org/*",
        ),
        (
            SourcePolicy.from_flags(denied_registries=["ghcr.io"]),
            "Dockerfile:6: RUN --mount from image ghcr.io/team/data:2 refused by --denied-registries=ghcr.io",
        ),
        (
            SourcePolicy.from_flags(allowed_registries=["docker.io", "quay.io", "ghcr.io"]),
            "Dockerfile:9: COPY --from image registry.example.com:5000/extra/files:latest refused: "
            "not matched by --allowed-registries=docker.io,quay.io,ghcr.io",
        ),
    ],
)
def test_each_kind_of_image_is_refused_at_its_line(policy: SourcePolicy, expected: str) -> None:
    with pytest.raises(PolicyError) as info:
        plan(policy)
    line = str(info.value)
    assert line.startswith(expected), line
    assert "\n" not in line
    assert info.value.exit_code != 0


def test_stages_and_scratch_are_not_images() -> None:
    """``FROM base`` and ``COPY --from=build`` name stages; ``scratch`` is nothing to pull."""
    plan(
        SourcePolicy.from_flags(
            allowed_repos=["alpine", "quay.io/**", "ghcr.io/team/*", "*.example.com:*/**"]
        )
    )


def test_only_the_stages_built_are_checked() -> None:
    options = BuildOptions(source_policy=SourcePolicy.from_flags(denied_registries=["ghcr.io"]))
    graph = build_stages(parse_dockerfile(DOCKERFILE, "Dockerfile"), {}, "base")
    check_plan(options, graph, graph.build_order())  # --skip-unused-stages: stage 'build' is not built


def test_build_args_expand_before_the_check() -> None:
    text = "ARG BASE=alpine\nFROM ${BASE}\n"
    options = BuildOptions(source_policy=SourcePolicy.from_flags(allowed_registries=["quay.io"]))
    graph = build_stages(parse_dockerfile(text, "Dockerfile"), {"BASE": "quay.io/org/base:1"})
    check_plan(options, graph, [0])
    graph = build_stages(parse_dockerfile(text, "Dockerfile"), {})
    with pytest.raises(PolicyError, match=r"base image docker\.io/library/alpine:latest refused"):
        check_plan(options, graph, [0])


def test_onbuild_triggers_are_checked_at_the_from_line() -> None:
    graph = build_stages(parse_dockerfile("FROM quay.io/org/onbuild-base\nRUN true\n", "Dockerfile"), {})
    parsed = parse_dockerfile(
        "COPY --from=docker.io/evil/tools /t /t\n", "ONBUILD of quay.io/org/onbuild-base"
    )
    triggers = [parse_instruction(node, parsed.filename) for node in parsed.nodes]
    options = BuildOptions(source_policy=SourcePolicy.from_flags(denied_repos=["evil/**"]))
    with pytest.raises(PolicyError) as info:
        onbuild_check(options, graph, triggers, graph.stages[0])
    assert str(info.value).startswith(
        "Dockerfile:1: ONBUILD COPY --from image docker.io/evil/tools:latest refused by --denied-repos=evil/**"
    )


def test_mirrors_are_the_registries_a_pull_may_reach() -> None:
    registry = RegistryOptions(registry_maps={"index.docker.io": ("mirror.example:5000/hub",)})
    assert pull_registries(registry, Reference.parse("alpine")) == ["mirror.example:5000", "docker.io"]
    no_fallback = RegistryOptions(
        registry_maps={"index.docker.io": ("mirror.example:5000",)}, skip_default_registry_fallback=True
    )
    assert pull_registries(no_fallback, Reference.parse("alpine")) == ["mirror.example:5000"]
    policy = SourcePolicy.from_flags(denied_registries=["mirror.example:*"])
    with pytest.raises(PolicyError) as info:
        plan(policy, "FROM alpine\n", registry=registry)
    assert (
        "base image docker.io/library/alpine:latest (pulled through mirror.example:5000) refused by"
        in str(info.value)
    )


@pytest.mark.parametrize(
    ("extra", "refused"),
    [
        ({"cache_repo": "quay.io/org/cache"}, True),
        ({"cache_repo": "", "destinations": ("quay.io/org/app:1",)}, True),  # kaniko's <destination>/cache
        ({"cache_repo": "oci:/tmp/cache"}, False),
        ({"cache_repo": "ghcr.io/org/cache"}, False),
    ],
)
def test_cache_repo(extra: dict[str, object], refused: bool) -> None:
    options = BuildOptions(
        cache=True,
        cache_ttl=timedelta(hours=1),
        source_policy=SourcePolicy.from_flags(denied_registries=["quay.io"]),
        **extra,  # type: ignore[arg-type]
    )
    if refused:
        with pytest.raises(PolicyError, match=r"^--cache-repo quay.io/org/(app/)?cache:latest refused by"):
            check_cache_repo(options)
    else:
        check_cache_repo(options)
