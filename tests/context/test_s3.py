"""s3:// contexts against moto's S3 server on loopback (a real HTTP server speaking the S3 API)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from context.ctx_helpers import SAMPLE, assert_sample, free_port, make_tar_gz
from kiln.context import ContextSpec, open_context
from kiln.errors import ContextError

moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")

KEY_ID, SECRET = "AKIAKILNTEST", "kiln-test-secret-key"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
    )
    client.create_bucket(Bucket="ctx")
    client.put_object(Bucket="ctx", Key="builds/ctx.tar.gz", Body=make_tar_gz(SAMPLE))
    client.put_object(Bucket="ctx", Key="builds/plain.tar.gz", Body=b"not gzip" * 100)
    try:
        yield endpoint
    finally:
        server.stop()


def env(endpoint: str, **extra: str) -> dict[str, str]:
    base = {
        "S3_ENDPOINT": endpoint,
        "S3_FORCE_PATH_STYLE": "true",
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": "us-east-1",
    }
    base.update(extra)
    return base


def fetch(url: str, environ: dict[str, str], tmp_path: Path, sub_path: str = "") -> Path:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return open_context(ContextSpec(url, sub_path=sub_path, environ=environ)).fetch(work)


def test_s3_context(s3_endpoint: str, tmp_path: Path) -> None:
    assert_sample(fetch("s3://ctx/builds/ctx.tar.gz", env(s3_endpoint), tmp_path))


def test_s3_context_with_aws_endpoint_url_and_sub_path(s3_endpoint: str, tmp_path: Path) -> None:
    environ = env(s3_endpoint)
    del environ["S3_ENDPOINT"]
    environ["AWS_ENDPOINT_URL"] = s3_endpoint
    root = fetch("s3://ctx/builds/ctx.tar.gz", environ, tmp_path, sub_path="app")
    assert (root / "main.py").read_bytes() == SAMPLE["app/main.py"]


def test_s3_missing_bucket(s3_endpoint: str, tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="bucket 'nobucket' does not exist"):
        fetch("s3://nobucket/ctx.tar.gz", env(s3_endpoint), tmp_path)


def test_s3_missing_key(s3_endpoint: str, tmp_path: Path) -> None:
    with pytest.raises(ContextError, match=r"no object 'builds/missing\.tar\.gz' in bucket 'ctx'"):
        fetch("s3://ctx/builds/missing.tar.gz", env(s3_endpoint), tmp_path)


def test_s3_non_gzip_object(s3_endpoint: str, tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="not a gzip-compressed tar"):
        fetch("s3://ctx/builds/plain.tar.gz", env(s3_endpoint), tmp_path)


def test_s3_wrong_credentials(s3_endpoint: str, tmp_path: Path) -> None:
    # moto checks credentials only with its auth switch on (POST /moto-api/reset-auth 0); restored afterwards.
    import requests

    requests.post(f"{s3_endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
    try:
        environ = env(
            s3_endpoint, AWS_ACCESS_KEY_ID="AKIAUNKNOWNKEY", AWS_SECRET_ACCESS_KEY="wrong-secret-key"
        )
        with pytest.raises(ContextError, match=r"access denied \(HTTP 403\)") as info:
            fetch("s3://ctx/builds/ctx.tar.gz", environ, tmp_path)
    finally:
        requests.post(f"{s3_endpoint}/moto-api/reset-auth", data=b"inf", timeout=10).raise_for_status()
    assert "wrong-secret-key" not in str(info.value)
