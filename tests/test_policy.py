"""Table tests for the source policy's patterns: normalisation, globs, allow/deny and mirrors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiln.errors import UsageError
from kiln.policy import SourcePolicy, normalise_repo_pattern, split_values
from kiln.reference import Reference

HEX = "b" * 64


def refused(policy: SourcePolicy, text: str, via: tuple[str, ...] = ()) -> str | None:
    refusal = policy.refusal(Reference.parse(text), via)
    return None if refusal is None else refusal.sentence(text)


REGISTRY_CASES = [
    # pattern, reference, matches
    ("docker.io", "alpine", True),
    ("docker.io", "alpine:3.20", True),
    ("docker.io", "library/alpine", True),
    ("docker.io", "index.docker.io/library/alpine", True),
    ("docker.io", "docker.io/team/app@sha256:" + HEX, True),
    ("index.docker.io", "alpine", True),  # the API host names Docker Hub too
    ("Index.Docker.IO", "busybox", True),
    ("DOCKER.IO", "busybox", True),
    ("docker.io", "quay.io/org/app", False),
    ("quay.io", "quay.io/org/app:1", True),
    ("localhost:5000", "localhost:5000/app", True),
    ("localhost:5000", "localhost:5001/app", False),
    ("localhost", "localhost:5000/app", False),  # the port is part of the name
    ("localhost:*", "localhost:5000/app", True),
    ("localhost:*", "localhost/app", False),
    ("registry.example.com", "registry.example.com:443/app", False),
    ("registry.example.com*", "registry.example.com:443/app", True),
    ("*.example.com", "registry.example.com/app", True),
    ("*.example.com", "example.com/app", False),
    ("127.0.0.1:5?00", "127.0.0.1:5100/app", True),
    ("127.0.0.1:5[01]00", "127.0.0.1:5200/app", False),
    ("127.0.0.1:5[!01]00", "127.0.0.1:5200/app", True),
    ("Registry.Example.com", "REGISTRY.example.com/app", True),  # hosts compare case-insensitively
]


@pytest.mark.parametrize(("pattern", "text", "matches"), REGISTRY_CASES)
def test_registry_patterns(pattern: str, text: str, matches: bool) -> None:
    denied = SourcePolicy.from_flags(denied_registries=[pattern])
    allowed = SourcePolicy.from_flags(allowed_registries=[pattern])
    assert (refused(denied, text) is not None) is matches
    assert (refused(allowed, text) is None) is matches


REPO_CASES = [
    ("alpine", "alpine", True),
    ("alpine", "docker.io/library/alpine:3.20", True),
    ("alpine", "alpine@sha256:" + HEX, True),  # tags and digests play no part
    ("alpine", "alpine:3.20@sha256:" + HEX, True),
    ("alpine", "someone/alpine", False),
    ("library/alpine", "alpine", True),
    ("docker.io/alpine", "index.docker.io/library/alpine", True),
    ("index.docker.io/library/alpine", "alpine", True),
    ("*", "alpine", True),  # a one-word pattern is an official image, like a one-word name
    ("*", "team/app", False),
    ("team/*", "team/app", True),
    ("team/*", "team/sub/app", False),  # '*' does not cross '/'
    ("team/**", "team/sub/app", True),
    ("docker.io/**", "team/sub/app", True),
    ("docker.io/**", "quay.io/team/app", False),
    ("quay.io/org/*", "quay.io/org/app:1", True),
    ("quay.io/org/*", "quay.io/other/app", False),
    ("localhost:5000/app", "localhost:5000/app:1", True),
    ("localhost:5000/app", "localhost:5001/app", False),
    ("localhost/app", "localhost/app", True),
    ("*.example.com/team/**", "registry.example.com/team/a/b", True),
    ("*.example.com/team/**", "registry.example.com:5000/team/a", False),
    ("*/team/*", "ghcr.io/team/app", True),  # a lone '*' first component is any registry
    ("*/team/*", "team/app", True),  # docker.io is a registry too
    ("*/team/*", "ghcr.io/org/team/app", False),
    ("**/app", "registry.example.com/a/b/app", True),
    ("team-*/app", "team-x/app", True),  # any other glob first component is a Docker Hub namespace
    ("team-*/app", "quay.io/team-x/app", False),
    ("Registry.Example.com/app", "registry.example.com/app", True),
    ("app?", "app1", True),
    ("app?", "app12", False),
]


@pytest.mark.parametrize(("pattern", "text", "matches"), REPO_CASES)
def test_repository_patterns(pattern: str, text: str, matches: bool) -> None:
    denied = SourcePolicy.from_flags(denied_repos=[pattern])
    allowed = SourcePolicy.from_flags(allowed_repos=[pattern])
    assert (refused(denied, text) is not None) is matches
    assert (refused(allowed, text) is None) is matches


def test_pattern_normalisation() -> None:
    assert normalise_repo_pattern("alpine") == "docker.io/library/alpine"
    assert normalise_repo_pattern("team/app") == "docker.io/team/app"
    assert normalise_repo_pattern("index.docker.io/alpine") == "docker.io/library/alpine"
    assert normalise_repo_pattern("docker.io/**") == "docker.io/**"
    assert normalise_repo_pattern("localhost:5000/a") == "localhost:5000/a"
    assert normalise_repo_pattern("*/team/*") == "*/team/*"
    assert normalise_repo_pattern("team-*/app") == "docker.io/team-*/app"


def test_no_rules_allow_everything() -> None:
    policy = SourcePolicy.from_flags()
    assert not policy.active
    assert refused(policy, "alpine") is None


def test_deny_wins_over_allow() -> None:
    policy = SourcePolicy.from_flags(allowed_registries=["docker.io"], denied_repos=["alpine"])
    assert refused(policy, "busybox") is None
    assert refused(policy, "alpine:3.20") == "alpine:3.20 refused by --denied-repos=alpine"


def test_allow_lists_are_a_union() -> None:
    """Given both, a reference passes when it matches any allowed registry or any allowed repository."""
    policy = SourcePolicy.from_flags(allowed_registries=["quay.io"], allowed_repos=["alpine"])
    assert refused(policy, "quay.io/org/app") is None
    assert refused(policy, "alpine") is None
    assert refused(policy, "busybox") == (
        "busybox refused: not matched by --allowed-registries/--allowed-repos=quay.io,alpine"
    )


def test_sentences_name_the_rule() -> None:
    deny = SourcePolicy.from_flags(denied_registries=["quay.io", "docker.io"])
    assert refused(deny, "alpine") == "alpine refused by --denied-registries=docker.io"
    allow = SourcePolicy.from_flags(allowed_registries=["quay.io,ghcr.io"])
    assert refused(allow, "alpine") == "alpine refused: not matched by --allowed-registries=quay.io,ghcr.io"


def test_values_are_repeatable_and_comma_separated() -> None:
    assert split_values(["a,b", " c ", "", "d,,"]) == ("a", "b", "c", "d")
    policy = SourcePolicy.from_flags(denied_registries=["quay.io, docker.io", "ghcr.io"])
    assert policy.denied_registries == ("quay.io", "docker.io", "ghcr.io")


def test_mirrors_are_checked_with_the_registry_rules() -> None:
    """The name as written must pass, and so must every registry the pull may be sent to."""
    deny_mirror = SourcePolicy.from_flags(denied_registries=["mirror.example:5000"])
    assert refused(deny_mirror, "alpine", ("mirror.example:5000", "docker.io")) == (
        "alpine (pulled through mirror.example:5000) refused by --denied-registries=mirror.example:5000"
    )
    allow_hub = SourcePolicy.from_flags(allowed_registries=["docker.io"])
    assert refused(allow_hub, "alpine", ("mirror.example:5000", "docker.io")) == (
        "alpine (pulled through mirror.example:5000) refused: not matched by --allowed-registries=docker.io"
    )
    both = SourcePolicy.from_flags(allowed_registries=["docker.io", "mirror.example:*"])
    assert refused(both, "alpine", ("mirror.example:5000", "index.docker.io")) is None
    only_mirror = SourcePolicy.from_flags(allowed_registries=["mirror.example:*"])
    assert refused(only_mirror, "alpine", ("mirror.example:5000",)) is not None  # the name as written counts
    repos_only = SourcePolicy.from_flags(allowed_repos=["alpine"])  # repository rules: the name as written
    assert refused(repos_only, "alpine", ("mirror.example:5000",)) is None


BAD = [
    ("denied_registries", "docker.io/library", "a registry is host[:port]"),
    ("allowed_registries", "quay.io@sha256", "a registry is host[:port]"),
    ("allowed_repos", "alpine:3.20", "without a tag or digest"),
    ("denied_repos", "alpine@sha256:" + HEX, "without a tag or digest"),
    (
        "denied_repos",
        "quay.io",
        "looks like a registry, not a repository",
    ),  # Docker would say library/quay.io
    ("allowed_repos", "localhost:5000", "without a tag or digest"),
    ("allowed_repos", "localhost", "looks like a registry, not a repository"),
    ("denied_repos", "quay.io/org/", "without a tag or digest"),
]


@pytest.mark.parametrize(("field", "pattern", "message"), BAD)
def test_malformed_patterns_are_one_line_usage_errors(field: str, pattern: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        SourcePolicy.from_flags(**{field: [pattern]})
    assert message in str(info.value)
    assert "\n" not in str(info.value)


_COMPONENT = st.from_regex(r"[a-z0-9]{1,8}(-[a-z0-9]{1,4})?", fullmatch=True)


@given(
    host=st.sampled_from(["docker.io", "quay.io", "localhost:5000", "registry.example.com:443"]),
    path=st.lists(_COMPONENT, min_size=1, max_size=4),
)
def test_a_name_always_matches_itself_and_its_registry_glob(host: str, path: list[str]) -> None:
    ref = Reference.parse(f"{host}/{'/'.join(path)}:1")
    assert SourcePolicy.from_flags(allowed_repos=[ref.name]).refusal(ref) is None
    assert SourcePolicy.from_flags(allowed_repos=[f"{ref.registry}/**"]).refusal(ref) is None
    assert SourcePolicy.from_flags(denied_repos=[ref.name]).refusal(ref) is not None
    star = SourcePolicy.from_flags(allowed_repos=[f"{ref.registry}/*"]).refusal(ref)
    one_word = ref.repository.removeprefix("library/") if ref.registry == "docker.io" else ref.repository
    assert (star is None) is ("/" not in one_word)  # docker.io/* is docker.io/library/*
