"""Hostile layer tars and context tarballs: each ends in a LayerError/ContextError or a correct unpack, never a
traceback of another kind, a hang, a write outside the root, or memory that grows with a header's claimed size.

The archives are built member by member (path traversal, absolute names, deep paths, symlink loops and links out
of the root, hardlinks, device nodes, whiteouts, lying size fields) and then damaged (bytes flipped, cut short).
A directory beside the root, and one reached by absolute symlinks, are hashed before and after every input.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import tempfile
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiln.context.archive import extract_tar_gz
from kiln.errors import KilnError, LayerError
from kiln.fs.unpack import UnpackOptions, apply_layer
from reliability import stats
from reliability.fuzzing import (
    MEMBERS,
    MUTATIONS,
    TooSlow,
    build_tar,
    mutate,
    remove_tree,
    tally,
    time_limit,
    tree_digest,
)

SETTINGS = settings(
    max_examples=stats.examples(),
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
    database=None,
)


def _world() -> tuple[Path, Path, Path]:
    """(root to unpack into, a sibling directory that must not change, the whole sandbox)."""
    memory = (
        "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    )  # deep trees: mkdir/rmdir on tmpfs is cheap
    sandbox = Path(tempfile.mkdtemp(prefix="kiln-fuzz-", dir=memory))
    root = sandbox / "root"
    outside = sandbox / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("must not change")
    (outside / "dir").mkdir()
    return root, outside, sandbox


@pytest.mark.parametrize("compress", [False, True], ids=["tar", "tar.gz"])
def test_hostile_layers_never_escape_or_crash(compress: bool) -> None:
    with tally(f"layer tar ({'gzip' if compress else 'plain'})") as counted:

        @SETTINGS
        @given(
            members=st.lists(MEMBERS, min_size=1, max_size=8),
            flips=MUTATIONS,
            cut=st.one_of(st.none(), st.integers(min_value=0)),
        )
        def check(members: list, flips: list[tuple[int, int]], cut: int | None) -> None:
            root, outside, sandbox = _world()
            try:
                before = tree_digest(outside)
                raw = mutate(build_tar(members, outside), flips, cut)
                if compress:
                    raw = gzip.compress(raw, mtime=0)
                counted.inputs += 1
                try:
                    with time_limit(10):
                        apply_layer(root, io.BytesIO(raw), options=UnpackOptions(devices=True))
                except KilnError:
                    counted.rejected += 1
                except TooSlow as err:
                    counted.crashes.append(str(err))
                    raise
                except Exception as err:
                    counted.crashes.append(f"{type(err).__name__}: {err}")
                    raise
                assert tree_digest(outside) == before, "the layer changed files outside the root"
                assert {p.name for p in sandbox.iterdir()} == {"root", "outside"}
            finally:
                remove_tree(sandbox)

        check()
    assert counted.inputs > 0 and not counted.crashes


def test_hostile_context_tarballs_never_escape_or_crash() -> None:
    with tally("context tar.gz (tar:// scheme)") as counted:

        @SETTINGS
        @given(members=st.lists(MEMBERS, min_size=1, max_size=8), flips=MUTATIONS)
        def check(members: list, flips: list[tuple[int, int]]) -> None:
            root, outside, sandbox = _world()
            try:
                before = tree_digest(outside)
                raw = gzip.compress(mutate(build_tar(members, outside), flips, None), mtime=0)
                counted.inputs += 1
                try:
                    with time_limit(10):
                        extract_tar_gz(io.BytesIO(raw), root / "context", "tar://fuzz.tar.gz")
                except KilnError:
                    counted.rejected += 1
                except Exception as err:
                    counted.crashes.append(f"{type(err).__name__}: {err}")
                    raise
                assert tree_digest(outside) == before
                for path in (root / "context").rglob("*"):
                    assert not (path.is_char_device() or path.is_block_device()), "device node in a context"
            finally:
                remove_tree(sandbox)

        check()
    assert counted.inputs > 0 and not counted.crashes


def test_a_header_claiming_a_terabyte_does_not_allocate_it(tmp_path: Path) -> None:
    """Memory stays bounded by the chunk size, not by what a header claims (1 TiB here)."""
    header = tarfile.TarInfo("huge")
    header.size = 1 << 40
    raw = header.tobuf(format=tarfile.PAX_FORMAT) + b"\0" * (4 << 20)  # 4 MiB of data, then the stream ends
    tracemalloc.start()
    try:
        with time_limit(20), pytest.raises(LayerError):
            apply_layer(tmp_path / "root", io.BytesIO(raw))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"peak {peak} bytes for a 4 MiB stream"
    stats.record("fuzz", "1 TiB size header", inputs=1, rejected=1, crashes=0, peak_bytes=peak)


def test_symlink_loop_and_parent_escape_are_refused(tmp_path: Path) -> None:
    """Hand-written cases next to the generated ones: a loop, and a dir symlink used as a parent to climb out."""
    root, outside, sandbox = _world()
    try:
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            for name, target in (("loop", "loop2"), ("loop2", "loop"), ("up", "../outside")):
                info = tarfile.TarInfo(name)
                info.type, info.linkname = tarfile.SYMTYPE, target
                tar.addfile(info)
            info = tarfile.TarInfo("up/secret")
            data = b"overwritten"
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            info = tarfile.TarInfo("loop/x")
            tar.addfile(info, io.BytesIO(b""))
        before = tree_digest(outside)
        try:
            with time_limit(10):
                apply_layer(root, io.BytesIO(out.getvalue()))
        except KilnError:
            pass
        assert tree_digest(outside) == before
        assert (outside / "secret").read_text() == "must not change"
    finally:
        remove_tree(sandbox)
