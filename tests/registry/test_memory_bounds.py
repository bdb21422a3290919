"""A layer's bytes stream through kiln: writing, pushing (monolithic and chunked), pulling and unpacking
a blob larger than the memory the process may use for it.

Each path runs in a fresh Python process under ``tracemalloc`` on a 96 MiB incompressible file; the
peak of Python allocations must stay well below the blob's size (a buffered copy anywhere would show as
at least the blob). No timing is asserted: this guards memory, the 2 GiB-layer bench case guards speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fixtures.registry import RegistryServer

BLOB_MIB = 96
BOUND_MIB = 40  # 16 MiB chunks (one in flight here) + 1 MiB compression blocks + tar/hash buffers

SCRIPT = r"""
import hashlib, json, os, resource, sys, tracemalloc
from pathlib import Path
from kiln.digest import Digest
from kiln.fs.tarwriter import Add, write_layer
from kiln.fs.unpack import apply_layer
from kiln.reference import Reference
from kiln.registry.client import RegistryClient
from kiln.registry.options import RegistryOptions

host, work, mode = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
source = work / "big.bin"
with open(source, "wb") as f:
    for _ in range(int(sys.argv[4])):
        f.write(os.urandom(1 << 20))
options = RegistryOptions(insecure_registries=(host,), environ={}, retry_base_delay=0.01)
threshold = (1 << 20) if mode == "chunked" else (1 << 40)
client = RegistryClient(options, chunked_threshold=threshold, chunk_size=16 << 20)
repo = Reference.parse(f"{host}/memory/{mode}:x").context()
tracemalloc.start()
layer = write_layer([Add("/big.bin", source)], work / "layer.tgz", "gzip")
client.upload_blob(repo, layer.digest, layer.size, lambda: open(layer.path, "rb"))
os.unlink(layer.path)
root = work / "root"
root.mkdir()
with client.open_blob(repo, layer.digest, layer.size) as stream:
    apply_layer(root, stream)
peak = tracemalloc.get_traced_memory()[1]
same = hashlib.sha256(source.read_bytes()).digest() == hashlib.sha256((root / "big.bin").read_bytes()).digest()
print(json.dumps({"peak": peak, "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "same": same}))
"""


def _run(tmp_path: Path, registry_http: RegistryServer, mode: str) -> dict[str, int]:
    work = tmp_path / mode
    work.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, registry_http.host, str(work), mode, str(BLOB_MIB)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, int] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_monolithic_push_and_pull_stream(tmp_path: Path, registry_http: RegistryServer) -> None:
    result = _run(tmp_path, registry_http, "monolithic")
    assert result["same"]
    assert result["peak"] < BOUND_MIB << 20, f"{result['peak'] >> 20} MiB traced for a {BLOB_MIB} MiB blob"


def test_chunked_push_and_pull_stream(tmp_path: Path, registry_http: RegistryServer) -> None:
    result = _run(tmp_path, registry_http, "chunked")
    assert result["same"]
    assert result["peak"] < BOUND_MIB << 20, f"{result['peak'] >> 20} MiB traced for a {BLOB_MIB} MiB blob"
