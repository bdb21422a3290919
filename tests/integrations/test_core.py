"""The shared core: list parsing, request checks, config files; checked against kiln's real keychain
and the real executor command line (its flag parser, without running a build)."""

from __future__ import annotations

import stat
from pathlib import Path

import click
import pytest

from kiln.cli.executor import executor
from kiln.errors import UsageError
from kiln.integrations.dockerconfig import (
    RegistryLogin,
    docker_config_json,
    registry_key,
    write_docker_config,
)
from kiln.integrations.request import ExecutorRequest, parse_bool, public_url, split_list, split_words
from kiln.registry.keychain import DockerConfigProvider


def test_split_list_reads_lines_then_commas() -> None:
    assert split_list(" a:1 ,b:2\n\n c:3 \n,") == ["a:1", "b:2", "c:3"]


def test_split_words_keeps_quoted_spaces_and_expands_nothing() -> None:
    assert split_words("--label='a b' --build-arg=X=$HOME", "x") == ["--label=a b", "--build-arg=X=$HOME"]


@pytest.mark.parametrize(("word", "value"), [("TRUE", True), ("no", False), ("", False), (" 1 ", True)])
def test_parse_bool(word: str, value: bool) -> None:
    assert parse_bool(word, "push") is value


def test_login_repr_hides_the_password() -> None:
    login = RegistryLogin("ghcr.io", "octocat", "tok-123")
    assert "tok-123" not in repr(login)
    assert login.secrets() == ["tok-123", "b2N0b2NhdDp0b2stMTIz"]


@pytest.mark.parametrize(
    ("registry", "key"),
    [("", "https://index.docker.io/v1/"), ("docker.io", "https://index.docker.io/v1/"),
     ("https://ghcr.io/", "ghcr.io"), ("gitlab.example:443", "gitlab.example:443")],
)  # fmt: skip
def test_registry_key(registry: str, key: str) -> None:
    assert registry_key(registry) == key


@pytest.mark.parametrize(
    ("login_registry", "asked"),
    [
        ("", "index.docker.io"),
        ("docker.io", "docker.io"),
        ("ghcr.io", "ghcr.io"),
        ("r.example:5000", "r.example:5000"),
    ],
)
def test_kilns_keychain_finds_the_login_we_write(tmp_path: Path, login_registry: str, asked: str) -> None:
    config_dir = write_docker_config(
        tmp_path / "docker", docker_config_json([RegistryLogin(login_registry, "u", "p w:d")])
    )
    mode = stat.S_IMODE((config_dir / "config.json").stat().st_mode)
    assert mode == 0o600
    cred = DockerConfigProvider({"DOCKER_CONFIG": str(config_dir)}).resolve(asked)
    assert cred is not None
    assert (cred.username, cred.password) == ("u", "p w:d")


def full_request(tmp_path: Path) -> ExecutorRequest:
    return ExecutorRequest(
        context="dir://" + str(tmp_path), dockerfile="Dockerfile", destinations=("r.example/a:1", "r.example/a:2"),
        push=False, build_args=("A=1", "B"), labels=("k=v w",), target="t", cache=True,
        cache_repo="r.example/cache", platform="linux/arm64/v8", oci_layout_path=str(tmp_path / "l"),
        tar_path=str(tmp_path / "t.tar"), digest_file=str(tmp_path / "d"),
        image_name_with_digest_file=str(tmp_path / "n"), image_name_tag_with_digest_file=str(tmp_path / "nt"),
        image_source="https://git.example/acme/app", image_revision="0123abc",
        extra_args=("--reproducible", "--snapshot-mode=redo"),
    )  # fmt: skip


def test_every_flag_we_emit_is_one_the_real_executor_parses(tmp_path: Path) -> None:
    argv = full_request(tmp_path).argv([])
    ctx = executor.make_context("executor", list(argv), resilient_parsing=False)
    params = ctx.params
    assert params["destination"] == ("r.example/a:1", "r.example/a:2")
    assert params["build_arg"] == ("A=1", "B")
    assert params["no_push"] is True and params["cache"] is True and params["reproducible"] is True
    assert params["custom_platform"] == "linux/arm64/v8"
    assert params["image_name_tag_with_digest_file"] == str(tmp_path / "nt")
    assert (params["image_source"], params["image_revision"]) == ("https://git.example/acme/app", "0123abc")


def test_a_typo_in_extra_args_is_caught_by_the_real_parser(tmp_path: Path) -> None:
    argv = ExecutorRequest(push=False, extra_args=("--reproducable",)).argv([])
    with pytest.raises(click.NoSuchOption):
        executor.make_context("executor", argv)


def test_labels_need_a_value() -> None:
    with pytest.raises(UsageError, match="has no KEY="):
        ExecutorRequest(push=False, labels=("just-a-key",)).check()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://github.com/acme/app", "https://github.com/acme/app"),
        (
            "https://oauth2:glpat-SECRET@gitlab.example.com/acme/app.git",
            "https://gitlab.example.com/acme/app.git",
        ),
        ("https://user@host.example:8443/scm/app.git", "https://host.example:8443/scm/app.git"),
        ("git@github.com:acme/app.git", "git@github.com:acme/app.git"),  # scp-like: no secret in it
        (" https://a.example/x ", "https://a.example/x"),
        ("", ""),
    ],
)
def test_public_url_drops_credentials(url: str, shown: str) -> None:
    assert public_url(url) == shown


def test_source_metadata_flags_come_before_extra_args_so_the_user_can_override() -> None:
    request = ExecutorRequest(push=False, extra_args=("--image-source=mine",)).with_source(
        True, "https://x:tok@git.example/acme/app", " abc123 "
    )
    argv = request.argv([])
    assert argv[-3:] == [
        "--image-source=https://git.example/acme/app",
        "--image-revision=abc123",
        "--image-source=mine",
    ]
    assert executor.make_context("executor", argv).params["image_source"] == "mine"
    assert ExecutorRequest(push=False).with_source(False, "https://git.example/a", "abc").argv([]) == [
        "--context=.", "--no-push",
    ]  # fmt: skip
    assert not any(
        a.startswith("--image-") for a in ExecutorRequest(push=False).with_source(True, "", "").argv([])
    )
