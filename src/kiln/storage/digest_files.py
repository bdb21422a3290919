"""kaniko's digest outputs: ``--digest-file`` and the two image-name-with-digest files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kiln.digest import Digest
from kiln.errors import KilnError
from kiln.reference import Reference
from kiln.storage.atomic import atomic_write


def write_digest_file(target: str, digest: Digest, put: object | None = None) -> None:
    """``sha256:<hex>`` with no trailing newline; an ``https://`` target receives it by HTTP PUT."""
    data = str(digest).encode()
    if target.startswith(("https://", "http://")):
        import requests

        try:
            resp = requests.put(target, data=data, timeout=60)
        except requests.RequestException as err:
            raise KilnError(
                f"could not PUT the digest to {target.split('?')[0]}: {type(err).__name__}"
            ) from None
        if resp.status_code >= 300:
            raise KilnError(f"PUT of the digest to {target.split('?')[0]} failed: HTTP {resp.status_code}")
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
