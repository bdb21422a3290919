"""Git contexts (GitPython, the ``git`` extra): ``git://host/repo.git#REF#COMMIT`` and ``https://host/repo.git#REF#COMMIT``.

kaniko's grammar: the text after the first ``#`` is a reference (``refs/heads/main``, ``refs/tags/v1``, a short
branch or tag name; ``refs/pull/...`` is fetched after cloning), the text after a second ``#`` a commit to check
out. ``git://`` URLs are cloned over ``GIT_PULL_METHOD`` (``https`` by default, ``http``; kiln also accepts
``git`` for the git daemon protocol). ``--git branch=`` names the branch or tag to clone and, as in kaniko,
overrides the URL's reference.

Credentials (``GIT_TOKEN``; ``GIT_USERNAME``/``GIT_PASSWORD``; ``user:token@`` in the URL) are sent as an HTTP
``Authorization`` header through git's environment-only configuration (``GIT_CONFIG_COUNT``), so they never appear
on a command line, in the cloned ``.git/config`` (which is part of the context) or in an error message.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from kiln.context.base import ContextSource, ContextSpec, apply_sub_path
from kiln.context.scrub import first_line, scrub_text, scrub_url
from kiln.errors import ContextError

_PULL_METHODS = ("https", "http", "git")
_COMMIT = re.compile(r"^[0-9a-fA-F]{4,64}$")


@dataclass(frozen=True)
class GitLocation:
    """A parsed git context: the URL to clone (no credentials), a reference, a commit."""

    url: str
    ref: str = ""
    commit: str = ""


def parse_git_context(url: str, environ: Mapping[str, str]) -> tuple[GitLocation, tuple[str, str] | None]:
    """Split ``url`` into where to clone from and the credentials embedded in it (if any)."""
    parts = url.split("#")
    base = parts[0]
    ref = parts[1] if len(parts) > 1 else ""
    commit = parts[2] if len(parts) > 2 else ""
    if len(parts) > 3:
        raise ContextError(f"git build context {scrub_url(url)!r} has more than two '#' parts (#REF#COMMIT)")
    if commit and not _COMMIT.match(commit):
        raise ContextError(f"git build context: {commit!r} after the second '#' is not a commit id")
    if base.lower().startswith("git://"):
        method = (environ.get("GIT_PULL_METHOD") or "https").lower()
        if method not in _PULL_METHODS:
            raise ContextError(
                f"GIT_PULL_METHOD={method!r} is not supported", hint="use https (the default), http or git"
            )
        base = f"{method}://{base[len('git://') :]}"
    split = urlsplit(base)
    if not split.hostname:
        raise ContextError(f"git build context {scrub_url(url)!r} has no host")
    userinfo: tuple[str, str] | None = None
    if "@" in split.netloc:
        info, _, host = split.netloc.rpartition("@")
        user, _, password = info.partition(":")
        userinfo = (unquote(user), unquote(password))
        split = split._replace(netloc=host)
    return GitLocation(urlunsplit(split), ref, commit), userinfo


def _credentials(environ: Mapping[str, str], userinfo: tuple[str, str] | None) -> tuple[str, str] | None:
    """kaniko's precedence: ``GIT_TOKEN`` (as the user name), then ``GIT_USERNAME``/``GIT_PASSWORD``, then the URL."""
    token = environ.get("GIT_TOKEN")
    if token:
        return token, ""
    user, password = environ.get("GIT_USERNAME", ""), environ.get("GIT_PASSWORD", "")
    if user or password:
        return user, password
    return userinfo


def git_environment(
    environ: Mapping[str, str], credentials: tuple[str, str] | None, insecure_skip_tls: bool, origin: str = ""
) -> dict[str, str]:
    """The environment for the git processes: no prompts, and secrets only as env-scoped config.

    The ``Authorization`` header is scoped to ``origin`` (``scheme://host[:port]/``) so submodules on other hosts
    never receive the token.
    """
    env = {k: v for k, v in environ.items() if not k.startswith("GIT_CONFIG_")}
    env.setdefault("PATH", os.defpath)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GIT_ASKPASS"] = "true"  # any prompt answers empty instead of hanging
    config: list[tuple[str, str]] = []
    if credentials is not None:
        basic = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
        key = f"http.{origin}.extraHeader" if origin else "http.extraHeader"
        config.append((key, f"Authorization: Basic {basic}"))
    if insecure_skip_tls:
        config.append(("http.sslVerify", "false"))
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for index, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


def origin_of(url: str) -> str:
    """``scheme://host[:port]/`` of a clone URL (no credentials: they were split off already)."""
    split = urlsplit(url)
    return f"{split.scheme}://{split.netloc}/"


def _clone_branch(ref: str) -> str | None:
    """The ``git clone --branch`` value for a reference, or None when it must be fetched after cloning."""
    for prefix in ("refs/heads/", "refs/tags/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    if ref.startswith("refs/"):
        return None
    return ref


class GitSource(ContextSource):
    """Clones the repository into the work directory, then checks out the reference/commit asked for."""

    def __init__(self, spec: ContextSpec) -> None:
        self._spec = spec
        self._location, userinfo = parse_git_context(spec.url, spec.environ)
        self._credentials = _credentials(spec.environ, userinfo)

    def _secrets(self) -> tuple[str, ...]:
        if self._credentials is None:
            return ()
        user, password = self._credentials
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        return (user, password, basic) if password else (user, basic)

    def fetch(self, workdir: Path) -> Path:
        location, options = self._location, self._spec.git
        env = git_environment(
            self._spec.environ, self._credentials, options.insecure_skip_tls, origin_of(location.url)
        )
        if shutil.which("git", path=env["PATH"]) is None:
            raise ContextError("git build contexts need the git program on PATH", hint="install git")
        try:
            import git
        except ImportError:
            raise ContextError("git build contexts need GitPython", hint="pip install 'kiln[git]'") from None
        root = workdir / "context"
        ref = options.branch or location.ref  # kaniko: --git branch= overrides the URL's reference
        branch = _clone_branch(ref) if ref else None
        kwargs: dict[str, Any] = {}
        if branch:
            kwargs["branch"] = branch
        if options.single_branch:
            kwargs["single_branch"] = True
        try:
            repo = git.Repo.clone_from(location.url, root, env=env, **kwargs)
            if ref and branch is None:
                repo.git.fetch("origin", f"{ref}:{ref}", env=env)
                repo.git.checkout(ref, env=env)
            if location.commit:
                try:
                    repo.git.checkout(location.commit, env=env)
                except git.GitCommandError:
                    # a commit on no cloned branch (single-branch, or reachable only from a PR ref)
                    repo.git.fetch("origin", location.commit, env=env)
                    repo.git.checkout(location.commit, env=env)
            if options.recurse_submodules:
                repo.git.submodule("update", "--init", "--recursive", env=env)
        except git.GitCommandError as err:
            raise self._error(err) from None
        return apply_sub_path(root, self._spec.sub_path)

    def _error(self, err: object) -> ContextError:
        stderr = str(getattr(err, "stderr", "") or "").strip()
        stderr = stderr.removeprefix("stderr: ").removeprefix("'").removesuffix("'")
        detail = ""
        for line in stderr.splitlines():
            _, marker, rest = line.partition("fatal: ")
            if not marker:
                _, marker, rest = line.partition("error: ")
            if marker:
                detail = rest.strip()
                break
        if detail.endswith(":"):  # git continues some messages on the next line ("unable to connect to X:")
            following = stderr.split(detail, 1)[1].strip().splitlines()
            detail = f"{detail} {following[0].strip()}" if following else detail
        detail = scrub_text(first_line(detail or stderr), self._secrets())
        where = scrub_url(self._location.url)
        what = "#".join(p for p in (where, self._location.ref, self._location.commit) if p)
        return ContextError(
            f"cannot clone git build context {what}: {detail or 'git failed'}", hint=_hint(detail)
        )


def _hint(detail: str) -> str | None:
    """What to do next, for the git failures users meet most."""
    lowered = detail.lower()
    if any(s in lowered for s in ("authentication failed", "could not read username", " 401", " 403")):
        return "set GIT_TOKEN, or GIT_USERNAME and GIT_PASSWORD"
    if "certificate" in lowered or "ssl" in lowered:
        return "trust the server's CA, or use --git insecure-skip-tls=true"
    if any(s in lowered for s in ("not our ref", "did not match", "not a tree", "not found in upstream")):
        return "check the reference and commit after '#'"
    if "unable to connect" in lowered or "could not resolve" in lowered or "failed to connect" in lowered:
        return "check the host and GIT_PULL_METHOD (https, http or git)"
    return None
