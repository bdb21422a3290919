"""WORKDIR: set the working directory (relative to the previous one) and create it in the rootfs."""

from __future__ import annotations

import os
import posixpath
from dataclasses import replace
from pathlib import Path

from kiln.build.steps.base import Outcome, StepContext
from kiln.dockerfile.instructions import Workdir
from kiln.errors import BuildStepError
from kiln.fs import safepath
from kiln.fs.users import UserNotFound, resolve_user


def absolute_workdir(path: str, current: str) -> str:
    """``WORKDIR b`` after ``WORKDIR /a`` is ``/a/b``; the result is cleaned, as BuildKit stores it."""
    return safepath.clean(posixpath.join(current or "/", path))


def workdir_step(ins: Workdir, ctx: StepContext) -> Outcome:
    state = ctx.state
    ins = ins.expand(state.expansion_env(), state.escape)
    path = absolute_workdir(ins.path, state.run.working_dir)
    state.set_run(replace(state.run, working_dir=path))
    make_dirs(ctx, path)
    return Outcome(f"WORKDIR {path}", touches_fs=True)


def make_dirs(ctx: StepContext, path: str) -> None:
    """Create ``path`` and missing parents (0755), owned by the stage's USER as BuildKit does."""
    root = ctx.state.root
    host = safepath.resolve(root, path)
    if host.is_dir():
        return
    missing: list[Path] = []
    probe = host
    while not probe.exists() and probe != root:
        missing.append(probe)
        probe = probe.parent
    try:
        uid = gid = 0
        if ctx.state.run.user:
            user = resolve_user(ctx.state.run.user, root)
            uid, gid = user.uid, user.gid
        for directory in reversed(missing):
            directory.mkdir(mode=0o755)
            os.chmod(directory, 0o755)
            os.lchown(directory, uid, gid)
    except UserNotFound as err:
        raise BuildStepError(f"WORKDIR {path}: {err.message}", hint=err.hint) from None
    except OSError as err:
        raise BuildStepError(f"WORKDIR {path}: cannot create it: {err.strerror}") from None
