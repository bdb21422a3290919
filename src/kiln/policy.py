"""Source policy: which registries and repositories a build may pull from (``--allowed-registries`` ...).

Why a module of its own: the same answer is needed for FROM lines, ``COPY --from`` images, ``RUN --mount``
images, ONBUILD triggers, the cache repository and the warmer, and it must be given before any request is
sent, so it works on parsed references only and never touches the network.

Rules (docs/supply-chain.md has the examples):
- A reference is normalised first (``alpine`` -> ``docker.io/library/alpine``, ``index.docker.io`` ->
  ``docker.io``, hosts lower-cased); tags and digests play no part.
- Registry patterns match ``host[:port]``; repository patterns match ``registry/repository``. Both are
  globs: ``*`` and ``?`` never cross a ``/``, ``**`` does, ``[abc]`` is a class. A port is part of the
  host: ``registry.example.com`` does not match ``registry.example.com:5000`` (``registry.example.com:*``
  does).
- Repository patterns are normalised like references: ``alpine`` means ``docker.io/library/alpine``,
  ``team/*`` means ``docker.io/team/*``; a first component with a ``.`` or ``:``, ``localhost``, ``*``
  or ``**`` is the registry (``*/team/*`` is any registry).
- A deny match refuses. When any allow list is given, the reference must match at least one allow pattern
  (registry or repository).
- Mirrors (``--registry-map``/``--registry-mirror``): the name as written is checked with every rule, and
  each registry the pull may be sent to is checked with the registry rules too.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from kiln.errors import UsageError
from kiln.reference import DOCKER_HUB, DOCKER_HUB_API, Reference


def split_values(values: Iterable[str]) -> tuple[str, ...]:
    """Repeatable flags whose values may also be comma-separated: ``a,b`` ``c`` -> ``(a, b, c)``."""
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def normalise_registry(host: str) -> str:
    """``Index.Docker.IO`` -> ``docker.io``: hosts compare case-insensitively, Docker Hub has one name."""
    lowered = host.lower()
    return DOCKER_HUB if lowered == DOCKER_HUB_API else lowered


def normalise_repo_pattern(pattern: str) -> str:
    """Docker's short-name rule applied to a pattern: ``alpine`` -> ``docker.io/library/alpine``."""
    first, sep, rest = pattern.partition("/")
    looks_like_host = "." in first or ":" in first or first in ("localhost", "*", "**")
    if sep and looks_like_host:
        registry, path = normalise_registry(first), rest
    else:
        registry, path = DOCKER_HUB, pattern
    if registry == DOCKER_HUB and "/" not in path and "**" not in path:
        path = f"library/{path}"
    return f"{registry}/{path}"


def glob_regex(pattern: str) -> re.Pattern[str]:
    """``*``/``?`` within one path component, ``**`` across components, ``[...]`` a class (``[!..]`` negated)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                negate = body.startswith("!")
                body = body[1:] if negate else body
                escaped = body.replace("\\", "\\\\").replace("^", "\\^")
                out.append(f"[{'^' if negate else ''}{escaped}]")
                i = end + 1
                continue
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out))


@functools.lru_cache(maxsize=512)
def _registry_regex(pattern: str) -> re.Pattern[str]:
    return glob_regex(normalise_registry(pattern))


@functools.lru_cache(maxsize=512)
def _repo_regex(pattern: str) -> re.Pattern[str]:
    return glob_regex(normalise_repo_pattern(pattern.lower()))


def _check_registry_pattern(pattern: str, flag: str) -> None:
    if "/" in pattern or "@" in pattern:
        raise UsageError(
            f"invalid {flag} pattern {pattern!r}: a registry is host[:port]",
            hint="match repositories with --allowed-repos/--denied-repos",
        )


def _check_repo_pattern(pattern: str, flag: str) -> None:
    last = pattern.rsplit("/", 1)[-1]
    if "@" in pattern or ":" in last or pattern.endswith("/"):
        raise UsageError(
            f"invalid {flag} pattern {pattern!r}: expected [registry/]repository, without a tag or digest",
            hint="e.g. docker.io/library/alpine, registry.example.com/team/**; registries: --allowed-registries",
        )
    if "/" not in pattern and ("." in pattern or pattern == "localhost"):
        # Docker would read "quay.io" as docker.io/library/quay.io: refuse the likely mistake instead
        registries = flag.replace("repos", "registries")
        raise UsageError(
            f"invalid {flag} pattern {pattern!r}: looks like a registry, not a repository",
            hint=f"use {registries}={pattern}, or docker.io/library/{pattern} for an official image",
        )


@dataclass(frozen=True)
class Refusal:
    """Why a reference is refused: the flag and its patterns, and which name they were applied to."""

    flag: str
    patterns: tuple[str, ...]
    denied: bool  # True: a deny pattern matched; False: no allow pattern did
    via: str = ""  # the mirror the request would go to, when that is what was refused

    def sentence(self, subject: str) -> str:
        """``<subject> refused by --denied-registries=docker.io``: the one line a user sees."""
        through = f" (pulled through {self.via})" if self.via else ""
        if self.denied:
            return f"{subject}{through} refused by {self.flag}={self.patterns[0]}"
        return f"{subject}{through} refused: not matched by {self.flag}={','.join(self.patterns)}"


@dataclass(frozen=True)
class SourcePolicy:
    """Glob patterns as the user wrote them (split on commas); empty tuples mean "no rule"."""

    allowed_registries: tuple[str, ...] = ()
    denied_registries: tuple[str, ...] = ()
    allowed_repos: tuple[str, ...] = ()
    denied_repos: tuple[str, ...] = ()

    @classmethod
    def from_flags(
        cls,
        allowed_registries: Iterable[str] = (),
        denied_registries: Iterable[str] = (),
        allowed_repos: Iterable[str] = (),
        denied_repos: Iterable[str] = (),
    ) -> SourcePolicy:
        """Split comma-separated values and reject malformed patterns (UsageError, one line)."""
        policy = cls(
            split_values(allowed_registries),
            split_values(denied_registries),
            split_values(allowed_repos),
            split_values(denied_repos),
        )
        for pattern in policy.allowed_registries:
            _check_registry_pattern(pattern, "--allowed-registries")
        for pattern in policy.denied_registries:
            _check_registry_pattern(pattern, "--denied-registries")
        for pattern in policy.allowed_repos:
            _check_repo_pattern(pattern, "--allowed-repos")
        for pattern in policy.denied_repos:
            _check_repo_pattern(pattern, "--denied-repos")
        return policy

    @property
    def active(self) -> bool:
        return bool(
            self.allowed_registries or self.denied_registries or self.allowed_repos or self.denied_repos
        )

    def refusal(self, ref: Reference, via: Sequence[str] = ()) -> Refusal | None:
        """Why ``ref`` may not be pulled (None: it may); ``via`` are the other registries the pull may contact."""
        if not self.active:
            return None
        registry = normalise_registry(ref.registry)
        name = f"{registry}/{ref.repository}"
        denied = _first_match(self.denied_registries, registry, _registry_regex)
        if denied is not None:
            return Refusal("--denied-registries", (denied,), True)
        denied = _first_match(self.denied_repos, name, _repo_regex)
        if denied is not None:
            return Refusal("--denied-repos", (denied,), True)
        if self.allowed_registries or self.allowed_repos:
            allowed = _first_match(self.allowed_registries, registry, _registry_regex) or _first_match(
                self.allowed_repos, name, _repo_regex
            )
            if allowed is None:
                flag, patterns = (
                    ("--allowed-registries", self.allowed_registries)
                    if not self.allowed_repos
                    else ("--allowed-repos", self.allowed_repos)
                    if not self.allowed_registries
                    else (
                        "--allowed-registries/--allowed-repos",
                        self.allowed_registries + self.allowed_repos,
                    )
                )
                return Refusal(flag, patterns, False)
        for host in via:
            mirror = normalise_registry(host)
            if mirror == registry:
                continue
            denied = _first_match(self.denied_registries, mirror, _registry_regex)
            if denied is not None:
                return Refusal("--denied-registries", (denied,), True, via=mirror)
            if (
                self.allowed_registries
                and _first_match(self.allowed_registries, mirror, _registry_regex) is None
            ):
                return Refusal("--allowed-registries", self.allowed_registries, False, via=mirror)
        return None


def _first_match(
    patterns: tuple[str, ...], subject: str, compile_: Callable[[str], re.Pattern[str]]
) -> str | None:
    for pattern in patterns:
        if compile_(pattern).fullmatch(subject):
            return pattern
    return None
