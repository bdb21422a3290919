"""The default runner: each RUN in fresh mount/PID/UTS/IPC namespaces, pivoted into the rootfs.

Safe on a CI host: the only host paths it writes are the rootfs itself and a
per-run state directory under ``state_dir`` (both inside kiln's work dir). Every
mount lives in the RUN's own mount namespace and disappears with it; mount stubs
it had to create in the rootfs are removed afterwards (see ``_rootpath``).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from kiln.sandbox import _linux
from kiln.sandbox._rootpath import Stub, cleanup_stubs
from kiln.sandbox.base import (
    OutputSink,
    Runner,
    RunSpec,
    SandboxError,
    cache_locks,
    hosts_file,
    log_output,
    secret_env,
    stream_lines,
)

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv[1]); from kiln.sandbox._init import main; main(sys.argv[2:])"
)


def chroot_supported(proc_status: str = "/proc/self/status") -> bool:
    """True where this runner can work: kiln holds CAP_SYS_ADMIN (root in an ordinary pod does not)."""
    return _linux.has_cap_sys_admin(proc_status)


class ChrootRunner(Runner):
    """Runs RUN commands isolated in namespaces; ``state_dir`` holds per-run scratch dirs."""

    name = "chroot"

    def __init__(
        self, state_dir: str | os.PathLike[str] | None = None, resolv_conf: str = "/etc/resolv.conf"
    ):
        self.state_dir = os.fspath(state_dir) if state_dir is not None else tempfile.gettempdir()
        self.resolv_conf = resolv_conf

    def run(self, spec: RunSpec, output: OutputSink | None = None) -> int:
        if not chroot_supported():
            raise SandboxError(
                "the chroot isolation needs CAP_SYS_ADMIN (root on a host or in a privileged container)",
                hint="run kiln as root, or use --isolation=inplace inside a container",
            )
        rootfs = os.path.realpath(spec.rootfs)
        if not os.path.isdir(rootfs):
            raise SandboxError(f"rootfs {spec.rootfs} is not a directory")
        if rootfs == "/":
            raise SandboxError(
                "the chroot isolation needs a stage rootfs, not /", hint="use --isolation=inplace to run in /"
            )
        if os.path.commonpath([rootfs, os.path.realpath(self.state_dir)]) == rootfs:
            raise SandboxError(
                f"the sandbox state dir {self.state_dir} must not be inside the rootfs {rootfs}"
            )
        os.makedirs(self.state_dir, exist_ok=True)
        state = tempfile.mkdtemp(prefix="kiln-run-", dir=self.state_dir)
        try:
            with cache_locks(spec.mounts):
                return self._run(spec, rootfs, state, output or log_output)
        finally:
            # Normally empty: the helper's tmpfs on it died with its namespace.
            shutil.rmtree(state, ignore_errors=True)

    def _run(self, spec: RunSpec, rootfs: str, state: str, sink: OutputSink) -> int:
        config = _config(spec, rootfs, state, self.resolv_conf)
        config_r, config_w = os.pipe()
        status_r, status_w = os.pipe()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _BOOTSTRAP, _PACKAGE_ROOT, str(config_r), str(status_w)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(config_r, status_w),
                start_new_session=True,  # a terminal's Ctrl-C reaches kiln, which then kills the sandbox
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"},
            )
        except OSError as err:
            for fd in (config_r, config_w, status_r, status_w):
                os.close(fd)
            raise SandboxError(f"cannot start the sandbox helper: {err}") from err
        os.close(config_r)
        os.close(status_w)
        messages: list[dict[str, Any]] = []
        try:
            _send_config(config_w, config)
            assert proc.stdout is not None
            stream_lines(proc.stdout, sink)
            code = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            messages = _read_status(status_r)
            cleanup_stubs(rootfs, [Stub.from_json(m["stub"]) for m in messages if "stub" in m])
            if proc.stdout is not None:
                proc.stdout.close()
        errors = [m["error"] for m in messages if "error" in m]
        if errors:
            raise SandboxError(f"RUN {spec.describe()}: {errors[0]}", hint=_hint_for(code, errors[0]))
        return code


def _hint_for(code: int, error: str) -> str | None:
    if code in (126, 127):
        return "check the command and the image's PATH"
    if "namespaces" in error:
        return (
            "kiln needs CAP_SYS_ADMIN (and a seccomp profile that allows unshare); or use --isolation=inplace"
        )
    return None


def _config(spec: RunSpec, rootfs: str, state: str, resolv_conf: str) -> dict[str, Any]:
    return {
        "rootfs": rootfs,
        "state": state,
        "argv": list(spec.argv),
        "env": spec.command_env(),
        "cwd": spec.cwd,
        "uid": spec.uid,
        "gid": spec.gid,
        "groups": list(spec.groups),
        "network": spec.network,
        "hostname": spec.hostname,
        "hosts": hosts_file(spec.hostname, spec.extra_hosts),
        "resolv": os.path.realpath(resolv_conf) if os.path.isfile(resolv_conf) else None,
        "secret_env": secret_env(spec.mounts),
        "mounts": [
            {
                "kind": m.kind,
                "target": m.target,
                "source": m.source,
                "readonly": m.readonly,
                "mode": m.mode,
                "uid": m.uid,
                "gid": m.gid,
                "size": m.size,
                "data": base64.b64encode(m.secret_bytes()).decode() if m.kind == "secret" else None,
            }
            for m in spec.mounts
            if m.has_file
        ],
    }


def _send_config(fd: int, config: dict[str, Any]) -> None:
    data = json.dumps(config).encode()
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BrokenPipeError:
        pass  # the helper died early; its exit status and status pipe say why
    finally:
        os.close(fd)


def _read_status(fd: int) -> list[dict[str, Any]]:
    """The helper's messages; a line cut short by a killed helper is dropped."""
    messages = []
    with os.fdopen(fd, "rb") as handle:
        for line in handle:
            try:
                messages.append(json.loads(line))
            except ValueError:
                continue
    return messages
