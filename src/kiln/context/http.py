"""``https://host/path/context.tar.gz``: a tarball fetched over HTTP(S) (kaniko treats non-Azure https:// so)."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import requests

from kiln.context.archive import CHUNK, ArchiveSource
from kiln.context.base import ContextSpec
from kiln.context.scrub import scrub_url
from kiln.errors import ContextError


class HttpTarSource(ArchiveSource):
    """Streams the response body to disk, then extracts it; redirects are followed, secrets scrubbed."""

    def __init__(self, spec: ContextSpec, timeout: float = 60.0) -> None:
        self._spec = spec
        self._timeout = timeout

    def fetch(self, workdir: Path) -> Path:
        label = scrub_url(self._spec.url)

        def download(sink: BinaryIO) -> None:
            try:
                with requests.get(self._spec.url, stream=True, timeout=self._timeout) as response:
                    if response.status_code != 200:
                        raise ContextError(
                            f"cannot download build context {label}: HTTP {response.status_code}",
                            hint="check the URL and that it is readable without credentials",
                        )
                    for chunk in response.iter_content(CHUNK):
                        sink.write(chunk)
            except requests.RequestException as err:
                raise ContextError(
                    f"cannot download build context {label}: {type(err).__name__}",
                    hint="check the host is reachable",
                ) from None

        return self.spooled(workdir, label, download)
