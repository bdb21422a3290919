"""A hostile Dockerfile built by a real ``executor`` in chroot isolation (the default) must not change the host.

What is hashed before and after each build (``host_snapshot``), and why these trees:

- a sentinel tree outside kiln's work dir: the target of every attack (absolute, relative and ``..`` paths,
  ``/proc/1/root``, chroot escapes, symlinks left for kiln itself to follow); it also holds a secret file the
  build tries to copy out;
- the whole test tmp dir except kiln's work dir and output dir: the build context, the ``TMPDIR`` kiln runs with
  (``/tmp`` is shared with other jobs on this machine, so kiln's own TMPDIR stands in for it) and the sentinel;
- ``/etc`` (3 MB here, read in well under a second): what the symlink attacks aim at; a package manager
  running at the same time on the machine would make this check fail, not pass;
- kiln's own source tree (``src/``), which the sandbox helper imports from;
- the host's ``/dev/null``, ``zero``, ``full``, ``random``, ``urandom`` (mode, owner, times): a RUN's /dev
  binds these very inodes;
- state that is not a file: the host's interfaces, addresses and routes (``ip``), the hostname, the sysctls the build writes back (``kernel.sysrq``, KSM), the
  host's mount table, and a host ``sleep`` that the build tries to kill by its host pid.

Not attempted, and why: an unbounded fork bomb (kiln sets no pids or memory cgroup limit -- docs/isolation.md
says so -- and this 2-core machine is shared with other builds: a bomb would take them down; a bounded storm of
100 processes left running is tried instead), and filling the disk (only 300 MB into the rootfs's /tmp).

Each attempt prints ``attempt <name> rc=<code>`` (``hostile/attacks.sh``); the test fails if the host changed,
if kiln died or printed a traceback, if any process the build started outlives it, or if the secret or the
host's ``/etc/shadow`` reached the image.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.images import (
    Entry,
    LayoutImage,
    PushedImage,
    busybox_entries,
    busybox_on,
    push_layout,
    write_image_layout,
)
from fixtures.registry import RegistryServer
from kiln.fs.trash import TRASH_DIR, pending, trash_dir, wait_swept
from reliability import stats

pytestmark = [
    pytest.mark.registry,
    pytest.mark.privileged,
    pytest.mark.timeout(600),
    pytest.mark.skipif(os.geteuid() != 0, reason="chroot isolation needs root (CAP_SYS_ADMIN)"),
]

HOSTILE = Path(__file__).parent / "hostile"
KILN_SRC = Path(__file__).resolve().parents[2] / "src"
SECRET_NAME = "secret.txt"
HOST_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
DAEMON_MARKERS = ("31337", "31338", "31339", "31340")
_ATTEMPT = re.compile(r"attempt (\S+) rc=(\d+)")

ESCAPE_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
/* The classic chroot(2) escape: chroot into a subdir holding the old root open, climb out, chroot there. */
int main(int argc, char **argv) {
    mkdir("/esc", 0755);
    int fd = open("/", O_RDONLY);
    chroot("/esc");
    fchdir(fd);
    for (int i = 0; i < 64; i++) chdir("..");
    chroot(".");
    int out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0) return 1;
    write(out, "pwned\n", 6);
    return 0;
}
"""


@dataclass(frozen=True)
class Host:
    """Where the test keeps what the build must not touch, and the executor's flags that point around it."""

    tmp: Path
    sentinel: Path
    context: Path
    work: Path
    out: Path
    tmpdir: Path
    secret: bytes


def _file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def tree_snapshot(root: Path, skip: tuple[Path, ...] = ()) -> dict[str, tuple[object, ...]]:
    """Every entry under ``root``: type and mode, owner, size, mtime, and content hash / link target / rdev.

    ``__pycache__`` directories are left out: the interpreters kiln starts (itself and its sandbox helper,
    on the host side) write bytecode next to kiln's sources, which is not the RUN's doing.
    """
    out: dict[str, tuple[object, ...]] = {}
    skipped = {str(p) for p in skip}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skipped and d != "__pycache__"]
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            st = os.lstat(name)
            extra: object = None
            if stat.S_ISREG(st.st_mode):
                try:
                    extra = _file_digest(name)
                except PermissionError:
                    extra = "unreadable"
            elif stat.S_ISLNK(st.st_mode):
                extra = os.readlink(name)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                extra = st.st_rdev
            out[name] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, extra)
    return out


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError as err:
        return f"<{err.strerror}>"


def host_snapshot(host: Host) -> dict[str, object]:
    """The host state a RUN must not change (see the module docstring for the choice)."""
    state: dict[str, object] = {}
    state.update(tree_snapshot(host.tmp, skip=(host.work, host.out)))
    state.update(tree_snapshot(Path("/etc")))
    state.update(tree_snapshot(KILN_SRC))
    for device in HOST_DEVICES:  # bound into every RUN's /dev: the host's own inodes
        st = os.stat(device)
        state[device] = (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, st.st_ctime_ns)
    state["hostname"] = os.uname().nodename
    state["network"] = _host_network()
    for path in ("/proc/sys/kernel/sysrq", "/proc/sys/kernel/hostname", "/sys/kernel/mm/ksm/run"):
        state[path] = _read(path)
    # Mounts under the watched trees (kiln's work dir included: a mount leaking out of the RUN's namespace would
    # show there); other jobs on this machine mount and unmount elsewhere, so the rest is checked by _check as
    # "nothing of the host's was unmounted".
    watched = (str(host.tmp), "/etc", str(KILN_SRC))
    for point in _mount_points():
        if point.startswith(watched):
            state[f"mount {point}"] = True
    return state


def _host_network() -> str:
    """Interfaces, addresses and routes of the host (the default RUN network is the host's)."""
    shown = [
        subprocess.run(["ip", "-o", what, "show"], capture_output=True, text=True, check=False).stdout
        for what in ("link", "addr", "route")
    ]
    return "\n".join(shown)


def _mount_points() -> set[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return {line.split()[4] for line in f}


def changed(before: dict[str, object], after: dict[str, object]) -> list[str]:
    keys = set(before) | set(after)
    return sorted(k for k in keys if before.get(k) != after.get(k))


def leftover_processes() -> list[str]:
    """Processes still running that the build started (their argv carries one of DAEMON_MARKERS)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv[:1] and argv[0].endswith(b"sleep") and any(m.encode() in argv for m in DAEMON_MARKERS):
            found.append(f"{pid}: {b' '.join(argv).decode(errors='replace')}")
    return found


@pytest.fixture
def host(tmp_path: Path) -> Host:
    sentinel = tmp_path / "host-sentinel"
    (sentinel / "sub").mkdir(parents=True)
    (sentinel / "victim").write_text("original\n")
    secret = os.urandom(16).hex().encode()
    (sentinel / SECRET_NAME).write_bytes(secret)
    (sentinel / "sub" / "keep").write_text("keep\n")
    context = tmp_path / "context"
    context.mkdir()
    shutil.copy(HOSTILE / "attacks.sh", context / "attacks.sh")
    (context / "payload").write_text("payload\n")
    os.symlink("/", context / "rootlink")
    _build_escape(tmp_path, context / "esc")
    for name in ("work", "out", "tmpdir"):
        (tmp_path / name).mkdir()
    return Host(tmp_path, sentinel, context, tmp_path / "work", tmp_path / "out", tmp_path / "tmpdir", secret)


def _build_escape(tmp_path: Path, target: Path) -> None:
    """The chroot escape as a static binary; without gcc the attempt runs a stand-in that reports 127."""
    gcc = shutil.which("gcc")
    if gcc is not None:
        source = tmp_path / "esc.c"
        source.write_text(ESCAPE_C)
        if (
            subprocess.run([gcc, "-static", "-o", str(target), str(source)], capture_output=True).returncode
            == 0
        ):
            source.unlink()
            return
    target.write_text("#!/bin/sh\nexit 127\n")
    target.chmod(0o755)


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A host process the build tries to kill by its host pid."""
    proc = subprocess.Popen(["sleep", "600"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


@dataclass(frozen=True)
class Outcome:
    code: int
    log: str
    attempts: dict[str, int]


def build(host: Host, registry: RegistryServer, tag: str, pid: int) -> Outcome:
    disk = os.stat("/").st_dev
    env = {k: v for k, v in os.environ.items() if k not in ("KILN_RELIABILITY_STATS",)}
    env["TMPDIR"] = str(host.tmpdir)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from kiln.cli.executor import executor; sys.exit(executor())",
            f"--context={host.context}",
            f"--dockerfile={host.context / 'Dockerfile'}",
            f"--destination={registry.ref('isolation/hostile:' + tag)}",
            f"--insecure-registry={registry.host}",
            f"--kaniko-dir={host.work}",
            f"--oci-layout-path={host.out / tag}",
            f"--build-arg=SENTINEL={host.sentinel}",
            f"--build-arg=SECRET={SECRET_NAME}",
            f"--build-arg=HOSTPID={pid}",
            f"--build-arg=DISK={os.major(disk)}:{os.minor(disk)}",
            "--verbosity=info",
        ],
        capture_output=True,
        env=env,
        timeout=540,
        check=False,
    )
    log = (proc.stdout + proc.stderr).decode(errors="replace")
    attempts = {m.group(1): int(m.group(2)) for m in _ATTEMPT.finditer(log)}
    return Outcome(proc.returncode, log, attempts)


def _layout_bytes(layout: Path) -> bytes:
    """Every blob of an OCI layout, decompressed where gzip, concatenated (to grep for leaked bytes)."""
    out = bytearray()
    for blob in sorted((layout / "blobs").rglob("*")):
        if blob.is_file():
            data = blob.read_bytes()
            out += gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    return bytes(out)


def _shadow() -> bytes:
    try:
        return Path("/etc/shadow").read_bytes().strip()
    except OSError:
        return b""


HOSTILE_DOCKERFILE = """\
FROM {base} AS evil
ARG SENTINEL
ARG SECRET
RUN mkdir -p "$SENTINEL" && echo decoy-secret > "$SENTINEL/$SECRET" && echo decoy-shadow > /etc/shadow \\
 && ln -s /etc/shadow /leak-shadow && ln -s "$SENTINEL/$SECRET" /leak-absolute \\
 && ln -s "../../../../../../../../..$SENTINEL/$SECRET" /leak-relative

FROM {base}
ARG SENTINEL
ARG SECRET
ARG HOSTPID
ARG DISK
COPY attacks.sh esc /bin/
RUN ["/bin/busybox", "sh", "-c", "mkdir -p /sbin /usr/bin /usr/sbin && /bin/busybox --install -s"]
RUN ["/bin/sh", "/bin/attacks.sh", "write"]
RUN ["/bin/sh", "/bin/attacks.sh", "daemons"]
RUN ["/bin/sh", "/bin/attacks.sh", "kill"]
RUN ["/bin/sh", "/bin/attacks.sh", "links"]
COPY payload /copydst/
COPY payload /victimlink
WORKDIR /copydst/wd
RUN --mount=type=cache,target=/cachelink/cache echo pwned > /cachelink/cache/victim
RUN --mount=type=secret,id=none,target=/copydst/secret,required=false true
RUN --mount=type=bind,source=rootlink,target=/h --mount=type=bind,source=rootlink,target=/w,rw \\
    ["/bin/sh", "/bin/attacks.sh", "bind-links"]
COPY --from=evil /leak-shadow /leak-absolute /leak-relative /leaks/
"""

LINKED_BASE_DOCKERFILE = """\
FROM {base}
COPY attacks.sh /bin/
RUN --mount=type=secret,id=none,target=/run/secrets/s,required=false --mount=type=tmpfs,target=/run/t \\
    ["/bin/sh", "/bin/attacks.sh", "base-symlinks"]
COPY payload /proc/
COPY payload /etc/hosts
"""

REBOOT_DOCKERFILE = """\
FROM {base}
COPY attacks.sh /bin/
RUN ["/bin/busybox", "sh", "-c", "mkdir -p /sbin /usr/bin /usr/sbin && /bin/busybox --install -s"]
RUN ["/bin/sh", "/bin/attacks.sh", "reboot"]
"""


def _check(
    host: Host,
    before: dict[str, object],
    mounts: set[str],
    outcome: Outcome,
    sleeper: subprocess.Popen[bytes],
) -> list[str]:
    after = host_snapshot(host)
    # Other jobs' builds mount overlays (under /tmp, /var/tmp...) and take them down; the machine's own stay.
    system = {
        m for m in mounts if m == "/" or m.startswith(("/proc", "/sys", "/dev", "/run", "/mnt", "/etc"))
    }
    assert system <= _mount_points(), "a host mount was removed"
    diff = changed(before, after)
    assert sleeper.poll() is None, "the build killed a host process"
    assert outcome.code >= 0, f"kiln was killed by signal {-outcome.code}"
    assert "Traceback" not in outcome.log, outcome.log[-4000:]
    assert leftover_processes() == []
    return diff


def test_hostile_build_changes_nothing_on_the_host(
    registry_http: RegistryServer,
    busybox_layout: LayoutImage,
    host: Host,
    sleeper: subprocess.Popen[bytes],
) -> None:
    base = busybox_on(registry_http, busybox_layout, "isolation/busybox:latest")
    (host.context / "Dockerfile").write_text(HOSTILE_DOCKERFILE.format(base=base.ref))
    before, mounts = host_snapshot(host), _mount_points()
    outcome = build(host, registry_http, "hostile", sleeper.pid)
    diff = _check(host, before, mounts, outcome, sleeper)
    leaked = _layout_bytes(host.out / "hostile") if (host.out / "hostile").exists() else b""
    shadow = _shadow()
    shadow_leaked = (
        bool(shadow) and shadow in leaked
    )  # a bool: a failing assert must not print the host's shadow
    record = {
        "attempts": len(outcome.attempts),
        "blocked": sum(1 for rc in outcome.attempts.values() if rc != 0),
        "host_changes": len(diff),
        "build_exit": outcome.code,
        "results": outcome.attempts,
    }
    stats.record("isolation", "hostile Dockerfile (chroot isolation)", **record)
    assert diff == [], [(k, before.get(k), host_snapshot(host).get(k)) for k in diff]
    assert outcome.code == 0, outcome.log[-4000:]
    assert b"decoy-secret" in leaked and b"decoy-shadow" in leaked  # COPY --from resolved inside the stage
    assert host.secret not in leaked
    assert not shadow_leaked
    assert len(outcome.attempts) >= 40, sorted(outcome.attempts)


def linked_base(registry: RegistryServer, host: Host, overlapping: bool) -> PushedImage:
    """busybox whose /proc, /dev, /sys, /run, /etc/hosts and /etc/resolv.conf are symlinks out of the root.

    ``overlapping``: all six point into the same directory, so kiln's mounts would stack on one another.
    """
    up = "../../../../../../../.."
    sentinel = host.sentinel
    targets = {
        "proc": f"{sentinel}/proc",
        "dev": f"{up}{sentinel}/dev",
        "sys": f"/etc/{up}{sentinel}/sys",
        "run": f"{sentinel}/sub",
        "etc/hosts": f"{sentinel}/victim",
        "etc/resolv.conf": f"{up}{sentinel}/sub/keep",
    }
    if overlapping:
        targets.update(
            proc=str(sentinel), dev=f"{up}{sentinel}", sys=f"/etc/{up}{sentinel}", run=str(sentinel)
        )
    entries = [e for e in busybox_entries() if e.path not in targets]
    entries += [Entry(path, target=target) for path, target in targets.items()]
    name = "overlapping" if overlapping else "linked"
    layout = write_image_layout(host.tmp / f"{name}-base", entries, cmd=("sh",))
    return push_layout(layout, registry, f"isolation/{name}-base:latest")


@pytest.mark.parametrize("overlapping", [False, True], ids=["disjoint", "overlapping"])
def test_base_image_symlinks_out_of_the_root_stay_inside(
    registry_http: RegistryServer, host: Host, sleeper: subprocess.Popen[bytes], overlapping: bool
) -> None:
    base = linked_base(registry_http, host, overlapping)
    (host.context / "Dockerfile").write_text(LINKED_BASE_DOCKERFILE.format(base=base.ref))
    before, mounts = host_snapshot(host), _mount_points()
    outcome = build(host, registry_http, "linked", sleeper.pid)
    diff = _check(host, before, mounts, outcome, sleeper)
    what = "into one directory" if overlapping else "to distinct paths"
    stats.record(
        "isolation",
        f"base image with /proc, /dev, /sys, /run, /etc/hosts, /etc/resolv.conf linked out of the root {what}",
        attempts=max(len(outcome.attempts), 1),
        blocked=sum(1 for rc in outcome.attempts.values() if rc != 0) if outcome.code == 0 else 1,
        host_changes=len(diff),
        build_exit=outcome.code,
        results=outcome.attempts or {"RUN refused by kiln": outcome.code},
    )
    assert diff == [], diff
    if overlapping:
        # The stacked mounts leave no place for the stub of /etc/hosts: kiln refuses the RUN in one line.
        errors = [line for line in outcome.log.splitlines() if line.startswith("error:")]
        assert outcome.code == 1 and len(errors) == 1 and "Read-only file system" in errors[0], outcome.log
    else:
        assert outcome.code == 0, outcome.log[-4000:]
        assert len(outcome.attempts) == 6


DEEP_DOCKERFILE = """\
FROM {base} AS deep
RUN ["/bin/busybox", "sh", "-c", "i=0; while [ $i -lt 1500 ]; do /bin/busybox mkdir d && cd d || exit 1; i=$((i+1)); done; echo deep > f"]
FROM {base}
COPY --from=deep /d /d
"""


def test_a_tree_deeper_than_the_recursion_limit_is_built_and_cleaned_up(
    registry_http: RegistryServer,
    busybox_layout: LayoutImage,
    host: Host,
    sleeper: subprocess.Popen[bytes],
) -> None:
    """A RUN leaves a directory 1500 levels deep: kiln snapshots it, copies it to another stage, then deletes it.

    Regressions: COPY ended in 'internal error: RecursionError', and the work-dir sweeper died on the tree and
    left it on disk for good.
    """
    base = busybox_on(registry_http, busybox_layout, "isolation/busybox:latest")
    (host.context / "Dockerfile").write_text(DEEP_DOCKERFILE.format(base=base.ref))
    before, mounts = host_snapshot(host), _mount_points()
    try:
        outcome = build(host, registry_http, "deep", sleeper.pid)
        diff = _check(host, before, mounts, outcome, sleeper)
        swept = wait_swept(trash_dir(host.work), timeout=300)
        left = [p for p in os.listdir(host.work) if p != TRASH_DIR] + pending(trash_dir(host.work))
    finally:  # pytest's own tmp cleanup (shutil.rmtree) cannot delete such a tree if kiln left it
        subprocess.run(["rm", "-rf", str(host.work), str(host.out)], check=False)
    stats.record(
        "isolation",
        "a RUN leaves a tree 1500 levels deep; COPY --from copies it; kiln's cleanup deletes it",
        attempts=1,
        blocked=0,
        host_changes=len(diff),
        build_exit=outcome.code,
        results={"deep-tree-copied-and-deleted": 0 if outcome.code == 0 and swept and not left else 1},
    )
    assert diff == []
    assert outcome.code == 0, outcome.log[-3000:]
    assert swept and left == [], left


def test_reboot_inside_the_build_is_contained(
    registry_http: RegistryServer,
    busybox_layout: LayoutImage,
    host: Host,
    sleeper: subprocess.Popen[bytes],
) -> None:
    base = busybox_on(registry_http, busybox_layout, "isolation/busybox:latest")
    (host.context / "Dockerfile").write_text(REBOOT_DOCKERFILE.format(base=base.ref))
    before, mounts = host_snapshot(host), _mount_points()
    outcome = build(host, registry_http, "reboot", sleeper.pid)
    diff = _check(host, before, mounts, outcome, sleeper)
    stats.record(
        "isolation",
        "reboot -f in a RUN",
        attempts=1,
        blocked=1 if outcome.attempts.get("reboot", 0) != 0 or outcome.code != 0 else 0,
        host_changes=len(diff),
        build_exit=outcome.code,
        results=outcome.attempts or {"reboot": -1},
    )
    assert diff == []
    # Without CAP_SYS_BOOT reboot(2) fails; with it, inside a PID namespace it would only kill the RUN's init.
    assert outcome.attempts.get("reboot", 0) != 0 or outcome.code != 0
