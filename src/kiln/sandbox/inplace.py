"""kaniko's model: RUN executes directly in ``/`` of kiln's own (throw-away) container.

For unprivileged Kubernetes pods, where namespaces and mounts are not allowed.
The base image has been unpacked over ``/``, so there is nothing to isolate from:
the command gets the RunSpec's env, working directory and user and runs. Because
this overwrites the machine it runs on, it refuses to start outside a container
unless forced (kaniko's ``--force``).

``RUN --mount`` without mount privileges is emulated by swapping paths: the
target (if the image has one) is renamed aside, the mount's content put in its
place, and after the command everything is put back; cache content is moved back
into kiln's cache dir. A secret is a 0400 file present only while the command
runs. Read-only-ness of bind mounts cannot be enforced here (writes are discarded
afterwards all the same). ``--network=none`` and ``--add-host`` need namespaces
and are refused with a hint to use ``--isolation=chroot``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

from kiln.errors import UsageError
from kiln.sandbox._messages import not_found_message
from kiln.sandbox._rootpath import RootPathError, Stub, cleanup_stubs, make_dirs_owned, resolve_in_root
from kiln.sandbox.base import (
    Mount,
    OutputSink,
    Runner,
    RunSpec,
    SandboxError,
    cache_locks,
    log_output,
    secret_env,
    stream_lines,
)

_CGROUP_HINTS = re.compile(r"\b(docker|kubepods|containerd|libpod|lxc|crio|buildkit|actions_job)\b")
_DRAIN_SECONDS = 5.0
_MOUNTINFO_HINTS = ("/docker/containers/", "/kubelet/pods/", "/containers/storage/", "/containerd/")


def detect_container(environ: Mapping[str, str], proc_root: str = "/proc", root: str = "/") -> bool:
    """Best-effort: does this process run inside a container (so ``/`` is disposable)?"""
    if os.path.exists(os.path.join(root, ".dockerenv")) or os.path.exists(
        os.path.join(root, "run/.containerenv")
    ):
        return True
    if environ.get("container") or environ.get("KUBERNETES_SERVICE_HOST"):
        return True
    for name in ("1/cgroup", "self/cgroup"):
        text = _read_text(os.path.join(proc_root, name))
        if _CGROUP_HINTS.search(text):
            return True
    mountinfo = _read_text(os.path.join(proc_root, "self/mountinfo"))
    return any(hint in mountinfo for hint in _MOUNTINFO_HINTS)


class InplaceRunner(Runner):
    """Runs RUN commands in ``/``; refuses outside a container unless ``force``."""

    name = "inplace"

    def __init__(
        self, environ: Mapping[str, str], *, force: bool = False, proc_root: str = "/proc", root: str = "/"
    ) -> None:
        if not force and not detect_container(environ, proc_root, root):
            raise UsageError(
                "refusing --isolation=inplace outside a container: RUN would modify this machine's / directly",
                hint="run kiln inside a container, use --isolation=chroot, or pass --force if / is disposable",
            )

    def run(self, spec: RunSpec, output: OutputSink | None = None) -> int:
        if os.path.realpath(spec.rootfs) != "/":
            raise SandboxError(f"--isolation=inplace runs in / but the stage rootfs is {spec.rootfs}")
        if spec.network == "none" or spec.extra_hosts:
            what = "RUN --network=none" if spec.network == "none" else "--add-host"
            raise SandboxError(
                f"{what} needs a network namespace, which --isolation=inplace cannot create",
                hint="use --isolation=chroot (needs CAP_SYS_ADMIN)",
            )
        user_kwargs = self._user_kwargs(spec)
        make_dirs_owned(spec.cwd, spec.uid, spec.gid)
        sink = output or log_output
        with contextlib.ExitStack() as stack:
            stack.enter_context(cache_locks(spec.mounts))
            for mount in sorted(
                (m for m in spec.mounts if m.has_file), key=lambda m: len(Path(m.target).parts)
            ):
                try:
                    stack.enter_context(_emulated(mount))
                except (OSError, RootPathError) as err:
                    raise SandboxError(
                        f"RUN --mount=type={mount.kind} at {mount.target}: {err}",
                        hint="--isolation=inplace emulates mounts by swapping paths; the target must be swappable",
                    ) from err
            code = self._spawn(spec, sink, user_kwargs)
        return code

    def _spawn(self, spec: RunSpec, sink: OutputSink, user_kwargs: dict[str, object]) -> int:
        env = dict(item.split("=", 1) for item in spec.command_env())
        env.update(secret_env(spec.mounts))
        try:
            proc = subprocess.Popen(
                list(spec.argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=spec.cwd,
                env=env,
                start_new_session=True,
                umask=0o022,  # as runc: kiln's own umask must not leak into image files
                **user_kwargs,  # type: ignore[call-overload]
            )
        except FileNotFoundError as err:
            raise SandboxError(f"RUN {spec.describe()}: {not_found_message(spec.argv[0])}") from err
        except PermissionError as err:
            raise SandboxError(f'RUN {spec.describe()}: exec: "{spec.argv[0]}": permission denied') from err
        assert proc.stdout is not None
        reader = threading.Thread(
            target=stream_lines, args=(proc.stdout, sink), name="kiln-run-output", daemon=True
        )
        reader.start()
        try:
            status = int(proc.wait())
        finally:
            # Like a container's end: whatever the command left running in its session dies with it,
            # so no background process keeps writing while the snapshot is taken.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        reader.join(_DRAIN_SECONDS)  # a daemon that left the session could hold the pipe open for ever
        if not reader.is_alive():
            proc.stdout.close()
        return 128 - status if status < 0 else status

    @staticmethod
    def _user_kwargs(spec: RunSpec) -> dict[str, object]:
        if os.geteuid() == 0:
            return {"user": spec.uid, "group": spec.gid, "extra_groups": list(spec.groups)}
        if (spec.uid, spec.gid) == (os.geteuid(), os.getegid()):
            return {}
        raise SandboxError(
            f"RUN as uid {spec.uid}:{spec.gid} needs root in --isolation=inplace (kiln runs as uid {os.geteuid()})",
            hint="run the kiln container as root (kaniko's model), or drop the USER before this RUN",
        )


@contextlib.contextmanager
def _emulated(mount: Mount) -> Iterator[None]:
    """Put ``mount``'s content at its target for the duration, then restore what was there."""
    stubs: list[Stub] = []
    try:
        parent = resolve_in_root("/", os.path.dirname(mount.target), "dir", stubs)
        target = os.path.join(parent, os.path.basename(mount.target))
        before = os.stat(parent)
        aside = None
        if os.path.lexists(target):
            aside = os.path.join(parent, f".kiln-aside-{os.getpid()}-{os.path.basename(target)}")
            os.rename(target, aside)
        untouched = False
        try:
            _populate(mount, target)
            populated = os.stat(parent).st_mtime_ns
            try:
                yield
            finally:
                _collect(mount, target)
                untouched = os.stat(parent).st_mtime_ns == populated
        finally:
            _remove(target)
            if aside is not None:
                os.rename(aside, target)
            if untouched:  # the command did not change the directory: hide our swapping from the snapshot
                os.utime(parent, ns=(before.st_atime_ns, before.st_mtime_ns))
    finally:
        cleanup_stubs("/", stubs)


def _populate(mount: Mount, target: str) -> None:
    if mount.kind == "tmpfs":
        os.mkdir(target, 0o1777)
        os.chmod(target, 0o1777)
    elif mount.kind == "secret":
        data = mount.secret_bytes()
        fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        _chown_if_root(target, mount.uid, mount.gid)
        os.chmod(target, 0o400 if mount.mode is None else mount.mode)
    elif mount.kind == "bind":
        source = mount.source or ""
        if os.path.isdir(source):
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copy2(source, target)
    elif mount.kind == "cache":
        source = mount.source or ""
        if not os.path.isdir(source):
            os.makedirs(source)
            os.chmod(source, 0o755 if mount.mode is None else mount.mode)
            _chown_if_root(source, mount.uid, mount.gid)
        _move(source, target)


def _collect(mount: Mount, target: str) -> None:
    if mount.kind == "cache" and mount.source and os.path.isdir(target):
        _move(target, mount.source)


def _move(source: str, dest: str) -> None:
    """rename when both are on one filesystem, else copy and delete."""
    try:
        os.rename(source, dest)
    except OSError:
        shutil.copytree(source, dest, symlinks=True)
        shutil.copystat(source, dest)
        shutil.rmtree(source)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _chown_if_root(path: str, uid: int, gid: int) -> None:
    """Only root can give files away; unprivileged, the file stays the runner's own (as the command's user)."""
    if os.geteuid() == 0:
        os.chown(path, uid, gid)


def _read_text(path: str) -> str:
    try:
        with open(path, errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""
