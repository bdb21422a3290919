"""kiln against buildah on a fixed set of Dockerfiles (``make bench``).

Why: kiln's reason to exist beside kaniko is to be correct *and* fast; this runner makes the speed visible
against the builder Debian ships (``buildah bud --isolation chroot``, vfs and overlay storage drivers).

What it does: writes a busybox OCI layout from Debian's ``/bin/busybox`` (the test fixture's writer), pushes it
with skopeo to a ``docker-registry`` it starts on 127.0.0.1, then for every case builds the same context with
kiln (``executor``) and with buildah, alternating, ``--repeat`` times, every build in a fresh kiln dir / fresh
buildah storage (both pull the base from the loopback registry). It prints per case the median wall time of
each tool, the ratio kiln/buildah, kiln's peak RSS (``ru_maxrss`` of the kiln process and the children it
waited for, from ``os.wait4``), the second of kiln's ``built`` line, and the seconds kiln's log gives for the
first FROM (pull + unpack) and for the push.

Cleanup is not timed for either tool (buildah's storage, kiln's work dir, which kiln's detached sweeper deletes
after it exits), but the runner waits for it, then for the disk to go idle (``settle``), before the next build,
so builds never overlap, not even in the disk's background work.

Cases: ``snap10k``, ``snap100k``, ``snap300k`` (kaniko's snapshot benchmark), ``apt`` (debootstrap base, cached
under ``.cache/bench``, then ``apt-get install``: needs Debian's mirror), ``multistage``, ``warm`` (a rebuild
with a warm layer cache: kiln ``--cache``, buildah ``--layers``; the first build is untimed), ``big-push`` and
``big-pull`` (one 2 GiB layer pushed to / pulled from the registry).

``python bench/run.py [--repeat 3] [--cases snap10k,...] [--drivers vfs,overlay] [--json F] [--keep] [--profile DIR]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from fixtures.images import write_busybox_layout  # type: ignore[import-not-found]  # noqa: E402
from kiln.fs.trash import trash_dir, wait_swept  # noqa: E402

REGISTRY_BIN = "/usr/bin/docker-registry"
KILN = [sys.executable, "-c", "from kiln.cli.executor import executor; executor()"]

MAKE_SH = """#!/bin/sh
# kaniko's snapshot benchmark: NUM small files under /workdir
mkdir -p /workdir
i=1
while [ $i -le $1 ]; do
  echo "hello $i" > /workdir/file$i
  i=$((i+1))
done
"""

# Case 3: 20k small files in 200 dirs plus 200 MB (half random, half zeros) built in one stage, copied whole
# into the next.
MULTISTAGE = """FROM {base} AS build
RUN mkdir -p /tree && cd /tree && i=0; while [ $i -lt 200 ]; do mkdir d$i; j=0; \
while [ $j -lt 100 ]; do echo "file $i $j" > d$i/f$j; j=$((j+1)); done; i=$((i+1)); done \
 && dd if=/dev/urandom of=/tree/big1 bs=1M count=100 2>/dev/null \
 && dd if=/dev/zero of=/tree/big2 bs=1M count=100 2>/dev/null
FROM {base}
COPY --from=build /tree /tree
RUN ls /tree | wc -l
"""


# Case 2: a few small packages from Debian's mirror on a debootstrap base (RUN needs the network).
APT = """FROM {debian}
RUN apt-get update && apt-get install -y --no-install-recommends jq less file \
 && rm -rf /var/lib/apt/lists/*
"""

# Case 4: the rebuild of an unchanged Dockerfile whose layers a first (untimed) build cached.
WARM = """FROM {base}
COPY context.txt /context.txt
""" + "".join(
    f"RUN end=$(( $(date +%s) + 1 )); n=0; while [ $(date +%s) -lt $end ]; do n=$((n+1)); done; "
    f"head -c 1048576 /dev/urandom > /out{i}\n"
    for i in range(5)
)

# Case 5: one 2 GiB layer (random bytes, so compression cannot shrink it), built and pushed; then pulled
# as the base of a build whose RUN needs it unpacked.
BIG_SIZE = 2 << 30
BIG_PUSH = f"FROM {{base}}\nRUN head -c {BIG_SIZE} /dev/urandom > /big.bin\n"
BIG_PULL = "FROM {big}\nRUN test -s /big.bin\n"


@dataclass(frozen=True)
class Case:
    """One Dockerfile, its context files and build args, and how it is timed.

    ``push``: the image goes to the bench registry (kiln ``--destination``; buildah ``bud`` then ``push``)
    and the push is in the time. ``warm``: a first build fills the cache untimed (kiln ``--cache
    --cache-repo`` on the bench registry; buildah ``--layers`` in a kept store), the rebuild is timed.
    ``needs``: bases the runner must provide first (``debian``: a debootstrap image; ``big``: the 2 GiB
    image, built by kiln untimed when the registry does not have it yet).
    """

    name: str
    dockerfile: str
    files: dict[str, tuple[str, int]]
    build_args: dict[str, str]
    push: bool = False
    warm: bool = False
    needs: tuple[str, ...] = ()


def snapshot_case(name: str, num: int) -> Case:
    dockerfile = "FROM {base}\nARG NUM\nCOPY context.txt .\nCOPY make.sh .\nRUN ./make.sh $NUM\n"
    return Case(
        name,
        dockerfile,
        {"context.txt": ("kaniko snapshot benchmark context\n", 0o644), "make.sh": (MAKE_SH, 0o755)},
        {"NUM": str(num)},
    )


CONTEXT = {"context.txt": ("kiln bench context\n", 0o644)}
CASES: dict[str, Callable[[], Case]] = {
    "snap10k": lambda: snapshot_case("snap10k", 10_000),
    "snap100k": lambda: snapshot_case("snap100k", 100_000),
    "snap300k": lambda: snapshot_case("snap300k", 300_000),
    "apt": lambda: Case("apt", APT, {}, {}, needs=("debian",)),
    "multistage": lambda: Case("multistage", MULTISTAGE, {}, {}),
    "warm": lambda: Case("warm", WARM, CONTEXT, {}, warm=True),
    "big-push": lambda: Case("big-push", BIG_PUSH, {}, {}, push=True),
    "big-pull": lambda: Case("big-pull", BIG_PULL, {}, {}, needs=("big",)),
}


DEFAULT_CASES = "snap10k,snap100k,apt,multistage,warm,big-push,big-pull"


@dataclass(frozen=True)
class Run:
    seconds: float
    max_rss_kb: int
    ok: bool
    tail: str


def timed(argv: Sequence[str], log: Path, cwd: Path | None = None) -> Run:
    """Run ``argv``, wall time and peak RSS (KiB) of it and the children it reaped."""
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    tail = log.read_text(errors="replace")[-1500:]
    return Run(seconds, usage.ru_maxrss, proc.returncode == 0, tail)


BUILT = re.compile(r"INFO\S*\[(\d+)\]\S* built sha256:")


def built_at(log: Path) -> int | None:
    """Seconds from start to kiln's ``built`` line: what remains of the wall time is kiln's cleanup."""
    found = BUILT.findall(re.sub(r"\x1b\[[0-9;]*m", "", log.read_text(errors="replace")))
    return int(found[-1]) if found else None


def kiln_stages(log: Path) -> dict[str, float]:
    """From kiln's log: seconds of the first stage's FROM (pull + unpack) and of the push, when present."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text(errors="replace"))
    out: dict[str, float] = {}
    found = re.search(r"STEP 1/\d+ done in ([\d.]+)s", text)
    if found:
        out["from"] = float(found.group(1))
    pushed = re.findall(r"pushed \S+ in ([\d.]+)s", text)
    if pushed:
        out["push"] = sum(map(float, pushed))
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def push_busybox_base(work: Path, host: str) -> str:
    """Write the busybox base layout (as the test fixture does) and push it to the bench registry at ``host``."""
    layout = write_busybox_layout(work / "busybox")
    base = f"{host}/bench/busybox:latest"
    subprocess.run(
        ["skopeo", "copy", "-q", "--dest-tls-verify=false", layout.oci_ref, f"docker://{base}"],
        check=True,
    )
    return base


def start_registry(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    storage = work / "registry"
    storage.mkdir()
    port = free_port()
    config = work / "registry.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: kiln-bench\n"
    )
    proc = subprocess.Popen(
        [REGISTRY_BIN, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    host = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://{host}/v2/", timeout=1).close()
            return proc, host
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("docker-registry did not start")


@contextlib.contextmanager
def bench_registry(prefix: str) -> Iterator[tuple[Path, str]]:
    """A scratch dir and a ``docker-registry`` serving from it on 127.0.0.1 (``host``); both gone afterwards."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    proc, host = start_registry(work)
    try:
        yield work, host
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def overlay_works(work: Path) -> bool:
    """buildah's overlay driver needs overlayfs mounts (root, a kernel that allows them here)."""
    root = work / "probe"
    argv = [
        "buildah",
        "--root",
        str(root / "r"),
        "--runroot",
        str(root / "rr"),
        "--storage-driver",
        "overlay",
    ]
    ok = subprocess.run([*argv, "info"], capture_output=True).returncode == 0
    subprocess.run([*argv, "rm", "--all"], capture_output=True)
    subprocess.run(["umount", "-R", str(root / "r" / "overlay")], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)
    return ok


def write_context(case: Case, ctx: Path, bases: dict[str, str]) -> None:
    ctx.mkdir(parents=True)
    (ctx / "Dockerfile").write_text(case.dockerfile.format_map(bases))
    for name, (text, mode) in case.files.items():
        (ctx / name).write_text(text)
        (ctx / name).chmod(mode)


def kiln_argv(case: Case, ctx: Path, out: Path, host: str) -> list[str]:
    argv = [*KILN, "--context", str(ctx), "--dockerfile", str(ctx / "Dockerfile")]
    argv += ["--kaniko-dir", str(out / "kaniko"), "--insecure-pull", "--insecure-registry", host]
    if case.push:
        argv += ["--destination", f"{host}/bench/{case.name}:kiln", "--insecure"]
    else:
        argv += ["--no-push", "--oci-layout-path", str(out / "oci")]
    if case.warm:
        argv += ["--cache=true", "--cache-repo", f"{host}/bench/cache-{case.name}"]
    for key, value in case.build_args.items():
        argv += ["--build-arg", f"{key}={value}"]
    return argv


def buildah_global(out: Path, driver: str) -> list[str]:
    return [
        "buildah",
        "--root",
        str(out / "root"),
        "--runroot",
        str(out / "runroot"),
        "--storage-driver",
        driver,
    ]


def buildah_argv(case: Case, ctx: Path, out: Path, driver: str, host: str) -> list[str]:
    argv = [*buildah_global(out, driver), "bud", "--isolation", "chroot", "--tls-verify=false"]
    argv += ["--layers=true" if case.warm else "--layers=false"]
    argv += ["-f", str(ctx / "Dockerfile"), "-t", f"bench/{case.name}"]
    for key, value in case.build_args.items():
        argv += ["--build-arg", f"{key}={value}"]
    argv.append(str(ctx))
    if not case.push:
        return argv
    push = [*buildah_global(out, driver), "push", "--tls-verify=false", f"bench/{case.name}"]
    push.append(f"docker://{host}/bench/{case.name}:buildah-{driver}")
    return ["sh", "-c", f"{shlex.join(argv)} && {shlex.join(push)}"]


def debian_base(work: Path, host: str) -> str:
    """A Debian bookworm minbase made with debootstrap, cached as an OCI layout under .cache/bench."""
    layout = REPO / ".cache" / "bench" / "debian-bookworm"
    if not (layout / "index.json").is_file():
        root = work / "debootstrap"
        print("debootstrap bookworm (once; cached in .cache/bench) ...", flush=True)
        subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", str(root), "http://deb.debian.org/debian"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        # as Debian's own images: no downloaded packages or package lists in the base
        for leftover in [*root.glob("var/cache/apt/archives/*.deb"), *root.glob("var/lib/apt/lists/*_*")]:
            leftover.unlink()
        tmp = layout.with_name(layout.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        image = f"{tmp}:bookworm"
        subprocess.run(["umoci", "init", "--layout", str(tmp)], check=True)
        subprocess.run(["umoci", "new", "--image", image], check=True)
        subprocess.run(["umoci", "insert", "--image", image, str(root), "/"], check=True)
        path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        subprocess.run(
            ["umoci", "config", "--image", image, "--config.env", path, "--config.cmd", "bash"], check=True
        )
        subprocess.run(["umoci", "gc", "--layout", str(tmp)], check=True)
        os.replace(tmp, layout)
        shutil.rmtree(root, ignore_errors=True)
    ref = f"{host}/bench/debian:bookworm"
    subprocess.run(
        ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:bookworm", f"docker://{ref}"],
        check=True,
    )
    return ref


def big_base(work: Path, host: str, base: str) -> str:
    """The 2 GiB-layer image in the bench registry (kiln builds and pushes it once, untimed)."""
    ref = f"{host}/bench/big:seed"
    ctx = work / "ctx" / "big-seed"
    ctx.mkdir(parents=True)
    (ctx / "Dockerfile").write_text(BIG_PUSH.format(base=base))
    argv = [*KILN, "--context", str(ctx), "--kaniko-dir", str(work / "big-seed"), "--insecure-pull"]
    argv += ["--insecure-registry", host, "--destination", ref, "--insecure", "--cleanup"]
    print("building the 2 GiB-layer base (once per run, untimed) ...", flush=True)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(work / "big-seed", ignore_errors=True)
    return ref


def disk_activity() -> tuple[int, ...]:
    """Writes, discards and I/Os in flight over the block devices (``/proc/diskstats``)."""
    writes = discards = in_flight = 0
    for line in Path("/proc/diskstats").read_text().splitlines():
        fields = line.split()
        if len(fields) < 18 or fields[2].startswith(("loop", "ram")):
            continue
        writes += int(fields[7])
        in_flight += int(fields[11])
        discards += int(fields[14])
    return writes, discards, in_flight


def settle(timeout: float = 60.0) -> None:
    """Wait until the disk is idle after a build's cleanup, before the next build is timed.

    Deleting a tree of 100k files returns long before the disk is done with it: the journal commits and,
    on a filesystem mounted with ``discard``, one discard per freed extent follow in the background and
    slowed whichever build came next (snap100k: the same tool 8 s, then 25 s). ``sync`` then wait until
    no write or discard completes for half a second and nothing is in flight (at most ``timeout``).
    """
    os.sync()
    deadline = time.monotonic() + timeout
    last = disk_activity()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = disk_activity()
        if now == last and now[2] == 0:
            return
        last = now


def clean_buildah(out: Path, driver: str) -> None:
    argv = buildah_global(out, driver)
    subprocess.run([*argv, "rmi", "--all", "--force"], capture_output=True)
    if driver == "overlay":
        subprocess.run(["umount", "-R", str(out / "root" / "overlay")], capture_output=True)
    shutil.rmtree(out, ignore_errors=True)


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    return f"{platform.node()}: {os.cpu_count()} x {cpu}, {mem} MiB RAM, Linux {platform.release()}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="builds per tool and case (median reported)")
    parser.add_argument("--cases", default=DEFAULT_CASES, help=f"of {','.join(CASES)}")
    parser.add_argument("--drivers", default="vfs,overlay", help="buildah storage drivers to compare against")
    parser.add_argument("--json", type=Path, help="also write the raw timings here")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs) afterwards")
    parser.add_argument(
        "--profile",
        type=Path,
        help="run kiln under py-spy (pip install py-spy) and write collapsed stacks here, one file per build",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/run.py builds with RUN steps: run it as root (as kiln runs in CI)")

    work = Path(tempfile.mkdtemp(prefix="kiln-bench-"))
    registry, host = start_registry(work)
    results: list[dict[str, object]] = []
    try:
        base = push_busybox_base(work, host)
        bases = {"base": base}
        drivers = [d for d in args.drivers.split(",") if d]
        if "overlay" in drivers and not overlay_works(work):
            print("buildah overlay driver does not work here; comparing against vfs only")
            drivers.remove("overlay")
        print(machine())
        print(f"base {base}, {args.repeat} builds per tool and case, alternating\n")
        header = f"{'case':<12}{'kiln s':>9}" + "".join(
            f"{'buildah-' + d + ' s':>18}{'ratio':>7}" for d in drivers
        )
        print(header + f"{'kiln peak RSS':>15}{'kiln built':>12}  kiln FROM / push")
        for name in [c for c in args.cases.split(",") if c]:
            case = CASES[name]()
            if "debian" in case.needs and "debian" not in bases:
                bases["debian"] = debian_base(work, host)
            if "big" in case.needs and "big" not in bases:
                bases["big"] = big_base(work, host, base)
            ctx = work / "ctx" / name
            write_context(case, ctx, bases)
            times: dict[str, list[float]] = {"kiln": [], **{d: [] for d in drivers}}
            rss: list[int] = []
            built: list[int] = []
            stages: list[dict[str, float]] = []
            for i in range(args.repeat):
                for tool in ["kiln", *drivers] if i % 2 == 0 else [*drivers, "kiln"]:
                    out = work / "out" / f"{name}-{tool}-{i}"
                    out.mkdir(parents=True)
                    log = work / "logs" / f"{name}-{tool}-{i}.log"
                    log.parent.mkdir(exist_ok=True)
                    if tool == "kiln":
                        if case.warm:  # fills the cache repo, untimed (a fresh kiln dir for the timed one)
                            warmup = timed(kiln_argv(case, ctx, work / "warmup", host), log)
                            wait_swept(trash_dir(work / "warmup" / "kaniko"))
                            shutil.rmtree(work / "warmup", ignore_errors=True)
                            settle()
                            if not warmup.ok:
                                raise SystemExit(f"kiln failed warming {name} (log {log}):\n{warmup.tail}")
                        argv = kiln_argv(case, ctx, out, host)
                        if args.profile:
                            args.profile.mkdir(parents=True, exist_ok=True)
                            stacks = args.profile / f"{name}-{i}.txt"
                            argv = [
                                "py-spy",
                                "record",
                                "--idle",
                                "-r",
                                "50",
                                "-f",
                                "raw",
                                "-o",
                                str(stacks),
                                "--",
                                *argv,
                            ]
                        run = timed(argv, log)
                        rss.append(run.max_rss_kb)
                        built.append(built_at(log) or 0)
                        stages.append(kiln_stages(log))
                        # kiln's detached sweeper deletes its work dir after it exited: untimed, like
                        # buildah's storage, but finished before the next build starts
                        wait_swept(trash_dir(out / "kaniko"))
                        shutil.rmtree(out, ignore_errors=True)
                        settle()
                    else:
                        if case.warm:  # the same store for both builds: --layers finds the first one's
                            warmup = timed(buildah_argv(case, ctx, out, tool, host), log)
                            if not warmup.ok:
                                raise SystemExit(f"{tool} failed warming {name} (log {log}):\n{warmup.tail}")
                        run = timed(buildah_argv(case, ctx, out, tool, host), log)
                        clean_buildah(out, tool)
                        settle()
                    if not run.ok:
                        raise SystemExit(f"{tool} failed on {name} (log {log}):\n{run.tail}")
                    times[tool].append(run.seconds)
            kiln_s = statistics.median(times["kiln"])
            row = f"{name:<12}{kiln_s:>9.2f}"
            entry: dict[str, object] = {
                "case": name,
                "times": times,
                "kiln_max_rss_kb": rss,
                "kiln_built_at_s": built,
                "kiln_stages_s": stages,
            }
            for d in drivers:
                other = statistics.median(times[d])
                row += f"{other:>18.2f}{kiln_s / other:>7.2f}"
            row += f"{max(rss) // 1024:>12} MiB"
            row += f"{statistics.median(built):>10} s"
            from_s = [st["from"] for st in stages if "from" in st]
            push_s = [st["push"] for st in stages if "push" in st]
            row += f"  {statistics.median(from_s) if from_s else 0:.1f} / {statistics.median(push_s) if push_s else 0:.1f} s"
            print(row, flush=True)
            results.append(entry)
    finally:
        registry.terminate()
        registry.wait(timeout=10)
        if args.json:
            args.json.write_text(json.dumps({"machine": machine(), "results": results}, indent=2))
        if args.keep:
            print(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
