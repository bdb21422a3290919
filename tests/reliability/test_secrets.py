"""Known secret strings planted everywhere a build can see them, then every output byte grepped for them.

Planted: the registry password (the basic-auth fixture's, in docker config.json as ``auth`` base64), a
``--secret id=tok,env=...`` value consumed by ``RUN --mount=type=secret``, cloud keys and CI tokens in the
environment, and a wrong password (the 401 error path). Searched: stdout and stderr of the real ``executor`` and
``warmer`` commands at every verbosity and both log formats, every file they write (digest files, tarball, cache
dir, work dir), and every blob the registry stored for the pushed image (layers decompressed, config with its
history and labels). Each secret is searched raw, base64-encoded (``user:password`` as in Basic auth) and
URL-quoted.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import secrets
import subprocess
import sys
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

import pytest

from fixtures.images import LayoutImage, busybox_on
from fixtures.registry import RegistryServer
from kiln.fs.trash import trash_dir, wait_swept
from reliability import stats

pytestmark = pytest.mark.registry


def _forms(secret: str, user: str | None = None) -> set[bytes]:
    forms = {secret, base64.b64encode(secret.encode()).decode(), urllib.parse.quote(secret, safe="")}
    if user:
        forms.add(base64.b64encode(f"{user}:{secret}".encode()).decode())
    return {f.encode() for f in forms}


def _files(*roots: Path) -> Iterable[Path]:
    """Every file left under ``roots`` once kiln's detached sweeper has deleted the build's scratch trees.

    Without the wait the walk raced the sweeper (kiln.fs.trash) and failed on a directory deleted under it.
    """
    for root in roots:
        wait_swept(trash_dir(root / "work"), timeout=300)
        if root.is_file():
            yield root
        elif root.is_dir():
            for path in root.rglob("*"):
                if path.is_file() and not path.is_symlink():
                    yield path


def _contents(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            return data + gzip.decompress(data)
        except (OSError, EOFError):
            return data
    return data


def _found(needles: set[bytes], haystacks: dict[str, bytes]) -> list[str]:
    return [
        f"{where}: {needle[:6]!r}..."
        for where, data in haystacks.items()
        for needle in needles
        if needle in data
    ]


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, timeout=300, check=False)


def _command(name: str) -> list[str]:
    module = {"executor": "kiln.cli.executor:executor", "warmer": "kiln.cli.warmer:warmer"}[name]
    mod, func = module.split(":")
    return [sys.executable, "-c", f"import sys; from {mod} import {func}; sys.exit({func}())"]


@pytest.fixture
def planted(tmp_path: Path) -> dict[str, str]:
    return {
        "secret_value": "kiln-planted-secret-" + secrets.token_hex(12),
        "aws_key": "kiln-planted-aws-" + secrets.token_hex(12),
        "ci_token": "kiln-planted-ci-" + secrets.token_hex(12),
        "wrong_password": "kiln-planted-wrong-" + secrets.token_hex(12),
    }


def _environment(config_dir: Path, planted: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")}
    env.update(
        {
            "DOCKER_CONFIG": str(config_dir),
            "KILN_TEST_SECRET": planted["secret_value"],
            "AWS_SECRET_ACCESS_KEY": planted["aws_key"],
            "CI_JOB_TOKEN": planted["ci_token"],
            "GITHUB_TOKEN": planted["ci_token"],
        }
    )
    return env


def test_no_secret_in_any_output(
    registry_basic: RegistryServer, busybox_layout: LayoutImage, planted: dict[str, str], tmp_path: Path
) -> None:
    server = registry_basic
    assert server.password and server.username
    base = busybox_on(server, busybox_layout, "secrets/busybox:latest")
    config_dir = server.write_docker_config(tmp_path / "docker").parent
    env = _environment(config_dir, planted)
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {base.ref}\n"
        'LABEL purpose="secrets test"\n'
        "RUN --mount=type=secret,id=tok test -s /run/secrets/tok && wc -c /run/secrets/tok\n"
        "RUN echo built > /built\n"
    )
    outputs: dict[str, bytes] = {}
    runs = 0
    for verbosity in ("trace", "debug", "info"):
        for log_format in ("text", "json"):
            out = tmp_path / f"out-{verbosity}-{log_format}"
            out.mkdir()
            argv = [
                *_command("executor"),
                f"--context={context}",
                f"--dockerfile={context / 'Dockerfile'}",
                f"--destination={server.ref(f'secrets/app:{verbosity}-{log_format}')}",
                f"--insecure-registry={server.host}",
                "--secret=id=tok,env=KILN_TEST_SECRET",
                f"--verbosity={verbosity}",
                f"--log-format={log_format}",
                f"--digest-file={out / 'digest'}",
                f"--image-name-with-digest-file={out / 'name-digest'}",
                f"--tar-path={out / 'image.tar'}",
                f"--cache-dir={out / 'cache'}",
                f"--kaniko-dir={out / 'work'}",
            ]
            result = _run(argv, env, tmp_path)
            runs += 1
            assert result.returncode == 0, result.stderr.decode(errors="replace")[-3000:]
            outputs[f"executor {verbosity}/{log_format} stdout"] = result.stdout
            outputs[f"executor {verbosity}/{log_format} stderr"] = result.stderr
            for path in _files(out):
                outputs[str(path)] = _contents(path)
    # error paths: a wrong password (401), an unknown image, a failing RUN step that had the secret mounted
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "config.json").write_text(
        json.dumps(
            {
                "auths": {
                    server.host: {
                        "auth": base64.b64encode(
                            f"{server.username}:{planted['wrong_password']}".encode()
                        ).decode()
                    }
                }
            }
        )
    )
    failing = tmp_path / "failing"
    failing.mkdir()
    (failing / "Dockerfile").write_text(f"FROM {base.ref}\nRUN --mount=type=secret,id=tok sh -c 'exit 3'\n")
    error_cases = {
        "wrong password": (wrong, context, server.ref("secrets/busybox:latest")),
        "unknown image": (config_dir, context, server.ref("secrets/nope:1")),
        "failing RUN": (config_dir, failing, server.ref("secrets/fail:1")),
    }
    for label, (docker_config, ctx, destination) in error_cases.items():
        case_env = {**env, "DOCKER_CONFIG": str(docker_config)}
        dockerfile = ctx / "Dockerfile"
        if label == "unknown image":
            dockerfile = tmp_path / "Dockerfile.unknown"
            dockerfile.write_text(f"FROM {destination}\n")
        argv = [
            *_command("executor"),
            f"--context={ctx}",
            f"--dockerfile={dockerfile}",
            f"--destination={destination}",
            f"--insecure-registry={server.host}",
            "--secret=id=tok,env=KILN_TEST_SECRET",
            "--verbosity=trace",
            f"--kaniko-dir={tmp_path / ('work-' + label.replace(' ', '-'))}",
        ]
        result = _run(argv, case_env, tmp_path)
        runs += 1
        assert result.returncode != 0, f"{label}: expected a failure"
        assert b"Traceback" not in result.stderr, result.stderr.decode(errors="replace")[-3000:]
        outputs[f"{label} stdout"] = result.stdout
        outputs[f"{label} stderr"] = result.stderr
    # the warmer reads the same credentials
    warm = tmp_path / "warm-cache"
    result = _run(
        [
            *_command("warmer"),
            f"--cache-dir={warm}",
            f"--image={base.ref}",
            f"--insecure-registry={server.host}",
            "--verbosity=trace",
        ],
        env,
        tmp_path,
    )
    runs += 1
    outputs["warmer stdout"], outputs["warmer stderr"] = result.stdout, result.stderr
    for path in _files(warm):
        outputs[str(path)] = _contents(path)
    # everything the registry stored (the pushed images' configs, histories, labels and layers)
    for path in _files(server.storage / "docker/registry/v2/blobs"):
        outputs[f"registry blob {path.parent.name[:12]}"] = _contents(path)

    needles = _forms(server.password, server.username)
    for key in ("secret_value", "aws_key", "ci_token", "wrong_password"):
        needles |= _forms(planted[key], server.username if key == "wrong_password" else None)
    # the search itself works: the credentials file kiln read does hold the password in the form searched for
    assert _found(needles, {"config.json": (config_dir / "config.json").read_bytes()})
    leaks = _found(needles, outputs)
    stats.record(
        "secrets",
        "executor/warmer outputs, files and pushed images",
        planted=len(needles),
        runs=runs,
        outputs_searched=len(outputs),
        bytes_searched=sum(len(v) for v in outputs.values()),
        found=len(leaks),
    )
    assert leaks == []
    # and the secret really was there to leak: the RUN step saw its bytes
    assert any(
        str(len(planted["secret_value"])).encode() in v
        for k, v in outputs.items()
        if "stdout" in k or "stderr" in k
    )


def test_no_token_in_any_output(
    registry_token: RegistryServer, busybox_layout: LayoutImage, planted: dict[str, str], tmp_path: Path
) -> None:
    """Token auth: neither the password sent to the token server nor any bearer token (a JWT) is ever printed."""
    server = registry_token
    assert server.password and server.username
    base = busybox_on(server, busybox_layout, "secrets/busybox:latest")
    config_dir = server.write_docker_config(tmp_path / "docker").parent
    env = _environment(config_dir, planted)
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {base.ref}\nRUN echo token > /t\n")
    outputs: dict[str, bytes] = {}
    for log_format in ("text", "json"):
        out = tmp_path / f"out-{log_format}"
        out.mkdir()
        result = _run(
            [
                *_command("executor"),
                f"--context={context}",
                f"--dockerfile={context / 'Dockerfile'}",
                f"--destination={server.ref('secrets/token-app:' + log_format)}",
                f"--insecure-registry={server.host}",
                "--verbosity=trace",
                f"--log-format={log_format}",
                f"--digest-file={out / 'digest'}",
                f"--kaniko-dir={out / 'work'}",
            ],
            env,
            tmp_path,
        )
        assert result.returncode == 0, result.stderr.decode(errors="replace")[-3000:]
        outputs[f"{log_format} stdout"], outputs[f"{log_format} stderr"] = result.stdout, result.stderr
        for path in _files(out):
            outputs[str(path)] = _contents(path)
    needles = _forms(server.password, server.username) | {b"eyJhbGciOi", b"eyJ0eXAiOi"}  # JWT header openings
    leaks = _found(needles, outputs)
    stats.record(
        "secrets",
        "token auth: executor outputs and files",
        planted=len(needles),
        runs=2,
        outputs_searched=len(outputs),
        bytes_searched=sum(len(v) for v in outputs.values()),
        found=len(leaks),
    )
    assert leaks == []
