"""kaniko's digest outputs: ``--digest-file`` and the two image-name-with-digest files.

kaniko fills both name files from one shared buffer: every line carries the tag when
``--image-name-tag-with-digest-file`` is set, so with both flags both files hold ``repo:tag@digest``
lines. :func:`write_image_name_files` reproduces that; scripts written against kaniko read the same text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from kiln.digest import Digest
from kiln.errors import KilnError, UsageError
from kiln.reference import Reference
from kiln.storage.atomic import atomic_write

_PUT_SCHEMES = ("https://", "http://")


def write_digest_file(target: str, digest: Digest) -> None:
    """``sha256:<hex>`` with no trailing newline; an ``https://`` target receives it by HTTP PUT.

    kaniko PUTs only to ``https://`` (a pre-signed bucket URL) and ignores the answer; kiln also PUTs to
    ``http://`` and fails when the server refuses, since a digest that silently went nowhere breaks the
    pipeline step that reads it. The URL's query (a signature) is never shown.
    """
    data = str(digest).encode()
    if target.startswith(_PUT_SCHEMES):
        import requests

        shown = target.split("?")[0]
        try:
            resp = requests.put(target, data=data, headers={"Content-Type": "text/plain"}, timeout=60)
        except requests.RequestException as err:
            raise KilnError(f"could not PUT the digest to {shown}: {type(err).__name__}") from None
        if resp.status_code >= 300:
            raise KilnError(f"PUT of the digest to {shown} failed: HTTP {resp.status_code}")
        return
    atomic_write(Path(target), data)


def kaniko_repository_name(ref: Reference) -> str:
    """The repository as kaniko (go-containerregistry) spells it: Docker Hub is ``index.docker.io``."""
    return f"{ref.api_host}/{ref.repository}"


def image_names_with_digest(destinations: Sequence[Reference], digest: Digest, with_tag: bool) -> str:
    """One line per destination: ``repo@digest`` or ``repo:tag@digest``, names spelled as kaniko does."""
    lines = []
    for ref in destinations:
        name = kaniko_repository_name(ref)
        if with_tag:
            name = f"{name}:{ref.tag or 'latest'}"
        lines.append(f"{name}@{digest}\n")
    return "".join(lines)


def write_image_name_file(
    path: str, destinations: Sequence[Reference], digest: Digest, with_tag: bool
) -> None:
    atomic_write(Path(path), image_names_with_digest(destinations, digest, with_tag).encode())


def write_image_name_files(
    name_file: str | None, tag_file: str | None, destinations: Sequence[Reference], digest: Digest
) -> None:
    """``--image-name-with-digest-file`` and ``--image-name-tag-with-digest-file`` exactly as kaniko."""
    if not name_file and not tag_file:
        return
    if not destinations:
        raise KilnError(
            "the image name digest files need a destination", hint="add --destination, or drop the file flags"
        )
    text = image_names_with_digest(destinations, digest, with_tag=bool(tag_file)).encode()
    for path in (name_file, tag_file):
        if path:
            atomic_write(Path(path), text)


MAX_DIGEST_FILE_BYTES = 1 << 20


@dataclass(frozen=True)
class DigestRecord:
    """An image digest read back from a digest file: ``name`` is None for a bare ``--digest-file``."""

    digest: Digest
    name: Reference | None
    origin: str  # file[:line], for error messages


def _files(path: Path) -> Iterator[Path]:
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not found:
            raise UsageError(
                f"no digest files in {path}", hint="did the per-platform jobs' artifacts arrive?"
            )
        yield from found
    elif path.is_file():
        yield path
    else:
        raise UsageError(
            f"digest file {path} does not exist",
            hint="check that the per-platform job wrote it and its artifact was downloaded here",
        )


def _parse_line(text: str, origin: str) -> DigestRecord:
    if "@" not in text:
        try:
            return DigestRecord(Digest.parse(text), None, origin)
        except KilnError:
            raise UsageError(
                f"{origin}: {text[:80]!r} is not a digest",
                hint="expected sha256:<hex> (--digest-file) or repo[:tag]@sha256:<hex> lines",
            ) from None
    try:
        ref = Reference.parse(text)
    except KilnError as err:
        raise UsageError(f"{origin}: {err.message}", hint=err.hint) from None
    if ref.digest is None:
        raise UsageError(f"{origin}: {text[:80]!r} names no digest")
    return DigestRecord(ref.digest, ref, origin)


def read_digest_records(paths: Sequence[str]) -> list[DigestRecord]:
    """Every digest in the given files or directories (searched recursively, dot-files skipped).

    Reads what kaniko/kiln write: ``--digest-file`` (one ``sha256:<hex>``, no newline) and the
    ``--image-name[-tag]-with-digest-file`` lines (``repo[:tag]@sha256:<hex>``). Any other content is an
    error naming the file and line, so a stray artifact is never silently left out of an index.
    """
    records: list[DigestRecord] = []
    for given in paths:
        for file in _files(Path(given)):
            try:
                with file.open("rb") as f:
                    data = f.read(MAX_DIGEST_FILE_BYTES + 1)
            except OSError as err:
                raise UsageError(f"cannot read digest file {file}: {err.strerror or err}") from None
            if len(data) > MAX_DIGEST_FILE_BYTES:
                raise UsageError(f"{file} is too large to be a digest file")
            try:
                text = data.decode()
            except UnicodeDecodeError:
                raise UsageError(f"{file} is not a digest file (not text)") from None
            lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
            if not lines:
                raise UsageError(
                    f"digest file {file} is empty", hint="the build that writes it may have failed"
                )
            records.extend(_parse_line(line, f"{file}:{n}") for n, line in lines)
    return records
