"""kiln skips the interpreter's last garbage collection (kiln.cli.collector): the hook is registered once per
process, runs at exit, and a build run as its own process still leaves every output complete.

Each case runs a fresh interpreter (``sys.executable``); the outputs are judged by oci-image-tool and skopeo.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from fixtures.tools import oci_image_tool, skopeo_inspect

# gc.freeze is wrapped before kiln is imported, so the hook kiln registers is the counting wrapper; a hook
# registered before the command runs after kiln's (atexit is last in, first out) and reports the count
COUNT_FREEZES = """
import atexit, gc, sys
calls = []
real_freeze = gc.freeze
def counting_freeze():
    calls.append(1)
    real_freeze()
gc.freeze = counting_freeze
atexit.register(lambda: sys.stderr.write(f"\\nfreezes={{len(calls)}} frozen={{gc.get_freeze_count()}}\\n"))
from kiln.cli.executor import executor
for _ in range({times}):
    try:
        executor(["version"])
    except SystemExit:
        pass
"""


def test_the_exit_freeze_is_registered_once_and_runs_at_exit() -> None:
    out = subprocess.run(
        [sys.executable, "-c", COUNT_FREEZES.format(times=3)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("kiln version") == 3
    report = out.stderr.strip().splitlines()[-1]
    freezes, frozen = (int(part.split("=")[1]) for part in report.split())
    assert freezes == 1
    assert frozen > 1000  # the modules' objects were moved out of the last collection's way


def test_a_build_in_its_own_process_leaves_complete_outputs(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    payload = bytes(range(256)) * 4096  # 1 MiB: more than any write buffer
    (ctx / "data.bin").write_bytes(payload)
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY data.bin /data.bin\nLABEL stage=exit-test\n")
    layout, tarball, digest_file = tmp_path / "layout", tmp_path / "image.tar", tmp_path / "digest"
    argv = ["-c", str(ctx), "--kaniko-dir", str(tmp_path / "k"), "--no-push", "--oci-layout-path", str(layout),
            "--tar-path", str(tarball), "--destination", "example.invalid/exit/test:1",
            "--digest-file", str(digest_file)]  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", "from kiln.cli.executor import executor; executor()", *argv],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "Validation succeeded" in oci_image_tool("validate", "--type", "image", str(layout)).stdout
    for blob in (layout / "blobs" / "sha256").iterdir():  # every blob whole: its bytes hash to its name
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    index = json.loads((layout / "index.json").read_text())
    assert digest_file.read_text().strip() == index["manifests"][0]["digest"]
    config = skopeo_inspect(f"docker-archive:{tarball}", config=True)
    assert config["config"]["Labels"] == {"stage": "exit-test"}
    assert len(config["rootfs"]["diff_ids"]) == 1
