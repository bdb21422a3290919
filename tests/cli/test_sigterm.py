"""SIGTERM (a cancelled CI job, a deleted pod) unwinds the build: exit 143, nothing left mounted."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from fixtures.images import PushedImage


def _mounts_below(path: Path) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        points = [line.split()[4] for line in f if len(line.split()) > 4]
    return [p for p in points if p.startswith(f"{path}/")]


@pytest.mark.privileged
@pytest.mark.skipif(os.geteuid() != 0, reason="RUN in the chroot sandbox needs root")
def test_sigterm_during_run(tmp_path: Path, busybox_image: PushedImage) -> None:
    exe = shutil.which("executor")
    if exe is None:
        pytest.skip("executor is not installed on PATH")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {busybox_image.ref}\nRUN echo started && sleep 120\n")
    host = busybox_image.ref.split("/")[0]
    proc = subprocess.Popen(
        [exe, "--no-push", "-c", str(ctx), "--insecure-registry", host, "--kaniko-dir", str(tmp_path / "k"),
         "--log-format", "text"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    seen = []
    try:
        for line in proc.stderr:  # wait until the RUN is under way (no sleeping on the clock)
            seen.append(line)
            if "started" in line:
                break
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for point in sorted(_mounts_below(tmp_path), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], check=False)
    lines = (("".join(seen)) + rest).splitlines()
    assert proc.returncode == 143, lines
    assert lines[-1] == "error: terminated (SIGTERM)"
    assert not any(p.startswith(str(tmp_path)) for p in _mounts_below(Path("/"))), "mounts left behind"
    assert not list((tmp_path / "k").glob("build-*")), "the build's scratch dir was left behind"
