"""Building context tarballs and free loopback ports for the context tests."""

from __future__ import annotations

import io
import socket
import tarfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def make_tar_gz(files: dict[str, bytes], extra: list[tarfile.TarInfo] | None = None) -> bytes:
    """A gzip tarball holding ``files`` (directories implied) plus raw ``extra`` members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info)
    return buffer.getvalue()


SAMPLE = {
    "Dockerfile": b"FROM scratch\nCOPY . /\n",
    "app/main.py": b"print('hi')\n",
}


def assert_sample(root: Path) -> None:
    assert (root / "Dockerfile").read_bytes() == SAMPLE["Dockerfile"]
    assert (root / "app" / "main.py").read_bytes() == SAMPLE["app/main.py"]
