"""Azure blob contexts against Azurite (npm, installed by scripts/install-test-services.sh) on loopback.

The context URL names the real account host; the connection string's BlobEndpoint sends the client to
Azurite, which is how kiln users reach an emulator or a private endpoint too.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from context.ctx_helpers import SAMPLE, assert_sample, free_port, make_tar_gz, wait_for_port
from kiln.context import ContextSpec, open_context
from kiln.errors import ContextError

blob = pytest.importorskip("azure.storage.blob")

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "devstoreaccount1"
# Azurite's published development key (documented, not a secret).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
URL = f"https://{ACCOUNT}.blob.core.windows.net"


def _azurite() -> str | None:
    local = REPO / ".cache" / "node" / "node_modules" / ".bin" / "azurite-blob"
    return str(local) if local.exists() else shutil.which("azurite-blob")


def connection_string(port: int, key: str = KEY) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
    )


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    program = _azurite()
    if program is None:
        pytest.skip("azurite not installed (run scripts/install-test-services.sh)")
    workspace = tmp_path_factory.mktemp("azurite")
    port = free_port()
    proc = subprocess.Popen(
        [
            program,
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(workspace),
            "--skipApiVersionCheck",
            "--silent",
            "--disableTelemetry",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        try:
            wait_for_port(port, timeout=60)
        except RuntimeError:
            proc.terminate()
            raise RuntimeError(f"azurite did not start: {proc.communicate()[1][-500:]!r}") from None
        service = blob.BlobServiceClient.from_connection_string(connection_string(port))
        container = service.create_container("ctx")
        container.upload_blob("builds/ctx.tar.gz", make_tar_gz(SAMPLE))
        container.upload_blob("builds/plain.tar.gz", b"gzip? no.\n" * 50)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def fetch(tmp_path: Path, url: str, environ: dict[str, str], sub_path: str = "") -> Path:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return open_context(ContextSpec(url, sub_path=sub_path, environ=environ)).fetch(work)


def test_azure_blob_context(tmp_path: Path, azurite: int) -> None:
    env = {"AZURE_STORAGE_CONNECTION_STRING": connection_string(azurite)}
    assert_sample(fetch(tmp_path, f"{URL}/ctx/builds/ctx.tar.gz", env))


def test_azure_blob_sub_path(tmp_path: Path, azurite: int) -> None:
    env = {"AZURE_STORAGE_CONNECTION_STRING": connection_string(azurite)}
    root = fetch(tmp_path, f"{URL}/ctx/builds/ctx.tar.gz", env, sub_path="app")
    assert (root / "main.py").read_bytes() == SAMPLE["app/main.py"]


def test_azure_missing_container(tmp_path: Path, azurite: int) -> None:
    env = {"AZURE_STORAGE_CONNECTION_STRING": connection_string(azurite)}
    with pytest.raises(ContextError, match="container 'nocontainer' does not exist"):
        fetch(tmp_path, f"{URL}/nocontainer/ctx.tar.gz", env)


def test_azure_missing_blob(tmp_path: Path, azurite: int) -> None:
    env = {"AZURE_STORAGE_CONNECTION_STRING": connection_string(azurite)}
    with pytest.raises(ContextError, match=r"no blob 'builds/none\.tar\.gz' in container 'ctx'"):
        fetch(tmp_path, f"{URL}/ctx/builds/none.tar.gz", env)


def test_azure_non_gzip_blob(tmp_path: Path, azurite: int) -> None:
    env = {"AZURE_STORAGE_CONNECTION_STRING": connection_string(azurite)}
    with pytest.raises(ContextError, match="not a gzip-compressed tar"):
        fetch(tmp_path, f"{URL}/ctx/builds/plain.tar.gz", env)


def test_azure_wrong_key(tmp_path: Path, azurite: int) -> None:
    wrong = "d3JvbmdrZXl3cm9uZ2tleXdyb25na2V5d3JvbmdrZXk="
    env = {"AZURE_STORAGE_CONNECTION_STRING": connection_string(azurite, key=wrong)}
    with pytest.raises(ContextError, match="access denied") as info:
        fetch(tmp_path, f"{URL}/ctx/builds/ctx.tar.gz", env)
    assert wrong not in str(info.value)


def test_access_key_targets_the_url_account() -> None:
    from kiln.context.azure import AzureBlobSource

    source = AzureBlobSource(ContextSpec(f"{URL}/ctx/k.tar.gz", environ={"AZURE_STORAGE_ACCESS_KEY": KEY}))
    service = source._service()
    assert service.url.startswith(URL)
    assert service.credential.account_name == ACCOUNT
    assert KEY not in repr(source)
