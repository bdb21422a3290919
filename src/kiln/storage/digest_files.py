"""kaniko's digest outputs: ``--digest-file`` and the two image-name-with-digest files.

kaniko fills both name files from one shared buffer: every line carries the tag when
``--image-name-tag-with-digest-file`` is set, so with both flags both files hold ``repo:tag@digest``
lines. :func:`write_image_name_files` reproduces that; scripts written against kaniko read the same text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kiln.digest import Digest
from kiln.errors import KilnError
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
