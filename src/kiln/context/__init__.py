"""Build-context sources: one module per scheme, chosen by ``open_context``.

Scheme modules that need a cloud SDK import it themselves, so the SDK is only needed when that
scheme is used (and installed as an extra).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable

from kiln.context.base import ContextSource, ContextSpec, GitOptions, apply_sub_path
from kiln.context.scrub import scrub_url
from kiln.errors import ContextError

__all__ = ["ContextSource", "ContextSpec", "GitOptions", "apply_sub_path", "open_context", "scrub_url"]

_AZURE_BLOB_HOST = re.compile(
    r"^https://[a-z0-9]+\.blob\.core\.(windows\.net|chinacloudapi\.cn|usgovcloudapi\.net)/"
)

# An http(s) URL naming a repository (path ends in .git, optionally #ref#commit) is a git context.
_GIT_URL = re.compile(r"^https?://[^#]+\.git/?(#.*)?$")

# scheme -> "module:Class"; modules are imported only when their scheme is used.
_SCHEMES: dict[str, str] = {
    "": "kiln.context.local:LocalDirSource",
    "dir": "kiln.context.local:LocalDirSource",
    "tar": "kiln.context.tar:TarSource",
    "git": "kiln.context.git:GitSource",
    "https+git": "kiln.context.git:GitSource",
    "s3": "kiln.context.s3:S3Source",
    "gs": "kiln.context.gcs:GCSSource",
    "azure": "kiln.context.azure:AzureBlobSource",
    "https": "kiln.context.http:HttpTarSource",
    "http": "kiln.context.http:HttpTarSource",
}


def _lookup(spec: ContextSpec) -> str:
    scheme = spec.scheme
    if scheme == "https" and _AZURE_BLOB_HOST.match(spec.url):
        scheme = "azure"
    elif scheme in ("https", "http") and _GIT_URL.match(spec.url):
        scheme = "https+git"
    target = _SCHEMES.get(scheme)
    if target is None:
        known = ", ".join(sorted(s + "://" for s in _SCHEMES if s and s not in ("azure", "https+git")))
        raise ContextError(
            f"unsupported build context scheme {scheme + '://'!r}", hint=f"use a path or one of {known}"
        )
    return target


def open_context(spec: ContextSpec) -> ContextSource:
    """The source for ``spec``; raises ContextError for an unknown scheme."""
    module_name, _, class_name = _lookup(spec).partition(":")
    module = importlib.import_module(module_name)
    factory: Callable[[ContextSpec], ContextSource] = getattr(module, class_name)
    return factory(spec)
