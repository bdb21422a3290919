"""``kiln``: the umbrella command (build, warm, index, debug, integration, version).

Start-up is most of a short command's time (``kiln version``, ``kiln index``, ``--help``, every CI
adapter call), so the subcommands that live in their own modules are registered by name and imported
when first asked for, and the commands below import their implementation when they run.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click

from kiln import __version__
from kiln.cli.flags import executor_flags
from kiln.cli.render import KilnGroup
from kiln.cli.warmer import warmer_flags


class LazyKilnGroup(KilnGroup):
    """A KilnGroup that also knows subcommands by ``name -> "module:attribute"``, imported on first use."""

    def __init__(self, *args: Any, lazy_commands: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy_commands.get(cmd_name)
        if target is not None and cmd_name not in self.commands:
            module, _, attr = target.partition(":")
            command = getattr(importlib.import_module(module), attr)
            if not isinstance(command, click.Command):
                raise TypeError(f"{target} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyKilnGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    lazy_commands={
        "debug": "kiln.cli.debug:debug",
        "index": "kiln.cli.index:index",
        "integration": "kiln.integrations.cli:integration",
    },
)
def kiln() -> None:
    """Build OCI/Docker images from Dockerfiles without a daemon."""


@kiln.command()
@executor_flags
@click.pass_context
def build(ctx: click.Context, /, **params: Any) -> None:
    """Build an image (the same flags as kaniko's executor)."""
    from kiln.cli.executor import run_build

    run_build(ctx, params)


@kiln.command()
@warmer_flags
def warm(**params: Any) -> None:
    """Fill the base-image cache directory (the same flags as kaniko's warmer)."""
    from kiln.cli.warmer import run_warm

    run_warm(params)


@kiln.command()
def version() -> None:
    """Print kiln's version."""
    click.echo(f"kiln {__version__}")
