"""Tekton: params as env, array params as arguments -> executor argv; results without a newline.

Why arguments for arrays: Tekton can expand an array param only as whole ``args`` items
(``$(params.BUILD_ARGS[*])``), never into env or a script. The step passes
``BUILD_ARGS... -- EXTRA_ARGS...``; a build arg is ``KEY[=VALUE]``, so it can never be ``--``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from kiln.errors import UsageError
from kiln.integrations.dockerconfig import parse_docker_config
from kiln.integrations.request import ExecutorRequest, parse_bool
from kiln.integrations.run import default_executor
from kiln.integrations.session import Plan, execute

DOCKERCONFIG_NAMES = ("config.json", ".dockerconfigjson")


def split_arrays(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """``BUILD_ARGS -- EXTRA_ARGS`` -> the two arrays (the first ``--`` separates them)."""
    if "--" not in args:
        return list(args), []
    at = list(args).index("--")
    return list(args[:at]), list(args[at + 1 :])


def _bound(environ: Mapping[str, str], workspace: str) -> bool:
    """The Task says ``WORKSPACE_<X>_BOUND``; the StepAction, which has no workspaces, passes a path or ''."""
    bound = environ.get(f"WORKSPACE_{workspace}_BOUND")
    path = environ.get(f"WORKSPACE_{workspace}_PATH", "").strip()
    return bool(path) and (bound is None or bound == "true")


def docker_config_of(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """The bound ``dockerconfig`` workspace's ``config.json`` or ``.dockerconfigjson`` (a Secret)."""
    if not _bound(environ, "DOCKERCONFIG"):
        return None
    root = Path(environ["WORKSPACE_DOCKERCONFIG_PATH"])
    for name in DOCKERCONFIG_NAMES:
        if (root / name).is_file():
            return parse_docker_config((root / name).read_text(), f"dockerconfig workspace {name}")
    raise UsageError(
        f"the dockerconfig workspace ({root}) has neither config.json nor .dockerconfigjson",
        hint="bind a docker-registry Secret or a config.json to it",
    )


def ca_environ(environ: Mapping[str, str], work_dir: Path) -> dict[str, str]:
    """With ``sslcertdir`` bound: SSL_CERT_DIR, and a CA bundle (its certs added) for Python's requests."""
    if not _bound(environ, "SSLCERTDIR"):
        return {}
    cert_dir = Path(environ["WORKSPACE_SSLCERTDIR_PATH"])
    bundle = work_dir / "ca-bundle.pem"
    with bundle.open("wb") as out:
        base = environ.get("REQUESTS_CA_BUNDLE") or _certifi_bundle()
        if base:
            with open(base, "rb") as f:
                shutil.copyfileobj(f, out)
            out.write(b"\n")
        for cert in sorted(cert_dir.iterdir()):
            if cert.is_file() and cert.suffix in (".crt", ".pem", ".cer"):
                out.write(cert.read_bytes().rstrip(b"\n") + b"\n")
    return {"SSL_CERT_DIR": str(cert_dir), "REQUESTS_CA_BUNDLE": str(bundle)}


def _certifi_bundle() -> str:
    try:
        import certifi
    except ImportError:
        return ""
    return str(certifi.where())


def plan_from(environ: Mapping[str, str], args: Sequence[str]) -> Plan:
    build_args, extra_args = split_arrays(args)
    image = environ.get("PARAM_IMAGE", "").strip()
    request = ExecutorRequest(
        context=environ.get("PARAM_CONTEXT", "").strip() or ".",
        dockerfile=environ.get("PARAM_DOCKERFILE", "").strip() or "./Dockerfile",
        destinations=(image,) if image else (),
        push=not parse_bool(environ.get("PARAM_SKIP_PUSH", ""), "SKIP_PUSH"),
        provenance=parse_bool(environ.get("PARAM_PROVENANCE", ""), "PROVENANCE"),
        build_args=tuple(build_args),
        extra_args=tuple(extra_args),
    ).with_source(True, environ.get("PARAM_SOURCE_URL", ""), environ.get("PARAM_SOURCE_REVISION", ""))
    return Plan(request, docker_config_of(environ))


def write_result(path: str, value: str) -> None:
    """A result file with no trailing newline (Chains and ``$(tasks.x.results.y)`` take it verbatim)."""
    if path:
        Path(path).write_text(value)


def build(
    environ: Mapping[str, str], args: Sequence[str], stdout: TextIO, executor: Sequence[str] | None = None
) -> int:
    """The step: run the build, then write IMAGE_DIGEST, IMAGE_URL and PROVENANCE_REF/_TAG (the first
    repository's attestation; empty without provenance); the exit code."""
    plan = plan_from(environ, args)
    with tempfile.TemporaryDirectory(prefix="kiln-") as tmp:
        env = {**environ, **ca_environ(environ, Path(tmp))}
        request, outcome = execute(plan, env, Path(tmp), executor or default_executor(environ))
    if not outcome.ok:
        return outcome.exit_code
    write_result(environ.get("RESULT_IMAGE_DIGEST", ""), outcome.digest)
    write_result(environ.get("RESULT_IMAGE_URL", ""), request.destinations[0] if request.destinations else "")
    first = outcome.provenance[0] if outcome.provenance else None
    write_result(environ.get("RESULT_PROVENANCE_REF", ""), first.artifact if first else "")
    write_result(environ.get("RESULT_PROVENANCE_TAG", ""), first.tag if first else "")
    print(f"kiln: {outcome.digest}", file=stdout)
    return 0
