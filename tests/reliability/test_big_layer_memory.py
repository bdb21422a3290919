"""Peak RSS of a build does not grow with the size of a layer it writes, pushes, pulls and unpacks.

Two real ``executor`` builds per size, each a separate process whose ``ru_maxrss`` (``os.wait4``: the executor and
every child it reaped -- the sandbox helpers and the RUN commands) is measured:

- *write*: ``FROM busybox`` + a RUN that writes one file of N MB, half random (incompressible), half zeros; kiln
  snapshots it, compresses and hashes the layer and pushes it;
- *pull*: ``FROM`` that image in another repository + a small RUN: kiln pulls and unpacks the N MB layer, then
  pushes every blob to the new repository.

The same two builds with a 1 MB file give the baseline; the test asserts that neither build grows by more than
``RSS_MARGIN_MB`` over its baseline. CI runs 192 MB (a layer several times the margin, so a copy of it in memory
would fail the test); ``bench/reliability_report.py`` runs 2048 MB (``KILN_BIG_LAYER_MB``) for the report.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.images import LayoutImage, busybox_on
from fixtures.registry import RegistryServer
from reliability import stats

pytestmark = [
    pytest.mark.registry,
    pytest.mark.privileged,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(os.geteuid() != 0, reason="RUN needs the chroot sandbox: root"),
]

RSS_MARGIN_MB = 64
CI_LAYER_MB = 192


def layer_mb() -> int:
    value = os.environ.get("KILN_BIG_LAYER_MB", "")
    return int(value) if value.isdigit() else CI_LAYER_MB


@dataclass(frozen=True)
class Measured:
    max_rss_kb: int
    seconds: float


def measured_build(
    context: Path, work: Path, dockerfile: str, destination: str, registry: RegistryServer
) -> Measured:
    """One executor run; its peak RSS (KiB) and wall time. Fails the test if the build fails."""
    (context / "Dockerfile").write_text(dockerfile)
    work.mkdir()
    log = work.parent / f"{work.name}.log"
    argv = [
        sys.executable,
        "-c",
        "import sys; from kiln.cli.executor import executor; sys.exit(executor())",
        f"--context={context}",
        f"--dockerfile={context / 'Dockerfile'}",
        f"--destination={destination}",
        f"--insecure-registry={registry.host}",
        f"--kaniko-dir={work}",
        "--verbosity=warn",
    ]
    with log.open("wb") as out:
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    assert code == 0, log.read_text(errors="replace")[-3000:]
    return Measured(usage.ru_maxrss, seconds)


def write_then_pull(
    tmp: Path, registry: RegistryServer, base: str, megabytes: int, name: str
) -> tuple[Measured, Measured]:
    context = tmp / f"context-{name}"
    context.mkdir()
    half = megabytes // 2
    written = registry.ref(f"memory/{name}-written:latest")
    write = measured_build(
        context,
        tmp / f"work-{name}-write",
        f"FROM {base}\nRUN (head -c {half}m /dev/urandom; head -c {megabytes - half}m /dev/zero) > /big.bin\n",
        written,
        registry,
    )
    pull = measured_build(
        context,
        tmp / f"work-{name}-pull",
        f"FROM {written}\nRUN ls -l /big.bin > /size.txt\n",
        registry.ref(f"memory/{name}-pulled:latest"),
        registry,
    )
    return write, pull


def test_peak_rss_does_not_grow_with_the_layer(
    registry_http: RegistryServer, busybox_layout: LayoutImage, tmp_path: Path
) -> None:
    base = busybox_on(registry_http, busybox_layout, "memory/busybox:latest").ref
    megabytes = layer_mb()
    small_write, small_pull = write_then_pull(tmp_path, registry_http, base, 1, "small")
    big_write, big_pull = write_then_pull(tmp_path, registry_http, base, megabytes, "big")
    stats.record(
        "memory",
        f"{megabytes} MB layer",
        layer_mb=megabytes,
        write_rss_kb=big_write.max_rss_kb,
        write_seconds=round(big_write.seconds, 1),
        pull_rss_kb=big_pull.max_rss_kb,
        pull_seconds=round(big_pull.seconds, 1),
        baseline_write_rss_kb=small_write.max_rss_kb,
        baseline_pull_rss_kb=small_pull.max_rss_kb,
        margin_mb=RSS_MARGIN_MB,
    )
    margin_kb = RSS_MARGIN_MB * 1024
    assert big_write.max_rss_kb - small_write.max_rss_kb < margin_kb, (big_write, small_write)
    assert big_pull.max_rss_kb - small_pull.max_rss_kb < margin_kb, (big_pull, small_pull)
