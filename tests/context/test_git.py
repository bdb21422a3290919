"""git contexts against real servers on loopback: ``git daemon`` and smart HTTP (``git http-backend``) with a token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from context.gitserver import git_daemon, git_http, make_repos, make_superproject, self_signed
from kiln.context import ContextSpec, GitOptions, open_context
from kiln.errors import ContextError

pytest.importorskip("git")

TOKEN = "ghp_kilnTestToken123"


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    base = tmp_path_factory.mktemp("gitrepos")
    return base, make_repos(base, "../lib.git")


@pytest.fixture(scope="module")
def daemon(repos: tuple[Path, dict[str, str]]) -> Iterator[str]:
    with git_daemon(repos[0]) as hostport:
        yield hostport


@pytest.fixture(scope="module")
def http_base(repos: tuple[Path, dict[str, str]]) -> Iterator[str]:
    with git_http(repos[0], TOKEN, "") as base:
        yield base


DAEMON = {"GIT_PULL_METHOD": "git", "PATH": "/usr/bin:/bin"}


def fetch(tmp_path: Path, url: str, environ: dict[str, str], **kwargs: object) -> Path:
    work = tmp_path / "work"
    work.mkdir(parents=True, exist_ok=True)
    return open_context(ContextSpec(url, environ=environ, **kwargs)).fetch(work)  # type: ignore[arg-type]


def test_git_daemon_default_branch(tmp_path: Path, daemon: str) -> None:
    root = fetch(tmp_path, f"git://{daemon}/app.git", DAEMON)
    assert (root / "version.txt").read_text() == "2\n"
    assert (root / "Dockerfile").is_file()
    assert not (root / "vendor" / "lib" / "lib.txt").exists(), "submodules only with recurse-submodules"


def test_git_daemon_branch_ref(tmp_path: Path, daemon: str) -> None:
    root = fetch(tmp_path, f"git://{daemon}/app.git#refs/heads/feature", DAEMON)
    assert (root / "version.txt").read_text() == "feature\n"


def test_git_daemon_tag_ref(tmp_path: Path, daemon: str) -> None:
    root = fetch(tmp_path, f"git://{daemon}/app.git#refs/tags/v1", DAEMON)
    assert (root / "version.txt").read_text() == "1\n"


def test_git_daemon_commit_id(tmp_path: Path, daemon: str, repos: tuple[Path, dict[str, str]]) -> None:
    first = repos[1]["first"]
    root = fetch(tmp_path, f"git://{daemon}/app.git#refs/heads/main#{first}", DAEMON)
    assert (root / "version.txt").read_text() == "1\n"


def test_git_branch_option_and_single_branch(tmp_path: Path, daemon: str) -> None:
    options = GitOptions(branch="feature", single_branch=True)
    root = fetch(tmp_path, f"git://{daemon}/app.git", DAEMON, git=options)
    assert (root / "version.txt").read_text() == "feature\n"
    import git

    heads = [ref.name for ref in git.Repo(root).remotes.origin.refs]
    assert heads == ["origin/feature"]


def test_git_branch_option_overrides_url_ref(tmp_path: Path, daemon: str) -> None:
    root = fetch(tmp_path, f"git://{daemon}/app.git#refs/heads/main", DAEMON, git=GitOptions(branch="v1"))
    assert (root / "version.txt").read_text() == "1\n"  # the tag named by --git branch=


def test_git_submodules_and_sub_path(tmp_path: Path, daemon: str) -> None:
    options = GitOptions(recurse_submodules=True)
    root = fetch(tmp_path, f"git://{daemon}/app.git", DAEMON, git=options, sub_path="vendor/lib")
    assert (root / "lib.txt").read_text() == "library\n"


def test_git_pull_request_ref(tmp_path: Path, daemon: str) -> None:
    root = fetch(tmp_path, f"git://{daemon}/app.git#refs/pull/1/head", DAEMON)
    assert (root / "version.txt").read_text() == "pull request\n"


def test_git_commit_outside_the_cloned_branch(
    tmp_path: Path, daemon: str, repos: tuple[Path, dict[str, str]]
) -> None:
    """With single-branch the commit is not in the clone; it is fetched by id (the server allows it)."""
    feature = repos[1]["feature"]
    options = GitOptions(single_branch=True)
    root = fetch(tmp_path, f"git://{daemon}/app.git#main#{feature}", DAEMON, git=options)
    assert (root / "version.txt").read_text() == "feature\n"


@pytest.fixture(scope="module")
def https_base(repos: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tls = self_signed(tmp_path_factory.mktemp("gittls"))
    with git_http(repos[0], TOKEN, "", tls=tls) as base:
        yield base


def test_https_self_signed_needs_insecure_skip_tls(tmp_path: Path, https_base: str) -> None:
    env = {"GIT_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"}
    with pytest.raises(ContextError, match=r"certificate.*insecure-skip-tls=true"):
        fetch(tmp_path, f"{https_base}/app.git", env)
    root = fetch(tmp_path / "again", f"{https_base}/app.git", env, git=GitOptions(insecure_skip_tls=True))
    assert (root / "version.txt").read_text() == "2\n"


def test_git_unknown_ref_is_one_line_error(tmp_path: Path, daemon: str) -> None:
    with pytest.raises(ContextError, match=r"cannot clone git build context .*app\.git#nope: .*nope") as info:
        fetch(tmp_path, f"git://{daemon}/app.git#nope", DAEMON)
    assert "\n" not in str(info.value)


def test_git_unknown_commit(tmp_path: Path, daemon: str) -> None:
    with pytest.raises(ContextError, match="cannot clone git build context"):
        fetch(tmp_path, f"git://{daemon}/app.git#main#{'ab' * 20}", DAEMON)


def test_https_git_with_token(tmp_path: Path, http_base: str, repos: tuple[Path, dict[str, str]]) -> None:
    env = {"GIT_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"}
    root = fetch(tmp_path, f"{http_base}/app.git#main", env, git=GitOptions(recurse_submodules=True))
    assert (root / "version.txt").read_text() == "2\n"
    assert (root / "vendor" / "lib" / "lib.txt").read_text() == "library\n"
    config = (root / ".git" / "config").read_text()
    assert TOKEN not in config, "the token must not be stored in the cloned context"


def test_token_not_sent_to_submodules_on_other_hosts(
    tmp_path: Path, http_base: str, repos: tuple[Path, dict[str, str]]
) -> None:
    seen: list[str] = []
    with git_http(repos[0], "", "", record_auth=seen) as other_host:
        make_superproject(repos[0], "cross.git", f"{other_host}/lib.git")
        env = {"GIT_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"}
        options = GitOptions(recurse_submodules=True)
        root = fetch(tmp_path, f"{http_base}/cross.git", env, git=options)
    assert (root / "vendor" / "lib" / "lib.txt").read_text() == "library\n"
    assert seen, "the submodule came from the other host"
    assert not any(seen), "no Authorization header went to the other host"


def test_git_url_token_via_pull_method_http(tmp_path: Path, http_base: str) -> None:
    hostport = http_base.removeprefix("http://")
    env = {"GIT_PULL_METHOD": "http", "PATH": "/usr/bin:/bin"}
    root = fetch(tmp_path, f"git://{TOKEN}@{hostport}/app.git#refs/tags/v1", env)
    assert (root / "version.txt").read_text() == "1\n"


def test_https_git_wrong_token(tmp_path: Path, http_base: str) -> None:
    env = {"GIT_USERNAME": "someone", "GIT_PASSWORD": "wrongpass-xyz", "PATH": "/usr/bin:/bin"}
    with pytest.raises(ContextError, match="cannot clone git build context") as info:
        fetch(tmp_path, f"{http_base}/app.git", env)
    text = str(info.value)
    assert "wrongpass-xyz" not in text
    assert "GIT_TOKEN" in text  # the hint says what to set


def test_https_git_token_in_url_not_in_error(tmp_path: Path, http_base: str) -> None:
    url = http_base.replace("http://", "http://bad-token-in-url@") + "/missing.git"
    with pytest.raises(ContextError) as info:
        fetch(tmp_path, url, {"PATH": "/usr/bin:/bin"})
    assert "bad-token-in-url" not in str(info.value)
    assert "bad-token-in-url" not in repr(ContextSpec(url))


def test_bad_pull_method() -> None:
    with pytest.raises(ContextError, match="GIT_PULL_METHOD"):
        open_context(ContextSpec("git://example.com/r.git", environ={"GIT_PULL_METHOD": "ftp"}))
