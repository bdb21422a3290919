"""The SLSA provenance statement builder: shape, redaction, dependencies, context origin (real git)."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from kiln.build.attest import Attestation, refs_json, subject_names
from kiln.build.executor import read_dockerfile
from kiln.build.options import BuildOptions, SecretSource
from kiln.build.provenance import (
    BUILD_TYPE,
    BUILDER_ID,
    PREDICATE_TYPE,
    REDACTED,
    ContextOrigin,
    ProvenanceFacts,
    ResolvedImage,
    context_origin,
    redact_build_args,
    resolved_images,
    statement,
    statement_bytes,
)
from kiln.digest import Digest
from kiln.errors import ContextError
from kiln.oci import Descriptor, mediatypes
from kiln.oci.artifact import Payload, make_artifact
from kiln.reference import Reference
from kiln.registry.referrers import Attached

IMAGE = Digest.of_bytes(b"image manifest")
BASE = Digest.of_bytes(b"base manifest")
HELPER = Digest.of_bytes(b"helper manifest")


def _facts(**extra: object) -> ProvenanceFacts:
    values: dict[str, object] = {
        "invocation_id": "inv-1",
        "started_on": "2026-01-01T00:00:00Z",
        "finished_on": "2026-01-01T00:01:00Z",
        "dockerfile_digest": Digest.of_bytes(b"FROM base\n"),
        "images": (
            ResolvedImage("r.io/base:1", "linux/amd64", BASE, "base"),
            ResolvedImage("r.io/helper:2", "linux/amd64", HELPER, "copy-from"),
            ResolvedImage("r.io/base:1", "linux/amd64", BASE, "base"),
        ),
        "context": ContextOrigin("git+https://git.example/app.git@main", "a" * 40),
        "subjects": ("r.io/app:1", "r.io/app:latest"),
        "image_digest": IMAGE,
        "platform": "linux/amd64",
    }
    values.update(extra)
    return ProvenanceFacts(**values)  # type: ignore[arg-type]


def test_statement_shape_subjects_and_dependencies() -> None:
    options = BuildOptions(
        dockerfile="/ctx/Dockerfile",
        context="/ctx",
        target="final",
        destinations=("r.io/app:1", "r.io/app:latest"),
        build_args=(("VERSION", "1.2"), ("API_TOKEN", "tok-123")),
        secrets=(SecretSource("npmrc", src="/run/npmrc"),),
        reproducible=True,
    )
    doc = statement(_facts(), options)
    assert doc["_type"] == "https://in-toto.io/Statement/v1"
    assert doc["predicateType"] == PREDICATE_TYPE
    assert doc["subject"] == [
        {"name": "r.io/app:1", "digest": {"sha256": IMAGE.hex}},
        {"name": "r.io/app:latest", "digest": {"sha256": IMAGE.hex}},
    ]
    definition = doc["predicate"]["buildDefinition"]
    assert definition["buildType"] == BUILD_TYPE
    params = definition["externalParameters"]
    assert params["target"] == "final" and params["platform"] == "linux/amd64"
    assert params["buildArgs"] == {"VERSION": "1.2", "API_TOKEN": REDACTED}
    assert params["secrets"] == ["npmrc"]  # ids only: never a path's content, never a value
    assert params["reproducible"] is True
    assert "cache" not in params  # defaults are left out
    deps = definition["resolvedDependencies"]
    assert deps[0] == {
        "uri": "file:///ctx/Dockerfile",
        "digest": {"sha256": Digest.of_bytes(b"FROM base\n").hex},
        "name": "dockerfile",
    }
    assert deps[1] == {
        "uri": "git+https://git.example/app.git@main",
        "name": "context",
        "digest": {"gitCommit": "a" * 40},
    }
    images = [d for d in deps if d["name"].startswith("r.io/")]
    assert [d["name"] for d in images] == ["r.io/base:1", "r.io/helper:2"]  # the duplicate pull once
    assert images[0]["digest"] == {"sha256": BASE.hex}
    assert images[0]["annotations"] == {"role": "base", "platform": "linux/amd64"}
    assert images[1]["uri"] == "pkg:docker/r.io/helper:2?platform=linux%2Famd64"
    run = doc["predicate"]["runDetails"]
    assert run["builder"]["id"] == BUILDER_ID
    assert run["metadata"] == {
        "invocationId": "inv-1",
        "startedOn": "2026-01-01T00:00:00Z",
        "finishedOn": "2026-01-01T00:01:00Z",
    }


def test_statement_bytes_are_stable_json() -> None:
    options = BuildOptions(context="/ctx")
    one = statement_bytes(statement(_facts(), options))
    assert one == statement_bytes(statement(_facts(), options))
    assert json.loads(one)["subject"][0]["name"] == "r.io/app:1"


@pytest.mark.parametrize(
    "name",
    ["PASSWORD", "db_password", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "NPM_AUTH", "SSH_PRIVATE",
     "CREDENTIALS", "TLS_CERT", "SESSION", "pwd"],
)  # fmt: skip
def test_secret_looking_names_are_redacted(name: str) -> None:
    assert redact_build_args({name: "s3cr3t-value"}) == {name: REDACTED}


def test_values_equal_to_or_holding_a_secret_are_redacted_and_urls_lose_credentials() -> None:
    args = {
        "MIRROR": "https://user:pw@mirror.example/simple?token=abc#frag",
        "PLAIN": "t0p-secret-file-value",
        "WRAPPED": "x=t0p-secret-file-value;",
        "VERSION": "1.2",
    }
    out = redact_build_args(args, [b"t0p-secret-file-value\n"])
    assert out == {
        "MIRROR": "https://mirror.example/simple",
        "PLAIN": REDACTED,
        "WRAPPED": REDACTED,
        "VERSION": "1.2",
    }


def test_no_secret_reaches_the_statement() -> None:
    options = BuildOptions(
        context="https://user:hunter2@ctx.example/app.tar.gz?sig=abcdef",
        build_args=(("PASSWORD", "s3cr3t-value"), ("OTHER", "file-secret")),
        secrets=(SecretSource("token", env="TOKEN_VAR"),),
        environ={"TOKEN_VAR": "env-secret", "REGISTRY_PASSWORD": "reg-secret"},
    )
    raw = statement_bytes(statement(_facts(), options, [b"file-secret"]))
    for value in (b"s3cr3t-value", b"file-secret", b"hunter2", b"abcdef", b"env-secret", b"reg-secret"):
        assert value not in raw
    assert b"TOKEN_VAR" not in raw  # where a secret comes from is not recorded either


def test_resolved_images_roles_and_normalised_names() -> None:
    pulled = [("r.io/base:1", "linux/arm64", BASE), ("busybox", "linux/arm64", HELPER)]
    assert resolved_images(pulled, ["r.io/base:1", "scratch"]) == (
        ResolvedImage("r.io/base:1", "linux/arm64", BASE, "base"),
        ResolvedImage("docker.io/library/busybox:latest", "linux/arm64", HELPER, "copy-from"),
    )


def test_dockerfile_digest_is_of_the_bytes_on_disk(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    raw = b"FROM scratch\r\nLABEL a=b\r\n"
    (tmp_path / "sub" / "Dockerfile.web").write_bytes(raw)
    text = raw.decode().replace("\r\n", "\n")  # what a text read makes of it
    relative = read_dockerfile(BuildOptions(dockerfile="sub/Dockerfile.web"), tmp_path)
    assert relative.digest == Digest.of_bytes(raw)
    assert relative.text == text and relative.name == "sub/Dockerfile.web"
    absolute = read_dockerfile(
        BuildOptions(dockerfile=str(tmp_path / "sub" / "Dockerfile.web")), Path("/nonexistent")
    )
    assert absolute.digest == Digest.of_bytes(raw)


def test_a_downloaded_dockerfile_digest_is_of_the_downloaded_bytes(tmp_path: Path) -> None:
    raw = b"FROM scratch\r\nLABEL a=b\r\n"
    (tmp_path / "Dockerfile").write_bytes(raw)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/Dockerfile"
            fetched = read_dockerfile(BuildOptions(dockerfile=url), tmp_path / "unused")
        finally:
            server.shutdown()
    assert fetched.digest == Digest.of_bytes(raw)
    assert fetched.text == raw.decode().replace("\r\n", "\n") and fetched.name == "Dockerfile"


def test_a_dockerfile_that_is_not_utf8_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_bytes(b"FROM scratch\nLABEL a=\xff\n")
    with pytest.raises(
        ContextError, match=r"Dockerfile 'Dockerfile' is not UTF-8 text \(invalid byte at offset 21\)"
    ):
        read_dockerfile(BuildOptions(dockerfile="Dockerfile"), tmp_path)


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_local_context_in_a_git_work_tree_records_remote_without_credentials_and_head(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "Dockerfile").write_text("FROM scratch\n")
    _git(repo, "add", "Dockerfile")
    _git(repo, "commit", "-q", "-m", "one")
    _git(repo, "remote", "add", "origin", "https://ci-token:glpat-SECRET@git.example/group/app.git")
    head = _git(repo, "rev-parse", "HEAD")
    origin = context_origin(BuildOptions(context=str(repo), environ={"PATH": "/usr/bin:/bin"}), repo)
    assert origin == ContextOrigin("git+https://git.example/group/app.git", head)


def test_local_context_outside_git_and_remote_archives(tmp_path: Path) -> None:
    assert context_origin(BuildOptions(context=str(tmp_path)), tmp_path) == ContextOrigin(
        f"file://{tmp_path}"
    )
    s3 = BuildOptions(context="s3://bucket/ctx.tar.gz")
    assert context_origin(s3, tmp_path) == ContextOrigin("s3://bucket/ctx.tar.gz")
    signed = BuildOptions(context="https://store.example/ctx.tar.gz?X-Amz-Signature=abc")
    assert context_origin(signed, tmp_path) == ContextOrigin("https://store.example/ctx.tar.gz")


def test_archive_context_records_the_archive_digest_even_with_a_declared_revision(tmp_path: Path) -> None:
    archive = Digest.of_bytes(b"context tarball bytes")
    s3 = BuildOptions(
        context="s3://bucket/ctx.tar.gz",
        image_source="https://git.example/group/app",
        image_revision="0123456789abcdef0123456789abcdef01234567",
    )
    origin = context_origin(s3, tmp_path, archive)
    assert origin == ContextOrigin("s3://bucket/ctx.tar.gz", digest=archive)  # seen beats declared
    doc = statement(_facts(context=origin), s3)
    context = doc["predicate"]["buildDefinition"]["resolvedDependencies"][1]
    assert context == {"uri": "s3://bucket/ctx.tar.gz", "name": "context", "digest": {"sha256": archive.hex}}


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_context_records_url_ref_and_checked_out_commit(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    clone.mkdir()
    _git(clone, "init", "-q")
    (clone / "f").write_text("x")
    _git(clone, "add", "f")
    _git(clone, "commit", "-q", "-m", "c")
    head = _git(clone, "rev-parse", "HEAD")
    options = BuildOptions(
        context="https://user:tok@git.example/org/app.git#refs/heads/main", environ={"PATH": "/usr/bin:/bin"}
    )
    assert context_origin(options, clone) == ContextOrigin(
        "git+https://git.example/org/app.git@refs/heads/main", head
    )


def test_declared_source_and_revision_fill_in_when_kiln_sees_no_commit(tmp_path: Path) -> None:
    options = BuildOptions(
        context=str(tmp_path),
        image_source="https://ci-token:abc@git.example/group/app",
        image_revision="0123456789abcdef0123456789abcdef01234567",
    )
    origin = context_origin(options, tmp_path)
    assert origin == ContextOrigin(
        "https://git.example/group/app", "0123456789abcdef0123456789abcdef01234567", declared=True
    )
    doc = statement(_facts(context=origin), options)
    context = doc["predicate"]["buildDefinition"]["resolvedDependencies"][1]
    assert context["annotations"] == {"declaredBy": "--image-source/--image-revision"}
    not_a_commit = BuildOptions(
        context=str(tmp_path), image_source="https://x.example/a", image_revision="v1.2"
    )
    assert context_origin(not_a_commit, tmp_path) == ContextOrigin(f"file://{tmp_path}")


def test_subject_names_for_each_way_an_image_goes() -> None:
    pushed = ("r.io/app:1", "r.io/app:latest")
    assert subject_names(BuildOptions(destinations=pushed), pushed, IMAGE) == pushed
    index = BuildOptions(destinations=pushed, publish_index=True)  # the tags name the index, not the image
    assert subject_names(index, pushed, IMAGE) == (f"r.io/app@{IMAGE}",)
    layout = BuildOptions(no_push=True, oci_layout_path="/out/oci")
    assert subject_names(layout, (), IMAGE) == ("oci:/out/oci",)
    named = BuildOptions(no_push=True, destinations=("busybox",))
    assert subject_names(named, (), IMAGE) == ("docker.io/library/busybox:latest",)


def test_refs_json_names_the_fallback_tag_only_for_the_fallback_path(tmp_path: Path) -> None:
    """--provenance-refs-file: a registry with the referrers API gets no tag (kiln wrote none there)."""
    image = Digest.of_bytes(b"image")
    subject = Descriptor(mediatypes.OCI_MANIFEST, image, 5)
    artifact = make_artifact(mediatypes.IN_TOTO, [Payload(mediatypes.IN_TOTO, b"{}")], subject)
    api = Reference.parse("registry.example/app:1").context()
    old = Reference.parse("old.example:5000/team/app:1").context()
    done = Attestation(
        b"{}",
        artifact,
        (Attached(api, artifact.digest, "referrers-api"), Attached(old, artifact.digest, "fallback-tag")),
        tmp_path / "oci.provenance.json",
    )
    data = json.loads(refs_json(done, image))
    assert data == {
        "image": str(image),
        "layoutFile": str(tmp_path / "oci.provenance.json"),
        "attached": [
            {"repository": "registry.example/app", "artifact": f"registry.example/app@{artifact.digest}",
             "via": "referrers-api", "tag": ""},
            {"repository": "old.example:5000/team/app", "artifact": f"old.example:5000/team/app@{artifact.digest}",
             "via": "fallback-tag", "tag": f"old.example:5000/team/app:sha256-{image.hex}"},
        ],
    }  # fmt: skip
