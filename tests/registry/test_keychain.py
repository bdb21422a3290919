"""Credentials from docker config.json: lookup order, entry kinds, helpers (real subprocesses), Hub keys."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from kiln.errors import AuthError
from kiln.registry.keychain import (
    ANONYMOUS,
    Credential,
    DockerConfigProvider,
    Keychain,
    StaticProvider,
    default_keychain,
    find_docker_config,
)


def _write(directory: Path, data: dict[str, object]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps(data))
    return path


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_lookup_order_docker_config_then_home(tmp_path: Path) -> None:
    _write(tmp_path / "dc", {"auths": {"r.io": {"auth": _b64("from-dc:p1")}}})
    _write(tmp_path / "home" / ".docker", {"auths": {"r.io": {"auth": _b64("from-home:p2")}}})
    both = {"DOCKER_CONFIG": str(tmp_path / "dc"), "HOME": str(tmp_path / "home")}
    assert default_keychain(both).resolve("r.io").username == "from-dc"
    assert default_keychain({"HOME": str(tmp_path / "home")}).resolve("r.io").username == "from-home"
    assert find_docker_config(
        {"DOCKER_CONFIG": str(tmp_path / "missing"), "HOME": str(tmp_path / "home")}
    ) == (tmp_path / "home" / ".docker" / "config.json")


def test_home_unset_does_not_crash() -> None:
    found = find_docker_config({})
    assert found is None or found == Path("/kaniko/.docker/config.json")
    assert isinstance(default_keychain({}).resolve("nowhere.example:5000"), Credential)


def test_entry_kinds(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "auths": {
                "a.io": {"auth": _b64("alice:pa:ss")},
                "https://b.io/v1/": {"username": "bob", "password": "pb"},
                "c.io": {"identitytoken": "refresh-123"},
                "d.io": {"registrytoken": "bearer-456"},
                "e.io": {},
            }
        },
    )
    chain = default_keychain({"DOCKER_CONFIG": str(tmp_path)})
    a = chain.resolve("a.io")
    assert (a.username, a.password) == ("alice", "pa:ss")
    assert chain.resolve("b.io").username == "bob"
    assert chain.resolve("c.io").identity_token == "refresh-123"
    assert chain.resolve("d.io").registry_token == "bearer-456"
    assert chain.resolve("e.io") is ANONYMOUS
    assert chain.resolve("other.io").anonymous


def test_docker_hub_key_variants(tmp_path: Path) -> None:
    _write(tmp_path, {"auths": {"https://index.docker.io/v1/": {"auth": _b64("hubuser:hubpass")}}})
    chain = default_keychain({"DOCKER_CONFIG": str(tmp_path)})
    assert chain.resolve("index.docker.io").username == "hubuser"
    assert chain.resolve("docker.io").username == "hubuser"


def test_secrets_never_in_repr(tmp_path: Path) -> None:
    cred = Credential("u", "s3cret-pw", identity_token="s3cret-id", registry_token="s3cret-rt")
    assert "s3cret" not in repr(cred) and "s3cret" not in str(cred)


def test_bad_auth_value_is_clear(tmp_path: Path) -> None:
    _write(tmp_path, {"auths": {"a.io": {"auth": "%%%not-base64"}}})
    with pytest.raises(AuthError) as info:
        default_keychain({"DOCKER_CONFIG": str(tmp_path)}).resolve("a.io")
    assert "a.io" in str(info.value) and "base64" in str(info.value)


def test_malformed_config_is_clear(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(AuthError) as info:
        default_keychain({"DOCKER_CONFIG": str(tmp_path)}).resolve("a.io")
    assert str(tmp_path / "config.json") in str(info.value)


def _helper(bin_dir: Path, name: str, script: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / f"docker-credential-{name}"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_cred_helpers_and_store_run_real_programs(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    # the helper echoes back the server URL it was given on stdin, proving the protocol
    _helper(
        bin_dir,
        "echo",
        'read server; printf \'{"ServerURL":"%s","Username":"u-%s","Secret":"s"}\' "$server" "$server"\n',
    )
    _helper(bin_dir, "tok", 'read server; echo \'{"Username":"<token>","Secret":"idtok"}\'\n')
    _helper(bin_dir, "none", "echo 'credentials not found in native keychain'; exit 1\n")
    _helper(bin_dir, "broken", "echo boom >&2; exit 3\n")
    _write(
        tmp_path / "cfg",
        {
            "credHelpers": {"h.io": "echo", "t.io": "tok", "x.io": "broken"},
            "credsStore": "none",
            "auths": {"a.io": {"auth": _b64("plain:pw")}},
        },
    )
    environ = {"DOCKER_CONFIG": str(tmp_path / "cfg"), "PATH": f"{bin_dir}:/usr/bin:/bin"}
    chain = default_keychain(environ)
    assert chain.resolve("h.io").username == "u-h.io"
    assert chain.resolve("t.io").identity_token == "idtok"
    assert chain.resolve("a.io").username == "plain"  # auths before credsStore
    assert chain.resolve("z.io").anonymous  # credsStore says not found
    with pytest.raises(AuthError) as info:
        chain.resolve("x.io")
    assert "docker-credential-broken" in str(info.value) and "exit 3" in str(info.value)


def test_missing_cred_helper_is_clear(tmp_path: Path) -> None:
    _write(tmp_path, {"credHelpers": {"h.io": "does-not-exist"}})
    with pytest.raises(AuthError) as info:
        default_keychain({"DOCKER_CONFIG": str(tmp_path), "PATH": "/nonexistent"}).resolve("h.io")
    assert "docker-credential-does-not-exist not found" in str(info.value)


def test_keychain_first_provider_wins(tmp_path: Path) -> None:
    _write(tmp_path, {"auths": {"r.io": {"auth": _b64("file:pw")}}})
    static = StaticProvider({"r.io": Credential("static", "pw")})
    chain = Keychain([static, DockerConfigProvider({"DOCKER_CONFIG": str(tmp_path)})])
    assert chain.resolve("r.io").username == "static"
    assert (
        Keychain([DockerConfigProvider({"DOCKER_CONFIG": str(tmp_path)}), static]).resolve("r.io").username
        == "file"
    )


def test_gitlab_ci_variables_after_docker_config(tmp_path: Path) -> None:
    ci = {
        "CI_REGISTRY": "gitlab.example:5050",
        "CI_REGISTRY_USER": "gitlab-ci-token",
        "CI_REGISTRY_PASSWORD": "jobtok",
    }
    chain = default_keychain(dict(ci, HOME=str(tmp_path / "nohome")))
    cred = chain.resolve("gitlab.example:5050")
    assert (cred.username, cred.password) == ("gitlab-ci-token", "jobtok")
    assert chain.resolve("other.example").anonymous
    _write(tmp_path / "cfg", {"auths": {"gitlab.example:5050": {"auth": _b64("fromfile:pw")}}})
    assert default_keychain(dict(ci, DOCKER_CONFIG=str(tmp_path / "cfg"))).resolve(
        "gitlab.example:5050"
    ).username == ("fromfile")
