"""The layer cache end to end: real builds (chroot RUN), the real registry fixture, an ``oci:`` layout.

Each RUN writes random bytes into its layer, so a RUN that ran again can never give the same layer:
equal layer digests between two builds prove the step was not executed; the "using cached layer" /
"no cached layer" log lines say which steps hit.
"""

from __future__ import annotations

import http.server
import json
import logging
import tarfile
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from e2e.helpers import options_for
from fixtures.images import PushedImage
from fixtures.registry import RegistryServer
from kiln.build.executor import build

pytestmark = pytest.mark.privileged

RANDOM = "head -c 16 /dev/urandom | od -An -tx1"


def _dockerfile(base: str, second: str = "r2") -> str:
    return f"""FROM {base}
RUN {RANDOM} > /r1
COPY a.txt /a.txt
ARG V=1
RUN {RANDOM} > /{second}; echo $V >> /{second}
RUN cat /a.txt > /r3; {RANDOM} >> /r3
ENV DONE=yes
"""


def _context(tmp_path: Path, dockerfile: str, a: str = "one\n") -> Path:
    context = tmp_path / "ctx"
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text(dockerfile)
    (context / "a.txt").write_text(a)
    return context


def _layers(layout: Path) -> list[str]:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((layout / "blobs" / "sha256" / digest).read_text())
    return [layer["digest"] for layer in manifest["layers"]]


def _config(layout: Path) -> dict[str, Any]:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((layout / "blobs" / "sha256" / digest).read_text())
    config = manifest["config"]["digest"].split(":")[1]
    result: dict[str, Any] = json.loads((layout / "blobs" / "sha256" / config).read_text())
    return result


@contextmanager
def _capturing(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Attach caplog to the ``kiln`` logger itself: the CLI tests may have set it not to propagate."""
    logger = logging.getLogger("kiln")
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # each record reaches caplog once
    try:
        yield
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


class Builder:
    """Runs builds of one context against one cache and counts hits and misses per build."""

    def __init__(
        self, tmp_path: Path, registry: RegistryServer, caplog: pytest.LogCaptureFixture, cache_repo: str
    ):
        self.tmp = tmp_path
        self.registry = registry
        self.caplog = caplog
        self.cache_repo = cache_repo
        self.runs = 0

    def build(self, context: Path, **extra: Any) -> tuple[list[str], int, int, str]:
        """(layer digests, hits, misses, image digest)."""
        self.runs += 1
        layout = self.tmp / f"out-{self.runs}"
        self.caplog.clear()
        options = options_for(
            context,
            self.tmp / "work",
            self.registry.host,
            None,
            oci_layout_path=str(layout),
            cache=True,
            cache_repo=self.cache_repo,
            reproducible=True,
            environ={},
            **extra,
        )
        with _capturing(self.caplog):
            result = build(options)
        hits = sum("using cached layer" in r.getMessage() for r in self.caplog.records)
        misses = sum("no cached layer" in r.getMessage() for r in self.caplog.records)
        return _layers(layout), hits, misses, str(result.digest)


@pytest.fixture(params=["registry", "oci"])
def builder(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    registry_http: RegistryServer,
    caplog: pytest.LogCaptureFixture,
) -> Builder:
    if request.param == "registry":
        repo = f"{registry_http.host}/cache-{tmp_path.name.lower()}"
    else:
        repo = f"oci:{tmp_path / 'cache-layout'}"
    return Builder(tmp_path, registry_http, caplog, repo)


def test_identical_rebuild_runs_no_run_step(builder: Builder, busybox_image: PushedImage) -> None:
    context = _context(builder.tmp, _dockerfile(busybox_image.ref))
    cold, hits, misses, digest = builder.build(context)
    assert (hits, misses) == (0, 3)
    warm, hits, misses, digest2 = builder.build(context)
    assert (hits, misses) == (3, 0)
    assert warm == cold  # random bytes in every RUN layer: equal layers mean no RUN ran again
    assert digest2 == digest  # --reproducible: the very same image
    assert _config(builder.tmp / "out-2")["config"]["Env"][-1] == "DONE=yes"


def test_changes_miss_exactly_the_steps_they_should(builder: Builder, busybox_image: PushedImage) -> None:
    context = _context(builder.tmp, _dockerfile(busybox_image.ref))
    cold, _, _, _ = builder.build(context)
    base = len(cold) - 4  # busybox's layers, then r1, a.txt, r2, r3

    (context / "a.txt").write_text("two\n")  # COPY source changed: r1 hits, r2 and r3 run again
    layers, hits, misses, _ = builder.build(context)
    assert (hits, misses) == (1, 2)
    assert layers[base] == cold[base]
    assert all(layers[i] != cold[i] for i in range(base + 1, base + 4))

    (context / "a.txt").write_text("one\n")  # back to the first sources: everything is cached again
    layers, hits, misses, _ = builder.build(context)
    assert (hits, misses, layers) == (3, 0, cold)

    layers, hits, misses, _ = builder.build(context, build_args=(("V", "2"),))  # ARG V is declared after r1
    assert (hits, misses) == (1, 2)
    assert layers[base : base + 2] == cold[base : base + 2] and layers[base + 2] != cold[base + 2]

    (context / "Dockerfile").write_text(
        _dockerfile(busybox_image.ref, second="r2b")
    )  # an earlier instruction
    layers, hits, misses, _ = builder.build(context)
    assert (hits, misses) == (1, 2)
    assert layers[base] == cold[base] and layers[base + 3] != cold[base + 3]


def test_expired_ttl_misses(builder: Builder, busybox_image: PushedImage) -> None:
    context = _context(builder.tmp, _dockerfile(busybox_image.ref))
    cold, _, _, _ = builder.build(context)
    layers, hits, misses, _ = builder.build(context, cache_ttl=timedelta(0))
    assert (hits, misses) == (0, 3)
    assert layers[-3:] != cold[-3:]


class _Failing(http.server.BaseHTTPRequestHandler):
    """A stand-in for a broken cache registry (no real registry answers 500 on demand)."""

    status = 500

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        self.send_response(self.status)
        if self.status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="cache"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _answer


@pytest.fixture(params=[500, 401])
def failing_registry(request: pytest.FixtureRequest) -> Iterator[str]:
    handler = type("Handler", (_Failing,), {"status": request.param})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_broken_cache_registry_still_builds_with_a_warning(
    tmp_path: Path,
    registry_http: RegistryServer,
    busybox_image: PushedImage,
    failing_registry: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from kiln.registry.options import RegistryOptions

    context = _context(tmp_path, _dockerfile(busybox_image.ref))
    options = options_for(
        context,
        tmp_path / "work",
        registry_http.host,
        None,
        oci_layout_path=str(tmp_path / "out"),
        cache=True,
        cache_repo=f"{failing_registry}/cache",
        environ={},
    )
    from dataclasses import replace

    options = replace(
        options, registry=RegistryOptions(insecure_registries=(registry_http.host, failing_registry))
    )
    with _capturing(caplog):
        build(options)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("layer cache" in w and "building without the cache" in w for w in warnings)
    assert len(_layers(tmp_path / "out")) >= 4


def test_copy_layers_are_cached_by_source_content(builder: Builder, busybox_image: PushedImage) -> None:
    dockerfile = f"FROM {busybox_image.ref}\nCOPY a.txt b/ /app/\nRUN {RANDOM} > /r\n"
    context = _context(builder.tmp, dockerfile)
    (context / "b").mkdir()
    (context / "b" / "x").write_text("x\n")
    (context / ".dockerignore").write_text("b/*.log\n")
    cold, hits, misses, digest = builder.build(context, cache_copy_layers=True)
    assert (hits, misses) == (0, 2)
    warm, hits, misses, digest2 = builder.build(context, cache_copy_layers=True)
    assert (hits, misses, warm, digest2) == (2, 0, cold, digest)

    (context / "b" / "debug.log").write_text("ignored\n")  # .dockerignore'd: not copied, not keyed
    layers, hits, misses, _ = builder.build(context, cache_copy_layers=True)
    assert (hits, misses, layers) == (2, 0, cold)

    (context / "b" / "x").chmod(0o700)  # a mode change is a different COPY, and so a different RUN parent
    layers, hits, misses, _ = builder.build(context, cache_copy_layers=True)
    assert (hits, misses) == (0, 2)
    assert layers[-2] != cold[-2] and layers[-1] != cold[-1]


def test_push_with_the_default_cache_repo(
    tmp_path: Path,
    registry_http: RegistryServer,
    busybox_image: PushedImage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No --cache-repo: the cache is <destination>/cache; a hit's layer (from that repo) is pushed too."""
    context = _context(tmp_path, _dockerfile(busybox_image.ref))
    dest = f"{registry_http.host}/cached-app-{tmp_path.name.lower()}:v1"
    digests = []
    for _ in range(2):
        caplog.clear()
        options = options_for(
            context, tmp_path / "work", registry_http.host, dest, cache=True, reproducible=True, environ={}
        )
        with _capturing(caplog):
            digests.append(str(build(options).digest))
    assert any("using cached layer" in r.getMessage() for r in caplog.records)
    assert digests[0] == digests[1]
    url = f"http://{registry_http.host}/v2/cached-app-{tmp_path.name.lower()}/cache/tags/list"
    with urllib.request.urlopen(url, timeout=10) as resp:
        tags = json.loads(resp.read())["tags"]
    assert len(tags) == 3 and all(len(t) == 64 for t in tags)  # one entry per RUN, tagged by key hex


def test_copy_parents_is_keyed_by_matches_and_parent_dirs(
    builder: Builder, busybox_image: PushedImage
) -> None:
    dockerfile = f"FROM {busybox_image.ref}\nCOPY --parents ./src/./pkg/**/*.txt /app/\nRUN {RANDOM} > /r\n"
    context = _context(builder.tmp, dockerfile)
    (context / "src" / "pkg" / "deep").mkdir(parents=True)
    (context / "src" / "pkg" / "deep" / "a.txt").write_text("a\n")
    (context / "src" / "pkg" / "other.md").write_text("not matched\n")
    cold, hits, misses, _ = builder.build(context, cache_copy_layers=True)
    assert (hits, misses) == (0, 2)
    warm, hits, misses, _ = builder.build(context, cache_copy_layers=True)
    assert (hits, misses, warm) == (2, 0, cold)

    (context / "src" / "pkg" / "other.md").write_text("changed, but not copied\n")
    layers, hits, misses, _ = builder.build(context, cache_copy_layers=True)
    assert (hits, misses, layers) == (2, 0, cold)

    (context / "src" / "pkg" / "deep").chmod(0o750)  # a recreated parent's mode is part of the layer
    layers, hits, misses, _ = builder.build(context, cache_copy_layers=True)
    assert (hits, misses) == (0, 2)
    assert layers[-2] != cold[-2]

    (context / "src" / "pkg" / "new.txt").write_text("a new match\n")
    again, hits, misses, _ = builder.build(context, cache_copy_layers=True)
    assert (hits, misses) == (0, 2)
    assert again[-2] != layers[-2]


def _file_in_image(layout: Path, path: str) -> bytes:
    """``path``'s content in the image's last layer that has it (no whiteouts in these images)."""
    found = b""
    for digest in _layers(layout):
        with tarfile.open(layout / "blobs" / "sha256" / digest.split(":")[1]) as tar:
            for member in tar.getmembers():
                if member.name.lstrip("./") == path.lstrip("/") and member.isfile():
                    found = tar.extractfile(member).read()  # type: ignore[union-attr]
    return found


def test_cached_layers_are_on_disk_for_the_steps_that_read_them(
    builder: Builder, busybox_image: PushedImage
) -> None:
    """Hits are applied only when a later step needs the files: a RUN that misses after them, a COPY --from.

    ``ENV`` between the hits needs no files; the RUN that misses reads both cached files, so ``/both`` proves
    they were on disk when it ran; the second stage copies from a stage whose every step hit.
    """
    dockerfile = f"""FROM {busybox_image.ref} AS build
RUN {RANDOM} > /r1
ENV X=1
RUN {RANDOM} > /r2
ARG V=1
RUN cat /r1 /r2 > /both && echo $V >> /both
FROM {busybox_image.ref}
COPY --from=build /both /both
"""
    context = _context(builder.tmp, dockerfile)
    _, hits, misses, _ = builder.build(context)
    assert (hits, misses) == (0, 3)
    first = _file_in_image(builder.tmp / "out-1", "/both")
    assert first.endswith(b"\n1\n") and len(first) > 40

    _, hits, misses, _ = builder.build(context)  # all hit; COPY --from needs the build stage's files
    assert (hits, misses) == (3, 0)
    assert _file_in_image(builder.tmp / "out-2", "/both") == first
    assert any("applying 3 cached layers" in r.getMessage() for r in builder.caplog.records)

    _, hits, misses, _ = builder.build(context, build_args=(("V", "2"),))  # r1, r2 hit; the last RUN runs
    assert (hits, misses) == (2, 1)
    assert _file_in_image(builder.tmp / "out-3", "/both") == first[:-2] + b"2\n"


def test_a_rebuild_that_hits_throughout_applies_no_cached_layer(
    builder: Builder, busybox_image: PushedImage
) -> None:
    dockerfile = f"FROM {busybox_image.ref}\nRUN {RANDOM} > /r1\nLABEL a=b\nRUN {RANDOM} > /r2\n"
    context = _context(builder.tmp, dockerfile)
    cold, _, _, digest = builder.build(context)
    warm, hits, misses, digest2 = builder.build(context)
    assert (hits, misses, warm, digest2) == (2, 0, cold, digest)
    assert not any("cached layers" in r.getMessage() for r in builder.caplog.records)
    assert _file_in_image(builder.tmp / "out-2", "/r2") == _file_in_image(builder.tmp / "out-1", "/r2")
