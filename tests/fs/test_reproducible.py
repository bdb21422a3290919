"""Layer bytes depend only on the inputs: not on thread count, run, entry order or file times."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from kiln.fs.tarwriter import Add, write_layer


@pytest.fixture
def tree(tmp_path: Path) -> list[Add]:
    src = tmp_path / "src"
    src.mkdir()
    rng = random.Random(4)
    entries = []
    for i in range(6):  # ~5 MiB of half-compressible data: several fixed-size igzip blocks
        data = bytes(rng.getrandbits(8) for _ in range(1 << 16)) * 8 + b"\0" * (300 << 10)
        (src / f"blob{i}").write_bytes(data)
        entries.append(Add(f"/blob{i}", src / f"blob{i}"))
    return entries


def test_gzip_digest_is_the_same_for_any_thread_count(tmp_path: Path, tree: list[Add]) -> None:
    layers = [write_layer(tree, tmp_path / f"t{n}.gz", mtime=0, threads=n) for n in (1, 2, 3, 4)]
    assert layers[0].size > 1 << 20
    assert len({(layer.digest, layer.diff_id) for layer in layers}) == 1


def test_reproducible_ignores_file_times(tmp_path: Path, tree: list[Add]) -> None:
    first = write_layer(tree, tmp_path / "a.gz", mtime=1_700_000_000)
    for entry in tree:
        os.utime(entry.host, (12345, 12345))
    second = write_layer(list(reversed(tree)), tmp_path / "b.gz", mtime=1_700_000_000)
    unpinned = write_layer(tree, tmp_path / "c.gz")
    assert (first.digest, first.diff_id) == (second.digest, second.diff_id)
    assert unpinned.diff_id != first.diff_id  # without --reproducible the real mtimes are kept
