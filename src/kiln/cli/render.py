"""Turning failures into one line on stderr and kaniko's exit codes, for every command."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any, NoReturn

import click

from kiln.cli.collector import skip_final_collection
from kiln.cli.scrub import Scrubber
from kiln.errors import KilnError

log = logging.getLogger("kiln")


def _one_line(text: str) -> str:
    return " ".join(text.split())


class Terminated(BaseException):
    """SIGTERM arrived (a CI job cancelled, a pod deleted): unwind so every cleanup runs."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Python's default SIGTERM kills the process on the spot, leaving mounts and temp dirs behind;
    raising instead lets the build's ``finally`` blocks unmount and delete, then kiln exits 143."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_main(cmd: click.Command, args: Sequence[str] | None, prog_name: str | None, **extra: Any) -> Any:
    """click's main without its multi-line usage dumps: one line per error, non-zero exit.

    A fresh Scrubber rides along as click's ``obj``; commands add the secrets they learn and every
    error line passes through it. The process's last garbage collection is skipped (kiln.cli.collector).
    """
    scrub: Scrubber = extra.setdefault("obj", Scrubber())
    skip_final_collection()  # the interpreter's exit, ~35 ms after a build's last line otherwise

    def fail(message: str, code: int) -> NoReturn:
        click.echo(f"error: {scrub(_one_line(message))}", err=True)
        sys.exit(code)

    try:
        with sigterm_unwinds():
            return click.Command.main(cmd, args=args, prog_name=prog_name, standalone_mode=False, **extra)
    except Terminated:
        fail("terminated (SIGTERM)", 143)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.exceptions.Abort:
        fail("aborted", 130)
    except click.UsageError as err:
        hint = f" (see '{err.ctx.command_path} --help')" if err.ctx is not None else ""
        fail(f"{err.format_message()}{hint}", 1)
    except click.ClickException as err:
        fail(err.format_message(), 1)
    except KilnError as err:
        fail(str(err), err.exit_code)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except Exception as err:
        if log.isEnabledFor(logging.DEBUG):
            click.echo(scrub(traceback.format_exc()), err=True, nl=False)
        fail(f"internal error: {type(err).__name__}: {err} (run with --verbosity=debug for details)", 1)


def pflag_bools(cmd: click.Command, args: list[str]) -> list[str]:
    """Make a bare boolean flag never take the next word as its value, as Go's pflag.

    Boolean options accept ``--flag=false`` and so are declared with an optional value; left alone,
    click would read ``--no-push version`` as ``--no-push=version``. Spelling the bare flag as
    ``--flag=true`` leaves the next word where kaniko leaves it.
    """
    from kiln.cli.flags import GoBool

    bare: dict[str, str] = {}
    for param in cmd.params:
        if isinstance(param, click.Option) and isinstance(param.type, GoBool):
            long = next(o for o in reversed(param.opts) if o.startswith("--"))
            for opt in param.opts:
                bare[opt] = f"{long}=true"
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        out.append(bare.get(arg, arg))
    return out


class KilnCommand(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, pflag_bools(self, args))

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any) -> Any:  # type: ignore[override]
        return run_main(self, args, prog_name, **extra)


class KilnGroup(click.Group):
    command_class = KilnCommand

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, pflag_bools(self, args))

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any) -> Any:  # type: ignore[override]
        return run_main(self, args, prog_name, **extra)
