"""GitLab CI: CI_* and KILN_* variables -> executor argv; a dotenv report for downstream jobs.

Why these defaults: they are GitLab's own kaniko recipe -- push to ``$CI_REGISTRY_IMAGE``, log in with
the job's registry credentials unless ``DOCKER_AUTH_CONFIG`` says otherwise, tag a tag pipeline with
its tag and a branch pipeline with the short SHA (plus ``latest`` on the default branch).
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from kiln.errors import UsageError
from kiln.integrations.dockerconfig import RegistryLogin, docker_config_json, parse_docker_config
from kiln.integrations.envrequest import request_from_env
from kiln.integrations.request import parse_bool
from kiln.integrations.run import BuildOutcome, default_executor
from kiln.integrations.session import Plan, execute

SECRET_VARIABLES = (
    "DOCKER_AUTH_CONFIG",
    "CI_REGISTRY_PASSWORD",
    "CI_DEPENDENCY_PROXY_PASSWORD",
    "CI_JOB_TOKEN",
)
DEFAULT_LAYOUT = "kiln-oci-layout"
_TAG_BAD = re.compile(r"[^A-Za-z0-9_.-]")


def docker_tag(text: str) -> str:
    """A git ref made into a valid image tag (``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``)."""
    tag = _TAG_BAD.sub("-", text).lstrip(".-")[:128]
    return tag or "latest"


def default_destinations(environ: Mapping[str, str]) -> list[str]:
    """Tag pipeline: ``image:<tag>``; else ``image:<short sha>``, plus ``image:latest`` on the default branch."""
    image = environ.get("KILN_IMAGE") or environ.get("CI_REGISTRY_IMAGE", "")
    if not image:
        return []
    if environ.get("CI_COMMIT_TAG"):
        return [f"{image}:{docker_tag(environ['CI_COMMIT_TAG'])}"]
    out = []
    if environ.get("CI_COMMIT_SHORT_SHA"):
        out.append(f"{image}:{environ['CI_COMMIT_SHORT_SHA']}")
    branch = environ.get("CI_COMMIT_BRANCH", "")
    if branch and branch == environ.get("CI_DEFAULT_BRANCH"):
        out.append(f"{image}:latest")
    return out or [f"{image}:latest"]


def _proxy_keys(server: str) -> list[str]:
    """The dependency proxy answers as ``host:443`` and as ``host``; images name either."""
    keys = [server]
    if server.endswith(":443"):
        keys.append(server.removesuffix(":443"))
    return keys


def docker_config_from(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """``DOCKER_AUTH_CONFIG`` as is; else the job's registry and dependency-proxy logins; else None."""
    if environ.get("DOCKER_AUTH_CONFIG", "").strip():
        return parse_docker_config(environ["DOCKER_AUTH_CONFIG"], "DOCKER_AUTH_CONFIG")
    logins: list[RegistryLogin] = []
    if environ.get("CI_REGISTRY") and environ.get("CI_REGISTRY_USER") and environ.get("CI_REGISTRY_PASSWORD"):
        logins.append(
            RegistryLogin(
                environ["CI_REGISTRY"], environ["CI_REGISTRY_USER"], environ["CI_REGISTRY_PASSWORD"]
            )
        )
    proxy = environ.get("CI_DEPENDENCY_PROXY_SERVER", "")
    if proxy and environ.get("CI_DEPENDENCY_PROXY_USER") and environ.get("CI_DEPENDENCY_PROXY_PASSWORD"):
        for key in _proxy_keys(proxy):
            logins.append(
                RegistryLogin(
                    key, environ["CI_DEPENDENCY_PROXY_USER"], environ["CI_DEPENDENCY_PROXY_PASSWORD"]
                )
            )
    return docker_config_json(logins) if logins else None


def plan_from_env(environ: Mapping[str, str]) -> Plan:
    request = request_from_env(environ, default_destinations(environ)).with_source(
        parse_bool(environ.get("KILN_SOURCE_METADATA", ""), "KILN_SOURCE_METADATA", default=True),
        environ.get("CI_PROJECT_URL", ""),
        environ.get("CI_COMMIT_SHA", ""),
    )
    keep = environ.get("KILN_KEEP_OCI_LAYOUT", "").strip()
    if keep:  # the templates' switch: the layout path is always set, kept only on request
        wanted = parse_bool(keep, "KILN_KEEP_OCI_LAYOUT")
        path = (request.oci_layout_path or DEFAULT_LAYOUT) if wanted else ""
        request = dataclasses.replace(request, oci_layout_path=path)
    if request.push and not request.destinations:
        raise UsageError(
            "no image to push: neither KILN_DESTINATIONS nor CI_REGISTRY_IMAGE is set",
            hint="set the 'destinations' input, or enable the project's container registry",
        )
    return Plan(request, docker_config_from(environ), SECRET_VARIABLES)


def dotenv_report(outcome: BuildOutcome, provenance: bool = False) -> str:
    """``IMAGE_DIGEST`` and ``IMAGE_REF`` (the first ``repo@digest``) for ``artifacts:reports:dotenv``; with
    provenance also ``PROVENANCE_REF`` (the first attestation's ``repo@digest``) and ``PROVENANCE_TAG`` (its
    referrers fallback tag ``repo:sha256-<hex>``, empty when the registry has the referrers API)."""
    ref = outcome.image_refs[0] if outcome.image_refs else ""
    report = f"IMAGE_DIGEST={outcome.digest}\nIMAGE_REF={ref}\n"
    if provenance:
        first = outcome.provenance[0] if outcome.provenance else None
        report += (
            f"PROVENANCE_REF={first.artifact if first else ''}\nPROVENANCE_TAG={first.tag if first else ''}\n"
        )
    return report


def build(environ: Mapping[str, str], stdout: TextIO, executor: Sequence[str] | None = None) -> int:
    """The job's script: plan from the variables, run, write the dotenv report; the exit code."""
    plan = plan_from_env(environ)
    dotenv = Path(environ.get("KILN_DOTENV") or "kiln.env")
    with tempfile.TemporaryDirectory(prefix="kiln-") as tmp:
        request, outcome = execute(plan, environ, Path(tmp), executor or default_executor(environ))
    if not outcome.ok:
        return outcome.exit_code
    dotenv.parent.mkdir(parents=True, exist_ok=True)
    dotenv.write_text(dotenv_report(outcome, request.provenance))
    print(f"kiln: {outcome.digest} -> {', '.join(request.destinations) or '(not pushed)'}", file=stdout)
    return 0
