"""RUN: the command in the stage's rootfs through the chosen Runner, as the stage's USER."""

from __future__ import annotations

import hashlib
import re
import tempfile
from pathlib import Path

from kiln.build.steps.base import Outcome, StepContext
from kiln.build.steps.workdir import make_dirs
from kiln.dockerfile.instructions import Mount, Run
from kiln.errors import BuildStepError, KilnError
from kiln.fs import safepath
from kiln.fs.users import resolve_user
from kiln.sandbox.base import Mount as SandboxMount
from kiln.sandbox.base import RunSpec

_SIZE = re.compile(r"^(\d+)([kmg]?)b?$", re.IGNORECASE)


def run_argv(ins: Run, shell: tuple[str, ...]) -> tuple[str, ...]:
    """Exec form as written; shell form after SHELL; here-documents passed to the shell as a script."""
    if ins.json:
        return ins.command
    script = " ".join(ins.command)
    if ins.heredocs:
        words = script.split()
        if len(ins.heredocs) == 1 and len(words) == 1 and words[0].lstrip("0123456789").startswith("<<"):
            return (*shell, ins.heredocs[0].content)
        script += "\n" + "".join(f"{doc.content}{doc.name}\n" for doc in ins.heredocs)
    return (*shell, script)


def shebang_script(ins: Run) -> tuple[str, str] | None:
    """(name, body) when RUN is a lone here-document whose body starts with ``#!``."""
    if ins.json or len(ins.heredocs) != 1:
        return None
    words = " ".join(ins.command).split()
    doc = ins.heredocs[0]
    if len(words) == 1 and words[0].lstrip("0123456789").startswith("<<") and doc.content.startswith("#!"):
        return doc.name, doc.content
    return None


def history_text(argv: tuple[str, ...], run_args: dict[str, str]) -> str:
    """BuildKit's ``RUN |N K=V ... argv # buildkit`` (the ARGs the command saw, sorted)."""
    prefix = ""
    if run_args:
        prefix = f"|{len(run_args)} " + " ".join(f"{k}={v}" for k, v in sorted(run_args.items())) + " "
    return f"RUN {prefix}{' '.join(argv)} # buildkit"


def run_step(ins: Run, ctx: StepContext) -> Outcome:
    state = ctx.state
    if ctx.runner is None:
        raise BuildStepError("RUN needs a runner", location=ins.location)
    ins = ins.expand(state.expansion_env(), state.escape)
    if ins.security == "insecure":
        raise BuildStepError("RUN --security=insecure is not supported by kiln", location=ins.location)
    argv = run_argv(ins, state.shell())
    run_args = state.run_args()
    try:
        user = resolve_user(state.run.user, state.root)
    except KilnError as err:
        raise BuildStepError(
            f"RUN: cannot run as USER {state.run.user!r}: {err.message}",
            location=ins.location,
            hint="create the user first (e.g. RUN adduser) or use a numeric uid",
        ) from None
    cwd = state.run.working_dir or "/"
    make_dirs(ctx, cwd)
    env = [*state.run.env, *(f"{k}={v}" for k, v in run_args.items())]
    mounts = tuple(_sandbox_mount(m, ctx, ins) for m in ins.mounts)
    script = shebang_script(ins)
    if script is not None:
        # BuildKit runs a here-document that starts with #! as a file at /dev/pipes/<name>.
        host = Path(tempfile.mkdtemp(prefix="heredoc-", dir=ctx.work_dir)) / script[0]
        host.write_text(script[1])
        host.chmod(0o755)
        target = f"/dev/pipes/{script[0]}"
        mounts = (*mounts, SandboxMount("bind", target, str(host), readonly=True))
        argv = (target,)
    spec = RunSpec(
        argv=argv,
        rootfs=str(state.root),
        env=tuple(env),
        cwd=cwd,
        uid=user.uid,
        gid=user.gid,
        groups=user.groups,
        home=user.home,
        mounts=mounts,
        network=ins.network,  # type: ignore[arg-type]
    )
    code = ctx.runner.run(spec, ctx.output)
    if code != 0:
        raise BuildStepError(
            f"RUN {' '.join(argv)} failed with exit code {code}",
            location=ins.location,
            step=ins.original,
            exit_code=code,
        )
    shown = {k: v for k, v in run_args.items() if k in state.args}  # proxies stay out of history
    return Outcome(history_text(argv, shown), touches_fs=True)


def _sandbox_mount(mount: Mount, ctx: StepContext, ins: Run) -> SandboxMount:
    target = mount.target or ""
    if target and not target.startswith("/"):
        target = safepath.clean((ctx.state.run.working_dir or "/") + "/" + target)
    if mount.type == "bind":
        base = ctx.sources.root_of(mount.from_) if mount.from_ else ctx.context_dir
        source = safepath.resolve(base, mount.source or "/")
        if not source.exists():
            raise BuildStepError(
                f"RUN --mount: source {mount.source or '/'!r} not found", location=ins.location
            )
        return SandboxMount("bind", target, str(source), readonly=mount.readonly)
    if mount.type == "cache":
        ident = mount.id or target
        source = ctx.cache_dir / "run-cache" / hashlib.sha256(ident.encode()).hexdigest()[:32]
        return SandboxMount(
            "cache",
            target,
            str(source),
            mode=mount.mode if mount.mode is not None else 0o755,
            uid=mount.uid or 0,
            gid=mount.gid or 0,
            sharing=mount.sharing,  # type: ignore[arg-type]
        )
    if mount.type == "tmpfs":
        return SandboxMount("tmpfs", target, size=_size(mount.size, ins))
    if mount.type == "secret":
        ident = mount.id or Path(target).name
        data = ctx.secrets.get(ident)
        if data is None:
            if mount.required:
                raise BuildStepError(
                    f"RUN --mount=type=secret: no secret {ident!r} was given",
                    location=ins.location,
                    hint=f"pass --secret id={ident},src=FILE or --secret id={ident},env=VAR",
                )
            data = b""
        if not target and not mount.env:
            target = f"/run/secrets/{ident}"
        return SandboxMount(
            "secret",
            target,
            readonly=True,
            mode=mount.mode if mount.mode is not None else 0o400,
            uid=mount.uid or 0,
            gid=mount.gid or 0,
            env=mount.env,
            data=data,
        )
    raise BuildStepError(f"RUN --mount=type={mount.type} is not supported by kiln", location=ins.location)


def _size(text: str | None, ins: Run) -> int | None:
    if not text:
        return None
    match = _SIZE.match(text.strip())
    if match is None:
        raise BuildStepError(f"RUN --mount: invalid tmpfs size {text!r}", location=ins.location)
    return int(match.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[match.group(2).lower()]
