"""``kiln``: the umbrella command (build, warm, debug, version)."""

from __future__ import annotations

from typing import Any

import click

from kiln import __version__
from kiln.cli.debug import debug
from kiln.cli.executor import run_build
from kiln.cli.flags import executor_flags
from kiln.cli.index import index
from kiln.cli.render import KilnGroup
from kiln.cli.warmer import run_warm, warmer_flags
from kiln.integrations.cli import integration


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


kiln.add_command(debug)
kiln.add_command(index)
kiln.add_command(integration)
