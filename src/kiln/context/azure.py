"""``https://ACCOUNT.blob.core.windows.net/container/key.tar.gz`` (azure-storage-blob, the ``azure`` extra).

Credentials, first found wins: ``AZURE_STORAGE_CONNECTION_STRING`` (its endpoint wins too, which is how an
emulator such as Azurite is reached), ``AZURE_STORAGE_ACCESS_KEY`` (kaniko's shared key for the URL's
account), else azure-identity's default chain (service principal, managed identity) when it is installed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, BinaryIO

from kiln.context.archive import ArchiveSource
from kiln.context.base import ContextSpec
from kiln.errors import ContextError

_URL = re.compile(
    r"^https://(?P<account>[a-z0-9]+)\.blob\.(?P<suffix>core\.[a-z.]+)/(?P<container>[^/]+)/(?P<blob>.+)$"
)


def parse_blob_url(url: str) -> tuple[str, str, str, str]:
    """(account URL, account name, container, blob name) of a blob URL."""
    match = _URL.match(url.split("?", 1)[0])
    if not match:
        raise ContextError(
            "build context Azure blob URL must be https://ACCOUNT.blob.core.windows.net/CONTAINER/KEY.tar.gz"
        )
    account = match["account"]
    return f"https://{account}.blob.{match['suffix']}", account, match["container"], match["blob"]


class AzureBlobSource(ArchiveSource):
    """Streams the blob to disk (the SDK downloads in ranged chunks), then extracts it."""

    def __init__(self, spec: ContextSpec) -> None:
        self._spec = spec
        self._account_url, self._account, self._container, self._blob = parse_blob_url(spec.url)

    def _service(self) -> Any:
        try:
            from azure.storage.blob import BlobServiceClient
        except ImportError:
            raise ContextError(
                "Azure blob build contexts need azure-storage-blob", hint="pip install 'kiln[azure]'"
            ) from None
        environ = self._spec.environ
        connection = environ.get("AZURE_STORAGE_CONNECTION_STRING")
        if connection:
            try:
                return BlobServiceClient.from_connection_string(connection)
            except ValueError:
                raise ContextError(
                    "AZURE_STORAGE_CONNECTION_STRING is not a valid connection string"
                ) from None
        key = environ.get("AZURE_STORAGE_ACCESS_KEY")
        if key:
            return BlobServiceClient(
                self._account_url, credential={"account_name": self._account, "account_key": key}
            )
        try:
            from azure.identity import DefaultAzureCredential
        except ImportError:
            return BlobServiceClient(self._account_url)  # anonymous: public containers
        return BlobServiceClient(self._account_url, credential=DefaultAzureCredential())

    def fetch(self, workdir: Path) -> Path:
        label = f"{self._account_url}/{self._container}/{self._blob}"
        service = self._service()

        def download(sink: BinaryIO) -> None:
            from azure.core.exceptions import (
                AzureError,
                ClientAuthenticationError,
                HttpResponseError,
                ResourceNotFoundError,
            )

            blob = service.get_blob_client(self._container, self._blob)
            try:
                blob.download_blob(max_concurrency=1).readinto(sink)
            except ResourceNotFoundError as err:
                code = str(getattr(err, "error_code", "") or "")
                if code == "ContainerNotFound":
                    raise ContextError(
                        f"cannot download build context {label}: container {self._container!r} does not exist",
                        hint="check the container name and the storage account",
                    ) from None
                raise ContextError(
                    f"cannot download build context {label}: no blob {self._blob!r} in container {self._container!r}",
                    hint="check the blob name",
                ) from None
            except ClientAuthenticationError as err:
                code = str(getattr(err, "error_code", "") or "authentication failed")
                raise ContextError(
                    f"cannot download build context {label}: access denied ({code})",
                    hint="check AZURE_STORAGE_ACCESS_KEY or AZURE_STORAGE_CONNECTION_STRING",
                ) from None
            except HttpResponseError as err:
                if err.status_code == 403:
                    code = str(getattr(err, "error_code", "") or "HTTP 403")
                    raise ContextError(
                        f"cannot download build context {label}: access denied ({code})",
                        hint="check AZURE_STORAGE_ACCESS_KEY or AZURE_STORAGE_CONNECTION_STRING",
                    ) from None
                raise ContextError(
                    f"cannot download build context {label}: HTTP {err.status_code} {getattr(err, 'error_code', '') or ''}".rstrip()
                ) from None
            except AzureError as err:
                raise ContextError(f"cannot download build context {label}: {type(err).__name__}") from None

        return self.spooled(workdir, label, download)
