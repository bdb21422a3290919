"""--annotation, --image-source, --image-revision, --image-created: read back by skopeo from the real
registry and from the OCI layout, and --reproducible still gives one digest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from fixtures.images import PushedImage
from fixtures.registry import RegistryServer
from fixtures.tools import oci_image_tool, skopeo_inspect
from kiln.cli.executor import executor

pytestmark = pytest.mark.privileged  # unpacking busybox's root-owned files

SOURCE = "org.opencontainers.image.source"
REVISION = "org.opencontainers.image.revision"
CREATED = "org.opencontainers.image.created"
METADATA = [
    "--annotation", "org.example.team=platform", "--annotation", "org.example.empty=",
    "--image-source", "https://git.example.com/acme/app", "--image-revision", "0123abcd", "--image-created",
]  # fmt: skip


def _build(tmp_path: Path, name: str, base: PushedImage, registry: RegistryServer, *extra: str) -> Result:
    ctx = tmp_path / f"ctx-{name}"
    ctx.mkdir()
    (ctx / "hello.txt").write_text("hello\n")
    (ctx / "Dockerfile").write_text(f"FROM {base.ref}\nCOPY hello.txt /hello.txt\n")
    args = ["-c", str(ctx), "--kaniko-dir", str(tmp_path / f"k-{name}"), "--insecure-registry", registry.host,
            "--log-format", "text", *extra]  # fmt: skip
    return CliRunner().invoke(executor, args)


def _layout_manifest(layout: Path) -> dict[str, object]:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest: dict[str, object] = json.loads((layout / "blobs" / "sha256" / digest).read_bytes())
    return manifest


def test_annotations_and_labels_in_the_pushed_manifest_and_the_layout(
    tmp_path: Path, registry_http: RegistryServer, busybox_image: PushedImage
) -> None:
    destination = registry_http.ref("metadata/annotated:1")
    layout = tmp_path / "layout"
    result = _build(tmp_path, "a", busybox_image, registry_http, "-d", destination,
                    "--oci-layout-path", str(layout), "--label", f"{REVISION}=from-label", *METADATA)  # fmt: skip
    assert result.exit_code == 0, result.output

    raw = skopeo_inspect(destination, raw=True)
    # --raw: the config bytes as kiln wrote them (skopeo re-encodes times and drops trailing zeros)
    config = skopeo_inspect(destination, raw=True, config=True)
    created = config["created"]
    assert created and created != "1970-01-01T00:00:00Z"
    assert raw["annotations"] == {
        "org.example.team": "platform",
        "org.example.empty": "",
        SOURCE: "https://git.example.com/acme/app",
        REVISION: "0123abcd",
        CREATED: created,  # the config's own time
    }
    labels = config["config"]["Labels"]
    assert labels[SOURCE] == "https://git.example.com/acme/app"
    assert labels[REVISION] == "from-label"  # an explicit --label wins over --image-revision
    assert labels[CREATED] == created
    assert "org.example.team" not in labels  # --annotation is for the manifest only

    assert _layout_manifest(layout)["annotations"] == raw["annotations"]
    from_layout = skopeo_inspect(f"oci:{layout}", raw=True)
    assert from_layout["annotations"] == raw["annotations"]
    assert "Validation succeeded" in oci_image_tool("validate", "--type", "image", str(layout)).stdout


def test_reproducible_builds_with_annotations_keep_one_digest(
    tmp_path: Path, registry_http: RegistryServer, busybox_image: PushedImage
) -> None:
    digests = []
    for name in ("one", "two"):
        digest_file = tmp_path / f"digest-{name}"
        result = _build(tmp_path, name, busybox_image, registry_http, "--no-push", "--reproducible",
                        "--digest-file", str(digest_file), "--oci-layout-path", str(tmp_path / f"layout-{name}"),
                        *METADATA)  # fmt: skip
        assert result.exit_code == 0, result.output
        digests.append(digest_file.read_text())
    assert digests[0] == digests[1]
    manifest = _layout_manifest(tmp_path / "layout-one")
    assert manifest["annotations"][CREATED] == "1970-01-01T00:00:00Z"  # type: ignore[index]

    plain = tmp_path / "digest-plain"
    result = _build(tmp_path, "plain", busybox_image, registry_http, "--no-push", "--reproducible",
                    "--digest-file", str(plain))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert plain.read_text() != digests[0]  # the annotations are part of what the digest covers


def test_annotation_without_key_is_a_one_line_error() -> None:
    result = CliRunner().invoke(executor, ["--no-push", "--annotation", "=value"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == ["error: invalid --annotation '=value': expected KEY=VALUE"]


def test_image_source_with_credentials_is_refused_without_echoing_them() -> None:
    url = "https://ci:glpat-Sekr1t@git.example.com/acme/app"
    result = CliRunner().invoke(executor, ["--no-push", "--image-source", url])
    assert result.exit_code == 1
    assert "glpat-Sekr1t" not in result.output
    assert (
        "error: --image-source 'https://***@git.example.com/acme/app' holds a user or password"
        in result.output
    )
