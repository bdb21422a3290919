"""``executor``: kaniko's executor command line, flag for flag."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import click

from kiln import __version__
from kiln.cli.flags import executor_flags
from kiln.cli.render import KilnGroup, pflag_bools
from kiln.cli.scrub import CREDENTIAL_VARIABLES, Scrubber
from kiln.cli.support import reject_unsupported
from kiln.errors import NotSupportedYet, UsageError

if TYPE_CHECKING:
    # imported where used: --help, version and flag errors should not load the build and registry code
    from kiln.build.options import BuildOptions
    from kiln.registry.client import RegistryClient

USER_AGENT = f"kiln/{__version__}"
log = logging.getLogger("kiln.cli")
SECRET_FILE_SCRUB_LIMIT = 64 * 1024


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


def _warn_hidden_deprecated(ctx: click.Context) -> None:
    """cobra warns whenever a flag marked deprecated is used, whatever its value."""
    if ctx.get_parameter_source("whitelist_var_run") == click.core.ParameterSource.COMMANDLINE:
        log.warning("Flag --whitelist-var-run has been deprecated, use --ignore-var-run instead")


def options_from(ctx: click.Context, params: dict[str, Any], environ: dict[str, str]) -> BuildOptions:
    """Check for not-yet-supported flags, then build the options in kaniko's start-up order."""
    from kiln.cli.buildopts import executor_options

    reject_unsupported(explicit_flags(ctx))
    _warn_hidden_deprecated(ctx)
    return executor_options(params, environ, USER_AGENT)


def parse_executor_args(argv: Sequence[str], environ: Mapping[str, str]) -> BuildOptions:
    """kaniko executor arguments -> BuildOptions, exactly as ``executor`` would build them.

    For tests and tools that hold a kaniko command line; raises kiln errors (and click.UsageError
    for an unknown flag) instead of exiting. Relative paths resolve against the current directory.
    """
    from kiln.cli.buildopts import executor_options

    ctx = click.Context(executor, info_name="executor")
    with ctx:
        # the plain-command parse: the executor's subcommand (version) is not a build
        click.Command.parse_args(executor, ctx, pflag_bools(executor, list(argv)))
        if ctx.args:
            raise UsageError(f"unexpected argument {ctx.args[0]!r}")
        reject_unsupported(explicit_flags(ctx))
        _warn_hidden_deprecated(ctx)
        return executor_options(ctx.params, environ, USER_AGENT)


def scrubber_of(ctx: click.Context) -> Scrubber:
    """The run's Scrubber (made by render.run_main); a fresh one when invoked some other way."""
    return ctx.ensure_object(Scrubber)


def _secret_file_values(options: BuildOptions) -> list[str]:
    """Small ``--secret src=`` files, so a RUN that echoes one cannot put it in kiln's output."""
    values = []
    for secret in options.secrets:
        if secret.src is None:
            continue
        try:
            with open(secret.src, "rb") as f:
                data = f.read(SECRET_FILE_SCRUB_LIMIT + 1)
        except OSError:
            continue  # the build reports a missing secret file where it is used
        if len(data) <= SECRET_FILE_SCRUB_LIMIT:
            values.append(data.decode("utf-8", "replace").strip())
    return values


def run_build(ctx: click.Context, params: dict[str, Any]) -> None:
    from kiln.cli import logs
    from kiln.cli.preflight import check_index_inputs, check_push_permissions
    from kiln.cli.workdir import remove_temp_work_dir

    environ = dict(os.environ)
    scrub = scrubber_of(ctx)
    scrub.add_from_environ(environ, CREDENTIAL_VARIABLES)
    logs.configure(params["verbosity"], params["log_format"], params["log_timestamp"], scrub=scrub)
    options = options_from(ctx, params, environ)
    scrub.add_from_environ(environ, [s.env for s in options.secrets if s.env])
    scrub.add(_secret_file_values(options))
    try:
        from kiln.build.source_policy import check_cache_repo
        from kiln.registry.client import RegistryClient

        check_cache_repo(options)  # before the push check sends the cache registry anything
        build = _build_function()
        # one client for the whole run: the push check's ping, credentials and tokens serve the pulls, the
        # layer cache and the pushes too (a client each cost a /v2/ ping each, twice with --insecure-registry)
        with RegistryClient(options.registry) as client:
            check_push_permissions(options, client)
            check_index_inputs(options, client)
            build(options, client)
    finally:
        if options.work_dir != options.kaniko_dir:  # a private temp dir this run made
            remove_temp_work_dir(options.work_dir, wait=options.cleanup)


def _build_function() -> Callable[[BuildOptions, RegistryClient], object]:
    """kiln.build.executor.build, imported late so --help and flag errors stay fast."""
    try:
        from kiln.build.executor import build  # type: ignore[import-not-found,unused-ignore]
    except ModuleNotFoundError as err:
        if err.name != "kiln.build.executor":
            raise
        raise NotSupportedYet("building images is not supported yet (the build executor)") from None
    return cast("Callable[[BuildOptions, RegistryClient], object]", build)


@click.group(
    cls=KilnGroup,
    invoke_without_command=True,
    no_args_is_help=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@executor_flags
@click.pass_context
def executor(ctx: click.Context, /, **params: Any) -> None:
    """Build a container image from a Dockerfile and push it (kaniko-compatible flags)."""
    if ctx.invoked_subcommand is None:
        run_build(ctx, params)


@executor.command("version")
def executor_version() -> None:
    """Print kiln's version (as kaniko's 'executor version')."""
    click.echo(f"kiln version : {__version__}")
