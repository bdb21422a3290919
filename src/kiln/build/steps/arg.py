"""ARG: declare a build argument in the stage scope; never stored in the image config."""

from __future__ import annotations

from kiln.build.steps.base import Outcome, StepContext
from kiln.dockerfile import resolve_stage_arg
from kiln.dockerfile.instructions import Arg


def arg_step(ins: Arg, ctx: StepContext) -> Outcome:
    """Each declaration in order, so a later default may use an earlier ARG of the same line."""
    state = ctx.state
    shown: list[str] = []
    for decl in ins.args:
        expanded = Arg(ins.location, ins.original, (decl,)).expand(state.expansion_env(), state.escape)
        key, default = expanded.args[0].key, expanded.args[0].value
        value = resolve_stage_arg(key, default, state.build_args, state.global_args)
        state.declared_args.add(key)
        if value is not None:
            state.args[key] = value
            shown.append(f"{key}={value}")
        else:
            shown.append(key)
    return Outcome("ARG " + " ".join(shown))
