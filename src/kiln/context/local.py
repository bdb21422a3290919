"""Plain directories: ``--context /path``, ``--context dir:///path`` (kaniko's ``dir://``)."""

from __future__ import annotations

from pathlib import Path

from kiln.context.base import ContextSource, ContextSpec, apply_sub_path
from kiln.errors import ContextError


class LocalDirSource(ContextSource):
    """A directory already on this machine; nothing is copied."""

    def __init__(self, spec: ContextSpec) -> None:
        self._spec = spec
        url = spec.url
        self._path = Path(url[len("dir://") :] if url.lower().startswith("dir://") else url)

    def fetch(self, workdir: Path) -> Path:
        if not self._path.exists():
            raise ContextError(f"build context {str(self._path)!r} does not exist")
        if not self._path.is_dir():
            raise ContextError(
                f"build context {str(self._path)!r} is not a directory",
                hint="use tar://FILE for a tarball context",
            )
        root = self._path.resolve()
        # kaniko applies --context-sub-path only when --context has a scheme (dir:// included).
        return apply_sub_path(root, self._spec.sub_path) if self._spec.scheme else root
