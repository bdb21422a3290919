"""Base layers 2..n are downloaded while earlier ones are applied; the order of application is kept."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import IO

import pytest

from fixtures.images import Entry, _finish_layout, _write_image, host_arch, push_layout
from fixtures.registry import RegistryServer
from kiln.build.rootfs import StageRoot
from kiln.digest import Digest, VerifyingReader
from kiln.fs.ignore import IgnoreList
from kiln.fs.kept import KeptBlobs
from kiln.fs.prefetch import prefetch
from kiln.oci import Platform
from kiln.reference import Reference
from kiln.registry import pull
from registry.helpers import client_for


def test_later_layers_download_concurrently_and_come_back_in_order(tmp_path: Path) -> None:
    started = threading.Barrier(3, timeout=30)  # layers 2, 3 and 4 must all be in flight at once

    def opener(i: int) -> IO[bytes]:
        if i > 0:
            started.wait()  # a sequential download would never get past this
        return io.BytesIO(b"layer %d" % i)

    openers = [lambda i=i: opener(i) for i in range(4)]
    with prefetch(openers, tmp_path / "scratch", workers=3) as ahead:
        assert [o().read() for o in ahead[1:]] == [b"layer 1", b"layer 2", b"layer 3"]
        assert ahead[0] is openers[0]  # the first layer streams straight from its source
    assert not (tmp_path / "scratch").exists()


def test_a_layer_over_the_size_bound_streams_in_its_turn(tmp_path: Path) -> None:
    opened: list[int] = []

    def opener(i: int) -> IO[bytes]:
        opened.append(i)
        return io.BytesIO(b"layer %d" % i)

    openers = [lambda i=i: opener(i) for i in range(3)]
    with prefetch(openers, tmp_path / "s", sizes=[10, 10_000, 10], max_size=1000) as ahead:
        assert ahead[1] is openers[1]  # not fetched ahead: it will stream when applied
        assert ahead[2]().read() == b"layer 2"
    assert 1 not in opened


def test_a_failed_download_is_fetched_again_from_the_source(tmp_path: Path) -> None:
    calls: list[int] = []

    def flaky() -> IO[bytes]:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("connection reset")
        return io.BytesIO(b"second try")

    with prefetch([lambda: io.BytesIO(b"first"), flaky], tmp_path / "s") as ahead:
        assert ahead[1]().read() == b"second try"
        assert ahead[1]().read() == b"second try"  # a retry of the layer goes to the source too
    assert len(calls) == 3


def test_scratch_is_removed_when_the_unpack_fails(tmp_path: Path) -> None:
    openers = [lambda: io.BytesIO(b"a"), lambda: io.BytesIO(b"b")]
    with pytest.raises(RuntimeError), prefetch(openers, tmp_path / "s"):
        raise RuntimeError("unpack failed")
    assert not (tmp_path / "s").exists()


def test_a_multi_layer_base_from_a_registry_unpacks_in_order(
    tmp_path: Path, registry_http: RegistryServer
) -> None:
    layers = [
        [Entry("etc/", directory=True), Entry("etc/a", b"from layer 1"), Entry("etc/b", b"b")],
        [Entry("etc/a", b"from layer 2"), Entry("etc/.wh.b", b"")],
        [Entry("etc/c", b"from layer 3", mode=0o600)],
    ]
    layout = tmp_path / "layout"
    desc, info = _write_image(layout, layers, arch=host_arch(), variant=None, cmd=[])
    _finish_layout(layout, desc)
    pushed = push_layout(info, registry_http, "prefetch/three:latest")
    with client_for(registry_http) as client:
        image = pull(client, Reference.parse(pushed.ref), Platform.host())
        root = StageRoot(tmp_path / "stage", IgnoreList(()), "full")
        root.unpack(image.layers())
    etc = root.base / "etc"
    assert (etc / "a").read_bytes() == b"from layer 2"
    assert not (etc / "b").exists()
    assert (etc / "c").read_bytes() == b"from layer 3" and (etc / "c").stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "stage" / "prefetch").exists()


def test_kept_layers_are_teed_when_streamed_and_linked_when_fetched_ahead(tmp_path: Path) -> None:
    blobs = [b"first layer" * 100, b"second layer" * 100, b"third, too big to fetch ahead" * 100]
    digests = [Digest.of_bytes(b) for b in blobs]
    opened: list[int] = []

    def opener(i: int) -> IO[bytes]:
        opened.append(i)
        return VerifyingReader(io.BytesIO(blobs[i]), digests[i], len(blobs[i]))  # type: ignore[return-value]

    kept = KeptBlobs(tmp_path / "kept")
    openers = [lambda i=i: opener(i) for i in range(3)]
    sizes = [len(b) for b in blobs]
    with prefetch(
        openers, tmp_path / "s", sizes=sizes, max_size=2000, keep=kept.for_layers(digests)
    ) as ahead:
        for open_layer, blob in zip(ahead, blobs, strict=True):
            with open_layer() as stream:
                assert stream.read() == blob
    for digest, blob in zip(digests, blobs, strict=True):
        path = kept.path(digest)
        assert path is not None and path.read_bytes() == blob
    assert sorted(opened) == [0, 1, 2]  # each fetched once: the kept copies cost no second download
