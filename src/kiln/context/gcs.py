"""``gs://bucket/key.tar.gz`` (google-cloud-storage, installed with the ``gcs`` extra).

Credentials are Application Default Credentials: ``GOOGLE_APPLICATION_CREDENTIALS`` from the given environment
(service account, workload identity federation), else google-auth's own search (gcloud, metadata server).
``STORAGE_EMULATOR_HOST`` points the client at an emulator, anonymously, as Google's libraries do.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from kiln.context.archive import ArchiveSource
from kiln.context.base import ContextSpec
from kiln.errors import ContextError

SCOPES = ("https://www.googleapis.com/auth/devstorage.read_only",)


def parse_gs_url(url: str) -> tuple[str, str]:
    """``gs://bucket/key`` -> (bucket, key)."""
    bucket, _, key = url[len("gs://") :].partition("/")
    if not bucket or not key:
        raise ContextError(f"build context {url!r} must be gs://BUCKET/KEY.tar.gz")
    return bucket, key


def gcs_client(environ: Mapping[str, str]) -> Any:
    """A storage client from ``environ``: the emulator anonymously, else ADC."""
    try:
        import google.auth
        from google.auth.credentials import AnonymousCredentials, with_scopes_if_required
        from google.auth.exceptions import DefaultCredentialsError
        from google.cloud import storage
    except ImportError:
        raise ContextError(
            "gs:// build contexts need google-cloud-storage", hint="pip install 'kiln[gcs]'"
        ) from None
    project = environ.get("GOOGLE_CLOUD_PROJECT") or environ.get("CLOUDSDK_CORE_PROJECT") or None
    emulator = environ.get("STORAGE_EMULATOR_HOST")
    if emulator:
        endpoint = emulator if "://" in emulator else f"http://{emulator}"
        return storage.Client(
            project=project or "kiln",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": endpoint},
        )
    try:
        key_file = environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        if key_file:
            with warnings.catch_warnings():  # the user's own ADC file: trusted like gcloud trusts it
                warnings.simplefilter("ignore", DeprecationWarning)
                # Unscoped then scoped: avoids google-auth's project lookup for workload identity files.
                loaded, found = google.auth.load_credentials_from_file(key_file)  # type: ignore[no-untyped-call]
            credentials = with_scopes_if_required(loaded, SCOPES)  # type: ignore[no-untyped-call]
        else:
            credentials, found = google.auth.default(scopes=SCOPES)
    except DefaultCredentialsError as err:
        raise ContextError(
            f"no Google credentials for gs:// build context: {str(err).splitlines()[0][:200]}",
            hint="set GOOGLE_APPLICATION_CREDENTIALS or run on GCP with a service account",
        ) from None
    return storage.Client(project=project or found or "kiln", credentials=credentials)


class GCSSource(ArchiveSource):
    """Streams the object to disk with the client's chunked download, then extracts it."""

    def __init__(self, spec: ContextSpec) -> None:
        self._spec = spec
        self._bucket, self._key = parse_gs_url(spec.url)

    def fetch(self, workdir: Path) -> Path:
        label = f"gs://{self._bucket}/{self._key}"
        client = gcs_client(self._spec.environ)

        def download(sink: BinaryIO) -> None:
            from google.api_core import exceptions as gexc
            from google.auth.exceptions import GoogleAuthError

            bucket = client.bucket(self._bucket)
            try:
                bucket.blob(self._key).download_to_file(sink, raw_download=True)
            except gexc.NotFound:
                if not bucket.exists():
                    raise ContextError(
                        f"cannot download build context {label}: bucket {self._bucket!r} does not exist",
                        hint="check the bucket name and project",
                    ) from None
                raise ContextError(
                    f"cannot download build context {label}: no object {self._key!r} in bucket {self._bucket!r}",
                    hint="check the key (upload with: gsutil cp context.tar.gz gs://BUCKET/KEY)",
                ) from None
            except (gexc.Forbidden, gexc.Unauthorized, GoogleAuthError) as err:
                raise ContextError(
                    f"cannot download build context {label}: access denied ({type(err).__name__})",
                    hint="check the service account's roles/storage.objectViewer on the bucket",
                ) from None
            except gexc.GoogleAPIError as err:
                raise ContextError(f"cannot download build context {label}: {type(err).__name__}") from None

        return self.spooled(workdir, label, download)
