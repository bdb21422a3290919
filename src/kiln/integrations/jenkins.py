"""Jenkins: the ``kilnBuild`` step's KILN_* variables -> executor argv; digest files for archiving.

Why env only: the Groovy step binds credentials with ``withCredentials`` and passes every value with
``withEnv``; its ``sh`` script is a constant, so no value (and no secret) is ever part of a command line.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from kiln.integrations.dockerconfig import (
    RegistryLogin,
    docker_config_json,
    existing_docker_config,
    parse_docker_config,
)
from kiln.integrations.envrequest import request_from_env
from kiln.integrations.request import parse_bool
from kiln.integrations.run import default_executor
from kiln.integrations.session import Plan, execute

SECRET_VARIABLES = ("KILN_REGISTRY_PASSWORD",)
OUTPUT_NAMES = ("digest", "image-refs", "image-tag-refs")


def plan_from_env(environ: Mapping[str, str]) -> Plan:
    """Credentials: a docker config file credential, else a username/password credential, else none."""
    out_dir = Path(environ.get("KILN_OUTPUT_DIR") or "kiln-out")
    request = request_from_env(environ).with_source(  # the Git plugin's GIT_URL may hold a token: dropped
        parse_bool(environ.get("KILN_SOURCE_METADATA", ""), "KILN_SOURCE_METADATA", default=True),
        environ.get("GIT_URL", ""),
        environ.get("GIT_COMMIT", ""),
    )
    named = bool(request.destinations)  # the executor refuses the name files without a destination
    request = dataclasses.replace(
        request,
        digest_file=str(out_dir / "digest"),
        image_name_with_digest_file=str(out_dir / "image-refs") if named else "",
        image_name_tag_with_digest_file=str(out_dir / "image-tag-refs") if named else "",
        provenance_refs_file=str(out_dir / "provenance-refs.json") if request.provenance else "",
    )
    config = None
    config_file = environ.get("KILN_DOCKER_CONFIG_FILE", "")
    if config_file:
        config = parse_docker_config(Path(config_file).read_text(), "the docker config credential")
    if environ.get("KILN_REGISTRY_USER") and environ.get("KILN_REGISTRY_PASSWORD"):
        login = RegistryLogin(
            environ.get("KILN_REGISTRY", ""), environ["KILN_REGISTRY_USER"], environ["KILN_REGISTRY_PASSWORD"]
        )
        config = docker_config_json(
            [login], config if config is not None else existing_docker_config(environ)
        )
    return Plan(request, config, (*SECRET_VARIABLES, "KILN_DOCKER_CONFIG_FILE"))


def build(environ: Mapping[str, str], stdout: TextIO, executor: Sequence[str] | None = None) -> int:
    """Run the build; on success the output dir holds ``digest``, ``image-refs``, ``image-tag-refs`` and,
    with provenance, kiln's ``provenance-refs.json`` plus its lines for kilnBuild: ``provenance-refs``
    (each attestation's ``repo@digest``) and ``provenance-tags`` (the referrers fallback tags kiln wrote)."""
    plan = plan_from_env(environ)
    Path(plan.request.digest_file).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kiln-") as tmp:
        _, outcome = execute(plan, environ, Path(tmp), executor or default_executor(environ))
    if outcome.ok:
        out_dir = Path(plan.request.digest_file).parent
        for name in OUTPUT_NAMES:  # kilnBuild reads them all; a build without names leaves them empty
            (out_dir / name).touch()
        if plan.request.provenance:
            refs = outcome.provenance
            (out_dir / "provenance-refs").write_text("".join(f"{r.artifact}\n" for r in refs))
            (out_dir / "provenance-tags").write_text("".join(f"{r.tag}\n" for r in refs if r.tag))
        print(f"kiln: {outcome.digest}", file=stdout)
    return outcome.exit_code
