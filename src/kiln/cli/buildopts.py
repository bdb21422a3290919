"""From parsed executor flags and the process environment to one frozen BuildOptions, in kaniko's order."""

from __future__ import annotations

import logging
import os
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from kiln.build.options import BuildOptions, CompressionName, SecretSource, Verbosity
from kiln.cli.logs import FORMATS, normalise_verbosity
from kiln.cli.values import (
    parse_bool,
    parse_client_certs,
    parse_duration,
    parse_git_options,
    parse_key_values,
    parse_multi_key_values,
)
from kiln.cli.workdir import choose_work_dir, docker_config_in, resolve_kaniko_dir
from kiln.context.base import GitOptions
from kiln.context.scrub import scrub_url
from kiln.errors import UsageError
from kiln.oci import Platform
from kiln.policy import SourcePolicy
from kiln.registry.options import RegistryOptions
from kiln.sandbox import default_isolation

log = logging.getLogger("kiln.cli")
DOCKER_HUB_API = "index.docker.io"


def _registry_maps(params: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """--registry-map, then KANIKO_REGISTRY_MAP, then every mirror as an index.docker.io entry."""
    mirrors = list(params["registry_mirror"])
    mirrors.extend(m for m in environ.get("KANIKO_REGISTRY_MIRROR", "").split(",") if m)
    parts = [
        parse_multi_key_values(params["registry_map"], "--registry-map"),
        parse_multi_key_values([environ.get("KANIKO_REGISTRY_MAP", "")], "KANIKO_REGISTRY_MAP"),
        {DOCKER_HUB_API: tuple(mirrors)} if mirrors else {},
    ]
    merged: dict[str, tuple[str, ...]] = {}
    for part in parts:
        for registry, targets in part.items():
            merged[registry] = merged.get(registry, ()) + targets
    return merged


def registry_options(
    params: Mapping[str, Any], environ: Mapping[str, str], user_agent: str
) -> RegistryOptions:
    return RegistryOptions(
        insecure=bool(params.get("insecure", False)),
        insecure_pull=params["insecure_pull"],
        insecure_registries=tuple(params["insecure_registry"]),
        skip_tls_verify=bool(params.get("skip_tls_verify", False)),
        skip_tls_verify_pull=params["skip_tls_verify_pull"],
        skip_tls_verify_registries=tuple(params["skip_tls_verify_registry"]),
        registry_certificates=parse_key_values(params["registry_certificate"], "--registry-certificate"),
        registry_client_certs=parse_client_certs(params["registry_client_cert"]),
        registry_maps=_registry_maps(params, environ),
        skip_default_registry_fallback=params["skip_default_registry_fallback"],
        push_retry=params.get("push_retry", 0),
        image_download_retry=params.get("image_download_retry", 0),
        user_agent=user_agent,
        environ=dict(environ),
    )


def source_policy(params: Mapping[str, Any]) -> SourcePolicy:
    """--allowed-registries, --denied-registries, --allowed-repos, --denied-repos (repeatable, comma lists)."""
    return SourcePolicy.from_flags(
        params["allowed_registries"],
        params["denied_registries"],
        params["allowed_repos"],
        params["denied_repos"],
    )


def _index_flags(p: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The multi-arch flags: the index ones need --publish-index, and an index needs a push."""
    if not p["publish_index"]:
        for flag in ("digests_from", "legacy_manifest_list", "index_annotations"):
            if p[flag]:
                raise UsageError(f"--{flag.replace('_', '-')} needs --publish-index")
    elif p["no_push"]:
        raise UsageError("--publish-index needs a push", hint="drop --no-push, or run kiln index later")
    return tuple(parse_key_values(p["index_annotations"], "--index-annotations").items())


def _image_source(url: str) -> str:
    """--image-source goes into the image for anyone to read: a URL with a user or token is refused."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        raise UsageError(
            f"--image-source {scrub_url(url)!r} holds a user or password",
            hint="give the repository's public URL: the value is stored in the image's labels and annotations",
        )
    return url


def _build_args(values: tuple[str, ...], environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for item in values:
        key, sep, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid --build-arg {item!r}: expected KEY=VALUE or KEY")
        if not sep:
            value = environ.get(key, "")  # kaniko: os.Getenv, so a missing variable gives KEY=""
        out.append((key, value))
    return tuple(out)


def _labels(values: tuple[str, ...], flag: str = "--label") -> tuple[tuple[str, str], ...]:
    out = []
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or (flag == "--annotation" and not key):
            raise UsageError(f"invalid {flag} {item!r}: expected KEY=VALUE")
        out.append((key, value))
    return tuple(out)


def _secrets(values: tuple[str, ...]) -> tuple[SecretSource, ...]:
    out = []
    for item in values:
        fields: dict[str, str] = {}
        for part in item.split(","):
            key, sep, value = part.partition("=")
            if not sep or key not in ("id", "src", "source", "env", "type"):
                raise UsageError(
                    f"invalid --secret {item!r}", hint="expected id=NAME,src=FILE or id=NAME,env=VAR"
                )
            fields["src" if key == "source" else key] = value
        if "id" not in fields or not fields["id"]:
            raise UsageError(
                f"invalid --secret {item!r}: no id=", hint="expected id=NAME,src=FILE or id=NAME,env=VAR"
            )
        kind = fields.pop("type", "")
        if kind not in ("", "file", "env"):
            raise UsageError(f"invalid --secret {item!r}: type must be file or env")
        if kind == "env" and "src" in fields and "env" not in fields:
            fields["env"] = fields.pop("src")  # BuildKit: type=env,src=VAR names the variable
        if "src" in fields and "env" in fields:
            raise UsageError(f"invalid --secret {item!r}: give src= or env=, not both")
        if "src" not in fields and "env" not in fields:
            fields["env"] = fields["id"]  # BuildKit: with neither, the id names an environment variable
        out.append(SecretSource(id=fields["id"], src=fields.get("src"), env=fields.get("env")))
    return tuple(out)


def _platform(text: str) -> str:
    return str(Platform.parse(text) if text else Platform.host())


def _absolute(path: str, cwd: str) -> str:
    """kaniko makes output and cache paths absolute before it changes to ``/``; "" stays unset."""
    return os.path.normpath(os.path.join(cwd, path)) if path else ""


def _absolute_context(context: str, cwd: str) -> str:
    """A bare path (no ``scheme://``) is a local directory, made absolute; URLs are kept."""
    return context if "://" in context else _absolute(context, cwd) + ("/" if context.endswith("/") else "")


def _absolute_dockerfile(dockerfile: str, cwd: str) -> str:
    """kaniko: an existing path is used as is; otherwise it is looked up inside the context."""
    if "://" in dockerfile or not dockerfile:
        return dockerfile
    candidate = _absolute(dockerfile, cwd)
    return candidate if os.path.exists(candidate) else dockerfile


_LEVELS = {"gzip": range(0, 10), "zstd": range(1, 23)}


def _check_compression_level(compression: str, level: int) -> None:
    """-1 (or 0, which kaniko also treats as "default") picks the fast default; else the codec's range."""
    if level in (-1, 0):
        return
    allowed = _LEVELS[compression]
    if level not in allowed:
        raise UsageError(
            f"invalid --compression-level {level} for {compression}",
            hint=f"use {allowed.start}..{allowed.stop - 1}, or -1 for the default",
        )


def _copy_deprecated(p: dict[str, Any]) -> None:
    """kaniko's deprecated spellings write the same setting, with a warning."""
    for old, new, flag in (
        ("snapshotmode", "snapshot_mode", "snapshotMode"),
        ("customplatform", "custom_platform", "customPlatform"),
    ):
        if p.get(old):
            log.warning("--%s is deprecated, use --%s", flag, new.replace("_", "-"))
            p[new] = p[old]
    if p.get("tarpath"):
        # kaniko binds --tarPath straight to the setting and never warns; its help calls it deprecated
        log.warning("--tarPath is deprecated, use --tar-path")
        p["tar_path"] = p["tarpath"]
    if p.get("azure_container_registry_config"):
        log.warning("--azure-container-registry-config has no effect (kaniko no longer reads it)")


@dataclass(frozen=True)
class _FlagValues:
    """Flag values whose syntax kaniko checks while parsing the command line, before anything else."""

    git: GitOptions
    labels: tuple[tuple[str, str], ...]
    annotations: tuple[tuple[str, str], ...]
    secrets: tuple[SecretSource, ...]
    cache_ttl: timedelta
    compression: CompressionName
    verbosity: Verbosity
    certificates: dict[str, str]
    client_certs: dict[str, tuple[str, str]]
    source_policy: SourcePolicy


def _flag_values(p: Mapping[str, Any]) -> _FlagValues:
    if p["log_format"] not in FORMATS:
        raise UsageError(f"invalid --log-format {p['log_format']!r}", hint="one of text, color, json")
    compression: CompressionName = "zstd" if p["compression"] == "zstd" else "gzip"
    _check_compression_level(compression, p["compression_level"])
    parse_multi_key_values(p["registry_map"], "--registry-map")  # syntax only; env values join later
    return _FlagValues(
        git=parse_git_options(p["git"]),
        labels=_labels(tuple(p["label"])),
        annotations=_labels(tuple(p["annotation"]), "--annotation"),
        secrets=_secrets(tuple(p["secret"])),
        cache_ttl=parse_duration(p["cache_ttl"], "--cache-ttl"),
        compression=compression,
        verbosity=normalise_verbosity(p["verbosity"]),
        certificates=parse_key_values(p["registry_certificate"], "--registry-certificate"),
        client_certs=parse_client_certs(p["registry_client_cert"]),
        source_policy=source_policy(p),
    )


def executor_options(
    params: Mapping[str, Any],
    environ: Mapping[str, str],
    user_agent: str,
    *,
    cwd: str | None = None,
    in_container: Callable[[], bool] | None = None,
) -> BuildOptions:
    """Flag syntax first, then deprecated aliases, env aliases and kaniko's start-up checks in its order.

    ``cwd`` makes relative paths absolute (default: the current directory); ``in_container``
    answers whether ``/kaniko`` may be created (default: kiln.sandbox's container detection).
    """
    p = dict(params)
    cwd = cwd or os.getcwd()
    values = _flag_values(p)
    _copy_deprecated(p)
    if "KANIKO_NO_PUSH" in environ:
        p["no_push"] = bool(parse_bool(environ["KANIKO_NO_PUSH"]))
    kaniko_dir, chosen = resolve_kaniko_dir(p["kaniko_dir"], environ)
    environ = docker_config_in(kaniko_dir, environ)
    registry = registry_options(p, environ, user_agent)  # KANIKO_REGISTRY_*, mirrors as maps
    if p.get("snapshot_mode") not in ("full", "redo", "time"):
        raise UsageError(f"invalid --snapshot-mode {p['snapshot_mode']!r}", hint="one of full, redo, time")
    platform = _platform(p.get("custom_platform") or "")
    if chosen:  # kaniko checks (and makes) its dir here; a fallback temp dir is made last, below
        choose_work_dir(kaniko_dir, chosen, lambda: False)
    build_args = _build_args(tuple(p["build_arg"]), environ)
    destinations = tuple(p["destination"])
    if not destinations and not p["no_push"]:
        raise UsageError("you must provide --destination, or use --no-push")
    if p["cache"] and p["no_push"] and not p["cache_repo"]:
        raise UsageError("if using cache with --no-push, specify cache repo with --cache-repo")
    for flag in ("image_name_with_digest_file", "image_name_tag_with_digest_file"):
        if p[flag] and not destinations:
            raise UsageError(f"--{flag.replace('_', '-')} requires at least one --destination")
    if p["provenance_refs_file"] and not p["generate_provenance"]:
        raise UsageError("--provenance-refs-file requires --generate-provenance")
    index_annotations = _index_flags(p)
    context = p["context"]
    if p.get("bucket") and context == "/workspace/":
        bucket = p["bucket"]
        context = bucket if "://" in bucket else f"gs://{bucket}"
    for name in ("tar_path", "oci_layout_path", "digest_file", "image_name_with_digest_file",
                 "image_name_tag_with_digest_file", "cache_dir"):  # fmt: skip
        if "://" not in p[name]:  # --digest-file may be an https:// URL (HTTP PUT)
            p[name] = _absolute(p[name], cwd)
    p["provenance_refs_file"] = _absolute(p["provenance_refs_file"], cwd)
    if in_container is None:

        def in_container() -> bool:
            from kiln.sandbox.inplace import detect_container  # only when /kaniko must be created

            return detect_container(environ)

    work_dir = choose_work_dir(kaniko_dir, chosen, in_container)  # last: no temp dir left on errors
    return BuildOptions(
        dockerfile=_absolute_dockerfile(p["dockerfile"], cwd),
        context=_absolute_context(context, cwd),
        context_sub_path=p["context_sub_path"],
        git=values.git,
        target=p["target"],
        build_args=build_args,
        labels=values.labels,
        annotations=values.annotations,
        image_source=_image_source(p["image_source"]),
        image_revision=p["image_revision"],
        image_created=p["image_created"],
        custom_platform=platform,
        skip_unused_stages=p["skip_unused_stages"],
        secrets=values.secrets,
        source_policy=values.source_policy,
        destinations=destinations,
        no_push=p["no_push"],
        tar_path=p["tar_path"],
        oci_layout_path=p["oci_layout_path"],
        digest_file=p["digest_file"],
        image_name_with_digest_file=p["image_name_with_digest_file"],
        image_name_tag_with_digest_file=p["image_name_tag_with_digest_file"],
        push_ignore_immutable_tag_errors=p["push_ignore_immutable_tag_errors"],
        skip_push_permission_check=p["skip_push_permission_check"],
        push_by_digest=p["push_by_digest"],
        publish_index=p["publish_index"],
        digests_from=tuple(_absolute(d, cwd) for d in p["digests_from"]),
        legacy_manifest_list=p["legacy_manifest_list"],
        index_annotations=index_annotations,
        generate_provenance=p["generate_provenance"],
        provenance_refs_file=p["provenance_refs_file"],
        snapshot_mode=p["snapshot_mode"],
        single_snapshot=p["single_snapshot"],
        reproducible=p["reproducible"],
        compression=values.compression,
        compression_level=p["compression_level"],
        ignore_var_run=p["ignore_var_run"] and p["whitelist_var_run"],
        ignore_paths=tuple(p["ignore_path"]),
        force_build_metadata=p["force_build_metadata"],
        use_new_run=p["use_new_run"],
        image_fs_extract_retry=p["image_fs_extract_retry"],
        cache=p["cache"],
        cache_repo=p["cache_repo"],
        cache_dir=p["cache_dir"],
        cache_ttl=values.cache_ttl,
        cache_copy_layers=p["cache_copy_layers"],
        cache_run_layers=p["cache_run_layers"],
        no_push_cache=p["no_push_cache"],
        compressed_caching=p["compressed_caching"],
        kaniko_dir=kaniko_dir,
        work_dir=work_dir,
        isolation="inplace" if (p["isolation"] or default_isolation()) == "inplace" else "chroot",
        force=p["force"],
        cleanup=p["cleanup"],
        verbosity=values.verbosity,
        log_format=p["log_format"],
        log_timestamp=p["log_timestamp"],
        registry=registry,
        environ=dict(environ),
    )
