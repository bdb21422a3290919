"""The chroot runner's helper process: namespaces, mounts, pivot_root, privileges, exec.

It runs as a fresh interpreter (never a fork of the multi-threaded builder), reads
its configuration from a pipe (so secrets are in no argv, env or file), and
reports mount stubs and setup errors as JSON lines on a status pipe. Three
processes are involved:

* the helper unshares mount/PID/UTS/IPC (and network for ``--network=none``) and
  forks the namespace's init, then exits with init's exit code;
* init (PID 1 in the new namespace) builds the container's mounts, pivots into the
  rootfs, forks the command and reaps every zombie until the command exits; when
  init exits the kernel kills whatever the command left behind and every mount
  dies with the namespace;
* the command process drops capabilities to Docker's default set, switches to the
  user's groups/gid/uid, enters the working directory and execs.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import shutil
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any, Literal

from kiln.sandbox import _linux as lx
from kiln.sandbox._messages import not_found_message
from kiln.sandbox._rootpath import Stub, make_dirs_owned, resolve_in_root

SETUP_FAILED = 125
_Target = Callable[[str, Literal["file", "dir"]], str]  # container path -> host path, stubs recorded
_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
_DEV_LINKS = (
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
)
_PROC_MASKED_FILES = ("kcore", "keys", "timer_list", "sched_debug", "latency_stats", "timer_stats")
_PROC_MASKED_DIRS = ("acpi", "scsi")
_PROC_READONLY = ("bus", "fs", "irq", "sys", "sysrq-trigger")
_SYS_MASKED_DIRS = ("firmware",)


class _Status:
    """JSON lines to the runner: ``{"stub": ...}`` as they are made, ``{"error": ...}`` on failure."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, **message: Any) -> None:
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(self.fd, data) :]


def main(argv: list[str]) -> None:
    config_fd, status_fd = int(argv[0]), int(argv[1])
    os.set_inheritable(status_fd, False)
    status = _Status(status_fd)
    with os.fdopen(config_fd, "rb") as handle:
        config = json.loads(handle.read())
    try:
        lx.prctl(lx.PR_SET_PDEATHSIG, signal.SIGKILL)
        flags = lx.CLONE_NEWNS | lx.CLONE_NEWPID | lx.CLONE_NEWUTS | lx.CLONE_NEWIPC
        if config["network"] == "none":
            flags |= lx.CLONE_NEWNET
        lx.unshare(flags)
    except OSError as err:
        status.send(error=f"cannot create namespaces: {err.strerror}")
        os._exit(SETUP_FAILED)
    init = os.fork()
    if init == 0:
        _init(config, status)
    _, wait_status = os.waitpid(init, 0)
    os._exit(_exit_code(wait_status))


def _init(config: dict[str, Any], status: _Status) -> None:
    """PID 1 of the namespace; never returns."""
    code = SETUP_FAILED
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        lx.prctl(lx.PR_SET_PDEATHSIG, signal.SIGKILL)
        last_cap = lx.last_cap()
        _build_root(config, status)
        socket.sethostname(config["hostname"])
        if config["network"] == "none":
            lx.set_loopback_up()
        command = os.fork()
        if command == 0:
            _exec(config, status, last_cap)
        code = _reap_until(command)
    except BaseException as err:
        status.send(error=_describe(err))
    os._exit(code)


def _reap_until(command: int) -> int:
    while True:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:
            return SETUP_FAILED
        except InterruptedError:
            continue
        if pid == command:
            return _exit_code(wait_status)


def _build_root(config: dict[str, Any], status: _Status) -> None:
    root: str = config["rootfs"]
    state: str = config["state"]
    stubs: list[Stub] = []

    def target(path: str, kind: Literal["file", "dir"]) -> str:
        seen = len(stubs)
        try:
            return resolve_in_root(root, path, kind, stubs)
        finally:  # report what was made even if a later component failed, so it is cleaned up
            for stub in stubs[seen:]:
                status.send(stub=stub.to_json())

    lx.mount(None, "/", None, lx.MS_REC | lx.MS_PRIVATE)
    lx.mount(root, root, None, lx.MS_BIND | lx.MS_REC)
    lx.remount_bind(root, lx.MS_NODEV)
    lx.mount("tmpfs", state, "tmpfs", lx.MS_NOSUID | lx.MS_NODEV | lx.MS_NOEXEC, "mode=0700")

    _mount_proc(target("/proc", "dir"))
    _mount_dev(target("/dev", "dir"))
    _mount_sys(target("/sys", "dir"))
    resolv = config.get("resolv") or _write(state, "resolv.conf", b"", 0o644)
    _bind_readonly(resolv, target("/etc/resolv.conf", "file"))
    hosts = _write(state, "hosts", config["hosts"].encode(), 0o644)
    _bind_readonly(hosts, target("/etc/hosts", "file"))

    mounts = sorted(enumerate(config["mounts"]), key=lambda im: _depth(im[1]["target"]))
    for index, spec in mounts:
        _mount_one(index, spec, state, target)

    _enter_root(root)


def _enter_root(root: str) -> None:
    """pivot_root so the host's tree is unmounted from the namespace (a chroot(2) alone can be escaped)."""
    os.chdir(root)
    try:
        lx.pivot_root(".", ".")
    except OSError as err:
        if err.errno != errno.EINVAL:
            raise
        # The host root is an initramfs, which cannot be pivoted away: move the rootfs over / instead.
        lx.mount(root, "/", None, lx.MS_MOVE)
        os.chroot(".")
    else:
        lx.umount2(".", lx.MNT_DETACH)
    os.chdir("/")


def _mount_proc(path: str) -> None:
    lx.mount("proc", path, "proc", lx.MS_NOSUID | lx.MS_NODEV | lx.MS_NOEXEC)
    for name in _PROC_MASKED_FILES:
        masked = os.path.join(path, name)
        if os.path.isfile(masked):
            lx.mount("/dev/null", masked, None, lx.MS_BIND)
    for name in _PROC_MASKED_DIRS:
        masked = os.path.join(path, name)
        if os.path.isdir(masked):
            lx.mount("tmpfs", masked, "tmpfs", lx.MS_RDONLY | lx.MS_NOSUID | lx.MS_NODEV | lx.MS_NOEXEC)
    for name in _PROC_READONLY:
        readonly = os.path.join(path, name)
        if os.path.exists(readonly):
            _bind_readonly(readonly, readonly)


def _mount_dev(path: str) -> None:
    lx.mount(
        "tmpfs",
        path,
        "tmpfs",
        lx.MS_NOSUID | lx.MS_NODEV | lx.MS_NOEXEC | lx.MS_STRICTATIME,
        "mode=755,size=65536k",
    )
    for name in _DEVICES:
        host = os.path.join("/dev", name)
        if not os.path.exists(host):
            continue
        node = _write(path, name, b"", 0o666)
        # The host's own inode: read-only, so chmod/chown/touch fail (EROFS) instead of changing the host's
        # /dev/null; reading and writing the device itself is not a write to the filesystem and still works.
        _bind_readonly(host, node)
    for name, link in _DEV_LINKS:
        os.symlink(link, os.path.join(path, name))
    pts, shm = os.path.join(path, "pts"), os.path.join(path, "shm")
    os.mkdir(pts, 0o755)
    lx.mount(
        "devpts", pts, "devpts", lx.MS_NOSUID | lx.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"
    )
    os.mkdir(shm, 0o1777)
    lx.mount("shm", shm, "tmpfs", lx.MS_NOSUID | lx.MS_NODEV | lx.MS_NOEXEC, "mode=1777,size=65536k")


def _mount_sys(path: str) -> None:
    flags = lx.MS_RDONLY | lx.MS_NOSUID | lx.MS_NODEV | lx.MS_NOEXEC
    try:
        lx.mount("sysfs", path, "sysfs", flags)
    except OSError:
        # A fresh sysfs needs its own network namespace on some kernels; share the host's, read-only.
        # Not recursive: the host's /sys/fs/cgroup (writable cgroupfs, release_agent) must stay out.
        lx.mount("/sys", path, None, lx.MS_BIND)
        lx.remount_bind(path, lx.MS_RDONLY | lx.MS_NOSUID | lx.MS_NODEV | lx.MS_NOEXEC)
    for name in _SYS_MASKED_DIRS:
        masked = os.path.join(path, name)
        if os.path.isdir(masked):
            lx.mount("tmpfs", masked, "tmpfs", flags)


def _mount_one(index: int, spec: dict[str, Any], state: str, target: _Target) -> None:
    kind, dest, readonly = spec["kind"], spec["target"], spec["readonly"]
    if kind == "tmpfs":
        size = spec.get("size")
        lx.mount(
            "tmpfs",
            target(dest, "dir"),
            "tmpfs",
            lx.MS_NOSUID | lx.MS_NODEV,
            f"size={size}" if size else None,
        )
    elif kind == "secret":
        data = base64.b64decode(spec["data"])
        secret = _write(state, f"secret-{index}", data, 0o400 if spec.get("mode") is None else spec["mode"])
        os.chown(secret, spec["uid"], spec["gid"])
        _bind_readonly(secret, target(dest, "file"))
    elif kind == "cache":
        source = spec["source"]
        if not os.path.isdir(source):
            os.makedirs(source, exist_ok=True)
            os.chmod(source, 0o755 if spec.get("mode") is None else spec["mode"])
            os.chown(source, spec["uid"], spec["gid"])
        mountpoint = target(dest, "dir")
        lx.mount(source, mountpoint, None, lx.MS_BIND | lx.MS_REC)
        lx.remount_bind(mountpoint, lx.MS_NODEV | (lx.MS_RDONLY if readonly else 0))
    elif kind == "bind":
        _mount_bind(index, spec["source"], dest, readonly, state, target)
    else:
        raise OSError(f"unsupported mount type {kind}")


def _mount_bind(index: int, source: str, dest: str, readonly: bool, state: str, target: _Target) -> None:
    is_dir = os.path.isdir(source)
    if not os.path.exists(source):
        raise FileNotFoundError(f"bind mount source {source} does not exist")
    mountpoint = target(dest, "dir" if is_dir else "file")
    if readonly:
        lx.mount(source, mountpoint, None, lx.MS_BIND | lx.MS_REC)
        lx.remount_bind(mountpoint, lx.MS_RDONLY | lx.MS_NODEV)
        return
    # Writable bind: writes go to a throw-away layer in the state tmpfs, never to the source.
    if is_dir:
        layer = os.path.join(state, f"bind-{index}")
        os.makedirs(os.path.join(layer, "upper"))
        os.makedirs(os.path.join(layer, "work"))
        options = f"lowerdir={source},upperdir={layer}/upper,workdir={layer}/work"
        lx.mount("overlay", mountpoint, "overlay", lx.MS_NODEV, options)
    else:
        copy = os.path.join(state, f"bind-{index}")
        shutil.copy2(source, copy)
        lx.mount(copy, mountpoint, None, lx.MS_BIND)


def _exec(config: dict[str, Any], status: _Status, last_cap: int) -> None:
    """The command process; never returns."""
    try:
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        uid, gid, groups = config["uid"], config["gid"], config["groups"]
        lx.drop_bounding_caps(lx.DEFAULT_CAPS, last_cap)
        make_dirs_owned(config["cwd"], uid, gid)
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)
        os.chdir(config["cwd"])
        os.umask(0o022)  # runc's default; kiln's own umask must not leak into image files
        env = dict(item.split("=", 1) for item in config["env"])
        env.update(config["secret_env"])
        argv = config["argv"]
    except BaseException as err:
        status.send(error=f"cannot prepare the command: {_describe(err)}")
        os._exit(SETUP_FAILED)
    try:
        os.execvpe(argv[0], argv, env)
    except FileNotFoundError:
        status.send(error=not_found_message(argv[0]))
        os._exit(127)
    except OSError as err:
        status.send(error=f'exec: "{argv[0]}": {err.strerror}')
        os._exit(126)


def _bind_readonly(source: str, dest: str) -> None:
    lx.mount(source, dest, None, lx.MS_BIND)
    lx.remount_bind(dest, lx.MS_RDONLY)


def _write(directory: str, name: str, data: bytes, mode: int) -> str:
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.chmod(path, mode)
    return path


def _depth(path: str) -> int:
    return len([p for p in os.path.normpath(path).split("/") if p])


def _exit_code(wait_status: int) -> int:
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)


def _describe(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror and err.filename:
        return f"{err.strerror}: {err.filename}"
    return str(err) or type(err).__name__


if __name__ == "__main__":
    main(sys.argv[1:])
