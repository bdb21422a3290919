"""``tar://path.tar.gz`` and ``tar://stdin``: a gzip-compressed tar on disk or on standard input (kaniko's)."""

from __future__ import annotations

from pathlib import Path

from kiln.context.archive import ArchiveSource, copy_stream, extract_tar_gz
from kiln.context.base import ContextSpec, apply_sub_path
from kiln.errors import ContextError


class TarSource(ArchiveSource):
    """A local ``.tar.gz`` is extracted in place; stdin is spooled to disk first (it cannot be re-read)."""

    def __init__(self, spec: ContextSpec) -> None:
        self._spec = spec
        self._target = spec.url[len("tar://") :]

    def fetch(self, workdir: Path) -> Path:
        if self._target == "stdin":
            stdin = self._spec.stdin
            if stdin is None:
                raise ContextError("tar://stdin: no standard input was given to read the context from")
            return self.spooled(workdir, "tar://stdin", lambda sink: copy_stream(stdin, sink))
        path = Path(self._target)
        if not path.is_file():
            raise ContextError(
                f"build context tarball {self._target!r} does not exist or is not a file",
                hint="give tar://PATH/TO/context.tar.gz or tar://stdin",
            )
        root = workdir / "context"
        with open(path, "rb") as source:
            self.archive_digest = extract_tar_gz(source, root, f"tar://{self._target}")
        return apply_sub_path(root, self._spec.sub_path)
