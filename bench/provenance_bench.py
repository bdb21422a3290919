"""What --generate-provenance costs: the same push build with and without it, against a loopback registry.

Why: provenance adds work after the push (statement, artifact blobs, the artifact manifest, and on
registries without the referrers API a read-modify-write of the fallback tag). A small image (busybox + one
COPY, --reproducible) makes that work as visible as it can be. Builds alternate (off, on, off, on, ...), each
a fresh executor process with a fresh kiln dir, pushing to ``docker-registry`` (distribution 2.8: fallback
tag path). Prints the median wall time of each mode, the difference, the statement size and how many
entries the fallback index holds at the end (one per build with provenance: each build is its own
attestation, so the list grows with every rebuild of the same image).

``python bench/provenance_bench.py [--repeat 5]``  (no RUN: does not need root)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import KILN, REPO, bench_registry, push_busybox_base  # type: ignore[import-not-found]


def build(ctx: Path, dest: str, host: str, kaniko_dir: Path, layout: Path, provenance: bool) -> float:
    argv = [
        *KILN, "-c", str(ctx), "-d", dest, "--kaniko-dir", str(kaniko_dir), "--insecure-registry", host,
        "--reproducible", "--oci-layout-path", str(layout), "--digest-file", str(layout) + ".digest",
        *(["--generate-provenance"] if provenance else []),
    ]  # fmt: skip
    started = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    return time.monotonic() - started


def attach_cost(host: str, dest: str, digest: str, statement: Path, rounds: int = 20) -> None:
    """In-process: HTTP requests and wall time of one ``attach`` (fallback-tag path), fresh statement each."""
    import requests

    from kiln.digest import Digest
    from kiln.oci import Descriptor, mediatypes
    from kiln.oci.artifact import Payload, make_artifact
    from kiln.reference import Reference
    from kiln.registry import RegistryClient, RegistryOptions
    from kiln.registry.referrers import attach

    session = requests.Session()
    sent: list[str] = []
    session.hooks["response"].append(lambda r, *a, **k: sent.append(r.request.method or ""))
    client = RegistryClient(RegistryOptions(insecure_registries=(host,)), session=session)
    repo = Reference.parse(dest).context()
    head = client.head_manifest(repo.with_digest(Digest.parse(digest)))
    assert head is not None
    subject = Descriptor(mediatypes.OCI_MANIFEST, head.digest, head.size)
    body = statement.read_bytes()
    costs, counts = [], []
    with client:
        client.list_tags(repo)  # the auth/scheme probe happens once per build anyway: not counted
        for i in range(rounds):
            artifact = make_artifact(
                mediatypes.IN_TOTO, [Payload(mediatypes.IN_TOTO, body + b" " * i)], subject
            )
            sent.clear()
            started = time.monotonic()
            attach(client, repo, artifact)
            costs.append(time.monotonic() - started)
            counts.append(len(sent))
    print(f"attach, fallback path:      median {statistics.median(costs) * 1000:.1f} ms, "
          f"{statistics.median(counts):.0f} HTTP requests ({rounds} rounds)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with bench_registry("kiln-prov-bench-") as (work, host):
        base = push_busybox_base(work, host)
        ctx = work / "ctx"
        ctx.mkdir()
        (ctx / "data.bin").write_bytes(bytes(range(256)) * 4096)
        (ctx / "Dockerfile").write_text(f"FROM {base}\nCOPY data.bin /data.bin\n")
        dest = f"{host}/bench/prov:latest"
        times: dict[bool, list[float]] = {False: [], True: []}
        digests: set[str] = set()
        for i in range(args.repeat * 2):
            provenance = i % 2 == 1
            out = work / f"out{i}"
            out.mkdir()
            times[provenance].append(build(ctx, dest, host, work / f"k{i}", out / "oci", provenance))
            digests.add((out / "oci.digest").read_text())
        digest = digests.pop() if len(digests) == 1 else ""
        statement = (work / f"out{args.repeat * 2 - 1}" / "oci.provenance.json").stat().st_size
        index = subprocess.run(
            ["skopeo", "inspect", "--raw", "--tls-verify=false",
             f"docker://{host}/bench/prov:sha256-{digest.split(':')[-1]}"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        off, on = statistics.median(times[False]), statistics.median(times[True])
        print(f"builds per mode:            {args.repeat}")
        print(
            f"median without provenance:  {off:.3f} s  (all: {', '.join(f'{t:.2f}' for t in times[False])})"
        )
        print(f"median with provenance:     {on:.3f} s  (all: {', '.join(f'{t:.2f}' for t in times[True])})")
        print(f"difference:                 {on - off:+.3f} s ({(on - off) / off * 100:+.1f}%)")
        print(f"one image digest for all:   {'yes ' + digest if digest else 'NO'}")
        print(f"statement size:             {statement} bytes")
        print(f"fallback index entries:     {len(json.loads(index)['manifests'])}")
        attach_cost(host, dest, digest, Path(work / f"out{args.repeat * 2 - 1}" / "oci.provenance.json"))


if __name__ == "__main__":
    main()
