"""Multi-arch the distributed way: one build per platform pushed by digest, then ``kiln index`` merges them.

Everything runs through the real command lines (``executor``, ``kiln index``) against the loopback registry,
and skopeo judges the result: the raw index, ``copy --all`` of every platform, and platform resolution.
No emulation: the Dockerfile has no RUN, so building for a foreign architecture needs nothing of the host.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fixtures.images import write_multiarch_layout
from fixtures.registry import RegistryServer
from fixtures.tools import require_tool, skopeo, skopeo_inspect

BIN = Path(sys.executable).parent
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
PLATFORMS = ("linux/amd64", "linux/arm64")


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def kiln(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(str(BIN / "kiln"), *args, check=check)


def build_platform(
    tmp: Path, registry: RegistryServer, platform: str, dockerfile: str, repo: str, *extra: str
) -> Path:
    """One per-platform job: build, push, write the digest files into ``tmp/digests/<arch>/``."""
    arch = platform.split("/")[1]
    ctx = tmp / "ctx"
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "hello.txt").write_text("hello\n")
    (ctx / "Dockerfile").write_text(dockerfile)
    out = tmp / "digests" / arch
    out.mkdir(parents=True, exist_ok=True)
    run(
        str(BIN / "executor"), f"--context={ctx}", f"--custom-platform={platform}",
        f"--destination={registry.ref(f'{repo}:build-{arch}')}", f"--digest-file={out / 'digest'}",
        f"--image-name-with-digest-file={out / 'image'}", f"--insecure-registry={registry.host}",
        f"--kaniko-dir={tmp / 'kaniko'}", f"--cache-dir={tmp / 'cache'}", "--log-format=text", *extra,
    )  # fmt: skip
    return out


def raw(ref: str) -> dict[str, Any]:
    return skopeo_inspect(ref, raw=True)


def raw_digest(ref: str) -> str:
    out = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{ref}").stdout)
    return str(out["Digest"])


def platforms_of(index: dict[str, Any]) -> dict[str, str]:
    return {f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"] for m in index["manifests"]}


def check_index(tmp: Path, ref: str, children: dict[str, str], media_type: str) -> None:
    index = raw(ref)
    assert index["mediaType"] == media_type
    assert platforms_of(index) == children
    layout = tmp / f"copied-{media_type.rsplit('.', 2)[-2]}"
    skopeo("copy", "--all", "--quiet", "--src-tls-verify=false", f"docker://{ref}", f"oci:{layout}:all")
    (top,) = json.loads((layout / "index.json").read_text())["manifests"]
    blobs = layout / "blobs" / "sha256"
    copied = json.loads((blobs / top["digest"].split(":")[1]).read_text())
    if media_type == OCI_INDEX:  # copied byte for byte
        assert top["digest"] == raw_digest(ref)
        assert platforms_of(copied) == children
    else:  # skopeo converts a Docker list and its manifests to OCI on the way into an OCI layout
        assert set(platforms_of(copied)) == set(children)
    host = ref.split("/")[0]
    repo = ref.rsplit(":", 1)[0]
    for arch in ("arm64", "amd64"):
        # skopeo's "Digest" names the index itself; the resolved child shows in its layers and arch
        shown = json.loads(
            skopeo(
                "inspect",
                "--tls-verify=false",
                f"--override-arch={arch}",
                "--override-os=linux",
                f"docker://{ref}",
            ).stdout
        )
        child = raw(f"{repo}@{children[f'linux/{arch}']}")
        assert shown["Architecture"] == arch
        assert shown["Layers"] == [layer["digest"] for layer in child["layers"]]
        assert host in shown["Name"]


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_tool("skopeo")


def test_two_builds_merge_into_an_oci_index(registry_http: RegistryServer, tmp_path: Path) -> None:
    dockerfile = "FROM scratch\nARG TARGETARCH\nCOPY hello.txt /\nLABEL arch=$TARGETARCH\n"
    children = {}
    for platform in PLATFORMS:
        out = build_platform(tmp_path, registry_http, platform, dockerfile, "multi/oci")
        children[platform] = (out / "digest").read_text()
    assert len(set(children.values())) == 2
    dest = registry_http.ref("multi/oci:1.0")
    result = kiln(
        "index", f"--destination={dest}", f"--digests-from={tmp_path / 'digests'}",
        f"--insecure-registry={registry_http.host}", "--index-annotations=org.opencontainers.image.version=1.0",
        f"--digest-file={tmp_path / 'index-digest'}", f"--image-name-with-digest-file={tmp_path / 'index-name'}",
        "--platform=linux/amd64,linux/arm64",
    )  # fmt: skip
    digest = (tmp_path / "index-digest").read_text()
    assert result.stdout.strip() == digest
    assert (tmp_path / "index-name").read_text() == f"{registry_http.host}/multi/oci@{digest}\n"
    check_index(tmp_path, dest, children, OCI_INDEX)
    index = raw(dest)
    assert index["annotations"] == {"org.opencontainers.image.version": "1.0"}
    served = json.loads(skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{dest}").stdout)
    assert served == index
    by_digest = raw(f"{registry_http.host}/multi/oci@{digest}")
    assert by_digest == index


def test_docker_children_merge_into_a_legacy_list(registry_http: RegistryServer, tmp_path: Path) -> None:
    """Docker-typed bases (one per arch, from a fixture index) give Docker-typed children for the list."""
    base = write_multiarch_layout(tmp_path / "base")
    for platform in PLATFORMS:
        arch = platform.split("/")[1]
        skopeo("copy", "--quiet", "--format=v2s2", "--dest-tls-verify=false", f"--override-arch={arch}",
               f"oci:{base.path}:latest", f"docker://{registry_http.ref(f'multi/base:{arch}')}")  # fmt: skip
    dockerfile = f"ARG TARGETARCH\nFROM {registry_http.host}/multi/base:$TARGETARCH\nCOPY hello.txt /\n"
    children = {}
    for platform in PLATFORMS:
        out = build_platform(tmp_path, registry_http, platform, dockerfile, "multi/docker")
        children[platform] = (out / "digest").read_text()
        assert raw(f"{registry_http.host}/multi/docker@{children[platform]}")["mediaType"] == DOCKER_MANIFEST
    dest = registry_http.ref("multi/docker:1.0")
    # --insecure alone: kiln index reads the children from the registry it pushes to, over plain HTTP too
    kiln("index", f"--destination={dest}", f"--digests-from={tmp_path / 'digests'}",
         "--insecure", "--legacy-manifest-list")  # fmt: skip
    check_index(tmp_path, dest, children, DOCKER_LIST)

    # the executor's path: the arm64 job builds and publishes the list with the amd64 job's digest file
    published = registry_http.ref("multi/docker:published")
    build_platform(tmp_path / "final", registry_http, "linux/arm64", dockerfile, "multi/docker", "--publish-index",
                   "--legacy-manifest-list", f"--digests-from={tmp_path / 'digests' / 'amd64' / 'digest'}",
                   f"--destination={published}")  # fmt: skip
    index_digest = (tmp_path / "final" / "digests" / "arm64" / "digest").read_text()  # names the list now
    listed = raw(published)
    assert listed["mediaType"] == DOCKER_LIST and index_digest == raw_digest(published)
    assert platforms_of(listed)["linux/amd64"] == children["linux/amd64"]
    assert raw(f"{registry_http.host}/multi/docker@{platforms_of(listed)['linux/arm64']}")["mediaType"] == (
        DOCKER_MANIFEST
    )


def exists(ref: str) -> bool:
    return skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ref}", check=False).returncode == 0


def test_children_from_another_repository_are_copied_first(
    registry_http: RegistryServer, tmp_path: Path
) -> None:
    dockerfile = "FROM scratch\nCOPY hello.txt /\n"
    children = {}
    for platform in PLATFORMS:
        out = build_platform(tmp_path, registry_http, platform, dockerfile, "multi/staging")
        children[platform] = (out / "digest").read_text()
    dest = registry_http.ref("multi/release:2")
    # the name files say where each image is; bare --digest-file digests would mean "in the destination"
    names = [str(p) for p in sorted((tmp_path / "digests").glob("*/image"))]
    kiln("index", f"--destination={dest}", *(f"--digests-from={n}" for n in names),
         f"--insecure-registry={registry_http.host}")  # fmt: skip
    for digest in children.values():
        assert exists(f"{registry_http.host}/multi/release@{digest}")
    check_index(tmp_path, dest, children, OCI_INDEX)


def test_bad_inputs_fail_in_one_line_and_push_nothing(registry_http: RegistryServer, tmp_path: Path) -> None:
    out = build_platform(
        tmp_path, registry_http, "linux/amd64", "FROM scratch\nCOPY hello.txt /\n", "multi/bad"
    )
    dest = registry_http.ref("multi/bad:index")
    common = (f"--destination={dest}", f"--insecure-registry={registry_http.host}")

    missing = kiln("index", *common, f"--digests-from={out / 'digest'}",
                   f"--digests-from={tmp_path / 'digests' / 'arm64' / 'digest'}", check=False)  # fmt: skip
    assert missing.returncode == 1
    (line,) = missing.stderr.strip().splitlines()
    assert "digests/arm64/digest does not exist" in line and "Traceback" not in missing.stderr

    # a second amd64 build of a different Dockerfile: two images claim linux/amd64
    other = tmp_path / "other"
    other.mkdir()
    again = build_platform(other, registry_http, "linux/amd64", "FROM scratch\nLABEL x=1\n", "multi/bad")
    dup = kiln("index", *common, f"--digests-from={out}", f"--digests-from={again}", check=False)
    assert dup.returncode == 1
    (line,) = dup.stderr.strip().splitlines()
    assert "two images for platform linux/amd64" in line
    assert (out / "digest").read_text() in line and (again / "digest").read_text() in line

    wrong = kiln("index", *common, f"--digests-from={out}", "--platform=linux/amd64,linux/arm64", check=False)
    assert wrong.returncode == 1
    assert "missing linux/arm64" in wrong.stderr.strip()

    oci_in_list = kiln("index", *common, f"--digests-from={out}", "--legacy-manifest-list", check=False)
    assert oci_in_list.returncode == 1
    assert "is an OCI manifest; a Docker manifest list holds only Docker v2.2" in oci_in_list.stderr

    garbage = tmp_path / "garbage"
    garbage.write_text("not a digest\n")
    bad = kiln("index", *common, f"--digests-from={garbage}", check=False)
    assert bad.returncode == 1
    assert f"{garbage}:1: 'not a digest' is not a digest" in bad.stderr
    assert not exists(dest)


def test_executor_push_by_digest_then_publish_index(registry_http: RegistryServer, tmp_path: Path) -> None:
    """The last platform's job builds and merges in one run: --publish-index with the others' digest files."""
    dockerfile = "FROM scratch\nARG TARGETARCH\nCOPY hello.txt /\nLABEL arch=$TARGETARCH\n"
    dest = registry_http.ref("multi/pub:1.0")
    amd = build_platform(tmp_path, registry_http, "linux/amd64", dockerfile, "multi/pub", "--push-by-digest")
    amd_digest = (amd / "digest").read_text()
    assert exists(f"{registry_http.host}/multi/pub@{amd_digest}")
    assert not exists(registry_http.ref("multi/pub:build-amd64"))  # by digest: the tag was never written
    assert (amd / "image").read_text() == f"{registry_http.host}/multi/pub@{amd_digest}\n"

    final = tmp_path / "final"
    final.mkdir()
    (final / "digests").mkdir()
    common = (f"--destination={dest}", f"--digests-from={tmp_path / 'digests'}")
    # bad inputs fail before the build and push nothing: a missing file, then a clash with this platform
    missing = run(str(BIN / "executor"), f"--context={tmp_path / 'ctx'}", "--custom-platform=linux/arm64",
                  "--publish-index", f"--destination={dest}", f"--digests-from={final / 'nope'}",
                  f"--insecure-registry={registry_http.host}", f"--kaniko-dir={final / 'kaniko'}",
                  check=False)  # fmt: skip
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1].startswith("error: digest file")
    assert "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    clash = run(str(BIN / "executor"), f"--context={tmp_path / 'ctx'}", "--custom-platform=linux/amd64",
                "--publish-index", *common, f"--insecure-registry={registry_http.host}",
                f"--kaniko-dir={final / 'kaniko'}", check=False)  # fmt: skip
    assert clash.returncode == 1
    assert "is already an image for linux/amd64" in clash.stderr
    assert not exists(dest)

    run(
        str(BIN / "executor"), f"--context={tmp_path / 'ctx'}", "--custom-platform=linux/arm64", "--publish-index",
        *common, "--index-annotations=org.opencontainers.image.revision=abc",
        f"--digest-file={final / 'digest'}", f"--image-name-tag-with-digest-file={final / 'names'}",
        f"--insecure-registry={registry_http.host}", f"--kaniko-dir={final / 'kaniko'}", "--log-format=text",
    )  # fmt: skip
    index_digest = (final / "digest").read_text()
    assert index_digest == raw_digest(dest)
    assert (final / "names").read_text() == f"{dest}@{index_digest}\n"
    index = raw(dest)
    assert index["annotations"] == {"org.opencontainers.image.revision": "abc"}
    arm_digest = platforms_of(index)["linux/arm64"]
    assert arm_digest != amd_digest
    check_index(tmp_path, dest, {"linux/amd64": amd_digest, "linux/arm64": arm_digest}, OCI_INDEX)


def test_index_flags_need_publish_index(tmp_path: Path) -> None:
    for flag in ("--digests-from=x", "--legacy-manifest-list", "--index-annotations=a=b"):
        proc = run(str(BIN / "executor"), "--destination=127.0.0.1:1/a:b", flag, check=False)
        assert proc.returncode == 1
        assert proc.stderr.strip() == f"error: {flag.split('=')[0]} needs --publish-index"
    proc = run(str(BIN / "executor"), "--no-push", "--publish-index", check=False)
    assert "--publish-index needs a push" in proc.stderr


def test_children_copied_from_another_repository_bring_their_provenance(
    registry_http: RegistryServer, tmp_path: Path
) -> None:
    """Debian's docker-registry has no referrers API: the attestations live under each child's fallback tag
    ``sha256-<hex>`` in the staging repository; the index's repository gets the same artifacts (same
    digests, ``subject`` = the child) listed under its own fallback tags, before the index is pushed."""
    dockerfile = "FROM scratch\nARG TARGETARCH\nCOPY hello.txt /\nLABEL arch=$TARGETARCH\n"
    host = registry_http.host
    children = {}
    for platform in PLATFORMS:
        out = build_platform(
            tmp_path,
            registry_http,
            platform,
            dockerfile,
            "prov/staging",
            "--generate-provenance",
            "--push-by-digest",
        )
        children[platform] = (out / "digest").read_text()
    names = [f"--digests-from={p}" for p in sorted((tmp_path / "digests").glob("*/image"))]
    dest = registry_http.ref("prov/release:1")
    kiln("index", f"--destination={dest}", *names, f"--insecure-registry={host}")
    check_index(tmp_path, dest, children, OCI_INDEX)
    for platform, child in children.items():
        tag = f"sha256-{child.split(':')[1]}"
        staged = raw(f"{host}/prov/staging:{tag}")["manifests"]
        listed = raw(f"{host}/prov/release:{tag}")
        assert listed["mediaType"] == OCI_INDEX
        assert listed["manifests"] == staged and len(staged) == 1
        (entry,) = listed["manifests"]
        assert entry["artifactType"] == "application/vnd.in-toto+json"
        artifact = raw(f"{host}/prov/release@{entry['digest']}")
        served = skopeo(
            "inspect", "--raw", "--tls-verify=false", f"docker://{host}/prov/release@{entry['digest']}"
        )
        assert f"sha256:{hashlib.sha256(served.stdout.encode()).hexdigest()}" == entry["digest"]  # same bytes
        assert artifact["subject"]["digest"] == child
        out = tmp_path / f"artifact-{platform.replace('/', '-')}"
        skopeo("copy", "--quiet", "--src-tls-verify=false", f"docker://{host}/prov/release@{entry['digest']}",
               f"dir:{out}")  # fmt: skip
        statement = json.loads((out / artifact["layers"][0]["digest"].split(":")[1]).read_text())
        assert statement["subject"][0]["digest"] == {"sha256": child.split(":")[1]}

    # a referrer that cannot be copied fails the command in one line, and the index is not pushed:
    # the staging fallback tag of one child now holds an image manifest, not a referrers index
    child = children["linux/arm64"]
    bad_tag = f"sha256-{child.split(':')[1]}"
    skopeo("copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
           f"docker://{host}/prov/staging@{child}", f"docker://{host}/prov/staging:{bad_tag}")  # fmt: skip
    other = registry_http.ref("prov/other:1")
    failed = kiln("index", f"--destination={other}", *names, f"--insecure-registry={host}", check=False)
    assert failed.returncode == 1
    (line,) = [ln for ln in failed.stderr.splitlines() if ln.startswith("error:")]  # the rest: INFO progress
    assert f"copy the referrers (attestations) of {host}/prov/staging@{child} into {host}/prov/other" in line
    assert "not a referrers index" in line and "Traceback" not in failed.stderr
    assert not exists(other)
