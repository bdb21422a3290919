"""``s3://bucket/key.tar.gz`` (boto3, installed with the ``s3`` extra).

Endpoint: ``S3_ENDPOINT`` (kaniko's), else ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``; ``S3_FORCE_PATH_STYLE=true``
for MinIO-style servers. Credentials: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN`` and
``AWS_PROFILE`` from the given environment, then boto3's usual chain (files, instance roles, IRSA).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from kiln.context.archive import ArchiveSource
from kiln.context.base import ContextSpec
from kiln.errors import ContextError

_NOT_FOUND = {"404", "NoSuchKey", "NoSuchBucket", "NotFound"}
_DENIED = {
    "403",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "InvalidClientTokenId",
}


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key)."""
    bucket, _, key = url[len("s3://") :].partition("/")
    if not bucket or not key:
        raise ContextError(f"build context {url!r} must be s3://BUCKET/KEY.tar.gz")
    return bucket, key


def s3_client(environ: Mapping[str, str]) -> Any:
    """A boto3 S3 client configured from ``environ`` (never from mutating os.environ)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ContextError("s3:// build contexts need boto3", hint="pip install 'kiln[s3]'") from None
    session = boto3.session.Session(
        aws_access_key_id=environ.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=environ.get("AWS_SECRET_ACCESS_KEY") or None,
        aws_session_token=environ.get("AWS_SESSION_TOKEN") or None,
        region_name=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None,
        profile_name=environ.get("AWS_PROFILE") or None,
    )
    endpoint = (
        environ.get("S3_ENDPOINT") or environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    )
    addressing = "path" if _truthy(environ.get("S3_FORCE_PATH_STYLE")) else "auto"
    config = Config(s3={"addressing_style": addressing}, retries={"max_attempts": 3, "mode": "standard"})
    return session.client("s3", endpoint_url=endpoint or None, config=config)


class S3Source(ArchiveSource):
    """Downloads the object with boto3's multipart-aware streaming download, then extracts it."""

    def __init__(self, spec: ContextSpec) -> None:
        self._spec = spec
        self._bucket, self._key = parse_s3_url(spec.url)

    def fetch(self, workdir: Path) -> Path:
        label = f"s3://{self._bucket}/{self._key}"
        client = s3_client(self._spec.environ)

        def download(sink: BinaryIO) -> None:
            from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

            try:
                client.download_fileobj(self._bucket, self._key, sink)
            except ClientError as err:
                raise self._client_error(client, label, err) from None
            except NoCredentialsError:
                raise ContextError(
                    f"cannot download build context {label}: no AWS credentials found",
                    hint="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or an instance role",
                ) from None
            except BotoCoreError as err:
                raise ContextError(
                    f"cannot download build context {label}: {type(err).__name__}",
                    hint="check S3_ENDPOINT / the network",
                ) from None

        return self.spooled(workdir, label, download)

    def _client_error(self, client: Any, label: str, err: Any) -> ContextError:
        code = str(err.response.get("Error", {}).get("Code", ""))
        if code in _NOT_FOUND:
            if code == "NoSuchBucket" or not self._bucket_exists(client):
                return ContextError(
                    f"cannot download build context {label}: bucket {self._bucket!r} does not exist",
                    hint="check the bucket name and S3_ENDPOINT / region",
                )
            return ContextError(
                f"cannot download build context {label}: no object {self._key!r} in bucket {self._bucket!r}",
                hint="check the key (upload the context with: aws s3 cp context.tar.gz s3://BUCKET/KEY)",
            )
        if code in _DENIED:
            return ContextError(
                f"cannot download build context {label}: access denied"
                f" ({'HTTP ' + code if code.isdigit() else code})",
                hint="check the AWS credentials and the bucket policy",
            )
        return ContextError(f"cannot download build context {label}: S3 error {code or 'unknown'}")

    def _bucket_exists(self, client: Any) -> bool:
        from botocore.exceptions import ClientError

        try:
            client.head_bucket(Bucket=self._bucket)
        except ClientError as err:
            return str(err.response.get("Error", {}).get("Code", "")) not in _NOT_FOUND
        return True
