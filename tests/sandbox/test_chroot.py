"""The chroot runner against a real busybox rootfs: isolation, mounts, users, cleanup."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from busybox_rootfs import fingerprint, host_mount_lines, mount_lines

from kiln.fs.users import resolve_user
from kiln.sandbox.base import Mount, RunSpec, SandboxError
from kiln.sandbox.chroot import ChrootRunner

pytestmark = [pytest.mark.privileged, pytest.mark.usefixtures("privileged"), pytest.mark.timeout(60)]


def run(tmp_path: Path, spec: RunSpec) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = ChrootRunner(tmp_path / "state").run(spec, lines.append)
    return code, lines


def sh(rootfs: Path, script: str, **kwargs: object) -> RunSpec:
    return RunSpec(argv=("/bin/sh", "-c", script), rootfs=str(rootfs), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("script", "code"), [("true", 0), ("exit 7", 7), ("kill -9 $$", 137), ("kill -TERM $$", 143)]
)
def test_exit_codes_propagate(tmp_path: Path, rootfs: Path, script: str, code: int) -> None:
    assert run(tmp_path, sh(rootfs, script))[0] == code


def test_output_is_streamed_line_by_line(tmp_path: Path, rootfs: Path) -> None:
    code, lines = run(tmp_path, sh(rootfs, "echo one; echo two >&2; printf 'caf\\303\\251\\n\\377end'"))
    assert code == 0
    assert lines == ["one", "two", "café", "\ufffdend"]


def test_user_groups_and_home(tmp_path: Path, rootfs: Path) -> None:
    user = resolve_user("app", rootfs)
    spec = sh(
        rootfs, "id; echo HOME=$HOME; pwd", uid=user.uid, gid=user.gid, groups=user.groups, home=user.home
    )
    code, lines = run(tmp_path, replace(spec, cwd="/work/dir"))
    assert code == 0
    assert lines[0] == "uid=1000(app) gid=1000(app) groups=10(wheel),29(audio)"
    assert lines[1:] == ["HOME=/home/app", "/work/dir"]
    created = rootfs / "work" / "dir"
    assert (created.stat().st_uid, created.stat().st_gid) == (1000, 1000)


def test_explicit_group_has_no_supplementary_groups(tmp_path: Path, rootfs: Path) -> None:
    user = resolve_user("app:audio", rootfs)
    code, lines = run(tmp_path, sh(rootfs, "id", uid=user.uid, gid=user.gid, groups=user.groups))
    assert (code, lines) == (0, ["uid=1000(app) gid=29(audio)"])


def test_env_and_default_path(tmp_path: Path, rootfs: Path) -> None:
    code, lines = run(tmp_path, sh(rootfs, "echo $FOO; echo $PATH; echo $HOME", env=("FOO=bar baz",)))
    assert (code, lines) == (
        0,
        ["bar baz", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "/"],
    )


def test_exec_form_searches_path(tmp_path: Path, rootfs: Path) -> None:
    code, lines = run(tmp_path, RunSpec(argv=("echo", "exec", "form"), rootfs=str(rootfs)))
    assert (code, lines) == (0, ["exec form"])


def test_missing_executable_is_a_clear_error(tmp_path: Path, rootfs: Path) -> None:
    with pytest.raises(SandboxError, match='exec: "nosuchcmd": executable file not found in \\$PATH'):
        run(tmp_path, RunSpec(argv=("nosuchcmd",), rootfs=str(rootfs)))


def test_pid_namespace(tmp_path: Path, rootfs: Path) -> None:
    code, lines = run(tmp_path, sh(rootfs, "echo $$; ls /proc | grep -E '^[0-9]+$' | sort -n"))
    assert code == 0
    assert lines[0] == "2"  # PID 1 is the sandbox's init, the command comes next
    pids = {int(p) for p in lines[1:]}
    assert 1 in pids and os.getpid() not in pids and max(pids) < 10


def test_zombies_are_reaped_and_leftovers_killed(tmp_path: Path, rootfs: Path) -> None:
    script = "( (true &) ); (sleep 1234 &); sleep 0.3; cat /proc/[0-9]*/stat | cut -d' ' -f3"
    code, lines = run(tmp_path, sh(rootfs, script))
    assert code == 0
    assert "Z" not in lines  # orphans were re-parented to init and reaped
    # ``sleep 1234`` was still running when the command ended; run() returned, so it was killed.
    assert "sleep 1234" not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout


def test_minimal_dev(tmp_path: Path, rootfs: Path) -> None:
    script = "ls /dev; echo x > /dev/null && head -c 5 /dev/zero | wc -c; head -c 8 /dev/urandom | wc -c"
    code, lines = run(tmp_path, sh(rootfs, script))
    assert code == 0
    expected = {
        "fd",
        "full",
        "null",
        "ptmx",
        "pts",
        "random",
        "shm",
        "stderr",
        "stdin",
        "stdout",
        "tty",
        "urandom",
        "zero",
    }
    assert set(lines[:-2]) == expected
    assert lines[-2:] == ["5", "8"]


def test_devices_made_in_the_rootfs_cannot_be_opened(tmp_path: Path, rootfs: Path) -> None:
    major, minor = os.major(os.stat("/").st_dev), os.minor(os.stat("/").st_dev)
    script = f"mknod /disk b {major} {minor} && head -c 1 /disk; echo rc=$?; mknod /dev/disk2 b {major} {minor}; head -c 1 /dev/disk2; echo rc=$?"
    code, lines = run(tmp_path, sh(rootfs, script))
    assert code == 0
    assert [line for line in lines if line.startswith("rc=")] == ["rc=1", "rc=1"]
    assert any("Permission denied" in line or "not permitted" in line for line in lines)


def test_host_device_nodes_cannot_be_changed(tmp_path: Path, rootfs: Path) -> None:
    """/dev/null & co are the host's own inodes bound in: a RUN may use them but not chmod, chown or touch them.

    Regression: the binds were writable, so ``chmod 000 /dev/null`` in a RUN changed the host's /dev/null.
    Only metadata-preserving changes are tried here (same mode, same owner, touch), so a failure harms nothing.
    """
    devices = [f"/dev/{name}" for name in ("null", "zero", "full", "random", "urandom", "tty")]
    before = {d: os.stat(d) for d in devices if os.path.exists(d)}
    script = "".join(
        f"chmod {stat.S_IMODE(st.st_mode):o} {d}; echo chmod=$?; chown {st.st_uid}:{st.st_gid} {d}; echo chown=$?; "
        f"touch {d}; echo touch=$?; "
        for d, st in before.items()
    )
    code, lines = run(tmp_path, sh(rootfs, script + "echo x > /dev/null && head -c 3 /dev/zero | wc -c"))
    assert code == 0
    results = [line for line in lines if "=" in line]
    assert len(results) == 3 * len(before) and all(not r.endswith("=0") for r in results), results
    assert lines[-1] == "3"  # still usable
    for d, st in before.items():
        after = os.stat(d)
        assert (after.st_mode, after.st_uid, after.st_gid) == (st.st_mode, st.st_uid, st.st_gid)
        if d != "/dev/tty":  # a terminal's times move when anyone on the host uses it
            assert (after.st_mtime_ns, after.st_ctime_ns) == (st.st_mtime_ns, st.st_ctime_ns), d


def test_sys_is_read_only_and_proc_is_masked(tmp_path: Path, rootfs: Path) -> None:
    masked = next(p for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list") if os.path.exists(p))
    script = (
        "touch /sys/x 2>/dev/null; echo sys=$?; { echo h > /proc/sysrq-trigger; } 2>/dev/null; echo sysrq=$?;"
        f" {{ echo k > /proc/sys/kernel/domainname; }} 2>/dev/null; echo procsys=$?; wc -c < {masked}; ls /sys | grep -c ."
    )
    code, lines = run(tmp_path, sh(rootfs, script))
    assert code == 0
    assert lines[:3] == ["sys=1", "sysrq=1", "procsys=1"]
    assert lines[3] == "0"  # masked with /dev/null
    assert int(lines[4]) > 0


def test_resolv_conf_and_hosts(tmp_path: Path, rootfs: Path) -> None:
    (rootfs / "etc" / "hosts").write_text("rootfs own hosts\n")
    host_files = {
        p: (Path(p).read_bytes(), os.stat(p).st_mtime_ns) for p in ("/etc/hosts", "/etc/resolv.conf")
    }
    before = fingerprint(rootfs)
    script = (
        "cat /etc/hosts; cat /etc/resolv.conf | head -1; hostname;"
        " echo evil >> /etc/hosts; echo rc=$?; echo evil > /etc/resolv.conf; echo rc=$?;"
        " umount /etc/hosts; echo rc=$?"
    )
    spec = sh(rootfs, script, hostname="kiln-test", extra_hosts=(("db.local", "10.1.2.3"),))
    code, lines = run(tmp_path, spec)
    assert code == 0
    assert lines[:4] == [
        "127.0.0.1\tlocalhost kiln-test",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "10.1.2.3\tdb.local",
        Path("/etc/resolv.conf").read_text().splitlines()[0],
    ]
    assert lines[4] == "kiln-test"
    assert [line for line in lines if line.startswith("rc=")] == ["rc=1", "rc=1", "rc=1"]
    assert fingerprint(rootfs) == before  # the rootfs' own hosts file untouched, no resolv.conf left
    assert not (rootfs / "etc" / "resolv.conf").exists()
    assert {p: (Path(p).read_bytes(), os.stat(p).st_mtime_ns) for p in host_files} == host_files


def test_mount_stubs_leave_no_trace(tmp_path: Path, rootfs: Path) -> None:
    """/proc, /dev, /sys, /etc/resolv.conf, /etc/hosts and mount targets are made then removed, times restored."""
    before = fingerprint(rootfs)
    secret = Mount("secret", "/run/secrets/token", data=b"s3cret")
    tmpfs = Mount("tmpfs", "/scratch/deep")
    code, _ = run(tmp_path, sh(rootfs, "ls /run/secrets /scratch/deep >/dev/null", mounts=(secret, tmpfs)))
    assert code == 0
    assert fingerprint(rootfs) == before
    assert os.listdir(tmp_path / "state") == []


def test_changes_by_the_command_are_kept(tmp_path: Path, rootfs: Path) -> None:
    code, _ = run(
        tmp_path,
        sh(rootfs, "mkdir -p /opt/app && echo hi > /opt/app/f && chown 1000:29 /opt/app/f && rm /etc/group"),
    )
    assert code == 0
    assert (rootfs / "opt" / "app" / "f").read_text() == "hi\n"
    assert ((rootfs / "opt/app/f").stat().st_uid, (rootfs / "opt/app/f").stat().st_gid) == (1000, 29)
    assert not (rootfs / "etc" / "group").exists()


def test_bind_mounts(tmp_path: Path, rootfs: Path) -> None:
    src = tmp_path / "ctx"
    src.mkdir()
    (src / "in.txt").write_text("context\n")
    before = fingerprint(src)
    mounts = (Mount("bind", "/ro", source=str(src), readonly=True), Mount("bind", "/rw", source=str(src)))
    script = "cat /ro/in.txt; touch /ro/x; echo rc=$?; echo new > /rw/in.txt && cat /rw/in.txt; touch /rw/y && ls /rw"
    code, lines = run(tmp_path, sh(rootfs, script, mounts=mounts))
    assert code == 0
    assert lines[0] == "context"
    assert "rc=1" in lines
    assert lines[-3:] == ["new", "in.txt", "y"]
    assert fingerprint(src) == before  # writable bind mounts write to a throw-away layer
    assert not (rootfs / "ro").exists() and not (rootfs / "rw").exists()


def test_bind_mount_of_a_file(tmp_path: Path, rootfs: Path) -> None:
    src = tmp_path / "one.txt"
    src.write_text("single\n")
    code, lines = run(
        tmp_path, sh(rootfs, "cat /mnt/one.txt", mounts=(Mount("bind", "/mnt/one.txt", source=str(src)),))
    )
    assert (code, lines) == (0, ["single"])


def test_tmpfs_mount(tmp_path: Path, rootfs: Path) -> None:
    (rootfs / "tmp").mkdir()
    (rootfs / "tmp" / "keep").write_text("image file\n")
    before = fingerprint(rootfs)
    script = "ls /tmp; echo data > /tmp/new; cat /tmp/new; df /tmp | tail -1 | awk '{print $1}'"
    code, lines = run(tmp_path, sh(rootfs, script, mounts=(Mount("tmpfs", "/tmp", size=1 << 20),)))
    assert (code, lines) == (0, ["data", "tmpfs"])
    assert fingerprint(rootfs) == before


def test_cache_mount_persists_between_runs(tmp_path: Path, rootfs: Path) -> None:
    cache = tmp_path / "cache" / "apt"
    mount = Mount("cache", "/var/cache/apt", source=str(cache), uid=1000, gid=1000, mode=0o750)
    assert run(tmp_path, sh(rootfs, "echo 1 >> /var/cache/apt/count", mounts=(mount,)))[0] == 0
    code, lines = run(
        tmp_path, sh(rootfs, "echo 2 >> /var/cache/apt/count; cat /var/cache/apt/count", mounts=(mount,))
    )
    assert (code, lines) == (0, ["1", "2"])
    assert (cache.stat().st_uid, cache.stat().st_mode & 0o777) == (1000, 0o750)
    assert not (rootfs / "var").exists()


def test_secret_mount(tmp_path: Path, rootfs: Path) -> None:
    token = tmp_path / "token.txt"
    token.write_text("from-file")
    mounts = (
        Mount("secret", "/run/secrets/api", data=b"hunter2", uid=1000, gid=1000),
        Mount("secret", "/etc/tok", source=str(token), mode=0o440, gid=1000),
    )
    script = "stat -c '%a %u' /run/secrets/api; cat /run/secrets/api; echo; cat /etc/tok; echo; echo x > /run/secrets/api; echo rc=$?"
    code, lines = run(tmp_path, sh(rootfs, script, mounts=mounts, uid=1000, gid=1000))
    assert code == 0
    assert lines[:3] == ["400 1000", "hunter2", "from-file"]
    assert lines[-1] == "rc=1"  # read-only
    assert not (rootfs / "run").exists() and not (rootfs / "etc" / "tok").exists()
    assert "hunter2" not in repr(mounts[0])
    assert os.listdir(tmp_path / "state") == []


def test_network_none_sees_only_loopback(tmp_path: Path, rootfs: Path) -> None:
    code, lines = run(
        tmp_path,
        sh(rootfs, "ip -o link | cut -d: -f2; ip -o addr show lo | grep -c 127.0.0.1", network="none"),
    )
    assert code == 0
    assert [line.strip() for line in lines] == ["lo", "1"]
    code, lines = run(tmp_path, sh(rootfs, "ip -o link | wc -l", network="host"))
    host_links = len(os.listdir("/sys/class/net"))
    assert (code, lines) == (0, [str(host_links)])


def test_escape_attempts_change_nothing_outside(tmp_path: Path, rootfs: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "victim").write_text("original\n")
    before_host = fingerprint(host)
    sentinel = subprocess.Popen(["sleep", "300"])
    host_mounts = host_mount_lines()
    victim = host / "victim"
    script = f"""
        echo pwned > {victim}; echo write=$?
        ln -s {victim} /link; echo pwned > /link; echo link=$?
        ln -s {host} /hostdir; echo pwned > /hostdir/victim; echo linkdir=$?
        cd /; cd ../../../../..; pwd; ls {host} 2>/dev/null; echo ls=$?
        chroot /bin /busybox true 2>/dev/null; echo chroot=$?
        mount -t tmpfs none /mnt 2>/dev/null; echo mount=$?
        mount -o remount,rw /proc/sys 2>/dev/null; echo remount=$?
        mount --bind / /mnt 2>/dev/null; echo bind=$?
        umount -l /proc 2>/dev/null; echo umount=$?
        sleep 100 & [ $$ -lt 10 ] && kill -9 -1; echo killed=$?
    """
    try:
        code, lines = run(tmp_path, sh(rootfs, script))
        assert sentinel.poll() is None, "kill -9 -1 reached a host process"
    finally:
        sentinel.kill()
        sentinel.wait()
    assert code == 0
    results = dict(line.split("=", 1) for line in lines if "=" in line)
    assert results["write"] != "0" and results["link"] != "0" and results["linkdir"] != "0"
    assert results["ls"] != "0"
    assert results["mount"] != "0" and results["remount"] != "0" and results["bind"] != "0"
    assert results["umount"] != "0"
    assert results["killed"] == "0"
    assert "/" in lines
    assert fingerprint(host) == before_host
    assert host_mounts <= set(mount_lines())  # nothing of the host's was unmounted
    assert mount_lines(tmp_path) == []  # and nothing the container mounted leaked out


def test_no_mount_is_left_behind(tmp_path: Path, rootfs: Path) -> None:
    host_mounts = host_mount_lines()
    src = tmp_path / "ctx"
    src.mkdir()
    mounts = (
        Mount("bind", "/ctx", source=str(src)),
        Mount("cache", "/cache", source=str(tmp_path / "c")),
        Mount("tmpfs", "/t"),
        Mount("secret", "/s", data=b"x"),
    )
    assert (
        run(tmp_path, sh(rootfs, "cat /proc/self/mountinfo | wc -l", mounts=mounts, network="none"))[0] == 0
    )
    assert mount_lines(tmp_path) == []
    assert host_mounts <= set(mount_lines())


def test_rootfs_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="is not a directory"):
        run(tmp_path, RunSpec(argv=("true",), rootfs=str(tmp_path / "missing")))


def test_mount_target_blocked_by_a_file(tmp_path: Path, rootfs: Path) -> None:
    (rootfs / "blocker").write_text("file")
    before = fingerprint(rootfs)
    with pytest.raises(SandboxError, match="not a directory"):
        run(tmp_path, sh(rootfs, "true", mounts=(Mount("tmpfs", "/blocker/sub"),)))
    # A stub made before the failing component (/new) is still cleaned up.
    with pytest.raises(SandboxError, match="not a directory"):
        run(tmp_path, sh(rootfs, "true", mounts=(Mount("tmpfs", "/new/../blocker/sub"),)))
    assert fingerprint(rootfs) == before


ESCAPE_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
/* The classic chroot escape: chroot into a subdir while holding the old root open, climb out, chroot there. */
int main(int argc, char **argv) {
    mkdir("/esc", 0755);
    int fd = open("/", O_RDONLY);
    if (chroot("/esc") != 0) perror("chroot");
    fchdir(fd);
    for (int i = 0; i < 64; i++) chdir("..");
    chroot(".");
    int out = open(argv[1], O_WRONLY | O_TRUNC);
    if (out < 0) { printf("blocked\n"); return 0; }
    write(out, "pwned\n", 6);
    printf("escaped\n");
    return 0;
}
"""


def test_classic_chroot_escape_is_contained(tmp_path: Path, rootfs: Path) -> None:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is needed to build the escape program")
    source = tmp_path / "esc.c"
    source.write_text(ESCAPE_C)
    built = subprocess.run(
        [gcc, "-static", "-o", str(rootfs / "bin" / "esc"), str(source)], capture_output=True
    )
    if built.returncode != 0:
        pytest.skip(f"cannot build a static binary here: {built.stderr.decode()[:200]}")
    victim = tmp_path / "host" / "victim"
    victim.parent.mkdir()
    victim.write_text("original\n")
    # Control: the program does escape a plain chroot(2), so a "blocked" below means something.
    control = subprocess.run(["chroot", str(rootfs), "/bin/esc", str(victim)], capture_output=True, text=True)
    assert control.stdout.strip() == "escaped" and victim.read_text() == "pwned\n"
    victim.write_text("original\n")
    (rootfs / "esc").rmdir()
    before = fingerprint(victim.parent)
    code, lines = run(tmp_path, RunSpec(argv=("/bin/esc", str(victim)), rootfs=str(rootfs)))
    assert (code, lines) == (0, ["blocked"])
    assert fingerprint(victim.parent) == before


def test_long_output_lines_are_split(tmp_path: Path, rootfs: Path) -> None:
    code, lines = run(tmp_path, sh(rootfs, "head -c 150000 /dev/zero | tr '\\0' a; echo; echo end"))
    assert code == 0
    assert [len(line) for line in lines] == [65536, 65536, 150000 - 2 * 65536, 3]
    assert lines[-1] == "end"


def test_overlay_rootfs_upper_holds_only_the_commands_changes(tmp_path: Path, rootfs: Path) -> None:
    """With the overlay snapshotter the stage rootfs is an overlay mount: the upper dir must show the
    command's files and nothing of the sandbox's. Directories copied up only to host a mount stub
    (here /etc, for /etc/hosts) keep the lower directory's metadata, so a snapshotter can skip them."""
    upper, work, merged = tmp_path / "upper", tmp_path / "work", tmp_path / "merged"
    for path in (upper, work, merged):
        path.mkdir()
    options = f"lowerdir={rootfs},upperdir={upper},workdir={work}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(merged)], check=True)
    try:
        secret = Mount("secret", "/run/secrets/x", data=b"x")
        code, _ = run(tmp_path, sh(merged, "echo hi > /new", mounts=(secret,)))
    finally:
        subprocess.run(["umount", str(merged)], check=True)
    assert code == 0
    entries = {str(p.relative_to(upper)) for p in upper.rglob("*")}
    assert entries - {"etc"} == {"new"}
    if "etc" in entries:
        copied, lower = (upper / "etc").stat(), (rootfs / "etc").stat()
        assert list((upper / "etc").iterdir()) == []
        assert (copied.st_mode, copied.st_uid, copied.st_gid, copied.st_mtime_ns) == (
            lower.st_mode,
            lower.st_uid,
            lower.st_gid,
            lower.st_mtime_ns,
        )


def test_host_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="not /") as info:
        run(tmp_path, RunSpec(argv=("true",), rootfs="/"))
    assert info.value.hint and "inplace" in info.value.hint


def test_symlinked_etc_files_are_resolved_inside_the_rootfs(tmp_path: Path, rootfs: Path) -> None:
    """/etc/resolv.conf -> /run/systemd/... (absolute, dangling) and /etc/hosts -> a host path:
    mount targets follow the links inside the rootfs, and everything made for them is removed."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "hosts").write_text("host file\n")
    os.symlink("/run/systemd/resolve/stub-resolv.conf", rootfs / "etc" / "resolv.conf")
    os.symlink(str(host / "hosts"), rootfs / "etc" / "hosts")
    before_root, before_host = fingerprint(rootfs), fingerprint(host)
    code, lines = run(tmp_path, sh(rootfs, "cat /etc/hosts | head -1; ls /run/systemd/resolve"))
    assert (code, lines) == (0, ["127.0.0.1\tlocalhost buildkitsandbox", "stub-resolv.conf"])
    assert fingerprint(rootfs) == before_root
    assert fingerprint(host) == before_host


def test_locked_cache_mounts_serialise_concurrent_runs(tmp_path: Path, rootfs: Path) -> None:
    """Two RUNs do read-sleep-write on one cache file; with sharing=locked neither update is lost."""
    mount = Mount("cache", "/cache", source=str(tmp_path / "cache" / "c"), sharing="locked")
    spec = sh(
        rootfs,
        "n=$(cat /cache/n 2>/dev/null || echo 0); sleep 0.3; echo $((n+1)) > /cache/n",
        mounts=(mount,),
    )
    runner = ChrootRunner(tmp_path / "state")
    with ThreadPoolExecutor(2) as pool:
        codes = list(pool.map(lambda _: runner.run(spec, lambda line: None), range(2)))
    assert codes == [0, 0]
    assert (tmp_path / "cache" / "c" / "n").read_text() == "2\n"


def test_secret_as_env_variable(tmp_path: Path, rootfs: Path) -> None:
    mounts = (
        Mount("secret", "", env="API_TOKEN", data=b"t0ken"),  # env only: no file anywhere
        Mount("secret", "/run/secrets/both", env="BOTH", data=b"b0th"),
    )
    spec = sh(rootfs, "echo $API_TOKEN $BOTH; cat /run/secrets/both; echo; ls /run/secrets", mounts=mounts)
    code, lines = run(tmp_path, spec)
    assert (code, lines) == (0, ["t0ken b0th", "b0th", "both"])
    assert "t0ken" not in repr(spec) and "b0th" not in repr(spec)
    assert not (rootfs / "run").exists()


@pytest.mark.parametrize("link", ["/", "..", "./."])
def test_special_dirs_symlinked_to_the_root_are_refused(tmp_path: Path, rootfs: Path, link: str) -> None:
    """An image whose /proc (or a mount target) points at / must not get procfs mounted over its root."""
    os.symlink(link, rootfs / "proc")
    before = fingerprint(rootfs)
    with pytest.raises(SandboxError, match="resolves to the root directory"):
        run(tmp_path, sh(rootfs, "true"))
    assert fingerprint(rootfs) == before


def test_missing_absolute_program_says_no_such_file(tmp_path: Path, rootfs: Path) -> None:
    (rootfs / "bin" / "sh").unlink()  # e.g. a FROM scratch stage whose shell-form RUN has no /bin/sh
    with pytest.raises(SandboxError, match='exec: "/bin/sh": no such file or directory'):
        run(tmp_path, sh(rootfs, "true"))


def test_umask_is_runcs_not_kilns(tmp_path: Path, rootfs: Path) -> None:
    previous = os.umask(0o077)
    try:
        secret = Mount("secret", "/run/secrets/s", data=b"x", uid=1000)
        script = "umask; touch /f; stat -c %a /f; cat /run/secrets/s; echo; stat -c %a /run/secrets"
        code, lines = run(tmp_path, sh(rootfs, script, cwd="/new/dir", mounts=(secret,)))
    finally:
        os.umask(previous)
    assert (code, lines) == (0, ["0022", "644", "x", "755"])  # stub dirs traversable too
    assert (rootfs / "new").stat().st_mode & 0o777 == 0o755  # the created working directory too


def test_state_dir_inside_rootfs_is_refused(rootfs: Path) -> None:
    with pytest.raises(SandboxError, match="must not be inside the rootfs"):
        ChrootRunner(rootfs / "tmp" / "state").run(sh(rootfs, "true"))


def test_host_cgroupfs_is_not_reachable(tmp_path: Path, rootfs: Path) -> None:
    """A writable host cgroupfs in the sandbox would allow the release_agent escape."""
    code, lines = run(
        tmp_path,
        sh(rootfs, "ls -A /sys/fs/cgroup | wc -l; grep -c -E ' - cgroup2? ' /proc/self/mountinfo; true"),
    )
    assert (code, lines) == (0, ["0", "0"])
