"""The distribution API, one operation per method: manifests, blobs (streamed), uploads, mounts, tags.

Why a thin layer under pull/push: each method is one protocol step that can be tested against a real registry,
and pull/push (in ``pull.py``/``push.py``) compose them. Pulls go through ``--registry-map``/``--registry-mirror``
candidates; pushes always go to the named registry.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, BinaryIO, TypeVar
from urllib.parse import urlencode, urljoin

import requests
import urllib3

from kiln.digest import Digest, VerifyingReader
from kiln.errors import DigestMismatch, KilnError, RegistryError
from kiln.oci import Descriptor, mediatypes
from kiln.reference import Reference, Repository
from kiln.registry.keychain import Keychain, default_keychain
from kiln.registry.mirrors import first_working, mirror_candidates
from kiln.registry.options import RegistryOptions
from kiln.registry.streams import ResumingBody, SizedStream, read_exactly, with_query
from kiln.registry.transport import Transport

log = logging.getLogger(__name__)

MANIFEST_ACCEPT = (
    mediatypes.OCI_INDEX,
    mediatypes.DOCKER_MANIFEST_LIST,
    mediatypes.OCI_MANIFEST,
    mediatypes.DOCKER_MANIFEST,
)
MAX_MANIFEST_BYTES = 4 << 20
MAX_PAGES = 1000  # of a paginated list (tags, referrers): a registry whose Link never ends is cut off
CHUNK = 1 << 20
DEFAULT_CHUNKED_THRESHOLD = 256 << 20
_T = TypeVar("_T")
_RESTARTABLE = frozenset({"BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID", "DIGEST_INVALID", "SIZE_INVALID"})
# A manifest PUT refused because the registry could not read a blob it names, though every blob was pushed first:
# distribution rewrites a blob's link file in place when another job commits the same blob to the repository, and
# a manifest checked meanwhile reads it half-written (DIGEST_INVALID); registries on eventually consistent storage
# answer MANIFEST_BLOB_UNKNOWN for a blob uploaded a moment ago. Both pass when the PUT is sent again.
_BLOB_NOT_SEEN_YET = frozenset({"DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN"})


@dataclass(frozen=True)
class FetchedManifest:
    """A manifest or index exactly as the registry served it, with its verified digest."""

    raw: bytes = field(repr=False)
    media_type: str
    digest: Digest
    source: Repository  # where it was found (a mirror, or the named registry)

    @property
    def size(self) -> int:
        return len(self.raw)


class RegistryClient:
    """Speaks the OCI distribution API to any registry, as ``options`` and the keychain allow."""

    def __init__(
        self,
        options: RegistryOptions | None = None,
        keychain: Keychain | None = None,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        chunked_threshold: int = DEFAULT_CHUNKED_THRESHOLD,
        chunk_size: int = 16 << 20,
    ) -> None:
        self.options = options or RegistryOptions()
        self.keychain = keychain or default_keychain(self.options.environ)
        self.transport = Transport(self.options, self.keychain, session=session, sleep=sleep)
        self.chunked_threshold = chunked_threshold
        self.chunk_size = chunk_size

    def close(self) -> None:
        self.transport.session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- mirrors ---------------------------------------------------------------------------------------------
    def pull_candidates(self, repo: Repository) -> Iterator[Repository]:
        """``--registry-map`` mirrors for this registry in order, then the registry itself unless told not to."""
        return mirror_candidates(self.options, repo)

    # -- manifests -------------------------------------------------------------------------------------------
    def get_manifest(self, ref: Reference, accept: tuple[str, ...] = MANIFEST_ACCEPT) -> FetchedManifest:
        """GET a manifest or index by tag or digest (through mirrors); by digest, its bytes must hash to it."""
        return first_working(
            self.pull_candidates(ref.context()),
            ref.context(),
            f"pull manifest {ref}",
            lambda repo: self.fetch_manifest(repo, ref, accept),
        )

    def fetch_manifest(
        self,
        repo: Repository,
        ref: Reference,
        accept: tuple[str, ...] = MANIFEST_ACCEPT,
        *,
        push: bool = False,
    ) -> FetchedManifest:
        """GET a manifest from exactly ``repo`` (no mirrors), by the tag or digest of ``ref``.

        A body cut off mid-way is fetched again (``options.retries(push)`` times), as a refused request would be.
        ``push``: a read that is part of a push (the destination's settings apply: --insecure, not
        --insecure-pull).
        """
        attempt = 0
        while True:
            resp = self.transport.request(
                "GET",
                repo.api_host,
                f"/v2/{repo.repository}/manifests/{ref.identifier}",
                scopes=[repo.scope("pull")],
                push=push,
                what=f"pull manifest {ref}",
                headers={"Accept": ", ".join(accept)},
                default_code="MANIFEST_UNKNOWN",
                stream=True,
            )
            with resp:
                try:
                    raw = resp.raw.read(MAX_MANIFEST_BYTES + 1, decode_content=True)
                    break
                except (requests.RequestException, OSError, urllib3.exceptions.HTTPError) as err:
                    if attempt >= self.options.retries(push):
                        raise RegistryError(
                            f"pull manifest {ref}: connection lost while reading ({type(err).__name__})",
                            code="CONNECTION",
                            temporary=True,
                        ) from None
            self.transport.sleep(self.options.retry_base_delay * (2**attempt))
            attempt += 1
        if len(raw) > MAX_MANIFEST_BYTES:
            raise RegistryError(
                f"manifest for {ref} is larger than {MAX_MANIFEST_BYTES} bytes", code="MANIFEST_INVALID"
            )
        media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        actual = Digest.of_bytes(raw)
        if ref.digest is not None:
            got = Digest.of_bytes(raw, ref.digest.algorithm)
            if got != ref.digest:
                raise DigestMismatch(str(ref.digest), str(got), "manifest")
        served = resp.headers.get("Docker-Content-Digest")
        if ref.digest is None and served:
            try:
                served_digest = Digest.parse(served)
            except KilnError:
                served_digest = None
            if served_digest is not None and Digest.of_bytes(raw, served_digest.algorithm) != served_digest:
                raise DigestMismatch(served, str(Digest.of_bytes(raw, served_digest.algorithm)), "manifest")
        if media_type not in MANIFEST_ACCEPT:  # some registries say application/json or nothing
            media_type = _sniff_media_type(raw) or media_type
        return FetchedManifest(raw, media_type, ref.digest or actual, repo)

    def head_manifest(self, ref: Reference) -> Descriptor | None:
        """HEAD a manifest in exactly ``ref``'s repository: its descriptor, or None when it does not exist.

        Cheap existence checks (layer cache lookups, "is this tag already pushed") without a download.
        """
        repo = ref.context()
        resp = self.transport.request(
            "HEAD",
            repo.api_host,
            f"/v2/{repo.repository}/manifests/{ref.identifier}",
            scopes=[repo.scope("pull")],
            push=False,
            what=f"check manifest {ref}",
            ok=(200, 404),
            headers={"Accept": ", ".join(MANIFEST_ACCEPT)},
        )
        resp.close()
        if resp.status_code == 404:
            return None
        served = resp.headers.get("Docker-Content-Digest")
        size = resp.headers.get("Content-Length")
        if not served or size is None:
            raise RegistryError(
                f"check manifest {ref}: registry {repo.registry} sent no Docker-Content-Digest/Content-Length",
                code="UNSUPPORTED",
                hint="fetch the manifest with get_manifest instead",
            )
        media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            return Descriptor(media_type, Digest.parse(served), int(size))
        except (KilnError, ValueError):
            raise RegistryError(
                f"check manifest {ref}: malformed digest or size in answer", code="UNSUPPORTED"
            ) from None

    def list_tags(self, repo: Repository, page_size: int = 1000) -> list[str]:
        """Every tag of ``repo`` (following ``Link`` pagination); an unknown repository has none."""
        tags: list[str] = []
        what = f"list tags of {repo}"
        for body in self.get_pages(repo, f"/v2/{repo.repository}/tags/list?n={page_size}", what) or ():
            try:
                page = json.loads(body).get("tags") or []
            except (ValueError, AttributeError):
                raise RegistryError(f"{what}: answer is not JSON", code="UNSUPPORTED") from None
            tags.extend(str(t) for t in page)
        return tags

    def get_pages(
        self,
        repo: Repository,
        path: str,
        what: str,
        headers: Mapping[str, str] | None = None,
        max_pages: int = MAX_PAGES,
    ) -> list[bytes] | None:
        """The body of every page of a list the registry paginates with ``Link: <...>; rel="next"`` (at most
        ``max_pages``); None when the first page is 404 (a later 404 ends the list)."""
        bodies: list[bytes] = []
        next_path: str | None = path
        for _ in range(max_pages):
            if next_path is None:
                return bodies
            resp = self.transport.request(
                "GET",
                repo.api_host,
                next_path,
                scopes=[repo.scope("pull")],
                push=False,
                what=what,
                ok=(200, 404),
                headers=headers,
            )
            with resp:
                if resp.status_code == 404:
                    return bodies if bodies else None
                bodies.append(resp.content)
            link = resp.links.get("next", {}).get("url")
            next_path = urljoin(self.transport.endpoint(repo.api_host, False).base, link) if link else None
        raise RegistryError(f"{what}: more than {max_pages} pages", code="UNSUPPORTED")

    def put_manifest(self, ref: Reference, raw: bytes, media_type: str) -> Digest:
        """PUT a manifest under the reference's tag (or digest); returns the digest of ``raw``."""
        return self.put_manifest_answer(ref, raw, media_type)[0]

    def put_manifest_answer(
        self, ref: Reference, raw: bytes, media_type: str
    ) -> tuple[Digest, Mapping[str, str]]:
        """``put_manifest`` that also returns the answer's headers (``OCI-Subject``: the registry indexed the
        manifest's ``subject`` for the referrers API)."""
        repo = ref.context()
        digest = Digest.of_bytes(raw)
        resp = self._again(
            f"push manifest {ref}",
            lambda err: err.code in _BLOB_NOT_SEEN_YET,
            lambda: self.transport.request(
                "PUT",
                repo.api_host,
                f"/v2/{repo.repository}/manifests/{ref.tag or digest}",
                scopes=[repo.scope("pull", "push")],
                push=True,
                what=f"push manifest {ref}",
                ok=(200, 201, 202),
                headers={"Content-Type": media_type},
                body=lambda: raw,
            ),
        )
        resp.close()
        stored = resp.headers.get("Docker-Content-Digest")
        if stored and stored != str(digest):
            raise RegistryError(
                f"push manifest {ref}: registry stored it as {stored}, not {digest}",
                code="MANIFEST_INVALID",
                hint="the registry rewrote the manifest; pull it by tag to see what it holds",
            )
        return digest, resp.headers

    # -- blobs -----------------------------------------------------------------------------------------------
    def blob_exists(self, repo: Repository, digest: Digest, *, push: bool = True) -> bool:
        resp = self.transport.request(
            "HEAD",
            repo.api_host,
            f"/v2/{repo.repository}/blobs/{digest}",
            scopes=[repo.scope("pull", "push") if push else repo.scope("pull")],
            push=push,
            what=f"check blob {digest.short} in {repo}",
            ok=(200, 404),
        )
        resp.close()
        return resp.status_code == 200

    def open_blob(self, repo: Repository, digest: Digest, size: int | None = None) -> VerifyingReader:
        """Stream a blob (following redirects to storage); the reader raises DigestMismatch at EOF if wrong.

        A dropped connection is resumed with a Range request up to ``options.retries(push=False)`` times.
        """
        what = f"pull blob {digest.short} from {repo}"

        def fetch(offset: int) -> requests.Response:
            return self.transport.request(
                "GET",
                repo.api_host,
                f"/v2/{repo.repository}/blobs/{digest}",
                scopes=[repo.scope("pull")],
                push=False,
                what=what,
                ok=(200, 206, 416) if offset else (200, 206),
                headers={"Range": f"bytes={offset}-"} if offset else None,
                stream=True,
                default_code="BLOB_UNKNOWN",
            )

        body = ResumingBody(
            fetch,
            self.options.retries(push=False),
            what,
            self.transport.sleep,
            self.options.retry_base_delay,
        )
        return VerifyingReader(body, digest, size)  # type: ignore[arg-type]

    def mount_blob(self, repo: Repository, digest: Digest, source: Repository) -> str | None:
        """Try a cross-repo mount; returns None when mounted, else the upload URL the registry opened instead."""
        query = urlencode({"mount": str(digest), "from": source.repository})
        resp = self.transport.request(
            "POST",
            repo.api_host,
            f"/v2/{repo.repository}/blobs/uploads/?{query}",
            scopes=[repo.scope("pull", "push"), source.scope("pull")],
            push=True,
            what=f"mount blob {digest.short} from {source} into {repo}",
            ok=(201, 202),
        )
        resp.close()
        if resp.status_code == 201:
            return None
        return self._location(resp, repo)

    def start_upload(self, repo: Repository) -> str:
        resp = self.transport.request(
            "POST",
            repo.api_host,
            f"/v2/{repo.repository}/blobs/uploads/",
            scopes=[repo.scope("pull", "push")],
            push=True,
            what=f"start blob upload to {repo}",
            ok=(202,),
        )
        resp.close()
        return self._location(resp, repo)

    def upload_blob(
        self,
        repo: Repository,
        digest: Digest,
        size: int,
        opener: Callable[[], IO[bytes] | BinaryIO],
        *,
        mount_from: Repository | None = None,
    ) -> None:
        """Upload a blob streamed from ``opener()`` unless present; tries a cross-repo mount first.

        A failed transfer is restarted from a new upload session (``options.retries(push=True)`` times): a
        registry keeps what reached it of a broken PUT, so resending to the same session would corrupt the blob.
        """
        if self.blob_exists(repo, digest):
            return
        self._again(
            f"upload of {digest.short} to {repo}",
            lambda err: err.temporary or err.code in _RESTARTABLE,
            lambda: self._upload_once(repo, digest, size, opener, mount_from),
        )

    def _again(self, what: str, retryable: Callable[[RegistryError], bool], call: Callable[[], _T]) -> _T:
        """``call()``, made again after a RegistryError that is ``retryable`` (``options.retries(push=True)``
        times, backing off as the transport does): for push steps the transport cannot retry by itself, an
        upload (several requests, restarted whole) or a manifest refused with a 4xx."""
        attempt = 0
        while True:
            try:
                return call()
            except RegistryError as err:
                limit = self.options.retries(push=True)
                if attempt >= limit or not retryable(err):
                    raise
                attempt += 1
                log.info("%s failed (%s); trying again (%d/%d)", what, err.code, attempt, limit)
                self.transport.sleep(self.options.retry_base_delay * (2 ** (attempt - 1)))

    def _upload_once(
        self,
        repo: Repository,
        digest: Digest,
        size: int,
        opener: Callable[[], IO[bytes] | BinaryIO],
        mount_from: Repository | None,
    ) -> None:
        location: str | None
        if mount_from is not None and mount_from.api_host == repo.api_host and mount_from != repo:
            location = self.mount_blob(repo, digest, mount_from)
            if location is None:
                return
        else:
            location = self.start_upload(repo)
        if size > self.chunked_threshold:
            self._upload_chunked(repo, digest, location, opener)
        else:
            self._upload_monolithic(repo, digest, size, location, opener)

    def _upload_monolithic(
        self,
        repo: Repository,
        digest: Digest,
        size: int,
        location: str,
        opener: Callable[[], IO[bytes] | BinaryIO],
    ) -> None:
        opened: list[IO[bytes] | BinaryIO] = []

        def body() -> SizedStream | bytes:
            if size == 0:  # requests would switch an empty stream to chunked encoding
                return b""
            for stream in opened:
                stream.close()
            opened.clear()
            opened.append(opener())
            return SizedStream(opened[-1], size)

        try:
            resp = self.transport.request(
                "PUT",
                repo.api_host,
                with_query(location, {"digest": str(digest)}),
                scopes=[repo.scope("pull", "push")],
                push=True,
                what=f"upload blob {digest.short} to {repo}",
                ok=(201, 204),
                retries=0,
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                body=body,
            )
            resp.close()
        finally:
            for stream in opened:
                stream.close()

    def _upload_chunked(
        self, repo: Repository, digest: Digest, location: str, opener: Callable[[], IO[bytes] | BinaryIO]
    ) -> None:
        """PATCH fixed-size chunks (one chunk in memory at a time), then PUT the digest to close."""
        offset = 0
        with opener() as stream:
            while data := read_exactly(stream, self.chunk_size):
                resp = self.transport.request(
                    "PATCH",
                    repo.api_host,
                    location,
                    scopes=[repo.scope("pull", "push")],
                    push=True,
                    what=f"upload chunk of blob {digest.short} to {repo}",
                    ok=(202,),
                    retries=0,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{offset}-{offset + len(data) - 1}",
                        "Content-Length": str(len(data)),
                    },
                    body=lambda d=data: d,  # type: ignore[misc]
                )
                resp.close()
                location = self._location(resp, repo)
                offset += len(data)
                # one chunk in memory: this one (also held by the response's request body) goes before the
                # next is read
                del data, resp
        resp = self.transport.request(
            "PUT",
            repo.api_host,
            with_query(location, {"digest": str(digest)}),
            scopes=[repo.scope("pull", "push")],
            push=True,
            what=f"finish upload of blob {digest.short} to {repo}",
            ok=(201, 204),
            headers={"Content-Length": "0"},
        )
        resp.close()

    def check_push_permission(self, ref: Reference) -> None:
        """kaniko's pre-build check: open a blob upload in the destination, then cancel it."""
        repo = ref.context()
        location = self.start_upload(repo)
        resp = self.transport.request(
            "DELETE",
            repo.api_host,
            location,
            scopes=[repo.scope("pull", "push")],
            push=True,
            what=f"cancel test upload to {repo}",
            ok=(200, 202, 204, 401, 403, 404),  # best effort: registries expire abandoned uploads
        )
        resp.close()

    def _location(self, resp: requests.Response, repo: Repository) -> str:
        location = resp.headers.get("Location")
        if not location:
            raise RegistryError(
                f"registry {repo.registry} opened an upload without a Location header", code="UPLOAD"
            )
        if location.startswith("/"):
            location = self.transport.endpoint(repo.api_host, True).base + location
        return location


def _sniff_media_type(raw: bytes) -> str:
    import json

    try:
        data = json.loads(raw)
    except ValueError:
        return ""
    if isinstance(data, dict):
        media_type = data.get("mediaType")
        if isinstance(media_type, str):
            return media_type
        return mediatypes.OCI_INDEX if "manifests" in data else mediatypes.OCI_MANIFEST
    return ""
