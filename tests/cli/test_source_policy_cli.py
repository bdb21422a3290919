"""The source policy through ``executor`` and ``warmer``: refused before any request, allowed ones build.

The registry is the real loopback one; a logging proxy (tests/reliability/faultproxy.py, armed with no
fault) sits in front of it and every image is named through the proxy, so ``proxy.log`` is the list of
requests that reached the registry. A refusal must leave it empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from fixtures.images import PushedImage
from fixtures.registry import RegistryServer
from fixtures.tools import skopeo_inspect
from kiln.cli.executor import executor
from kiln.cli.main import kiln
from kiln.cli.warmer import warmer
from reliability.faultproxy import FaultProxy

pytestmark = pytest.mark.privileged  # unpacking busybox's root-owned files


@pytest.fixture
def proxy(registry_http: RegistryServer, busybox_image: PushedImage) -> Iterator[FaultProxy]:
    with FaultProxy(registry_http.host) as running:
        yield running


def _context(tmp_path: Path, dockerfile: str) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "hello.txt").write_text("hello\n")
    (ctx / "Dockerfile").write_text(dockerfile)
    return ctx


def _run(command: object, args: list[str]) -> Result:
    return CliRunner().invoke(command, [*args, "--log-format", "text"])  # type: ignore[arg-type]


def _error_line(result: Result) -> str:
    assert result.exit_code != 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def _build_args(tmp_path: Path, ctx: Path, proxy: FaultProxy, registry: RegistryServer) -> list[str]:
    return ["-c", str(ctx), "--kaniko-dir", str(tmp_path / "k"), "--insecure-registry", proxy.host,
            "--insecure-registry", registry.host]  # fmt: skip


def test_denied_base_is_refused_before_any_request_and_an_allowed_one_builds(
    tmp_path: Path, proxy: FaultProxy, registry_http: RegistryServer
) -> None:
    base = f"{proxy.host}/fixtures/busybox:latest"
    ctx = _context(tmp_path, f"FROM {base}\nCOPY hello.txt /hello.txt\n")
    destination = registry_http.ref("policy/base-allowed:1")  # straight to the registry, not via the proxy
    args = [*_build_args(tmp_path, ctx, proxy, registry_http), "-d", destination]

    refused = _run(executor, [*args, "--denied-registries", "quay.io,127.0.0.1:*"])
    assert _error_line(refused).startswith(
        f"error: Dockerfile:1: base image {base} refused by --denied-registries=127.0.0.1:*"
    )
    assert proxy.log == []

    not_allowed = _run(executor, [*args, "--allowed-repos", "docker.io/library/*"])
    assert f"base image {base} refused: not matched by --allowed-repos=docker.io/library/*" in _error_line(
        not_allowed
    )
    assert proxy.log == []

    allowed = _run(executor, [*args, "--allowed-registries", "127.0.0.1:*", "--denied-repos", "*/evil/**"])
    assert allowed.exit_code == 0, allowed.output
    assert any("/manifests/" in entry.path for entry in proxy.log)  # the pull did go through the proxy
    config = skopeo_inspect(destination, config=True)
    assert config["rootfs"]["diff_ids"]


def test_denied_copy_from_image_is_refused_at_its_line(
    tmp_path: Path, proxy: FaultProxy, registry_http: RegistryServer
) -> None:
    image = f"{proxy.host}/fixtures/busybox:latest"
    ctx = _context(tmp_path, f"FROM scratch\nCOPY hello.txt /\nCOPY --from={image} /bin/busybox /busybox\n")
    args = [*_build_args(tmp_path, ctx, proxy, registry_http), "--no-push"]
    result = _run(executor, [*args, "--denied-repos", f"{proxy.host}/fixtures/**"])
    assert _error_line(result).startswith(
        f"error: Dockerfile:3: COPY --from image {image} refused by --denied-repos={proxy.host}/fixtures/**"
    )
    assert proxy.log == []
    layout = tmp_path / "layout"
    allowed = _run(
        executor, [*args, "--allowed-repos", f"{proxy.host}/fixtures/*", "--oci-layout-path", str(layout)]
    )
    assert allowed.exit_code == 0, allowed.output
    assert proxy.log


def test_denied_cache_repo_is_refused_before_the_push_check(
    tmp_path: Path, proxy: FaultProxy, registry_http: RegistryServer
) -> None:
    """With --no-push the cache repo is what kaniko's push-permission check would contact first."""
    ctx = _context(tmp_path, "FROM scratch\nCOPY hello.txt /\n")
    cache = f"{proxy.host}/policy/cache"
    args = [*_build_args(tmp_path, ctx, proxy, registry_http), "--no-push", "--cache", "--cache-repo", cache]
    result = _run(executor, [*args, "--denied-registries", proxy.host])
    assert _error_line(result).startswith(
        f"error: --cache-repo {cache}:latest refused by --denied-registries={proxy.host}"
    )
    assert proxy.log == []
    allowed = _run(executor, [*args, "--allowed-registries", proxy.host])
    assert allowed.exit_code == 0, allowed.output
    assert proxy.log  # the push check and the cache lookups went through


def test_a_mirrored_pull_checks_the_name_as_written_and_the_mirror(
    tmp_path: Path, proxy: FaultProxy, registry_http: RegistryServer
) -> None:
    """``FROM alpine`` with --registry-mirror: docker.io is refused without asking the mirror anything."""
    ctx = _context(tmp_path, "FROM alpine:3.20\n")
    args = [*_build_args(tmp_path, ctx, proxy, registry_http), "--no-push", "--registry-mirror", proxy.host]
    hub = _run(executor, [*args, "--denied-registries", "docker.io"])
    assert _error_line(hub).startswith(
        "error: Dockerfile:1: base image docker.io/library/alpine:3.20 refused by --denied-registries=docker.io"
    )
    mirror = _run(executor, [*args, "--denied-registries", "127.0.0.1:*"])
    assert _error_line(mirror).startswith(
        f"error: Dockerfile:1: base image docker.io/library/alpine:3.20 (pulled through {proxy.host}) "
        "refused by --denied-registries=127.0.0.1:*"
    )
    assert proxy.log == []


def test_warmer_checks_every_image_first(tmp_path: Path, proxy: FaultProxy) -> None:
    image = f"{proxy.host}/fixtures/busybox:latest"
    cache_dir = tmp_path / "cache"
    args = ["--image", image, "--cache-dir", str(cache_dir), "--insecure-registry", proxy.host]
    result = _run(warmer, [*args, "--image", "alpine", "--allowed-registries", "127.0.0.1:*"])
    assert _error_line(result).startswith(
        "error: image docker.io/library/alpine:latest refused: not matched by --allowed-registries=127.0.0.1:*"
    )
    assert proxy.log == []  # the allowed first image was not pulled either: every check comes first
    warmed = _run(warmer, [*args, "--allowed-registries", "127.0.0.1:*"])
    assert warmed.exit_code == 0, warmed.output
    assert any(p.name.endswith(".json") or p.is_file() for p in cache_dir.iterdir())


def test_bad_pattern_is_a_one_line_usage_error(tmp_path: Path) -> None:
    result = _run(executor, ["--no-push", "--allowed-repos", "alpine:3.20"])
    line = _error_line(result)
    assert "invalid --allowed-repos pattern 'alpine:3.20'" in line
    assert result.exit_code == 1


def test_an_onbuild_trigger_image_is_refused_before_it_is_requested(
    tmp_path: Path, proxy: FaultProxy, registry_http: RegistryServer, busybox_image: PushedImage
) -> None:
    """The base (pulled straight from the registry) carries ``ONBUILD COPY --from=<image via the proxy>``."""
    trigger_image = f"{proxy.host}/fixtures/busybox:latest"
    base_ctx = tmp_path / "base"
    base_ctx.mkdir()
    (base_ctx / "Dockerfile").write_text(
        f"FROM {busybox_image.ref}\nONBUILD COPY --from={trigger_image} /bin/busybox /copied\n"
    )
    base = registry_http.ref("policy/onbuild-base:1")
    made = _run(executor, ["-c", str(base_ctx), "--kaniko-dir", str(tmp_path / "kb"),
                           "--insecure-registry", registry_http.host, "-d", base])  # fmt: skip
    assert made.exit_code == 0, made.output
    assert proxy.log == []  # ONBUILD is not run when the base itself is built

    ctx = _context(tmp_path, f"FROM {base}\nCOPY hello.txt /\n")
    args = [*_build_args(tmp_path, ctx, proxy, registry_http), "--no-push"]
    refused = _run(kiln, ["build", *args, "--denied-repos", f"{proxy.host}/fixtures/*"])
    assert _error_line(refused).startswith(
        f"error: Dockerfile:1: ONBUILD COPY --from image {trigger_image} refused by "
        f"--denied-repos={proxy.host}/fixtures/*"
    )
    assert proxy.log == []
    allowed = _run(kiln, ["build", *args, "--denied-repos", f"{proxy.host}/other/*"])
    assert allowed.exit_code == 0, allowed.output
    assert any("/manifests/" in entry.path for entry in proxy.log)  # the trigger's image was pulled


def test_denied_run_mount_image_is_refused_at_its_line(
    tmp_path: Path, proxy: FaultProxy, registry_http: RegistryServer
) -> None:
    image = f"{proxy.host}/fixtures/busybox:latest"
    ctx = _context(
        tmp_path,
        f"FROM scratch\nCOPY hello.txt /\nRUN --mount=type=bind,from={image},target=/b /b/bin/true\n",
    )
    args = [*_build_args(tmp_path, ctx, proxy, registry_http), "--no-push"]
    result = _run(executor, [*args, "--allowed-registries", "quay.io"])
    assert _error_line(result).startswith(
        f"error: Dockerfile:3: RUN --mount from image {image} refused: not matched by --allowed-registries=quay.io"
    )
    assert proxy.log == []
