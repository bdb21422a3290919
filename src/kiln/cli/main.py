"""``kiln``: the umbrella command (build, warm, debug, version)."""

from __future__ import annotations

from typing import Any

import click

from kiln import __version__
from kiln.cli.executor import run_build
from kiln.cli.flags import executor_flags
from kiln.cli.render import KilnGroup
from kiln.cli.warmer import run_warm, warmer_flags


@click.group(cls=KilnGroup, context_settings={"help_option_names": ["-h", "--help"]})
def kiln() -> None:
    """Build OCI/Docker images from Dockerfiles without a daemon."""


@kiln.command()
@executor_flags
@click.pass_context
def build(ctx: click.Context, /, **params: Any) -> None:
    """Build an image (the same flags as kaniko's executor)."""
    run_build(ctx, params)


@kiln.command()
@warmer_flags
def warm(**params: Any) -> None:
    """Fill the base-image cache directory (the same flags as kaniko's warmer)."""
    run_warm(params)


@kiln.command()
def version() -> None:
    """Print kiln's version."""
    click.echo(f"kiln {__version__}")


def _add_debug() -> None:
    try:
        from kiln.cli.debug import debug  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # the Dockerfile debug commands land separately
        return
    kiln.add_command(debug)


_add_debug()
