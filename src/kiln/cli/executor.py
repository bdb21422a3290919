"""``executor``: kaniko's executor command line, flag for flag."""

from __future__ import annotations

import os
from typing import Any

import click

from kiln import __version__
from kiln.build.options import BuildOptions
from kiln.cli import logs
from kiln.cli.buildopts import executor_options
from kiln.cli.flags import executor_flags
from kiln.cli.render import KilnCommand
from kiln.cli.support import reject_unsupported

USER_AGENT = f"kiln/{__version__}"


def explicit_flags(ctx: click.Context) -> dict[str, object]:
    """Flags the user set (on the command line or through an env default), by kaniko name."""
    out: dict[str, object] = {}
    for param in ctx.command.params:
        if param.name is None:
            continue
        source = ctx.get_parameter_source(param.name)
        if source in (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT):
            value = ctx.params[param.name]
            if value != param.default and value not in ((), None):
                out[param.opts[-1].lstrip("-")] = value
    return out


def options_from(ctx: click.Context, params: dict[str, Any], environ: dict[str, str]) -> BuildOptions:
    """Check for not-yet-supported flags, then build the options in kaniko's start-up order."""
    reject_unsupported(explicit_flags(ctx))
    return executor_options(params, environ, USER_AGENT)


def run_build(ctx: click.Context, params: dict[str, Any]) -> None:
    environ = dict(os.environ)
    logs.configure(params["verbosity"], params["log_format"], params["log_timestamp"])
    options = options_from(ctx, params, environ)
    from kiln.build.executor import build  # type: ignore[import-not-found,unused-ignore]  # late: --help stays fast

    build(options)


@click.command(cls=KilnCommand, context_settings={"help_option_names": ["-h", "--help"]})
@executor_flags
@click.pass_context
def executor(ctx: click.Context, /, **params: Any) -> None:
    """Build a container image from a Dockerfile and push it (kaniko-compatible flags)."""
    run_build(ctx, params)
