"""``warmer``: kaniko's base-image cache warmer command line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from kiln.cli.executor import USER_AGENT
from kiln.cli.flags import bool_flag, log_flags, multi_flag, policy_flags, registry_flags, string_flag
from kiln.cli.render import KilnCommand
from kiln.cli.values import parse_duration
from kiln.errors import UsageError


def warmer_flags(f: Any) -> Any:
    for deco in reversed(
        [
            multi_flag("-i", "--image", help="image to cache"),
            string_flag("-c", "--cache-dir", default="/cache", help="directory to cache images in"),
            bool_flag("--force", False, "replace images already cached", short="-f"),
            string_flag("--cache-ttl", default="336h", help="how long a cached image stays fresh"),
            string_flag(
                "--customPlatform", help="os/arch[/variant] of the images to cache (default: this machine's)"
            ),
            string_flag("-d", "--dockerfile", help="cache the base images this Dockerfile names"),
            multi_flag("--build-arg", help="KEY=VALUE build argument for the Dockerfile's FROM lines"),
        ]
    ):
        f = deco(f)
    return registry_flags(policy_flags(log_flags(f)))


def run_warm(params: dict[str, Any]) -> None:
    """Check the flags, then pull every --image and --dockerfile base into --cache-dir."""
    from kiln.build.cache.warm import dockerfile_bases, warm
    from kiln.cli import logs
    from kiln.cli.buildopts import registry_options, source_policy
    from kiln.oci import Platform

    logs.configure(params["verbosity"], params["log_format"], params["log_timestamp"])
    ttl = parse_duration(params["cache_ttl"] or "336h", "--cache-ttl")
    policy = source_policy(params)
    platform = Platform.parse(params["customplatform"]) if params["customplatform"] else Platform.host()
    images = list(params["image"])
    if params["dockerfile"]:
        args = dict(item.partition("=")[::2] for item in params["build_arg"])
        images += [b for b in dockerfile_bases(Path(params["dockerfile"]), args) if b not in images]
    if not images:
        raise UsageError("nothing to warm", hint="give --image or --dockerfile")
    environ = dict(os.environ)
    warm(
        images,
        Path(params["cache_dir"] or "/cache"),
        registry_options(params, environ, USER_AGENT),
        platform,
        ttl.total_seconds(),
        force=bool(params["force"]),
        policy=policy,
    )


@click.command(cls=KilnCommand, context_settings={"help_option_names": ["-h", "--help"]})
@warmer_flags
def warmer(**params: Any) -> None:
    """Fill the base-image cache directory (kaniko-compatible flags)."""
    run_warm(params)
