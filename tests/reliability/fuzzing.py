"""Helpers for the hostile-input properties: a per-input time limit, a tally of inputs and crashes, and
hostile tar archives built member by member.

Why a tally: docs/reliability.md reports how many inputs each property tried and how many crashed; hypothesis
does not say how many examples it ran, so each property counts its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import signal
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from hypothesis import strategies as st

from reliability import stats


class TooSlow(Exception):
    """An input that took longer than its limit: a hang or a pathological (exponential) case."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise TooSlow in the main thread when the block runs longer than ``seconds`` (SIGALRM timer)."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TooSlow(f"input took longer than {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Tally:
    """Counts inputs and unexpected outcomes of one property, and records them for the report."""

    name: str
    inputs: int = 0
    rejected: int = 0  # inputs that ended in a clear kiln error
    crashes: list[str] = field(default_factory=list)

    def record(self) -> None:
        stats.record("fuzz", self.name, inputs=self.inputs, rejected=self.rejected, crashes=len(self.crashes))


@contextlib.contextmanager
def tally(name: str) -> Iterator[Tally]:
    counted = Tally(name)
    try:
        yield counted
    finally:
        counted.record()


def tree_digest(directory: Path) -> str:
    """A digest of every name, type, mode, link target and content under ``directory`` (symlinks not followed)."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames.sort()
        for name in sorted([*dirnames, *filenames]):
            path = Path(dirpath) / name
            st_ = os.lstat(path)
            h.update(f"{path.relative_to(directory)}\0{st_.st_mode}\0".encode())
            if path.is_symlink():
                h.update(os.readlink(path).encode())
            elif path.is_file():
                h.update(path.read_bytes())
    return h.hexdigest()


def remove_tree(top: Path) -> None:
    """Delete a tree of any depth without recursion (shutil.rmtree recurses once per level: a 1000-deep tree
    left in tmp_path makes pytest's own cleanup fail with RecursionError)."""
    stack: list[tuple[str, bool]] = [(os.fspath(top), False)]
    while stack:
        path, emptied = stack.pop()
        if emptied:
            os.rmdir(path)
            continue
        stack.append((path, True))
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, False))
                else:
                    os.unlink(entry.path)


# -- hostile tar members ---------------------------------------------------------------------------------------
_PARTS = st.sampled_from(
    ["a", "b", "etc", "..", ".", "", "deep" * 8, ".wh.a", ".wh..wh..opq", ".wh.", "x" * 255, "ü", "-"]
)
NAMES = st.one_of(
    st.lists(_PARTS, min_size=1, max_size=6).map("/".join),
    st.lists(_PARTS, min_size=1, max_size=4).map(lambda p: "/" + "/".join(p)),
    st.integers(min_value=40, max_value=300).map(lambda n: "/".join(["d"] * n)),  # deep paths
    st.text(min_size=1, max_size=40),
)
TARGETS = st.one_of(
    NAMES,
    st.sampled_from(
        ["/", "..", "../..", "../../outside", "OUTSIDE", "OUTSIDE/secret", "/proc/self/root", "a"]
    ),
)


@dataclass(frozen=True)
class Member:
    name: str
    kind: bytes
    target: str
    size: int
    mode: int
    declared_size: int | None  # a header that lies about the size (data shorter or longer)


ENTRY_TYPES = (tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE)
ENTRY_TYPES += (tarfile.BLKTYPE, tarfile.FIFOTYPE, b"x", b"Z")  # unknown types too

MEMBERS = st.builds(
    Member,
    name=NAMES,
    kind=st.sampled_from(ENTRY_TYPES),
    target=TARGETS,
    size=st.integers(min_value=0, max_value=3000),
    mode=st.sampled_from([0o644, 0o755, 0o4755, 0o000, 0o7777, 0o1777]),
    declared_size=st.one_of(st.none(), st.integers(min_value=0, max_value=1 << 40)),
)


def build_tar(members: list[Member], outside: Path) -> bytes:
    """A tar of ``members`` (``OUTSIDE`` in link targets becomes the real path of a directory outside the root)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.type = m.kind
            info.mode = m.mode
            info.linkname = m.target.replace("OUTSIDE", str(outside))
            data = b""
            if m.kind == tarfile.REGTYPE:
                data = os.urandom(m.size)
            info.size = len(data)
            if m.kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                info.devmajor, info.devminor = 1, 3
            try:
                tar.addfile(info, io.BytesIO(data) if data else None)
            except (ValueError, tarfile.TarError, UnicodeError):
                continue  # not representable as a tar header: the writer refuses it, so no reader meets it
    raw = bytearray(out.getvalue())
    # lie about sizes in place: rewrite the octal size field of each regular header that asks for it
    offset = 0
    for m in members:
        if offset + 512 > len(raw):
            break
        if m.declared_size is not None and raw[offset + 156 : offset + 157] == tarfile.REGTYPE:
            field_ = f"{m.declared_size:011o}".encode()[-11:] + b"\0"
            raw[offset + 124 : offset + 136] = field_
            checksum = sum(raw[offset : offset + 148]) + 8 * 32 + sum(raw[offset + 156 : offset + 512])
            raw[offset + 148 : offset + 156] = f"{checksum:06o}".encode() + b"\0 "
        offset += 512
    return bytes(raw)


MUTATIONS = st.lists(
    st.tuples(st.integers(min_value=0, max_value=1 << 16), st.integers(min_value=0, max_value=255)),
    max_size=6,
)


def mutate(raw: bytes, flips: list[tuple[int, int]], cut: int | None) -> bytes:
    data = bytearray(raw)
    for position, value in flips:
        if data:
            data[position % len(data)] = value
    if cut is not None and data:
        data = data[: cut % (len(data) + 1)]
    return bytes(data)
