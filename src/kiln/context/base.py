"""The one interface every build-context scheme implements, and the value that names a context.

A source materialises its context as a directory on local disk; everything after that (the
.dockerignore, COPY sources, cache keys) works on that directory alone, whatever the scheme.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from kiln.context.scrub import scrub_url
from kiln.digest import Digest
from kiln.errors import ContextError


@dataclass(frozen=True)
class GitOptions:
    """kaniko's ``--git`` options for git contexts."""

    branch: str = ""
    single_branch: bool = False
    recurse_submodules: bool = False
    insecure_skip_tls: bool = False


@dataclass(frozen=True)
class ContextSpec:
    """What ``--context`` and its companion flags asked for."""

    url: str
    sub_path: str = ""
    git: GitOptions = GitOptions()
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    stdin: BinaryIO | None = field(default=None, repr=False, compare=False)  # for tar://stdin

    def __repr__(self) -> str:  # the URL may carry a token (https://TOKEN@host/...)
        return f"ContextSpec(url={scrub_url(self.url)!r}, sub_path={self.sub_path!r}, git={self.git!r})"

    @property
    def scheme(self) -> str:
        head, sep, _ = self.url.partition("://")
        return head.lower() if sep else ""


class ContextSource(ABC):
    """Brings one build context onto local disk.

    ``archive_digest``: after ``fetch``, the sha256 of the archive an archive scheme unpacked (tar, s3, gs,
    azure, https); None for directories and git (git's commit is recorded instead).
    """

    archive_digest: Digest | None = None

    @abstractmethod
    def fetch(self, workdir: Path) -> Path:
        """Materialise the context below ``workdir`` (a fresh, empty, private directory); return its root."""


def apply_sub_path(root: Path, sub_path: str) -> Path:
    """The ``--context-sub-path`` directory below ``root``, refusing to leave it."""
    if not sub_path:
        return root
    candidate = (root / sub_path.lstrip("/")).resolve()
    base = root.resolve()
    if candidate != base and base not in candidate.parents:
        raise ContextError(f"--context-sub-path {sub_path!r} leaves the context")
    if not candidate.is_dir():
        raise ContextError(
            f"--context-sub-path {sub_path!r} is not a directory in the context",
            hint="the sub-path is relative to the root of the fetched context",
        )
    return candidate
