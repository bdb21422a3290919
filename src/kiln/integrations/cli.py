"""``kiln integration <platform>``: the entry point the platform files call.

Why its own small group: integrations may not import kiln.cli (the rank above), so this group renders
kiln errors itself, as one ``error: ...`` line and the error's exit code.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import TextIO

import click

from kiln.errors import KilnError

Runner = Callable[[Mapping[str, str], TextIO], int]


def _run(runner: Runner, annotate: Callable[[str], str] | None = None) -> None:
    try:
        code = runner(dict(os.environ), sys.stdout)
    except KilnError as err:
        if annotate is not None:
            click.echo(annotate(str(err)))
        click.echo(f"error: {err}", err=True)
        sys.exit(err.exit_code)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def integration() -> None:
    """Run a build the way a CI platform's kiln step does (inputs from the environment)."""


@integration.command("github")
def github_build() -> None:
    """GitHub Actions: INPUT_* variables in; GITHUB_OUTPUT, step summary and annotations out."""
    from kiln.integrations import github

    _run(
        lambda env, out: github.build(env, out), lambda msg: f"::error title=kiln::{github.escape_data(msg)}"
    )


@integration.command("gitlab")
def gitlab_build() -> None:
    """GitLab CI: KILN_* and CI_* variables in; a dotenv report (IMAGE_DIGEST, IMAGE_REF) out."""
    from kiln.integrations import gitlab

    _run(lambda env, out: gitlab.build(env, out))


@integration.command("jenkins")
def jenkins_build() -> None:
    """Jenkins: KILN_* variables (credentials bound by withCredentials) in; digest files out."""
    from kiln.integrations import jenkins

    _run(lambda env, out: jenkins.build(env, out))


class RawArgsCommand(click.Command):
    """Keeps its arguments exactly, ``--`` included (click's parser would drop the first one)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args in (["-h"], ["--help"]):
            return super().parse_args(ctx, args)
        ctx.meta["raw_args"] = list(args)
        return []


@integration.command("tekton", cls=RawArgsCommand)
@click.pass_context
def tekton_build(ctx: click.Context) -> None:
    """Tekton: params as env; BUILD_ARGS, then '--', then EXTRA_ARGS as arguments; results out."""
    from kiln.integrations import tekton

    args = list(ctx.meta.get("raw_args", []))
    _run(lambda env, out: tekton.build(env, args, out))
