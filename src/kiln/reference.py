"""Image references (``[registry/]repo[:tag][@digest]``) normalised the way Docker does.

Why our own parser: every layer (FROM lines, --destination, cache repos, digest files) needs the same answer to
"which registry and repository is this?", and Docker's rules have corners (``docker.io`` and ``library/``
defaults, ``localhost``, ports, upper-case hosts but lower-case paths) that users rely on.

``Reference.registry`` is the normalised domain (``docker.io`` for Docker Hub, like ``docker pull`` prints);
``Reference.api_host`` is the host to talk to (``index.docker.io`` for Docker Hub, as kaniko does), and is the
key used for per-registry options (insecure registries, certificates, mirrors).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kiln.digest import Digest
from kiln.errors import InvalidReference, KilnError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "index.docker.io"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

_PATH_RE = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
_DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
_TAG_RE = re.compile(rf"^{_TAG}$")
_DIGEST_RE = re.compile(rf"^{_DIGEST}$")
_IDENTIFIER_RE = re.compile(r"^[a-f0-9]{64}$")

_HINT = (
    "expected [registry[:port]/]repository[:tag][@sha256:<hex>], e.g. registry.example.com:5000/team/app:1.0"
)


def _invalid(text: str, why: str) -> InvalidReference:
    return InvalidReference(f"invalid image reference {text!r}: {why}", hint=_HINT)


def _split_domain(name: str) -> tuple[str, str]:
    """Docker's rule: the first component is a registry only if it looks like a host."""
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost" and first.lower() == first):
        domain, remainder = DOCKER_HUB, name
    else:
        domain, remainder = first, rest
    if domain == DOCKER_HUB_API:
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in remainder:
        remainder = f"library/{remainder}"
    return domain, remainder


@dataclass(frozen=True, order=True)
class Repository:
    """A registry plus repository path: what a token scope and a blob upload are about."""

    registry: str
    repository: str

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def api_name(self) -> str:
        """``api_host/repository``: the name go-containerregistry (so kaniko) prints, e.g. in digest files."""
        return f"{self.api_host}/{self.repository}"

    def scope(self, *actions: str) -> str:
        """The token scope string, e.g. ``repository:library/busybox:pull,push``."""
        return f"repository:{self.repository}:{','.join(actions or ('pull',))}"

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.registry, self.repository, _check_tag(tag, f"{self.name}:{tag}"), None)

    def with_digest(self, digest: Digest | str) -> Reference:
        return Reference(self.registry, self.repository, None, _check_digest(digest, f"{self.name}@{digest}"))

    def __str__(self) -> str:
        return self.name


def _check_tag(tag: str, text: str) -> str:
    if not _TAG_RE.match(tag):
        raise _invalid(
            text, f"tag {tag!r} is not valid (letters, digits, _ . -; at most 128; not starting . or -)"
        )
    return tag


def _check_digest(digest: Digest | str, text: str) -> Digest:
    if isinstance(digest, Digest):
        return digest
    if not _DIGEST_RE.match(digest):
        raise _invalid(text, f"digest {digest!r} is not algorithm:hex")
    try:
        return Digest.parse(digest)
    except KilnError as err:
        raise _invalid(text, err.message) from None


@dataclass(frozen=True, order=True)
class Reference:
    """A normalised image reference; build one with :meth:`parse`.

    ``tag`` is ``latest`` when neither a tag nor a digest was given; both may be set (``repo:tag@digest``),
    in which case the digest is what gets pulled and the tag is informational, as in Docker.
    """

    registry: str
    repository: str
    tag: str | None
    digest: Digest | None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse and normalise like ``docker pull``; raises InvalidReference with the reason."""
        if not text or text != text.strip():
            raise _invalid(text, "empty or surrounded by whitespace")
        if _IDENTIFIER_RE.match(text):
            raise _invalid(text, "a 64-hex image ID is not a repository name")
        rest, at, digest_text = text.partition("@")
        if at and not digest_text:
            raise _invalid(text, "nothing after '@'")
        name, tag = rest, None
        colon = rest.rfind(":")
        if colon > rest.rfind("/"):
            name, tag = rest[:colon], rest[colon + 1 :]
            if not tag:
                raise _invalid(text, "nothing after ':'")
        if not name:
            raise _invalid(text, "missing repository name")
        domain, path = _split_domain(name)
        if not _DOMAIN_RE.match(domain):
            raise _invalid(text, f"registry {domain!r} is not a valid host[:port]")
        if path.lower() != path:
            raise _invalid(text, f"repository name {path!r} must be lowercase")
        if not _PATH_RE.match(path):
            raise _invalid(
                text,
                f"repository {path!r} may only hold lowercase letters, digits and single . _ __ - separators",
            )
        if len(domain) + 1 + len(path) > NAME_TOTAL_LENGTH_MAX:
            raise _invalid(text, f"repository name longer than {NAME_TOTAL_LENGTH_MAX} characters")
        if tag is not None:
            _check_tag(tag, text)
        digest = _check_digest(digest_text, text) if at else None
        if tag is None and digest is None:
            tag = DEFAULT_TAG
        return cls(domain, path, tag, digest)

    @property
    def name(self) -> str:
        """``registry/repository``, normalised (``docker.io/library/busybox``)."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        """The host to send API requests to (``index.docker.io`` for Docker Hub)."""
        return self.context().api_host

    @property
    def api_name(self) -> str:
        """``index.docker.io/library/busybox`` for Docker Hub: kaniko's spelling of the repository."""
        return self.context().api_name

    @property
    def identifier(self) -> str:
        """What goes after ``/manifests/``: the digest when there is one, else the tag."""
        if self.digest is not None:
            return str(self.digest)
        return self.tag or DEFAULT_TAG

    @property
    def familiar(self) -> str:
        """The short form Docker shows (``busybox:latest``, ``user/app:1``)."""
        repo = self.repository
        if self.registry == DOCKER_HUB:
            repo = repo.removeprefix("library/") if repo.count("/") == 1 else repo
            return repo + self._suffix()
        return self.name + self._suffix()

    def context(self) -> Repository:
        """The repository this reference lives in (for token scopes and blob endpoints)."""
        return Repository(self.registry, self.repository)

    def with_tag(self, tag: str) -> Reference:
        """Same repository, this tag, no digest."""
        return self.context().with_tag(tag)

    def with_digest(self, digest: Digest | str) -> Reference:
        """Same repository pinned to a digest (the tag is dropped, as in ``name@digest``)."""
        return self.context().with_digest(digest)

    def _suffix(self) -> str:
        out = f":{self.tag}" if self.tag else ""
        return out + (f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        return self.name + self._suffix()


def parse_reference(text: str) -> Reference:
    """Shorthand for :meth:`Reference.parse`."""
    return Reference.parse(text)
