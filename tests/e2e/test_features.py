"""Build flags and RUN features end to end: mounts, network, outputs, reproducibility, target, platform, ADD URL."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.helpers import options_for
from fixtures.images import PushedImage
from fixtures.registry import RegistryServer
from fixtures.tools import run_tool
from kiln.build.executor import build
from kiln.build.options import SecretSource

pytestmark = pytest.mark.privileged


def _context(tmp_path: Path, dockerfile: str, **files: str) -> Path:
    context = tmp_path / "ctx"
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text(dockerfile)
    for name, text in files.items():
        (context / name).write_text(text)
    return context


def _layout_config(layout: Path) -> dict[str, Any]:
    return json.loads(run_tool(["skopeo", "inspect", "--config", "--raw", f"oci:{layout}"]).stdout)


def _unpack(layout: Path, tmp: Path) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    tagged = tmp / "tagged"
    run_tool(["skopeo", "copy", f"oci:{layout}", f"oci:{tagged}:t"])
    run_tool(["umoci", "unpack", "--image", f"{tagged}:t", str(tmp / "bundle")])
    return tmp / "bundle" / "rootfs"


def test_run_mounts_secret_cache_bind_tmpfs(
    tmp_path: Path, registry_http: RegistryServer, busybox_image: PushedImage
) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cr3t-value")
    dockerfile = f"""FROM {busybox_image.ref}
RUN --mount=type=secret,id=token,required=true test "$(wc -c < /run/secrets/token)" = 12
RUN --mount=type=secret,id=token,env=TOKEN test "${{#TOKEN}}" = 12
RUN --mount=type=cache,target=/cache sh -c 'echo x >> /cache/runs; wc -l < /cache/runs > /runs'
RUN --mount=type=bind,source=data.txt,target=/mnt/data.txt cp /mnt/data.txt /copied.txt
RUN --mount=type=tmpfs,target=/scratch touch /scratch/gone
RUN --network=none sh -c 'test ! -e /sys/class/net/eth0'
"""
    context = _context(tmp_path, dockerfile, **{"data.txt": "bound\n"})
    work = tmp_path / "work"
    counts = []
    for run in range(2):
        layout = tmp_path / f"oci-{run}"
        options = options_for(
            context,
            work,
            registry_http.host,
            None,
            oci_layout_path=str(layout),
            secrets=(SecretSource("token", src=str(secret)),),
            environ={},
        )
        build(options)
        root = _unpack(layout, tmp_path / f"u{run}")
        counts.append((root / "runs").read_text().strip())
        assert (root / "copied.txt").read_text() == "bound\n"
        assert not (root / "scratch" / "gone").exists()
        assert not (root / "mnt" / "data.txt").exists()
        blobs = b"".join(p.read_bytes() for p in (layout / "blobs").rglob("*") if p.is_file())
        assert b"s3cr3t-value" not in blobs  # not in a layer, the config or the history
    assert counts == ["1", "2"]  # the cache mount outlived the first build


def test_reproducible_outputs_and_digest_files(
    tmp_path: Path, registry_http: RegistryServer, busybox_image: PushedImage
) -> None:
    context = _context(
        tmp_path,
        f"FROM {busybox_image.ref}\nCOPY f.txt /f.txt\nRUN echo built > /b.txt\n",
        **{"f.txt": "file\n"},
    )
    dest = registry_http.ref("e2e/repro:v1")
    digests = []
    for run in range(2):
        out = tmp_path / f"out{run}"
        out.mkdir()
        options = options_for(
            context,
            tmp_path / "work",
            registry_http.host,
            dest,
            reproducible=True,
            tar_path=str(out / "image.tar"),
            oci_layout_path=str(out / "oci"),
            digest_file=str(out / "digest"),
            image_name_with_digest_file=str(out / "names"),
            labels=(("from.flag", "yes"),),
        )
        result = build(options)
        digests.append(str(result.digest))
        assert (out / "digest").read_text() == str(result.digest)
        assert (out / "names").read_text() == f"{dest.rsplit(':', 1)[0]}@{result.digest}\n"
        archive = json.loads(
            run_tool(["skopeo", "inspect", "--config", "--raw", f"docker-archive:{out / 'image.tar'}"]).stdout
        )
        assert archive["created"] == "1970-01-01T00:00:00Z"
        assert archive["config"]["Labels"] == {"from.flag": "yes"}
        pushed = run_tool(["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{dest}"]).stdout
        assert hashlib.sha256(pushed.encode()).hexdigest() == str(result.digest).split(":")[1]
    assert digests[0] == digests[1]


def test_target_platform_args_and_scratch_is_oci(tmp_path: Path, registry_http: RegistryServer) -> None:
    dockerfile = """FROM scratch AS first
ARG TARGETARCH
LABEL arch=$TARGETARCH
FROM first AS second
LABEL second=yes
"""
    context = _context(tmp_path, dockerfile)
    layout = tmp_path / "oci"
    options = options_for(
        context,
        tmp_path / "work",
        registry_http.host,
        None,
        target="first",
        custom_platform="linux/arm64",
        oci_layout_path=str(layout),
    )
    build(options)
    config = _layout_config(layout)
    assert config["architecture"] == "arm64"
    assert config["config"]["Labels"] == {"arch": "arm64"}
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["mediaType"] == "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def http_files(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    served = tmp_path / "served"
    served.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()


def test_add_url_with_checksum(
    tmp_path: Path, http_files: tuple[str, Path], registry_http: RegistryServer, busybox_image: PushedImage
) -> None:
    url, served = http_files
    (served / "payload.txt").write_text("downloaded\n")
    digest = hashlib.sha256(b"downloaded\n").hexdigest()
    context = _context(tmp_path, f"FROM scratch\nADD --checksum=sha256:{digest} {url}/payload.txt /dl/\n")
    layout = tmp_path / "oci"
    build(options_for(context, tmp_path / "work", registry_http.host, None, oci_layout_path=str(layout)))
    root = _unpack(layout, tmp_path / "u")
    assert (root / "dl" / "payload.txt").read_text() == "downloaded\n"
    assert oct((root / "dl" / "payload.txt").stat().st_mode & 0o777) == "0o600"

    (tmp_path / "bad").mkdir()
    bad = _context(tmp_path / "bad", f"FROM scratch\nADD --checksum=sha256:{'0' * 64} {url}/payload.txt /x\n")
    from kiln.errors import BuildStepError

    with pytest.raises(BuildStepError, match="checksum mismatch"):
        build(options_for(bad, tmp_path / "work2", registry_http.host, None))


def test_docker_typed_base_gives_docker_media_types(
    tmp_path: Path, registry_http: RegistryServer, busybox_image: PushedImage
) -> None:
    docker_base = registry_http.ref("e2e/busybox-v2s2:latest")
    run_tool(
        ["skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--format", "v2s2",
         f"docker://{busybox_image.ref}", f"docker://{docker_base}"]
    )  # fmt: skip
    context = _context(tmp_path, f"FROM {docker_base}\nRUN echo hi > /hi\n")
    dest = registry_http.ref("e2e/docker-typed:latest")
    build(options_for(context, tmp_path / "work", registry_http.host, dest))
    manifest = json.loads(
        run_tool(["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{dest}"]).stdout
    )
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert manifest["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert {layer["mediaType"] for layer in manifest["layers"]} == {
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    }
    assert len(manifest["layers"]) == 2


def test_add_git_repository(tmp_path: Path, registry_http: RegistryServer) -> None:
    from context.gitserver import git_daemon, make_repos  # the git context tests' real servers

    repos = tmp_path / "repos"
    repos.mkdir()
    make_repos(repos, "git://unused/lib.git")
    with git_daemon(repos) as host:
        context = _context(tmp_path, f"FROM scratch\nADD --chown=7:8 git://{host}/app.git#v1 /src\n")
        layout = tmp_path / "oci"
        options = options_for(
            context,
            tmp_path / "work",
            registry_http.host,
            None,
            oci_layout_path=str(layout),
            environ={"GIT_PULL_METHOD": "git"},
        )
        build(options)
    root = _unpack(layout, tmp_path / "u")
    assert (root / "src" / "version.txt").read_text() == "1\n"  # the tag, not main
    assert (root / "src" / "version.txt").stat().st_uid == 7
    assert not (root / "src" / ".git").exists()


def test_single_snapshot_makes_one_layer(
    tmp_path: Path, registry_http: RegistryServer, busybox_image: PushedImage
) -> None:
    dockerfile = f"FROM {busybox_image.ref}\nRUN echo 1 > /one\nENV X=1\nRUN echo 2 > /two\nRUN rm /one\n"
    context = _context(tmp_path, dockerfile)
    layout = tmp_path / "oci"
    options = options_for(
        context,
        tmp_path / "work",
        registry_http.host,
        None,
        oci_layout_path=str(layout),
        single_snapshot=True,
    )
    build(options)
    config = _layout_config(layout)
    base_layers = len(busybox_image.layout.diff_ids)
    assert len(config["rootfs"]["diff_ids"]) == base_layers + 1
    assert [h.get("empty_layer", False) for h in config["history"][-4:]] == [True, True, True, False]
    root = _unpack(layout, tmp_path / "u")
    assert (root / "two").read_text() == "2\n"
    assert not (root / "one").exists()


def test_dockerfile_from_url(
    tmp_path: Path, http_files: tuple[str, Path], registry_http: RegistryServer
) -> None:
    url, served = http_files
    (served / "remote.Dockerfile").write_text("FROM scratch\nLABEL fetched=yes\n")
    context = tmp_path / "ctx"
    context.mkdir()
    layout = tmp_path / "oci"
    options = options_for(context, tmp_path / "work", registry_http.host, None, oci_layout_path=str(layout))
    from dataclasses import replace

    build(replace(options, dockerfile=f"{url}/remote.Dockerfile"))
    assert _layout_config(layout)["config"]["Labels"] == {"fetched": "yes"}


def test_several_destinations_get_the_same_manifest(
    tmp_path: Path, registry_http: RegistryServer, busybox_image: PushedImage
) -> None:
    from dataclasses import replace

    context = _context(tmp_path, f"FROM {busybox_image.ref}\nRUN echo x > /x\n")
    first, second = registry_http.ref("e2e/multi-a:1"), registry_http.ref("e2e/multi-b:2")
    options = options_for(context, tmp_path / "work", registry_http.host, first)
    result = build(replace(options, destinations=(first, second)))
    assert result.pushed == (first, second)
    for ref in (first, second):
        raw = run_tool(["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{ref}"]).stdout
        assert hashlib.sha256(raw.encode()).hexdigest() == str(result.digest).split(":")[1]
