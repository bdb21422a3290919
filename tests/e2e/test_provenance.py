"""--generate-provenance end to end: the statement attached to the pushed image on the real registry
(distribution 2.8: no referrers API, so the fallback tag), read back with skopeo and kiln's referrers
listing, written into the OCI layout, reproducible image digests, and no secret anywhere in it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from e2e.helpers import options_for
from fixtures.images import PushedImage, busybox_on
from fixtures.registry import RegistryServer
from fixtures.tools import run_tool
from kiln.build.attest import layout_sibling
from kiln.build.executor import build
from kiln.build.options import SecretSource
from kiln.build.provenance import BUILD_TYPE, PREDICATE_TYPE, REDACTED
from kiln.digest import Digest
from kiln.oci import mediatypes
from kiln.reference import Reference
from kiln.registry import RegistryClient
from kiln.registry.options import RegistryOptions
from kiln.registry.referrers import list_referrers, referrers_tag

pytestmark = pytest.mark.privileged

BUILD_ARG_SECRET = "s3cr3t-value"
SECRET_FILE_VALUE = "t0p-secret-file-value"


def _skopeo_raw(ref: str) -> dict[str, Any]:
    out = run_tool(["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{ref}"]).stdout
    data: dict[str, Any] = json.loads(out)
    return data


def _statement_from_registry(tmp_path: Path, repo: str, artifact_digest: str) -> tuple[bytes, dict[str, Any]]:
    """skopeo copies the artifact (manifest, empty config, statement layer) to a dir:, as a user would."""
    out = tmp_path / f"artifact-{artifact_digest[7:19]}"
    run_tool(["skopeo", "copy", "--src-tls-verify=false", f"docker://{repo}@{artifact_digest}", f"dir:{out}"])
    manifest = json.loads((out / "manifest.json").read_text())
    layer = manifest["layers"][0]
    raw = (out / layer["digest"].split(":", 1)[1]).read_bytes()
    assert Digest.of_bytes(raw) == Digest.parse(layer["digest"])
    return raw, json.loads(raw)


def test_provenance_attached_readable_reproducible_and_secret_free(
    tmp_path: Path, registry_http: RegistryServer, busybox_image: PushedImage
) -> None:
    helper = busybox_on(registry_http, busybox_image.layout, "e2e-prov/helper:1")
    secret = tmp_path / "token"
    secret.write_text(SECRET_FILE_VALUE)
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {busybox_image.ref}\n"
        "ARG PASSWORD\nARG VERSION\n"
        f"COPY --from={helper.ref} /bin/busybox /helper-busybox\n"
        "RUN --mount=type=secret,id=token,required=true test -s /run/secrets/token\n"
        'RUN echo "version $VERSION" > /version\n'
    )
    dest = registry_http.ref("e2e-prov/app:v1")
    repo = dest.rsplit(":", 1)[0]
    results = []
    for run in range(2):
        layout = tmp_path / f"oci{run}"
        options = options_for(
            context,
            tmp_path / "work",
            registry_http.host,
            dest,
            reproducible=True,
            generate_provenance=True,
            oci_layout_path=str(layout),
            build_args=(("PASSWORD", BUILD_ARG_SECRET), ("VERSION", "1.2")),
            secrets=(SecretSource("token", src=str(secret)),),
            environ={},
        )
        results.append(build(options))
    image_digest = str(results[0].digest)
    assert str(results[1].digest) == image_digest  # provenance does not touch the image

    # the fallback tag lists both builds' statements (read-modify-write kept the first)
    fallback = _skopeo_raw(f"{repo}:{referrers_tag(results[0].digest)}")
    assert fallback["mediaType"] == mediatypes.OCI_INDEX
    entries = fallback["manifests"]
    assert len(entries) == 2 and len({e["digest"] for e in entries}) == 2
    for entry in entries:
        assert entry["artifactType"] == mediatypes.IN_TOTO
        assert entry["annotations"]["in-toto.io/predicate-type"] == PREDICATE_TYPE

    # the artifact manifest by digest: OCI 1.1 shape, subject = the image
    artifact = _skopeo_raw(f"{repo}@{entries[-1]['digest']}")
    assert artifact["artifactType"] == mediatypes.IN_TOTO
    assert artifact["config"]["mediaType"] == mediatypes.OCI_EMPTY_JSON and artifact["config"]["size"] == 2
    assert artifact["subject"]["digest"] == image_digest
    assert artifact["layers"][0]["mediaType"] == mediatypes.IN_TOTO

    raw, statement = _statement_from_registry(tmp_path, repo, entries[-1]["digest"])
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == PREDICATE_TYPE
    assert statement["subject"] == [{"name": dest, "digest": {"sha256": image_digest.split(":")[1]}}]
    definition = statement["predicate"]["buildDefinition"]
    assert definition["buildType"] == BUILD_TYPE
    deps = {d["name"]: d for d in definition["resolvedDependencies"]}
    assert deps[busybox_image.ref]["digest"] == {"sha256": busybox_image.digest.split(":")[1]}
    assert deps[busybox_image.ref]["annotations"]["role"] == "base"
    assert deps[helper.ref]["annotations"]["role"] == "copy-from"
    dockerfile_hex = Digest.of_bytes((context / "Dockerfile").read_bytes()).hex
    assert deps["dockerfile"]["digest"] == {"sha256": dockerfile_hex}
    params = definition["externalParameters"]
    assert params["buildArgs"] == {"PASSWORD": REDACTED, "VERSION": "1.2"}
    assert params["secrets"] == ["token"]
    assert params["reproducible"] is True
    metadata = statement["predicate"]["runDetails"]["metadata"]
    assert metadata["startedOn"] <= metadata["finishedOn"]
    assert BUILD_ARG_SECRET.encode() not in raw and SECRET_FILE_VALUE.encode() not in raw

    # kiln's referrers listing (API 404 -> fallback tag) finds both
    client = RegistryClient(RegistryOptions(insecure_registries=(registry_http.host,)))
    with client:
        listed = list_referrers(
            client, Reference.parse(dest).context(), results[0].digest, mediatypes.IN_TOTO
        )
    assert {str(d.digest) for d in listed} == {e["digest"] for e in entries}

    # the OCI layout: image under its name, the artifact beside it (artifactType, no name), sibling file
    layout = tmp_path / "oci1"
    index = json.loads((layout / "index.json").read_text())
    image_entry, artifact_entry = index["manifests"]
    assert image_entry["digest"] == image_digest
    assert artifact_entry["artifactType"] == mediatypes.IN_TOTO
    assert "org.opencontainers.image.ref.name" not in artifact_entry.get("annotations", {})
    in_layout = json.loads((layout / "blobs/sha256" / artifact_entry["digest"][7:]).read_bytes())
    assert in_layout["subject"]["digest"] == image_digest
    sibling = layout_sibling(str(layout)).read_bytes()
    assert (layout / "blobs/sha256" / in_layout["layers"][0]["digest"][7:]).read_bytes() == sibling
    assert json.loads(sibling)["subject"][0]["digest"]["sha256"] == image_digest.split(":")[1]
    assert BUILD_ARG_SECRET.encode() not in sibling
    # the image still reads from the layout with the independent tools
    config = json.loads(run_tool(["skopeo", "inspect", "--config", "--raw", f"oci:{layout}:{dest}"]).stdout)
    assert config["rootfs"]["diff_ids"]
    run_tool(["umoci", "unpack", "--image", f"{layout}:{dest}", str(tmp_path / "bundle")])
    assert (tmp_path / "bundle/rootfs/version").read_text() == "version 1.2\n"
    blobs = b"".join(p.read_bytes() for p in (layout / "blobs").rglob("*") if p.is_file())
    assert SECRET_FILE_VALUE.encode() not in blobs  # (a build arg's value is in the history, as in Docker)
