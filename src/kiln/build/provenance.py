"""``--generate-provenance``: a SLSA v1 provenance statement (in-toto Statement v1) for the built image.

Everything in it is what the build already knew: the options it ran with, the Dockerfile it read, the
manifest digests of the images it pulled, where its context came from and when it ran. Nothing secret goes
in: ``--secret`` values, registry credentials and the environment are never read here; build-arg values
are kept unless their name looks secret (``redact_build_args``) or they equal a ``--secret`` value; URLs
lose their userinfo and query. docs/supply-chain.md ("Provenance") describes every field.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from kiln import __version__
from kiln.build.options import BuildOptions
from kiln.digest import Digest
from kiln.errors import KilnError
from kiln.reference import Reference
from kiln.registry.errors import scrub_url

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://kiln.dev/provenance/dockerfile/v1"
BUILDER_ID = "https://kiln.dev/executor"
REDACTED = "<redacted>"
# a build arg whose NAME matches this has its value replaced by REDACTED
SECRET_NAME = re.compile(r"(?i)(pass|pwd|secret|token|key|cred|auth|private|cert|sign|session|cookie)")

DependencyRole = Literal["base", "copy-from"]
_COMMIT = re.compile(r"^[0-9a-fA-F]{7,64}$")


@dataclass(frozen=True)
class ResolvedImage:
    """An image the build pulled: as the Dockerfile named it, the platform and the manifest digest used."""

    name: str
    platform: str
    digest: Digest
    role: DependencyRole


@dataclass(frozen=True)
class ContextOrigin:
    """Where the build context came from: a URI without credentials and, when known, the git commit or the
    digest of the archive kiln unpacked."""

    uri: str
    git_commit: str = ""
    digest: Digest | None = None  # an archive context (tar, stdin, s3, gs, azure, https): its bytes' sha256
    declared: bool = False  # taken from --image-source/--image-revision, not seen by kiln itself


@dataclass(frozen=True)
class ProvenanceFacts:
    """What the build learned while it ran, for the statement (``options`` holds the rest)."""

    invocation_id: str
    started_on: str
    finished_on: str
    dockerfile_digest: Digest
    images: tuple[ResolvedImage, ...]
    context: ContextOrigin
    subjects: tuple[str, ...]  # image names; every one has the built manifest digest
    image_digest: Digest
    platform: str  # the target platform the build resolved (os/arch[/variant])


def redact_build_args(args: Mapping[str, str], secret_values: Iterable[bytes] = ()) -> dict[str, str]:
    """Build args for the record: a secret-looking name or a value equal to a ``--secret`` hides the value."""
    secrets = {v.decode("utf-8", "replace").strip() for v in secret_values}
    secrets.discard("")
    out: dict[str, str] = {}
    for name, value in args.items():
        if SECRET_NAME.search(name) or value.strip() in secrets or any(s in value for s in secrets):
            out[name] = REDACTED
        else:
            out[name] = public_url(value) if "://" in value else value
    return out


def public_url(url: str) -> str:
    """``url`` without userinfo, query and fragment (where tokens and signatures travel)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    if not parts.scheme or not parts.netloc:
        return url
    return scrub_url(url)


def _digest_set(digest: Digest) -> dict[str, str]:
    return {digest.algorithm: digest.hex}


def external_parameters(
    options: BuildOptions, platform: str, secret_values: Iterable[bytes]
) -> dict[str, Any]:
    """The invocation: what a user chose on the command line that changes what gets built."""
    params: dict[str, Any] = {
        "dockerfile": public_url(options.dockerfile),
        "context": public_url(options.context),
        "platform": platform,
    }
    optional: dict[str, Any] = {
        "contextSubPath": options.context_sub_path,
        "target": options.target,
        "buildArgs": redact_build_args(options.build_arg_map(), secret_values),
        "labels": dict(options.labels),
        "secrets": sorted({s.id for s in options.secrets}),
        "destinations": list(options.destinations),
        "reproducible": options.reproducible,
        "skipUnusedStages": options.skip_unused_stages,
        "singleSnapshot": options.single_snapshot,
        "snapshotMode": options.snapshot_mode if options.snapshot_mode != "full" else "",
        "compression": options.compression if options.compression != "gzip" else "",
        "noPush": options.no_push,
        "cache": options.cache,
        "cacheRepo": public_url(options.cache_repo) if options.cache_repo else "",
    }
    params.update({k: v for k, v in optional.items() if v})
    return params


def resolved_dependencies(facts: ProvenanceFacts, options: BuildOptions) -> list[dict[str, Any]]:
    """The Dockerfile, the context and every image pulled, each with a digest where kiln has one."""
    dockerfile = public_url(options.dockerfile)
    if dockerfile.startswith("/"):
        dockerfile = f"file://{dockerfile}"  # a relative path is kept: it is relative to the context
    deps: list[dict[str, Any]] = [
        {"uri": dockerfile, "digest": _digest_set(facts.dockerfile_digest), "name": "dockerfile"}
    ]
    context: dict[str, Any] = {"uri": facts.context.uri, "name": "context"}
    if facts.context.git_commit:
        context["digest"] = {"gitCommit": facts.context.git_commit}
    elif facts.context.digest is not None:
        context["digest"] = _digest_set(facts.context.digest)
    if facts.context.declared:
        context["annotations"] = {"declaredBy": "--image-source/--image-revision"}
    deps.append(context)
    seen: set[tuple[str, str, Digest]] = set()
    for image in facts.images:
        key = (image.name, image.platform, image.digest)
        if key in seen:
            continue
        seen.add(key)
        deps.append(
            {
                "uri": f"pkg:docker/{image.name}?platform={image.platform.replace('/', '%2F')}",
                "digest": _digest_set(image.digest),
                "name": image.name,
                "annotations": {"role": image.role, "platform": image.platform},
            }
        )
    return deps


def statement(
    facts: ProvenanceFacts, options: BuildOptions, secret_values: Sequence[bytes] = ()
) -> dict[str, Any]:
    """The in-toto Statement v1 with a SLSA provenance v1 predicate for ``facts``."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": _digest_set(facts.image_digest)} for name in facts.subjects],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external_parameters(options, facts.platform, secret_values),
                "internalParameters": {"isolation": options.isolation},
                "resolvedDependencies": resolved_dependencies(facts, options),
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID, "version": {"kiln": __version__}},
                "metadata": {
                    "invocationId": facts.invocation_id,
                    "startedOn": facts.started_on,
                    "finishedOn": facts.finished_on,
                },
            },
        },
    }


def statement_bytes(value: Mapping[str, Any]) -> bytes:
    """Stable JSON for the statement (sorted keys, compact): equal facts give equal bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# -- what the build knows about its inputs -------------------------------------------------------------


def resolved_images(
    pulled: Iterable[tuple[str, str, Digest]], base_names: Iterable[str]
) -> tuple[ResolvedImage, ...]:
    """Pulled images in pull order; those named by a FROM are ``base``, the others (``COPY --from``,
    ``RUN --mount=from=``) ``copy-from``."""
    bases = set(base_names)
    return tuple(
        ResolvedImage(_normalised(name), platform, digest, "base" if name in bases else "copy-from")
        for name, platform, digest in pulled
    )


def _normalised(name: str) -> str:
    """``busybox`` -> ``docker.io/library/busybox:latest``: the name a reader can pull without guessing."""
    try:
        return str(Reference.parse(name))
    except KilnError:
        return name


def context_origin(
    options: BuildOptions, context_dir: Path, archive_digest: Digest | None = None
) -> ContextOrigin:
    """What kiln saw of the context (``archive_digest``: the sha256 of the archive it unpacked, if any); when
    it saw neither a commit nor an archive's bytes, what ``--image-source``/``--image-revision`` declare (a CI
    adapter fills them from the platform), marked as declared."""
    seen = _observed_origin(options, context_dir, archive_digest)
    if seen.git_commit or seen.digest is not None or not _COMMIT.match(options.image_revision):
        return seen
    uri = public_url(options.image_source) if options.image_source else seen.uri
    return ContextOrigin(uri, options.image_revision.lower(), declared=True)


def _observed_origin(
    options: BuildOptions, context_dir: Path, archive_digest: Digest | None
) -> ContextOrigin:
    """A git context: its URL (no credentials) and the commit checked out. A local directory inside a git
    work tree: its ``origin`` remote (no credentials; else the directory) and HEAD. Anything else (an
    archive): the context URL without userinfo or query, and the archive's digest."""
    url = options.context
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    is_git = scheme == "git" or (scheme in ("http", "https") and ".git" in url.split("#")[0])
    if is_git:
        from kiln.context.git import parse_git_context

        location, _ = parse_git_context(url, options.environ)
        uri = f"git+{location.url}"
        ref = options.git.branch or location.ref
        if ref:
            uri = f"{uri}@{ref}"
        return ContextOrigin(uri, _git(context_dir, "rev-parse", "HEAD", environ=options.environ))
    if scheme in ("", "dir"):
        path = url.partition("://")[2] if scheme else url
        commit = _git(context_dir, "rev-parse", "HEAD", environ=options.environ)
        if commit:
            origin = _git(context_dir, "config", "--get", "remote.origin.url", environ=options.environ)
            remote = public_url(origin) if "://" in origin else origin
            return ContextOrigin(f"git+{remote}" if remote else f"file://{path}", commit)
        return ContextOrigin(f"file://{path}")
    return ContextOrigin(public_url(url), digest=archive_digest)


def _git(directory: Path, *args: str, environ: Mapping[str, str]) -> str:
    """One line of git output, or "" when git is missing, fails or the directory is no work tree."""
    env = {"PATH": environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1"}
    try:
        done = subprocess.run(
            ["git", "-c", "safe.directory=*", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if done.returncode != 0:
        return ""
    lines = done.stdout.strip().splitlines()
    return lines[0].strip() if lines else ""


__all__ = [
    "BUILDER_ID",
    "BUILD_TYPE",
    "PREDICATE_TYPE",
    "REDACTED",
    "ContextOrigin",
    "ProvenanceFacts",
    "ResolvedImage",
    "context_origin",
    "external_parameters",
    "redact_build_args",
    "resolved_dependencies",
    "resolved_images",
    "statement",
    "statement_bytes",
]
