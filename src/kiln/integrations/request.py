"""One executor invocation, described as values, and the argv it becomes.

Why a value type: every adapter fills the same fields from its own platform's inputs, and one
function turns them into kaniko's flags, so the flag spelling lives in exactly one place.
"""

from __future__ import annotations

import re
import shlex
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from kiln.errors import UsageError

_ARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off", ""})


def split_lines(text: str) -> list[str]:
    """Non-empty, stripped lines: the form for values that may hold commas (build args, labels)."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def split_list(text: str) -> list[str]:
    """Lines, then commas, as docker/build-push-action reads ``tags``; empty items dropped."""
    out: list[str] = []
    for line in split_lines(text):
        out.extend(item.strip() for item in line.split(",") if item.strip())
    return out


def split_words(text: str, what: str) -> list[str]:
    """Shell-like words (quotes honoured, nothing expanded) for free-form ``extra-args``."""
    try:
        return shlex.split(text, comments=False, posix=True)
    except ValueError as err:
        raise UsageError(f"{what}: cannot split into words: {err}", hint="balance the quotes") from None


def parse_bool(value: str, what: str, default: bool = False) -> bool:
    """A platform's boolean input (``true``/``false`` and friends); empty means the default."""
    word = value.strip().lower()
    if not word:
        return default
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise UsageError(f"{what}: expected true or false, got {value!r}")


def check_build_args(items: Sequence[str]) -> None:
    """``KEY=VALUE``, or a bare ``KEY`` that the executor takes from its environment."""
    for item in items:
        name = item.partition("=")[0]
        if not _ARG_NAME.match(name):
            raise UsageError(f"build-args: {name!r} is not a valid name", hint="use KEY=VALUE, one per line")


def check_labels(items: Sequence[str]) -> None:
    """``KEY=VALUE`` with any non-empty key (label keys hold dots and hyphens)."""
    for item in items:
        name, eq, _ = item.partition("=")
        if not eq or not name.strip():
            raise UsageError(f"labels: {item!r} has no KEY=", hint="use KEY=VALUE, one per line")


def public_url(url: str) -> str:
    """``url`` without user or password (a CI's clone URL may carry a token); other forms are kept."""
    text = url.strip()
    parts = urllib.parse.urlsplit(text)
    if not parts.scheme or not parts.netloc or "@" not in parts.netloc:
        return text
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class ExecutorRequest:
    """What one CI step asks of the executor, before it becomes flags."""

    context: str = "."
    dockerfile: str = ""
    destinations: tuple[str, ...] = ()
    push: bool = True
    build_args: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    target: str = ""
    cache: bool = False
    cache_repo: str = ""
    platform: str = ""
    oci_layout_path: str = ""
    tar_path: str = ""
    digest_file: str = ""
    image_name_with_digest_file: str = ""
    image_name_tag_with_digest_file: str = ""
    image_source: str = ""  # org.opencontainers.image.source, from the platform's variables
    image_revision: str = ""  # org.opencontainers.image.revision
    provenance: bool = False  # --generate-provenance; off by default, as kaniko has none
    provenance_refs_file: str = ""  # where kiln notes the attached statement (docs/supply-chain.md)
    extra_args: tuple[str, ...] = field(default=())

    def with_source(self, enabled: bool, url: str, revision: str) -> ExecutorRequest:
        """The platform's repository URL (credentials removed) and commit, unless turned off."""
        if not enabled:
            return self
        return replace(self, image_source=public_url(url), image_revision=revision.strip())

    def check(self) -> None:
        """Refuse requests the executor would reject later, with a hint in the platform's terms."""
        if self.push and not self.destinations:
            raise UsageError(
                "pushing needs at least one image name",
                hint="set the tags/destinations, or turn push off to only build",
            )
        if "," in self.platform:
            raise UsageError(
                f"one platform per build, got {self.platform!r}",
                hint="build each platform in its own job (a matrix) and merge them with 'kiln index'",
            )
        check_build_args(self.build_args)
        check_labels(self.labels)

    def argv(self, executor: Sequence[str]) -> list[str]:
        """The executor command line; every value rides in its own ``--flag=value`` word."""
        self.check()
        out = list(executor)
        out.append(f"--context={self.context or '.'}")
        if self.dockerfile:
            out.append(f"--dockerfile={self.dockerfile}")
        out.extend(f"--destination={d}" for d in self.destinations)
        if not self.push:
            out.append("--no-push")
        out.extend(f"--build-arg={a}" for a in self.build_args)
        out.extend(f"--label={label}" for label in self.labels)
        optional = (
            ("--target", self.target),
            ("--cache-repo", self.cache_repo),
            ("--custom-platform", self.platform),
            ("--oci-layout-path", self.oci_layout_path),
            ("--tar-path", self.tar_path),
            ("--digest-file", self.digest_file),
            ("--image-name-with-digest-file", self.image_name_with_digest_file),
            ("--image-name-tag-with-digest-file", self.image_name_tag_with_digest_file),
            ("--image-source", self.image_source),  # label and annotation both (docs/supply-chain.md)
            ("--image-revision", self.image_revision),
        )
        out.extend(f"{flag}={value}" for flag, value in optional if value)
        if self.cache or self.cache_repo:
            out.append("--cache=true")
        if self.provenance:
            out.append("--generate-provenance")
            if self.provenance_refs_file:
                out.append(f"--provenance-refs-file={self.provenance_refs_file}")
        out.extend(self.extra_args)
        return out
