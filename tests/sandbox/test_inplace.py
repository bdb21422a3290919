"""The inplace runner (kaniko's model) and container detection.

These runs execute in this machine's real ``/`` (that is the point of the mode),
so every command and mount target stays under tmp_path.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from busybox_rootfs import fingerprint

from kiln.errors import UsageError
from kiln.sandbox.base import Mount, RunSpec, SandboxError
from kiln.sandbox.inplace import InplaceRunner, detect_container


def _empty(tmp_path: Path) -> tuple[str, str]:
    root, proc = tmp_path / "r", tmp_path / "p"
    root.mkdir()
    (proc / "1").mkdir(parents=True)
    (proc / "self").mkdir(parents=True)
    (proc / "1" / "cgroup").write_text("0::/\n")
    (proc / "self" / "mountinfo").write_text("22 1 0:21 / / rw - ext4 /dev/sda rw\n")
    return str(root), str(proc)


def test_detect_container_negative(tmp_path: Path) -> None:
    root, proc = _empty(tmp_path)
    assert detect_container({}, proc, root) is False


@pytest.mark.parametrize(
    "hint",
    [
        "dockerenv",
        "containerenv",
        "env-container",
        "env-k8s",
        "cgroup-docker",
        "cgroup-kubepods",
        "mountinfo",
    ],
)
def test_detect_container_hints(tmp_path: Path, hint: str) -> None:
    root, proc = _empty(tmp_path)
    environ: dict[str, str] = {}
    if hint == "dockerenv":
        Path(root, ".dockerenv").touch()
    elif hint == "containerenv":
        Path(root, "run").mkdir()
        Path(root, "run", ".containerenv").touch()
    elif hint == "env-container":
        environ["container"] = "podman"
    elif hint == "env-k8s":
        environ["KUBERNETES_SERVICE_HOST"] = "10.0.0.1"
    elif hint == "cgroup-docker":
        Path(proc, "1", "cgroup").write_text("12:pids:/docker/0123abcd\n")
    elif hint == "cgroup-kubepods":
        Path(proc, "1", "cgroup").write_text("0::/kubepods/besteffort/pod1234/abcd\n")
    else:
        Path(proc, "self", "mountinfo").write_text(
            "1 0 8:1 /var/lib/docker/containers/abc/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n"
        )
    assert detect_container(environ, proc, root) is True


def test_refuses_outside_a_container_unless_forced(tmp_path: Path) -> None:
    root, proc = _empty(tmp_path)
    with pytest.raises(UsageError, match="outside a container") as info:
        InplaceRunner({}, proc_root=proc, root=root)
    assert info.value.hint and "--force" in info.value.hint
    InplaceRunner({}, force=True, proc_root=proc, root=root)  # no error


def run(spec: RunSpec) -> tuple[int, list[str]]:
    lines: list[str] = []
    return InplaceRunner({}, force=True).run(spec, lines.append), lines


def sh(script: str, **kwargs: object) -> RunSpec:
    """A shell RUN as the current user (switching users needs root; only the user test does that)."""
    kwargs = {"uid": os.geteuid(), "gid": os.getegid(), **kwargs}
    return RunSpec(argv=("/bin/sh", "-c", script), rootfs="/", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("script", "code"), [("true", 0), ("exit 3", 3), ("kill -9 $$", 137)])
def test_exit_codes(script: str, code: int) -> None:
    assert run(sh(script))[0] == code


def test_env_cwd_and_output(tmp_path: Path) -> None:
    work = tmp_path / "w" / "d"
    code, lines = run(sh("pwd; echo $A; echo $HOME; echo err >&2", env=("A=1",), cwd=str(work), home="/h"))
    assert (code, lines) == (0, [str(work), "1", "/h", "err"])


@pytest.mark.privileged
@pytest.mark.usefixtures("privileged")
def test_user_and_groups(tmp_path: Path) -> None:
    work = tmp_path / "w"
    code, lines = run(sh("id -u; id -g; id -G", uid=1000, gid=1001, groups=(1001, 29), cwd=str(work)))
    assert (code, lines) == (0, ["1000", "1001", "1001 29"])
    assert (work.stat().st_uid, work.stat().st_gid) == (1000, 1001)


def test_other_user_without_root_is_a_clear_error() -> None:
    if os.geteuid() == 0:
        pytest.skip("as root, switching users works")
    with pytest.raises(SandboxError, match="needs root"):
        run(RunSpec(argv=("true",), rootfs="/", uid=os.geteuid() + 1))


def test_missing_executable() -> None:
    with pytest.raises(SandboxError, match="executable file not found"):
        run(RunSpec(argv=("no-such-kiln-cmd",), rootfs="/", uid=os.geteuid(), gid=os.getegid()))


def test_rejects_what_it_cannot_honour(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="runs in /"):
        run(RunSpec(argv=("true",), rootfs=str(tmp_path), uid=os.geteuid(), gid=os.getegid()))
    with pytest.raises(SandboxError, match="network namespace"):
        run(sh("true", network="none"))
    with pytest.raises(SandboxError, match="--add-host"):
        run(sh("true", extra_hosts=(("a", "1.2.3.4"),)))


def test_secret_exists_only_during_the_run(tmp_path: Path) -> None:
    target = tmp_path / "run" / "secrets" / "tok"
    before = fingerprint(tmp_path)
    mount = Mount("secret", str(target), data=b"hunter2")
    code, lines = run(sh(f"stat -c %a {target}; cat {target}", mounts=(mount,)))
    assert (code, lines) == (0, ["400", "hunter2"])
    assert fingerprint(tmp_path) == before  # file and the parent dirs made for it are gone


def test_tmpfs_and_bind_are_swapped_in_and_out(tmp_path: Path) -> None:
    existing = tmp_path / "t"
    existing.mkdir()
    (existing / "image-file").write_text("image\n")
    src = tmp_path / "ctx"
    src.mkdir()
    (src / "a").write_text("ctx\n")
    before = fingerprint(tmp_path)
    mounts = (Mount("tmpfs", str(existing)), Mount("bind", str(tmp_path / "b"), source=str(src)))
    script = f"ls -A {existing}; echo x > {existing}/new; cat {tmp_path}/b/a; echo y > {tmp_path}/b/a"
    code, lines = run(sh(script, mounts=mounts))
    assert (code, lines) == (0, ["ctx"])
    assert fingerprint(tmp_path) == before


def test_cache_persists(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    target = tmp_path / "var" / "cache"
    mount = Mount("cache", str(target), source=str(cache))
    assert run(sh(f"echo 1 >> {target}/n", mounts=(mount,)))[0] == 0
    code, lines = run(sh(f"echo 2 >> {target}/n; cat {target}/n", mounts=(mount,)))
    assert (code, lines) == (0, ["1", "2"])
    assert (cache / "n").read_text() == "1\n2\n"
    assert not target.exists()


def test_make_runner_selects_by_name(tmp_path: Path) -> None:
    from kiln.sandbox import ChrootRunner, InplaceRunner, chroot_supported, make_runner

    assert isinstance(make_runner("inplace", state_dir=str(tmp_path), environ={}, force=True), InplaceRunner)
    if chroot_supported():
        assert isinstance(make_runner("chroot", state_dir=str(tmp_path), environ={}), ChrootRunner)
    with pytest.raises(UsageError, match="unknown --isolation=vm"):
        make_runner("vm", state_dir=str(tmp_path), environ={})


def test_mount_validation() -> None:
    with pytest.raises(UsageError, match="unsupported mount type 'ssh'"):
        Mount("ssh", "/root/.ssh")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="absolute"):
        Mount("tmpfs", "tmp")
    with pytest.raises(UsageError, match="needs a source"):
        Mount("cache", "/c")
    with pytest.raises(UsageError, match="sharing"):
        Mount("cache", "/c", source="/x", sharing="exclusive")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="no content"):
        Mount("secret", "/s")
    with pytest.raises(UsageError, match="network"):
        RunSpec(argv=("true",), rootfs="/", network="bridge")  # type: ignore[arg-type]


def test_background_processes_are_killed_when_the_command_ends() -> None:
    code, lines = run(sh("sleep 4321 & echo started"))
    assert (code, lines) == (0, ["started"])
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "sleep 4321" not in ps


def test_default_isolation_follows_cap_sys_admin(tmp_path: Path) -> None:
    from kiln.sandbox import default_isolation

    status = tmp_path / "status"
    status.write_text("Name:\tkiln\nCapEff:\t000001ffffffffff\n")
    assert default_isolation(str(status)) == "chroot"
    status.write_text("Name:\tkiln\nCapEff:\t00000000a80425fb\n")  # Docker's default set: no CAP_SYS_ADMIN
    assert default_isolation(str(status)) == "inplace"


def test_secret_as_env_variable() -> None:
    spec = sh("echo $TOKEN", mounts=(Mount("secret", "", env="TOKEN", data=b"s3cr3t"),))
    assert run(spec) == (0, ["s3cr3t"])
    assert "s3cr3t" not in repr(spec)
    with pytest.raises(UsageError, match="only for secret"):
        Mount("tmpfs", "/t", env="X")


def test_unreadable_secret_file_is_a_clear_error(tmp_path: Path) -> None:
    mount = Mount("secret", "/run/secrets/x", source=str(tmp_path / "missing"))
    with pytest.raises(SandboxError, match="cannot read the secret for /run/secrets/x"):
        mount.secret_bytes()


def test_umask_is_runcs_not_kilns(tmp_path: Path) -> None:
    previous = os.umask(0o077)
    try:
        assert run(sh("umask", cwd=str(tmp_path / "new"))) == (0, ["0022"])
    finally:
        os.umask(previous)
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o755


def test_mount_target_that_cannot_be_swapped_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    before = fingerprint(tmp_path)
    with pytest.raises(SandboxError, match=r"RUN --mount=type=tmpfs at .*/file/sub: .*not a directory"):
        run(sh("true", mounts=(Mount("tmpfs", str(tmp_path / "new" / ".." / "file" / "sub")),)))
    assert fingerprint(tmp_path) == before  # the stub made for "new" is gone too
