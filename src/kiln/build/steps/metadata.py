"""Instructions that only change the image config: each leaves an ``empty_layer`` history entry.

ENV, LABEL, EXPOSE, VOLUME, STOPSIGNAL, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, USER, MAINTAINER and
ONBUILD follow BuildKit's dispatchers: the config change and the ``created_by`` text they record.
"""

from __future__ import annotations

from dataclasses import replace

from kiln.build.steps import gofmt
from kiln.build.steps.base import Outcome, StepContext
from kiln.dockerfile.instructions import (
    Cmd,
    Entrypoint,
    Env,
    Expose,
    Healthcheck,
    Label,
    Maintainer,
    OnBuild,
    Shell,
    StopSignal,
    User,
    Volume,
)
from kiln.oci import Healthcheck as ImageHealthcheck


def env_step(ins: Env, ctx: StepContext) -> Outcome:
    ins = ins.expand(ctx.state.expansion_env(), ctx.state.escape)
    run = ctx.state.run
    for pair in ins.pairs:
        run = run.with_env(pair.key, pair.value)
    ctx.state.set_run(run)
    return Outcome("ENV " + " ".join(f"{p.key}={p.value}" for p in ins.pairs))


def label_step(ins: Label, ctx: StepContext) -> Outcome:
    ins = ins.expand(ctx.state.expansion_env(), ctx.state.escape)
    labels = dict(ctx.state.run.labels)
    for pair in ins.pairs:
        labels[pair.key] = pair.value
    ctx.state.set_run(replace(ctx.state.run, labels=labels))
    return Outcome("LABEL " + " ".join(f"{p.key}={p.value}" for p in ins.pairs))


def expose_step(ins: Expose, ctx: StepContext) -> Outcome:
    ins = ins.expand(ctx.state.expansion_env(), ctx.state.escape)
    ports = tuple(dict.fromkeys((*ctx.state.run.exposed_ports, *ins.ports)))
    ctx.state.set_run(replace(ctx.state.run, exposed_ports=ports))
    return Outcome("EXPOSE " + gofmt.port_map(ins.ports))


def volume_step(ins: Volume, ctx: StepContext) -> Outcome:
    ins = ins.expand(ctx.state.expansion_env(), ctx.state.escape)
    volumes = tuple(dict.fromkeys((*ctx.state.run.volumes, *ins.paths)))
    ctx.state.set_run(replace(ctx.state.run, volumes=volumes))
    return Outcome("VOLUME " + gofmt.plain_list(ins.paths))


def stopsignal_step(ins: StopSignal, ctx: StepContext) -> Outcome:
    ins = ins.expand(ctx.state.expansion_env(), ctx.state.escape)
    ctx.state.set_run(replace(ctx.state.run, stop_signal=ins.signal))
    return Outcome(f"STOPSIGNAL {ins.signal}")


def _command(command: tuple[str, ...], json_form: bool, ctx: StepContext) -> tuple[str, ...]:
    """Exec form as written; shell form prefixed with the stage's SHELL."""
    return command if json_form else (*ctx.state.shell(), " ".join(command))


def cmd_step(ins: Cmd, ctx: StepContext) -> Outcome:
    cmd = _command(ins.command, ins.json, ctx)
    ctx.state.set_run(replace(ctx.state.run, cmd=cmd))
    ctx.state.cmd_set = True
    return Outcome("CMD " + gofmt.quoted_list(cmd))


def entrypoint_step(ins: Entrypoint, ctx: StepContext) -> Outcome:
    entrypoint = _command(ins.command, ins.json, ctx)
    run = replace(ctx.state.run, entrypoint=entrypoint)
    if not ctx.state.cmd_set:
        run = replace(run, cmd=None)  # an inherited CMD does not survive a new ENTRYPOINT
    ctx.state.set_run(run)
    return Outcome("ENTRYPOINT " + gofmt.quoted_list(entrypoint))


def shell_step(ins: Shell, ctx: StepContext) -> Outcome:
    ctx.state.set_run(replace(ctx.state.run, shell=ins.shell))
    return Outcome("SHELL " + gofmt.plain_list(ins.shell))


def healthcheck_step(ins: Healthcheck, ctx: StepContext) -> Outcome:
    health = ImageHealthcheck(
        ins.test, ins.interval, ins.timeout, ins.start_period, ins.start_interval, ins.retries
    )
    ctx.state.set_run(replace(ctx.state.run, healthcheck=health))
    text = (
        f"&{{{gofmt.quoted_list(ins.test)} {gofmt.quote(gofmt.duration(ins.interval))} "
        f"{gofmt.quote(gofmt.duration(ins.timeout))} {gofmt.quote(gofmt.duration(ins.start_period))} "
        f"{gofmt.quote(gofmt.duration(ins.start_interval))} {gofmt.rune(ins.retries)}}}"
    )
    return Outcome("HEALTHCHECK " + text)


def user_step(ins: User, ctx: StepContext) -> Outcome:
    ins = ins.expand(ctx.state.expansion_env(), ctx.state.escape)
    ctx.state.set_run(replace(ctx.state.run, user=ins.user))
    return Outcome(f"USER {ins.user}")


def maintainer_step(ins: Maintainer, ctx: StepContext) -> Outcome:
    ctx.state.config = replace(ctx.state.config, author=ins.name)
    return Outcome(f"MAINTAINER {ins.name}")


def onbuild_step(ins: OnBuild, ctx: StepContext) -> Outcome:
    triggers = (*ctx.state.run.on_build, ins.expression)
    ctx.state.set_run(replace(ctx.state.run, on_build=triggers))
    return Outcome(f"ONBUILD {ins.expression}")
