"""Running the executor as a child process and collecting what it left behind.

Why a child process: the executor owns exit codes, log formatting and secret scrubbing; the adapter
only needs its stderr tail (for error annotations) and the digest files it wrote.
"""

from __future__ import annotations

import collections
import json
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from kiln.errors import KilnError, UsageError

STDERR_TAIL = 200


@dataclass(frozen=True)
class ProvenanceRef:
    """One repository's provenance attestation, from kiln's ``--provenance-refs-file``.

    ``artifact`` is the attestation manifest (``repo@sha256:...``); ``tag`` the referrers fallback tag
    listing it (``repo:sha256-<image hex>``), or '' when the registry lists it through the referrers API.
    """

    artifact: str
    tag: str
    via: str

    def as_dict(self) -> dict[str, str]:
        return {"artifact": self.artifact, "tag": self.tag, "via": self.via}


@dataclass(frozen=True)
class BuildOutcome:
    """The executor's exit code, its last stderr lines, and the image (and provenance) it reported."""

    exit_code: int
    stderr_tail: tuple[str, ...]
    digest: str = ""
    image_refs: tuple[str, ...] = ()
    provenance: tuple[ProvenanceRef, ...] = ()

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def default_executor(environ: Mapping[str, str]) -> list[str]:
    """``$KILN_EXECUTOR`` (shell words, e.g. ``sudo -E executor``), else ``/kaniko/executor`` (kiln's image), else ``executor`` on PATH."""
    if environ.get("KILN_EXECUTOR", "").strip():
        return shlex.split(environ["KILN_EXECUTOR"])
    if Path("/kaniko/executor").is_file():
        return ["/kaniko/executor"]
    found = shutil.which("executor", path=environ.get("PATH"))
    if found is None:
        raise UsageError("cannot find kiln's executor", hint="install kiln or set KILN_EXECUTOR")
    return [found]


def run_executor(
    argv: Sequence[str], environ: Mapping[str, str], echo: TextIO | None = None
) -> tuple[int, tuple[str, ...]]:
    """Run ``argv``, passing stderr through to ``echo`` line by line; exit code and the stderr tail."""
    out = echo if echo is not None else sys.stderr
    tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
    try:
        proc = subprocess.Popen(
            list(argv), env=dict(environ), stderr=subprocess.PIPE, text=True, errors="replace", bufsize=1
        )
    except OSError as err:
        raise KilnError(f"cannot start the executor {argv[0]}: {err.strerror}") from None
    assert proc.stderr is not None
    with proc.stderr:
        for line in proc.stderr:
            out.write(line)
            out.flush()
            tail.append(line.rstrip("\n"))
    return proc.wait(), tuple(tail)


def read_digest(path: Path) -> str:
    """The ``--digest-file`` contents, or '' when the executor did not write it."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def read_image_refs(path: Path) -> tuple[str, ...]:
    """The ``--image-name-with-digest-file`` lines (``repo@sha256:...``)."""
    try:
        return tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    except FileNotFoundError:
        return ()


def read_provenance_refs(path: Path) -> tuple[ProvenanceRef, ...]:
    """The ``attached`` entries of kiln's ``--provenance-refs-file``; none when it was not written."""
    try:
        data = json.loads(path.read_text())
        return tuple(
            ProvenanceRef(str(a["artifact"]), str(a.get("tag") or ""), str(a["via"]))
            for a in data["attached"]
        )
    except FileNotFoundError:
        return ()
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise KilnError(f"cannot read the executor's provenance note {path}: {err}") from None


def image_id_from_layout(layout: Path) -> str:
    """The config digest (Docker's image ID) of the image in an OCI layout, or ''.

    Entries with an ``artifactType`` are attestations kiln listed next to the image (provenance), not it.
    """
    try:
        index = json.loads((layout / "index.json").read_text())
        images = [m for m in index["manifests"] if not m.get("artifactType")]
        manifest_digest = images[-1]["digest"]
        algo, hex_ = manifest_digest.split(":", 1)
        manifest = json.loads((layout / "blobs" / algo / hex_).read_text())
        return str(manifest["config"]["digest"])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return ""


def image_id_from_tarball(tarball: Path) -> str:
    """The config digest of a docker-archive tarball's image (from its manifest.json), or ''."""
    import tarfile

    try:
        with tarfile.open(tarball) as tar:
            member = tar.extractfile("manifest.json")
            if member is None:
                return ""
            entries = json.load(member)
        config = str(entries[0]["Config"])
    except (OSError, ValueError, KeyError, IndexError, TypeError, tarfile.TarError):
        return ""
    name = config.removeprefix("blobs/").removesuffix(".json")
    algo, _, hex_ = name.replace("/", ":", 1).partition(":")
    return f"{algo}:{hex_}" if hex_ else (f"sha256:{algo}" if len(algo) == 64 else "")
