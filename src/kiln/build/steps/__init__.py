"""One step per Dockerfile instruction, looked up by the instruction's type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kiln.build.steps.arg import arg_step
from kiln.build.steps.base import Outcome, StageFiles, StepContext
from kiln.build.steps.copy import copy_step
from kiln.build.steps.metadata import (
    cmd_step,
    entrypoint_step,
    env_step,
    expose_step,
    healthcheck_step,
    label_step,
    maintainer_step,
    onbuild_step,
    shell_step,
    stopsignal_step,
    user_step,
    volume_step,
)
from kiln.build.steps.run import run_step
from kiln.build.steps.workdir import workdir_step
from kiln.dockerfile import instructions as ins
from kiln.errors import BuildStepError

STEPS: dict[type, Callable[[Any, StepContext], Outcome]] = {
    ins.Arg: arg_step,
    ins.Cmd: cmd_step,
    ins.Copy: copy_step,
    ins.Entrypoint: entrypoint_step,
    ins.Env: env_step,
    ins.Expose: expose_step,
    ins.Healthcheck: healthcheck_step,
    ins.Label: label_step,
    ins.Maintainer: maintainer_step,
    ins.OnBuild: onbuild_step,
    ins.Run: run_step,
    ins.Shell: shell_step,
    ins.StopSignal: stopsignal_step,
    ins.User: user_step,
    ins.Volume: volume_step,
    ins.Workdir: workdir_step,
}

# steps that neither read nor change the stage's files (only the config): a stage whose cached layers
# are not applied yet (StageRoot.defer) runs them without applying those layers first
METADATA_ONLY: frozenset[type] = frozenset(
    {
        ins.Arg,
        ins.Cmd,
        ins.Entrypoint,
        ins.Env,
        ins.Expose,
        ins.Healthcheck,
        ins.Label,
        ins.Maintainer,
        ins.OnBuild,
        ins.Shell,
        ins.StopSignal,
        ins.User,
        ins.Volume,
    }
)


def dispatch(instruction: ins.Instruction, ctx: StepContext) -> Outcome:
    step = STEPS.get(type(instruction))
    if step is None:
        raise BuildStepError(f"{instruction.keyword} is not supported here", location=instruction.location)
    return step(instruction, ctx)


__all__ = ["METADATA_ONLY", "STEPS", "Outcome", "StageFiles", "StepContext", "dispatch"]
