"""Re-run the reliability tests with more fuzzing and write the figures to docs/reliability.md.

    python bench/reliability_report.py                 # 1000 examples per fuzz property, a 2 GB layer; writes the doc
    python bench/reliability_report.py --examples 150 --layer-mb 192 --no-write   # CI-sized, print only

Why through pytest: the figures come from the very tests CI runs (tests/reliability/), which append one JSON
record per measured unit to the file named by KILN_RELIABILITY_STATS; this script only adds them up.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "reliability.md"

DEFECTS = """\
## Defects found and fixed (each has a regression test)

| found by | defect | fix | regression test |
|---|---|---|---|
| fault proxy | A blob download cut after its last byte (a Content-Length larger than the body) was resumed with `Range: bytes=<size>-`; distribution answers 416 with a Content-Length it never sends, so the pull failed, and with a raw `requests` exception | `registry/streams.py`, `client.py`: a 416 on a resume is the end of the blob (size and digest still checked) | `tests/reliability/test_registry_regressions.py` |
| fault proxy | An error answer whose body could not be read escaped as `requests.exceptions.ConnectionError` instead of a `RegistryError` | `registry/errors.py`: an unreadable body is no body | same file |
| fault proxy | A manifest GET cut off mid-body was not retried at all, whatever `--image-download-retry` said | `registry/client.py`: fetch again with backoff | same file |
| tar fuzzing | One layer entry ~1000 directories deep took minutes to apply (O(depth^3): every parent resolved again from the root, the whole path re-joined per step): a hostile base image could stall a build | `fs/safepath.py` (prefix strings), `fs/unpack.py` (parents created along the already-resolved path) | `tests/reliability/test_fs_regressions.py` |
| isolation (hostile RUN) | `/dev/null`, `zero`, `full`, `random`, `urandom`, `tty` in a RUN were writable bind mounts of the host's own device inodes: `chmod`/`chown`/`touch` in a RUN changed the host's `/dev/null` | `sandbox/_init.py`: bound read-only (EROFS on metadata changes; reading and writing the devices still works) | `tests/sandbox/test_chroot.py::test_host_device_nodes_cannot_be_changed`, `tests/reliability/test_isolation.py` |
| isolation (hostile RUN) | A RUN that leaves a directory 1500 levels deep: a later `COPY --from` of it ended the build in `internal error: RecursionError` (`Copier.copy` recursed per level, and resolved every entry from the root: O(depth^2) lookups) | `build/steps/copy.py`: explicit stack, each child's destination from its parent's resolved path | `tests/build/test_copy_deep_tree.py`, `tests/reliability/test_isolation.py::test_a_tree_deeper_than_the_recursion_limit_is_built_and_cleaned_up` |
| isolation (hostile RUN) | The same tree could never be deleted: the work-dir sweeper's `shutil.rmtree` died with RecursionError, leaving it on disk for good (and every later sweeper died on it again) | `fs/trash.py`: `remove_tree`, iterative with one directory fd at a time, O_NOFOLLOW | `tests/fs/test_trash.py::test_a_tree_deeper_than_the_recursion_limit_is_swept`, the isolation test above |
| report run | The secrets test walked the work dir while kiln's detached sweeper (`fs/trash.py`) deleted it, and failed on a vanished directory | `tests/reliability/test_secrets.py`: wait for the sweep (`wait_swept`) before searching what is left | the same test |
| fuzzing (context walk) | Walking a build context nested ~1000 deep (easy to ship in a `tar://` context) crashed with `RecursionError` | `dockerfile/ignore.py`: explicit stack | `tests/reliability/test_fuzz_dockerfile.py::test_walk_of_a_very_deep_context` |
"""


def run_tests(examples: int, layer_mb: int, stats_file: Path, extra: list[str]) -> tuple[int, float, str]:
    env = dict(os.environ)
    env["KILN_RELIABILITY_STATS"] = str(stats_file)
    env["KILN_FUZZ_EXAMPLES"] = str(examples)
    env["KILN_BIG_LAYER_MB"] = str(layer_mb)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/reliability", "-q", "-p", "no:cacheprovider", *extra],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    summary = (proc.stdout.strip().splitlines() or [""])[-1]
    if proc.returncode != 0:  # show what failed: the figures alone do not say why
        sys.stderr.write("\n".join(proc.stdout.splitlines()[-80:]) + "\n")
    return proc.returncode, time.monotonic() - started, summary


def load(stats_file: Path) -> list[dict[str, Any]]:
    if not stats_file.exists():
        return []
    return [json.loads(line) for line in stats_file.read_text().splitlines() if line.strip()]


def load_row(load: list[dict[str, Any]]) -> str:
    if not load:
        return "| load: concurrent builds | not measured (needs root) | - |"
    builds = sum(r["builds"] for r in load)
    failed = sum(r["failed"] for r in load)
    mismatches = sum(r["mismatches"] for r in load)
    return (
        f"| load: concurrent builds | {builds} `executor` processes at once, one --cache-dir, one --cache-repo, one repository "
        f"| {failed} failed; **{mismatches} digest mismatches** "
        "against the same build run alone |"
    )


# What an attempt did where "refused" / "resolved inside the rootfs" says too little.
ATTEMPT_NOTES = {
    "fill-dev-shm": "stopped at /dev/shm's 64 MB tmpfs limit",
    "fill-dev": "stopped at /dev's 64 MB tmpfs limit",
    "mknod-host-disk-read": "the node is made (CAP_MKNOD, as in Docker) but cannot be opened: the rootfs is nodev",
    "mknod-host-disk-write": "the node is made (CAP_MKNOD, as in Docker) but cannot be opened: the rootfs is nodev",
    "mknod-dev-mem-read": "the node is made (CAP_MKNOD, as in Docker) but cannot be opened: the rootfs is nodev",
    "mknod-in-dev": "the node is made but cannot be opened: /dev is a nodev tmpfs",
    "touch-host-dev-nodes": "EROFS: the binds of the host's device nodes are read-only (they were not: see defects)",
    "chmod-host-dev-null": "EROFS: the binds of the host's device nodes are read-only (they were not: see defects)",
    "chown-host-dev-null": "EROFS: the binds of the host's device nodes are read-only (they were not: see defects)",
    "deep-tree-copied-and-deleted": "built, copied to another stage and deleted (RecursionError twice before: see defects)",
    "net-add-link": "no CAP_NET_ADMIN (Docker's default set): the host's network, which RUN shares, cannot change",
    "net-add-address": "no CAP_NET_ADMIN",
    "net-add-route": "no CAP_NET_ADMIN",
    "reboot": "no CAP_SYS_BOOT (and inside a PID namespace reboot(2) would only end the RUN)",
    "RUN refused by kiln": "the stacked mounts left no place for /etc/hosts' stub: one-line error, exit 1",
    "kill-parent": "the RUN's parent is the namespace's init: the kernel drops SIGKILL sent to it from inside",
    "kill-pid-1": "pid 1 is the init of the RUN's PID namespace, not the host's: the kernel drops the SIGKILL",
    "kill-everything": "killed every process of the RUN's PID namespace but the shell itself; nothing else",
    "fork-storm-100-left-running": "100 processes left running: killed with the namespace when the RUN ended",
    "setsid-daemon": "left running in a new session: killed with the namespace",
    "nohup-daemon": "left running: killed with the namespace",
    "fill-tmp-300mb": "written to the rootfs's /tmp (kiln's work dir; it is in the layer)",
    "leave-a-fifo": "a FIFO in the layer; kiln records it without opening it",
    "classic-chroot-escape": "climbed to the RUN's root: after pivot_root the host is not in the namespace",
    "chroot-then-climb": "climbed to the RUN's root, not further",
    "write-through-rw-bind": "written to the bind's throw-away overlay; the context is unchanged",
    "plant-copy-symlinks": "COPY, WORKDIR, cache and secret mounts through them landed inside the rootfs",
    "write-under-dev-link": "kiln mounted /dev's tmpfs on the link's target inside the rootfs",
    "write-under-run-link": "the tmpfs/secret mounts landed on the link's target inside the rootfs",
}


def memory_row(records: list[dict[str, Any]]) -> str:
    if not records:
        return "| load: peak RSS with a big layer | not measured (needs root) | - |"
    r = max(records, key=lambda r: r["layer_mb"])
    mb = r["layer_mb"]
    size = f"{mb / 1024:g} GB" if mb >= 1024 else f"{mb} MB"

    def rss(kb: int) -> str:
        return f"{kb / 1024:.0f} MB"

    return (
        f"| load: peak RSS with a {size} layer | `ru_maxrss` of an `executor` process (and the children it reaped) "
        f"writing a {size} file in a RUN (half random, half zeros), compressing, hashing and pushing it "
        f"({r['write_seconds']:.0f} s); and of one pulling, unpacking and pushing that image ({r['pull_seconds']:.0f} s) | "
        f"**{rss(r['write_rss_kb'])}** and **{rss(r['pull_rss_kb'])}**; the same builds with a 1 MB file: "
        f"{rss(r['baseline_write_rss_kb'])} and {rss(r['baseline_pull_rss_kb'])} (bound checked: +{r['margin_mb']} MB). "
        "Blobs over 256 MB are uploaded in 16 MB PATCH chunks, one in memory at a time: that buffer is the "
        "difference from the 1 MB build, and it does not depend on the layer's size |"
    )


def isolation_row(records: list[dict[str, Any]]) -> str:
    if not records:
        return "| isolation of RUN | not measured (needs root) | - |"
    attempts = sum(r["attempts"] for r in records)
    changes = sum(r["host_changes"] for r in records)
    blocked = sum(r["blocked"] for r in records)
    return (
        f"| isolation of RUN (chroot) | {attempts} escape attempts over {len(records)} builds (hostile Dockerfile, "
        "base images with /proc, /dev, /sys, /etc/hosts... linked out of the root, a 1500-deep tree, reboot) | "
        f"{blocked} refused by the kernel or kiln, the rest stayed inside the rootfs; **{changes} host changes**; "
        "kiln alive, no process outlived a build |"
    )


def isolation_section(records: list[dict[str, Any]]) -> list[str]:
    if not records:
        return []
    lines = [
        "## Isolation of RUN (chroot mode)",
        "",
        "`tests/reliability/test_isolation.py` builds hostile Dockerfiles with a real `executor` (default",
        "isolation, busybox base) and hashes the host before and after: a sentinel tree outside kiln's work dir",
        "(the target of every attempt, holding a secret), the rest of the test's tmp dir (build context and the",
        "TMPDIR kiln runs with), `/etc`, kiln's `src/`, the host's `/dev/null` & co (bound into every RUN), the host's interfaces, addresses and routes, the hostname, `kernel.sysrq`, KSM's `run`, and the mount",
        "table. A host `sleep` must survive `kill -9` by its pid, no process started in a RUN may outlive the",
        "build, the executor must exit by itself without a traceback, and neither the secret nor the host's",
        "`/etc/shadow` may reach the image. Each attempt is `hostile/attacks.sh`; rc 0 means the command did what",
        "it asked *inside the rootfs* (e.g. a symlink to `/etc` resolves to the image's `/etc`), anything else",
        "means it was refused. Not attempted: an unbounded fork bomb (kiln sets no pids cgroup limit and this",
        "2-core machine is shared: it would take other jobs down; 100 processes left running are tried instead)",
        "and filling the disk (300 MB are written to the rootfs's `/tmp`).",
        "",
        "| build | attempts | refused | host changes | build exit |",
        "|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(
            f"| {r['name']} | {r['attempts']} | {r['blocked']} | {r['host_changes']} | {r['build_exit']} |"
        )
    lines += ["", "| attempt | rc |", "|---|---|"]
    for r in records:
        for name, rc in sorted(r["results"].items()):
            outcome = "refused" if rc != 0 else "resolved inside the rootfs"
            outcome = ATTEMPT_NOTES.get(name, outcome)
            lines.append(f"| {name} | {rc}: {outcome} |")
    lines.append("")
    return lines


def render(records: list[dict[str, Any]], examples: int, status: int, seconds: float, summary: str) -> str:
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by[record["category"]].append(record)
    reg = by["registry"]
    fuzz = by["fuzz"]
    sec = by["secrets"]
    injected = sum(r["injected"] for r in reg)
    survived = sum(1 for r in reg if r["survived"])
    second = sum(1 for r in reg if r.get("second_run"))
    lost = sum(r["bytes_lost"] for r in reg)
    early = sum(r.get("manifest_before_blobs", 0) for r in reg)
    incomplete = sum(r.get("incomplete_tags", 0) for r in reg)
    inputs = sum(r["inputs"] for r in fuzz)
    crashes = sum(r["crashes"] for r in fuzz)
    planted = sum(r["planted"] for r in sec)
    found = sum(r["found"] for r in sec)
    lines = [
        "# Reliability and security: faults, hostile input, secrets, load, isolation",
        "",
        "Generated by `python bench/reliability_report.py` (do not edit by hand; re-run it). It runs the tests in",
        f"`tests/reliability/` with {examples} hypothesis examples per fuzz property (CI runs 150) and adds up what",
        "they record (the big-layer memory test runs with `--layer-mb`, default 2048; CI runs 192).",
        f"Last run: pytest said `{summary}` (exit {status}) in {seconds:.0f} s.",
        "",
        "## Summary",
        "",
        "| area | measured | result |",
        "|---|---|---|",
        f"| registry faults | {injected} faults injected into {len(reg)} pulls/pushes | {survived} completed through the faults; "
        f"{second} refused bad data or gave up cleanly and completed on a second run; **{lost} bytes lost**; "
        f"{incomplete} tags on incomplete images; {early} manifests pushed before their blobs |",
        f"| hostile input | {inputs} inputs over {len(fuzz)} properties | **{crashes} crashes** (a non-kiln exception, a hang, "
        "a write outside the root, or unbounded memory) |",
        f"| secrets | {planted} planted secret forms, {sum(r['outputs_searched'] for r in sec)} outputs, "
        f"{sum(r['bytes_searched'] for r in sec)} bytes searched | **{found} found** |",
        load_row(by["load"]),
        memory_row(by["memory"]),
        isolation_row(by["isolation"]),
        "",
        "## Registry faults",
        "",
        "A fault-injecting HTTP proxy (`tests/reliability/faultproxy.py`, a real socket server) sits in front of the",
        "real registry (Debian's docker-registry). It resets connections mid-body (RST), truncates bodies (FIN short",
        "of Content-Length), lies in Content-Length both ways, flips a byte, sends a wrong Docker-Content-Digest,",
        "answers 500/502/503 and 429 with Retry-After, and stalls beyond the client's timeout. Bytes lost counts",
        "blobs accepted with wrong content, blobs missing after a run that reported success, partial files left",
        "behind, and blobs missing or wrong in the registry's own storage under any tag.",
        "",
        "| operation and fault | injected | completed through it | second run | bytes lost |",
        "|---|---|---|---|---|",
    ]
    for r in sorted(reg, key=lambda r: r["name"]):
        lines.append(
            f"| {r['name']} | {r['injected']} | {'yes' if r['survived'] else 'no (clean error)'} | "
            f"{'completed' if r.get('second_run') else '-'} | {r['bytes_lost']} |"
        )
    lines += [
        "",
        "Retries back off exponentially from `retry_base_delay` (checked: 0.01, 0.02, 0.04 s); after a 429 the",
        "client asks to sleep at least the Retry-After (capped at 60 s; the tests record the request and sleep a",
        'capped 50 ms to stay fast); `push_retry`/`image_download_retry` bound the tries. "Second run" means the',
        "fault outlasted the retry budget or the data was wrong: the first run failed cleanly with nothing",
        "accepted, and the same command then completed once the proxy stopped misbehaving.",
        "",
        "## Hostile input",
        "",
        "| property | inputs | ended in a kiln error | crashes |",
        "|---|---|---|---|",
    ]
    for r in sorted(fuzz, key=lambda r: r["name"]):
        lines.append(f"| {r['name']} | {r['inputs']} | {r['rejected']} | {r['crashes']} |")
    lines += [
        "",
        "Tar inputs are built member by member (`..`, absolute and 300-deep names, symlink loops, symlinks and",
        "hardlinks out of the root, device nodes, whiteouts, unknown types, size fields claiming up to 1 TiB) and",
        "then damaged (bytes flipped, cut short); a directory beside the root (also the target of absolute links) is",
        "hashed before and after each input. Every input runs under a time limit (SIGALRM).",
        "",
        "## Secrets",
        "",
    ]
    for r in sec:
        lines.append(
            f"- {r['name']}: {r['planted']} secret forms (raw, base64, `user:password` base64, URL-quoted) over "
            f"{r['runs']} runs; {r['outputs_searched']} outputs, {r['bytes_searched']} bytes searched; found {r['found']}."
        )
    lines += ["", *isolation_section(by["isolation"]), DEFECTS]
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=1000, help="hypothesis examples per fuzz property")
    parser.add_argument(
        "--layer-mb",
        type=int,
        default=2048,
        help="size of the big layer whose peak RSS is measured (CI: 192)",
    )
    parser.add_argument("--no-write", action="store_true", help="print the report instead of writing the doc")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (e.g. -k fuzz)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kiln-reliability-") as tmp:
        stats_file = Path(tmp) / "stats.jsonl"
        status, seconds, summary = run_tests(args.examples, args.layer_mb, stats_file, args.pytest_args)
        report = render(load(stats_file), args.examples, status, seconds, summary)
    if args.no_write:
        sys.stdout.write(report)
    else:
        DOC.write_text(report)
        print(f"wrote {DOC.relative_to(REPO)} ({summary})")
    return status


if __name__ == "__main__":
    sys.exit(main())
