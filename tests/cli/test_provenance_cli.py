"""``kiln build --generate-provenance`` from the command line: the flag reaches the build, the statement
lands on the real registry (fallback tag) and in the layout, and no secret shows in output or statement."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fixtures.images import PushedImage
from fixtures.registry import RegistryServer
from fixtures.tools import run_tool, skopeo_inspect
from kiln.build.attest import layout_sibling
from kiln.cli.main import kiln

ARG_SECRET = "s3cr3t-value"
ENV_SECRET = "env-secret-value-42"


def test_kiln_build_generate_provenance_pushes_and_keeps_secrets_out(
    tmp_path: Path, busybox_image: PushedImage, registry_http: RegistryServer
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("a\n")
    (ctx / "Dockerfile").write_text(f"FROM {busybox_image.ref}\nARG PASSWORD\nCOPY a.txt /a.txt\n")
    dest = registry_http.ref("cli-prov/app:1")
    other = registry_http.ref("cli-prov/other:2")
    layout = tmp_path / "out" / "oci"
    result = CliRunner(env={"MY_TOKEN": ENV_SECRET}).invoke(
        kiln,
        ["build", "-c", str(ctx), "-d", dest, "-d", other, "--insecure-registry", registry_http.host,
         "--kaniko-dir", str(tmp_path / "k"), "--generate-provenance", "--oci-layout-path", str(layout),
         "--build-arg", f"PASSWORD={ARG_SECRET}", "--secret", "id=tok,env=MY_TOKEN",
         "--provenance-refs-file", str(tmp_path / "refs.json"), "--verbosity", "debug", "--log-format", "text"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert ARG_SECRET not in result.output and ENV_SECRET not in result.output
    assert "attached provenance" in result.output
    digest = skopeo_inspect(dest)["Digest"]
    attached = set()
    for ref in (dest, other):  # every destination repository gets the same artifact
        index = skopeo_inspect(f"{ref.rsplit(':', 1)[0]}:sha256-{digest.split(':')[1]}", raw=True)
        assert [m["artifactType"] for m in index["manifests"]] == ["application/vnd.in-toto+json"]
        attached.add(index["manifests"][0]["digest"])
    assert len(attached) == 1
    (artifact,) = attached
    refs = json.loads((tmp_path / "refs.json").read_text())  # what the CI adapters report
    hex_ = digest.split(":")[1]
    assert refs == {
        "image": digest,
        "layoutFile": str(layout_sibling(str(layout))),
        "attached": [
            {
                "repository": r,
                "artifact": f"{r}@{artifact}",
                "via": "fallback-tag",
                "tag": f"{r}:sha256-{hex_}",
            }
            for r in (dest.rsplit(":", 1)[0], other.rsplit(":", 1)[0])
        ],
    }
    statement = layout_sibling(str(layout)).read_bytes()
    assert ARG_SECRET.encode() not in statement and ENV_SECRET.encode() not in statement
    assert b"MY_TOKEN" not in statement
    doc = json.loads(statement)
    assert doc["subject"] == [{"name": r, "digest": {"sha256": digest.split(":")[1]}} for r in (dest, other)]
    assert doc["predicate"]["buildDefinition"]["externalParameters"]["secrets"] == ["tok"]
    # the named image still reads from the two-manifest layout
    config = json.loads(run_tool(["skopeo", "inspect", "--config", "--raw", f"oci:{layout}:{dest}"]).stdout)
    assert config["os"] == "linux"


def test_layout_without_destination_names_the_image_so_tools_can_pick_it(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("a\n")
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY a.txt /a.txt\n")
    layout = tmp_path / "oci"
    result = CliRunner().invoke(
        kiln,
        ["build", "--no-push", "-c", str(ctx), "--kaniko-dir", str(tmp_path / "k"), "--generate-provenance",
         "--oci-layout-path", str(layout), "--digest-file", str(tmp_path / "digest"), "--log-format", "text"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    digest = (tmp_path / "digest").read_text()
    entries = json.loads((layout / "index.json").read_text())["manifests"]
    assert [(e["digest"] == digest, e.get("artifactType")) for e in entries] == [
        (True, None),
        (False, "application/vnd.in-toto+json"),
    ]
    assert entries[0]["annotations"] == {"org.opencontainers.image.ref.name": "latest"}
    inspected = json.loads(run_tool(["skopeo", "inspect", "--raw", f"oci:{layout}:latest"]).stdout)
    assert inspected["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    validated = run_tool(
        ["oci-image-tool", "validate", "--type", "image", "--ref", "name=latest", str(layout)]
    )
    assert "Validation succeeded" in validated.stdout
    run_tool(["umoci", "unpack", "--rootless", "--image", f"{layout}:latest", str(tmp_path / "bundle")])
    assert (tmp_path / "bundle" / "rootfs" / "a.txt").read_text() == "a\n"
    doc = json.loads(layout_sibling(str(layout)).read_text())
    assert doc["subject"] == [{"name": f"oci:{layout}", "digest": {"sha256": digest.split(":")[1]}}]


def test_generate_provenance_with_nowhere_to_put_it_warns(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\nLABEL a=b\n")
    result = CliRunner().invoke(
        kiln,
        ["build", "--no-push", "-c", str(ctx), "--kaniko-dir", str(tmp_path / "k"), "--generate-provenance",
         "--tar-path", str(tmp_path / "image.tar"), "--log-format", "text"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "docker-load tarballs have no place for provenance" in result.output
    assert "provenance not kept" in result.output


def test_a_foreign_manifest_on_the_referrers_tag_fails_the_build_in_one_line(
    tmp_path: Path, busybox_image: PushedImage, registry_http: RegistryServer
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {busybox_image.ref}\nLABEL squat=test\n")
    dest = registry_http.ref("cli-prov/squat:1")
    argv = ["build", "-c", str(ctx), "-d", dest, "--insecure-registry", registry_http.host, "--reproducible",
            "--kaniko-dir", str(tmp_path / "k"), "--log-format", "text"]  # fmt: skip
    first = CliRunner().invoke(kiln, argv)
    assert first.exit_code == 0, first.output
    digest = skopeo_inspect(dest)["Digest"]
    repo = dest.rsplit(":", 1)[0]
    squat = f"{repo}:sha256-{digest.split(':')[1]}"
    run_tool(["skopeo", "copy", "--dest-tls-verify=false", "--src-tls-verify=false",
              f"docker://{busybox_image.ref}", f"docker://{squat}"])  # fmt: skip
    second = CliRunner().invoke(kiln, [*argv, "--generate-provenance"])
    assert second.exit_code != 0
    errors = [line for line in second.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "not a referrers index" in errors[0], second.output
    assert "Traceback" not in second.output
    assert skopeo_inspect(squat)["Digest"] == busybox_image.digest  # left as it was


def test_with_publish_index_the_statement_names_the_image_by_digest(
    tmp_path: Path, registry_http: RegistryServer
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\nLABEL multi=yes\n")
    dest = registry_http.ref("cli-prov/multi:1")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        kiln,
        ["build", "-c", str(ctx), "-d", dest, "--insecure-registry", registry_http.host, "--publish-index",
         "--custom-platform", "linux/arm64", "--generate-provenance", "--oci-layout-path", str(out / "oci"),
         "--kaniko-dir", str(tmp_path / "k"), "--log-format", "text"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    index = skopeo_inspect(dest, raw=True)
    (child,) = [m["digest"] for m in index["manifests"]]  # the tag names the index of this one image
    repo = dest.rsplit(":", 1)[0]
    referrers = skopeo_inspect(f"{repo}:sha256-{child.split(':')[1]}", raw=True)
    assert [m["artifactType"] for m in referrers["manifests"]] == ["application/vnd.in-toto+json"]
    doc = json.loads(layout_sibling(str(out / "oci")).read_text())
    assert doc["subject"] == [{"name": f"{repo}@{child}", "digest": {"sha256": child.split(":")[1]}}]
    assert doc["predicate"]["buildDefinition"]["externalParameters"]["platform"] == "linux/arm64"


def test_provenance_refs_file_without_generate_provenance_is_refused(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\nLABEL a=b\n")
    result = CliRunner().invoke(
        kiln,
        ["build", "--no-push", "-c", str(ctx), "--kaniko-dir", str(tmp_path / "k"),
         "--provenance-refs-file", str(tmp_path / "refs.json"), "--log-format", "text"],
    )  # fmt: skip
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert errors == ["error: --provenance-refs-file requires --generate-provenance"], result.output
    assert not (tmp_path / "refs.json").exists()
