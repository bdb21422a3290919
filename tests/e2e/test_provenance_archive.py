"""An archive context's digest in the provenance statement: the executor unpacks a ``tar://`` tarball and
the statement's context entry carries the sha256 of the tarball's bytes, judged by ``sha256sum``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_tar_context_digest_in_the_statement_is_the_tarballs_sha256(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /\n")
    (src / "hello.txt").write_text("hello\n")
    tarball = tmp_path / "ctx.tar.gz"
    run("tar", "-czf", str(tarball), "-C", str(src), ".")
    expected = run("sha256sum", str(tarball)).stdout.split()[0]
    layout = tmp_path / "oci"
    run(
        str(BIN / "executor"), f"--context=tar://{tarball}", "--no-push", f"--oci-layout-path={layout}",
        "--generate-provenance", f"--kaniko-dir={tmp_path / 'kaniko'}", "--custom-platform=linux/amd64",
    )  # fmt: skip
    statement = json.loads((tmp_path / "oci.provenance.json").read_text())
    deps = {d["name"]: d for d in statement["predicate"]["buildDefinition"]["resolvedDependencies"]}
    assert deps["context"] == {"uri": f"tar://{tarball}", "name": "context", "digest": {"sha256": expected}}
