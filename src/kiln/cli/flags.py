"""kaniko's executor flags as click options: same names, short forms, types and defaults.

Boolean flags behave like Go's pflag: ``--no-push`` and ``--no-push=false`` both work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from kiln.cli.values import parse_bool

F = TypeVar("F", bound=Callable[..., Any])

# flag -> environment variable that sets it too (how each combines with the flag: docs/flags.md)
ENV_ALIASES: dict[str, str] = {
    "no-push": "KANIKO_NO_PUSH",
    "registry-mirror": "KANIKO_REGISTRY_MIRROR",
    "registry-map": "KANIKO_REGISTRY_MAP",
    "kaniko-dir": "KANIKO_DIR",
}
# deprecated spelling -> the flag it sets
DEPRECATED_ALIASES: dict[str, str] = {
    "snapshotMode": "snapshot-mode",
    "customPlatform": "custom-platform",
    "tarPath": "tar-path",
    "whitelist-var-run": "ignore-var-run",
}
# flags kaniko does not have
KILN_EXTRAS = (
    "isolation",
    "secret",
    "generate-provenance",
    "provenance-refs-file",
    "allowed-registries",
    "denied-registries",
    "allowed-repos",
    "denied-repos",
    "push-by-digest",
    "publish-index",
    "digests-from",
    "legacy-manifest-list",
    "index-annotations",
    "annotation",
    "image-source",
    "image-revision",
    "image-created",
)
# how values of non-scalar flags are written
VALUE_SYNTAX: dict[str, str] = {
    "registry-certificate": "registry=path (map)",
    "registry-client-cert": "registry=cert,key (map)",
    "registry-map": "orig=mirror[;orig=mirror] (multi-map)",
    "git": "git options",
    "cache-ttl": "duration",
    "build-arg": "KEY[=VALUE] (list)",
    "label": "KEY=VALUE (list)",
    "annotation": "KEY=VALUE (list)",
    "secret": "id=..,src=.. or id=..,env=.. (list)",
    "allowed-registries": "glob[,glob] (list)",
    "denied-registries": "glob[,glob] (list)",
    "allowed-repos": "glob[,glob] (list)",
    "denied-repos": "glob[,glob] (list)",
    "digests-from": "path (list)",
    "index-annotations": "KEY=VALUE (list)",
}


class GoBool(click.ParamType):  # type: ignore[type-arg]
    name = "bool"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> bool:
        if isinstance(value, bool):
            return value
        parsed = parse_bool(str(value))
        if parsed is None:
            self.fail(f"{value!r} is not a boolean (use true or false)", param, ctx)
        return parsed


GO_BOOL = GoBool()


def bool_flag(
    name: str, default: bool, help: str, hidden: bool = False, short: str | None = None
) -> Callable[[F], F]:
    names = (short, name) if short else (name,)
    return click.option(
        *names,
        type=GO_BOOL,
        is_flag=False,
        flag_value="true",
        default=default,
        metavar="[BOOL]",
        help=f"{help}  [default: {str(default).lower()}]",
        hidden=hidden,
    )


def string_flag(*names: str, default: str = "", help: str, hidden: bool = False) -> Callable[[F], F]:
    return click.option(*names, default=default, show_default=bool(default), help=help, hidden=hidden)


def multi_flag(*names: str, help: str, hidden: bool = False) -> Callable[[F], F]:
    return click.option(*names, multiple=True, help=help + " (repeatable)", hidden=hidden)


def int_flag(name: str, default: int, help: str) -> Callable[[F], F]:
    return click.option(name, type=int, default=default, show_default=True, help=help)


def registry_flags(f: F) -> F:
    """The registry-access flags kaniko's executor and warmer share."""
    for deco in reversed(
        [
            bool_flag("--insecure-pull", False, "pull images from plain HTTP registries"),
            bool_flag("--skip-tls-verify-pull", False, "skip TLS verification when pulling"),
            multi_flag("--insecure-registry", help="registry to use over plain HTTP"),
            multi_flag("--skip-tls-verify-registry", help="registry whose TLS certificate is not verified"),
            multi_flag("--registry-certificate", help="registry=/path/ca.pem: CA for one registry"),
            multi_flag(
                "--registry-client-cert", help="registry=/cert.pem,/key.pem: client certificate (mTLS)"
            ),
            multi_flag("--registry-map", help="orig=mirror[;orig2=mirror2]: registries to pull through"),
            multi_flag("--registry-mirror", help="mirror for docker.io pulls"),
            bool_flag(
                "--skip-default-registry-fallback",
                False,
                "fail instead of pulling from the original registry",
            ),
        ]
    ):
        f = deco(f)
    return f


def policy_flags(f: F) -> F:
    """The source policy: where images may be pulled from (kiln.policy; docs/supply-chain.md)."""
    for deco in reversed(
        [
            multi_flag("--allowed-registries", help="glob[,glob]: pull only from matching registries"),
            multi_flag("--denied-registries", help="glob[,glob]: never pull from matching registries"),
            multi_flag(
                "--allowed-repos", help="glob[,glob]: pull only matching repositories (registry/repo)"
            ),
            multi_flag("--denied-repos", help="glob[,glob]: never pull matching repositories"),
        ]
    ):
        f = deco(f)
    return f


def log_flags(f: F) -> F:
    for deco in reversed(
        [
            string_flag(
                "-v",
                "--verbosity",
                default="info",
                help="log level: trace, debug, info, warn, error, fatal, panic",
            ),
            string_flag("--log-format", default="color", help="text, color or json"),
            bool_flag("--log-timestamp", False, "full timestamps in log lines"),
        ]
    ):
        f = deco(f)
    return f


def executor_flags(f: F) -> F:
    """Every kaniko executor flag (KANIKO_COMPAT.md), plus kiln's own few."""
    decorators: list[Callable[[F], F]] = [
        bool_flag(
            "--force", False, "build even when kiln cannot tell it runs in a container (inplace isolation)"
        ),
        string_flag("-f", "--dockerfile", default="Dockerfile", help="path or URL of the Dockerfile"),
        string_flag(
            "-c",
            "--context",
            default="/workspace/",
            help="build context: path, dir://, tar://, git://, s3://, gs://, https://",
        ),
        string_flag("--context-sub-path", help="sub-directory of the context to build from"),
        string_flag("-b", "--bucket", help="legacy: GCS bucket holding the context", hidden=True),
        multi_flag("-d", "--destination", help="image reference to push"),
        string_flag("--snapshot-mode", default="full", help="full, redo or time"),
        string_flag("--snapshotMode", help="deprecated: use --snapshot-mode", hidden=False),
        string_flag("--custom-platform", help="os/arch[/variant] to build for (default: this machine's)"),
        string_flag("--customPlatform", help="deprecated: use --custom-platform"),
        multi_flag("--build-arg", help="KEY=VALUE build argument (bare KEY: from the environment)"),
        bool_flag("--insecure", False, "push to plain HTTP registries"),
        bool_flag("--skip-tls-verify", False, "do not verify registries' TLS certificates"),
        int_flag(
            "--push-retry", 0, "retries for each push request (2 at least, as kaniko's registry library)"
        ),
        bool_flag(
            "--push-ignore-immutable-tag-errors", False, "treat 'tag immutable' push errors as success"
        ),
        int_flag("--image-fs-extract-retry", 0, "retries for extracting a base image's filesystem"),
        int_flag(
            "--image-download-retry", 0, "retries for each image download request (2 at least, as kaniko's)"
        ),
        string_flag("--kaniko-dir", default="/kaniko", help="kiln's working directory (env KANIKO_DIR)"),
        string_flag("--tar-path", help="also write the image as a docker-load tarball here"),
        string_flag("--tarPath", help="deprecated: use --tar-path"),
        bool_flag("--single-snapshot", False, "one layer per stage, snapshotted at its end"),
        bool_flag("--reproducible", False, "strip timestamps so identical inputs give identical digests"),
        string_flag("--target", help="stage to build"),
        bool_flag("--no-push", False, "do not push the image (env KANIKO_NO_PUSH)"),
        bool_flag("--no-push-cache", False, "do not push cache layers"),
        string_flag("--cache-repo", help="repository (or oci:/path) for cached layers"),
        string_flag("--cache-dir", default="/cache", help="directory of cached base images (see warmer)"),
        string_flag("--digest-file", help="write the image digest here"),
        string_flag("--image-name-with-digest-file", help="write repo@digest lines here"),
        string_flag("--image-name-tag-with-digest-file", help="write repo:tag@digest lines here"),
        string_flag("--oci-layout-path", help="also write the image as an OCI image layout here"),
        click.option(
            "--compression",
            type=click.Choice(["gzip", "zstd"]),
            default=None,
            help="layer compression (default gzip)",
        ),
        int_flag("--compression-level", -1, "compression level (-1: the default, fast)"),
        bool_flag("--cache", False, "use the layer cache"),
        bool_flag("--compressed-caching", True, "keep compressed cache layers in memory"),
        bool_flag("--cleanup", False, "delete the build's filesystem when done"),
        string_flag("--cache-ttl", default="336h", help="how long cached layers are used"),
        bool_flag("--ignore-var-run", True, "leave /var/run out of snapshots"),
        bool_flag("--whitelist-var-run", True, "deprecated: use --ignore-var-run", hidden=True),
        multi_flag("--label", help="KEY=VALUE label for the image"),
        multi_flag("--annotation", help="KEY=VALUE annotation on the image manifest"),
        string_flag("--image-source", help="URL: org.opencontainers.image.source label and annotation"),
        string_flag("--image-revision", help="org.opencontainers.image.revision label and annotation"),
        bool_flag(
            "--image-created",
            False,
            "org.opencontainers.image.created label and annotation (the config's time)",
        ),
        bool_flag("--skip-unused-stages", False, "build only the stages the target needs"),
        bool_flag("--use-new-run", False, "experimental RUN snapshotting"),
        multi_flag(
            "--git", help="branch=,single-branch=,recurse-submodules=,insecure-skip-tls= for git contexts"
        ),
        bool_flag("--cache-copy-layers", False, "cache COPY layers too"),
        bool_flag("--cache-run-layers", True, "cache RUN layers"),
        multi_flag("--ignore-path", help="path to leave out of snapshots"),
        bool_flag("--force-build-metadata", False, "make a layer even for metadata-only steps"),
        bool_flag("--skip-push-permission-check", False, "do not check push access before building"),
        string_flag(
            "--azure-container-registry-config", help="no effect (kept for compatibility)", hidden=True
        ),
        click.option(
            "--isolation",
            type=click.Choice(["chroot", "inplace"]),
            default=None,
            help="how RUN is isolated (default: chroot when possible)",
        ),
        multi_flag(
            "--secret", help="id=NAME,src=FILE or id=NAME,env=VAR: secret for RUN --mount=type=secret"
        ),
        bool_flag("--generate-provenance", False, "attach a SLSA provenance attestation to the image"),
        string_flag(
            "--provenance-refs-file",
            help="write where the provenance went here (JSON; needs --generate-provenance)",
        ),
        bool_flag(
            "--push-by-digest", False, "push to the destinations' repositories by digest, tags untouched"
        ),
        bool_flag(
            "--publish-index", False, "push by digest, then an index of this image and --digests-from ones"
        ),
        multi_flag(
            "--digests-from", help="digest file or directory of other platforms' builds (--publish-index)"
        ),
        bool_flag("--legacy-manifest-list", False, "publish a Docker manifest list instead of an OCI index"),
        multi_flag("--index-annotations", help="KEY=VALUE annotation on the published index"),
    ]
    f = registry_flags(policy_flags(log_flags(f)))  # listed after the build flags in --help
    for deco in reversed(decorators):
        f = deco(f)
    return f
