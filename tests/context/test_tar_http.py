"""tar://, tar://stdin and plain https tarballs, the path-safe extraction, and scheme errors."""

from __future__ import annotations

import contextlib
import http.server
import io
import os
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from context.ctx_helpers import SAMPLE, assert_sample, make_tar_gz
from kiln.context import ContextSpec, open_context
from kiln.digest import Digest
from kiln.errors import ContextError


def fetch(spec: ContextSpec, tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir(parents=True)
    return open_context(spec).fetch(work)


def test_tar_file_is_extracted(tmp_path: Path) -> None:
    archive = tmp_path / "ctx.tar.gz"
    archive.write_bytes(make_tar_gz(SAMPLE))
    root = fetch(ContextSpec(f"tar://{archive}"), tmp_path)
    assert_sample(root)


def test_tar_stdin_with_sub_path(tmp_path: Path) -> None:
    stdin = io.BytesIO(make_tar_gz(SAMPLE))
    root = fetch(ContextSpec("tar://stdin", sub_path="app", stdin=stdin), tmp_path)
    assert root.name == "app"
    assert (root / "main.py").read_bytes() == SAMPLE["app/main.py"]
    assert not list((tmp_path / "work").glob("*.tar.gz")), "the spooled archive is removed"


def test_tar_stdin_without_stream(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="no standard input"):
        fetch(ContextSpec("tar://stdin"), tmp_path)


def test_tar_with_dotdot_entry_is_rejected(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(make_tar_gz({"ok": b"1", "../../escaped": b"pwned"}))
    with pytest.raises(ContextError, match=r"climbs out") as info:
        fetch(ContextSpec(f"tar://{archive}"), tmp_path)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "escaped").exists()
    assert not (tmp_path.parent / "escaped").exists()


def test_tar_with_symlink_escape_is_rejected(tmp_path: Path) -> None:
    link = tarfile.TarInfo("link")
    link.type = tarfile.SYMTYPE
    link.linkname = str(tmp_path / "outside")
    (tmp_path / "outside").mkdir()
    evil = make_tar_gz({}, [link])
    # then a file written through the symlink: must land inside the root, never in tmp_path/outside
    buffer = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(evil), mode="r:gz") as src,
        tarfile.open(fileobj=buffer, mode="w:gz") as dst,
    ):
        for member in src:
            dst.addfile(member)
        info = tarfile.TarInfo("link/planted")
        info.size = 1
        dst.addfile(info, io.BytesIO(b"x"))
    archive = tmp_path / "evil2.tar.gz"
    archive.write_bytes(buffer.getvalue())
    with contextlib.suppress(ContextError):  # refusing the entry or confining it inside are both fine
        fetch(ContextSpec(f"tar://{archive}"), tmp_path)
    assert not (tmp_path / "outside" / "planted").exists()


def test_non_gzip_tar_gz_is_a_clear_error(tmp_path: Path) -> None:
    archive = tmp_path / "plain.tar.gz"
    archive.write_bytes(b"this is not gzip at all, just text\n" * 10)
    with pytest.raises(ContextError, match="not a gzip-compressed tar archive"):
        fetch(ContextSpec(f"tar://{archive}"), tmp_path)


def test_truncated_gzip_is_a_clear_error(tmp_path: Path) -> None:
    archive = tmp_path / "cut.tar.gz"
    archive.write_bytes(make_tar_gz({"big": os.urandom(100_000)})[:5000])
    with pytest.raises(ContextError) as info:
        fetch(ContextSpec(f"tar://{archive}"), tmp_path)
    assert str(info.value).startswith("build context tar://")


def test_missing_tar_file(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="does not exist"):
        fetch(ContextSpec(f"tar://{tmp_path}/nope.tar.gz"), tmp_path)


def test_unknown_scheme() -> None:
    with pytest.raises(ContextError, match=r"unsupported build context scheme 'ftp://'") as info:
        open_context(ContextSpec("ftp://example/ctx.tar.gz"))
    assert "s3://" in str(info.value) and "git://" in str(info.value)


def test_sub_path_that_does_not_exist(tmp_path: Path) -> None:
    archive = tmp_path / "ctx.tar.gz"
    archive.write_bytes(make_tar_gz(SAMPLE))
    with pytest.raises(ContextError, match="not a directory in the context"):
        fetch(ContextSpec(f"tar://{archive}", sub_path="nope"), tmp_path)


def test_spec_repr_hides_url_credentials() -> None:
    spec = ContextSpec("https://user:s3cr3tTOKEN@example.com/r.git", environ={"GIT_TOKEN": "envsecret"})
    assert "s3cr3tTOKEN" not in repr(spec)
    assert "envsecret" not in repr(spec)


class _Files(http.server.BaseHTTPRequestHandler):
    payloads: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.payloads.get(self.path.split("?")[0])
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_files() -> Iterator[tuple[str, dict[str, bytes]]]:
    payloads: ClassVar[dict[str, bytes]] = {}
    handler = type("Handler", (_Files,), {"payloads": payloads})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", payloads
    finally:
        server.shutdown()
        server.server_close()


def test_http_tarball(tmp_path: Path, http_files: tuple[str, dict[str, bytes]]) -> None:
    base, payloads = http_files
    payloads["/ctx.tar.gz"] = make_tar_gz(SAMPLE)
    assert_sample(fetch(ContextSpec(f"{base}/ctx.tar.gz"), tmp_path))


def test_http_missing_tarball_scrubs_secrets(
    tmp_path: Path, http_files: tuple[str, dict[str, bytes]]
) -> None:
    base, _ = http_files
    url = base.replace("http://", "http://user:hunter22@") + "/nope.tar.gz?sig=SIGSECRET"
    with pytest.raises(ContextError, match="HTTP 404") as info:
        fetch(ContextSpec(url), tmp_path)
    assert "hunter22" not in str(info.value) and "SIGSECRET" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "module"),
    [
        ("/some/dir", "kiln.context.local"),
        ("dir:///some/dir", "kiln.context.local"),
        ("tar://ctx.tar.gz", "kiln.context.tar"),
        ("git://github.com/acme/app.git#refs/heads/main", "kiln.context.git"),
        ("https://github.com/acme/app.git#v1#0123abcd", "kiln.context.git"),
        ("https://gitlab.example/group/app.git", "kiln.context.git"),
        ("https://example.com/ctx.tar.gz", "kiln.context.http"),
        ("s3://bucket/ctx.tar.gz", "kiln.context.s3"),
        ("gs://bucket/ctx.tar.gz", "kiln.context.gcs"),
        ("https://acct.blob.core.windows.net/c/ctx.tar.gz", "kiln.context.azure"),
    ],
)
def test_scheme_routing(url: str, module: str) -> None:
    assert type(open_context(ContextSpec(url))).__module__ == module


def test_http_tarball_sub_path(tmp_path: Path, http_files: tuple[str, dict[str, bytes]]) -> None:
    base, payloads = http_files
    payloads["/ctx.tar.gz"] = make_tar_gz(SAMPLE)
    root = fetch(ContextSpec(f"{base}/ctx.tar.gz", sub_path="/app"), tmp_path)
    assert [p.name for p in root.iterdir()] == ["main.py"]
    with pytest.raises(ContextError, match="leaves the context"):
        fetch(ContextSpec(f"{base}/ctx.tar.gz", sub_path="../.."), tmp_path / "again")


def test_archive_digest_is_the_sha256_of_the_archive_bytes(
    tmp_path: Path, http_files: tuple[str, dict[str, bytes]]
) -> None:
    """tar file, stdin and http: the digest taken while extracting equals a hash of the whole archive,
    including bytes after the gzip member (the extractor reads to EOF); a directory has none."""
    data = make_tar_gz(SAMPLE)
    expected = Digest.of_bytes(data)
    archive = tmp_path / "ctx.tar.gz"
    archive.write_bytes(data)
    base, payloads = http_files
    payloads["/ctx.tar.gz"] = data
    specs = [
        ContextSpec(f"tar://{archive}"),
        ContextSpec("tar://stdin", stdin=io.BytesIO(data)),
        ContextSpec(f"{base}/ctx.tar.gz"),
    ]
    for n, spec in enumerate(specs):
        source = open_context(spec)
        assert source.archive_digest is None
        work = tmp_path / f"work{n}"
        work.mkdir()
        assert_sample(source.fetch(work))
        assert source.archive_digest == expected, spec
    padded = tmp_path / "padded.tar.gz"
    padded.write_bytes(data + b"\0" * 4096)  # gzip readers stop at the member's end; the hash must not
    source = open_context(ContextSpec(f"tar://{padded}"))
    work = tmp_path / "padded"
    work.mkdir()
    source.fetch(work)
    assert source.archive_digest == Digest.of_bytes(padded.read_bytes()) != expected
    local = open_context(ContextSpec(str(tmp_path / "padded" / "context")))
    local.fetch(tmp_path / "local")
    assert local.archive_digest is None
