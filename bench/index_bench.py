"""What the multi-arch merge step costs: ``kiln index`` against ``buildah manifest`` on a loopback registry.

Two per-platform images (linux/amd64, linux/arm64; FROM scratch with one ``--size`` MB layer) are built
with ``--push-by-digest``; then, ``--repeat`` times each (a new tag every time):
- ``kiln index`` into the same repository (children already there: two manifests + two configs read, one put),
- ``kiln index`` into another repository (children mounted in first),
- ``buildah manifest create/add/push --all`` into the same repository (the usual tool for this step),
and the ``--publish-index`` build against a plain ``--push-by-digest`` build of the same Dockerfile.
Prints medians; wall-clock of the whole command, process start included.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import bench_registry  # type: ignore[import-not-found]

BIN = Path(sys.executable).parent


def timed(argv: list[str], **kw: object) -> float:
    started = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)  # type: ignore[call-overload]
    return time.monotonic() - started


def build(work: Path, host: str, platform: str, repo: str, *extra: str) -> tuple[float, str]:
    arch = platform.split("/")[1]
    digest = work / f"digest-{arch}-{time.monotonic_ns()}"
    seconds = timed([
        str(BIN / "executor"), f"--context={work / 'ctx'}", f"--custom-platform={platform}",
        f"--destination={host}/{repo}:unused", f"--digest-file={digest}", f"--insecure-registry={host}",
        f"--kaniko-dir={work / 'kaniko'}", f"--cache-dir={work / 'cache'}", *extra,
    ])  # fmt: skip
    return seconds, digest.read_text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--size", type=int, default=16, help="MB of random data in each image's layer")
    args = parser.parse_args()
    with bench_registry("kiln-index-bench-") as (work, host):
        (work / "ctx").mkdir()
        (work / "ctx" / "blob").write_bytes(os.urandom(args.size << 20))
        (work / "ctx" / "Dockerfile").write_text(
            "FROM scratch\nARG TARGETARCH\nCOPY blob /\nLABEL a=$TARGETARCH\n"
        )
        digests = {}
        for platform in ("linux/amd64", "linux/arm64"):
            _, digests[platform] = build(work, host, platform, "bench/app", "--push-by-digest")
        (work / "digests").mkdir()
        for platform, digest in digests.items():
            (work / "digests" / platform.split("/")[1]).write_text(digest)
        named = work / "amd64-name"  # an image-name-with-digest file: the child lives in bench/app
        named.write_text(f"{host}/bench/app@{digests['linux/amd64']}\n")
        kiln = [
            str(BIN / "kiln"),
            "index",
            f"--insecure-registry={host}",
        ]
        same, other, buildah = [], [], []
        store = ["buildah", "--root", str(work / "buildah"), "--runroot", str(work / "buildah-run"),
                 "--storage-driver", "vfs"]  # fmt: skip
        for n in range(args.repeat):
            same.append(
                timed(
                    [*kiln, f"--destination={host}/bench/app:same{n}", f"--digests-from={work / 'digests'}"]
                )
            )
            other.append(timed([*kiln, f"--destination={host}/bench/other{n}:1",
                                *(f"{host}/bench/app@{d}" for d in digests.values())]))  # fmt: skip
            started = time.monotonic()
            subprocess.run([*store, "manifest", "create", f"list{n}"], check=True, capture_output=True)
            for digest in digests.values():
                subprocess.run([*store, "manifest", "add", "--tls-verify=false", f"list{n}",
                                f"docker://{host}/bench/app@{digest}"], check=True, capture_output=True)  # fmt: skip
            subprocess.run([*store, "manifest", "push", "--all", "--tls-verify=false", f"list{n}",
                            f"docker://{host}/bench/app:buildah{n}"], check=True, capture_output=True)  # fmt: skip
            buildah.append(time.monotonic() - started)
        inproc = []  # the merge alone, without starting a Python process
        from kiln.reference import Reference
        from kiln.registry import RegistryClient, RegistryOptions
        from kiln.registry.index import IndexChild, IndexRequest, publish_index

        children = tuple(
            IndexChild(Reference.parse(f"{host}/bench/app@{d}"), "bench") for d in digests.values()
        )
        with RegistryClient(RegistryOptions(insecure_registries=(host,))) as client:
            for n in range(args.repeat):
                dest = (Reference.parse(f"{host}/bench/app:inproc{n}"),)
                started = time.monotonic()
                publish_index(client, IndexRequest(children=children, destinations=dest))
                inproc.append(time.monotonic() - started)
        plain, publish = [], []
        for n in range(args.repeat):
            plain.append(build(work, host, "linux/arm64", "bench/app", "--push-by-digest")[0])
            publish.append(build(work, host, "linux/arm64", f"bench/pub{n}", "--publish-index",
                                 f"--digests-from={named}")[0])  # fmt: skip
        med = statistics.median
        print(f"2 platforms, {args.size} MB layer each, median of {args.repeat}, loopback docker-registry:")
        print(f"  kiln index, children in the repository      {med(same):6.2f}s")
        print(f"  kiln index, children mounted from another   {med(other):6.2f}s")
        print(f"  the same merge in-process (no interpreter)  {med(inproc):6.3f}s")
        print(f"  buildah manifest create+add+add+push --all  {med(buildah):6.2f}s")
        print(f"  executor --push-by-digest (arm64 build)     {med(plain):6.2f}s")
        print(f"  executor --publish-index (same build+merge) {med(publish):6.2f}s")


if __name__ == "__main__":
    main()
