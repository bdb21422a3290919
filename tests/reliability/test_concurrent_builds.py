"""8 builds at once (real ``executor`` processes) sharing one --cache-dir and one destination repository.

Each must finish and produce the same image digest as the same build run alone (``--reproducible``), and the
registry must hold every blob of every tag intact -- in the image repository and in the shared layer-cache
repository (``--cache=true --cache-repo``), which all eight read and write at once after the serial build
filled it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.images import LayoutImage, busybox_on
from fixtures.registry import RegistryServer
from reliability import stats
from reliability.registry_world import check_repository

pytestmark = pytest.mark.registry

BUILDS = 8


def _executor(context: Path, work: Path, cache: Path, server: RegistryServer, tag: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "import sys; from kiln.cli.executor import executor; sys.exit(executor())",
        f"--context={context}",
        f"--dockerfile={context / 'Dockerfile'}",
        f"--destination={server.ref('load/app:' + tag)}",
        f"--insecure-registry={server.host}",
        "--reproducible",
        "--cache=true",
        f"--cache-repo={server.ref('load/cache')}",
        f"--cache-dir={cache}",
        f"--kaniko-dir={work}",
        f"--digest-file={work / 'digest'}",
        "--verbosity=warn",
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="RUN steps use the chroot sandbox: needs root")
def test_concurrent_builds_match_a_serial_build(
    registry_http: RegistryServer, busybox_layout: LayoutImage, tmp_path: Path
) -> None:
    base = busybox_on(registry_http, busybox_layout, "load/busybox:latest")
    context = tmp_path / "context"
    context.mkdir()
    (context / "data.bin").write_bytes(os.urandom(2 << 20))
    (context / "Dockerfile").write_text(
        f"FROM {base.ref}\nCOPY data.bin /data/\nRUN mkdir -p /out && echo built > /out/marker && ls /data > /out/list\n"
    )
    cache = tmp_path / "shared-cache"
    serial_work = tmp_path / "serial"
    serial_work.mkdir()
    serial = subprocess.run(
        _executor(context, serial_work, cache, registry_http, "serial"),
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert serial.returncode == 0, serial.stderr.decode(errors="replace")[-3000:]
    expected = (serial_work / "digest").read_text().strip()
    processes = []
    for i in range(BUILDS):
        work = tmp_path / f"work{i}"
        work.mkdir()
        processes.append(
            (
                work,
                subprocess.Popen(
                    _executor(context, work, cache, registry_http, f"c{i}"),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                ),
            )
        )
    failures: list[str] = []
    digests: list[str] = []
    for work, proc in processes:
        _, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            failures.append(err.decode(errors="replace")[-1500:])
        else:
            digests.append((work / "digest").read_text().strip())
    mismatches = sum(1 for d in digests if d != expected)
    integrity = check_repository(registry_http, "load/app")
    cache_integrity = check_repository(registry_http, "load/cache")
    stats.record(
        "load",
        f"{BUILDS} concurrent executor builds, one --cache-dir, one --cache-repo, one repository",
        builds=BUILDS,
        failed=len(failures),
        mismatches=mismatches,
        incomplete_tags=integrity.incomplete + cache_integrity.incomplete,
        cache_entries=cache_integrity.tags,
    )
    assert failures == []
    assert mismatches == 0, f"{digests} != {expected}"
    assert integrity.tags == BUILDS + 1 and integrity.incomplete == 0
    assert cache_integrity.tags >= 1 and cache_integrity.incomplete == 0
