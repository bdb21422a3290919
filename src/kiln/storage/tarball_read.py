"""Images read back from docker-archive tarballs (``docker save``, kaniko's ``--tar-path`` and warmer).

The tar is indexed once (member name -> offset, size); layers are then read straight from their offsets,
so nothing is extracted and every open is a fresh stream. When the image's registry manifest is known
(kaniko's warmer keeps it next to the tarball) the layers are checked against its digests; otherwise a
Docker v2.2 manifest is made up from the members, hashing compressed layers once on first use.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

from kiln.compression import detect
from kiln.digest import CHUNK, Digest
from kiln.errors import DigestMismatch, KilnError
from kiln.oci import BlobLayer, Descriptor, Image, Layer, Manifest, mediatypes
from kiln.storage.verified import open_verified


@dataclass(frozen=True)
class _Member:
    offset: int
    size: int


class _Section(io.RawIOBase):
    """``size`` bytes of ``path`` from ``offset``: one member of the tar."""

    def __init__(self, path: Path, member: _Member) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed with the section
        self._file.seek(member.offset)
        self._left = member.size

    def readable(self) -> bool:
        return True

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(buf), self._left)
        if n == 0:
            return 0
        data = self._file.read(n)
        if not data:
            raise KilnError("tarball ended inside a member", hint="the file is truncated")
        buf[: len(data)] = data
        self._left -= len(data)
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


class TarballImage(Image):
    """One image of a docker-archive tarball, chosen by ``tag`` (a RepoTags entry) when it holds several."""

    def __init__(self, path: Path, *, raw_manifest: bytes | None = None, tag: str | None = None) -> None:
        self.path = Path(path)
        self._members = self._index()
        entry = self._entry(tag)
        self._config_name = str(entry.get("Config") or "")
        self._layer_names = [str(n) for n in entry.get("Layers") or ()]
        for name in (self._config_name, *self._layer_names):
            if name not in self._members:
                raise KilnError(f"{self.path}: manifest.json names {name!r}, which the tarball lacks")
        self._given_manifest = raw_manifest

    def _index(self) -> dict[str, _Member]:
        members: dict[str, _Member] = {}
        try:
            with tarfile.open(self.path, mode="r:") as tar:
                for info in tar:
                    if info.isfile():
                        members[info.name.removeprefix("./")] = _Member(info.offset_data, info.size)
        except FileNotFoundError:
            raise KilnError(f"no image tarball at {self.path}") from None
        except (tarfile.TarError, OSError) as err:
            raise KilnError(f"{self.path} is not a readable tar: {err}") from None
        return members

    def _read_member(self, name: str, limit: int = 16 << 20) -> bytes:
        member = self._members[name]
        if member.size > limit:
            raise KilnError(f"{self.path}: {name} is larger than {limit} bytes")
        with _Section(self.path, member) as f:
            return f.read()

    def _entry(self, tag: str | None) -> dict[str, Any]:
        if "manifest.json" not in self._members:
            raise KilnError(
                f"{self.path} has no manifest.json",
                hint="only docker save / docker-archive tarballs are read",
            )
        try:
            entries: list[dict[str, Any]] = json.loads(self._read_member("manifest.json"))
        except ValueError as err:
            raise KilnError(f"{self.path}: manifest.json is not JSON ({err})") from None
        if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
            raise KilnError(f"{self.path}: manifest.json is not a list of images")
        if tag is not None:
            for entry in entries:
                if tag in (entry.get("RepoTags") or ()):
                    return entry
            raise KilnError(f"{self.path} has no image tagged {tag!r}")
        if len(entries) > 1:
            tags = [t for e in entries for t in e.get("RepoTags") or ()]
            raise KilnError(
                f"{self.path} holds {len(entries)} images", hint=f"choose one of: {', '.join(tags)}"
            )
        return entries[0]

    # -- Image ---------------------------------------------------------------------------------
    def raw_config(self) -> bytes:
        raw = self._read_member(self._config_name)
        expected = self.manifest().config.digest
        if Digest.of_bytes(raw, expected.algorithm) != expected:
            raise DigestMismatch(str(expected), str(Digest.of_bytes(raw)), "image config")
        return raw

    def raw_manifest(self) -> bytes:
        return self._manifest_bytes

    @cached_property
    def _manifest_bytes(self) -> bytes:
        if self._given_manifest is not None:
            manifest = Manifest.from_bytes(self._given_manifest)
            if len(manifest.layers) != len(self._layer_names):
                raise KilnError(
                    f"{self.path}: the manifest lists {len(manifest.layers)} layers, "
                    f"the tarball {len(self._layer_names)}"
                )
            return self._given_manifest
        return self._made_up_manifest().to_bytes()

    def _made_up_manifest(self) -> Manifest:
        raw_config = self._read_member(self._config_name)
        layers = []
        for name in self._layer_names:
            with _Section(self.path, self._members[name]) as f:
                kind = detect(f.read(4))
            with _Section(self.path, self._members[name]) as f:
                digest, size = Digest.of_stream(f)  # type: ignore[arg-type]
            docker = kind != "zstd"
            layers.append(Descriptor(mediatypes.layer_media_type(kind, docker=docker), digest, size))
        docker = all(mediatypes.is_docker(d.media_type) for d in layers)
        return Manifest(
            media_type=mediatypes.manifest_type(docker),
            config=Descriptor(mediatypes.config_type(docker), Digest.of_bytes(raw_config), len(raw_config)),
            layers=tuple(layers),
        )

    def layers(self) -> tuple[Layer, ...]:
        descs = self.manifest().layers
        diff_ids = self.config().rootfs_diff_ids
        if len(diff_ids) != len(descs):
            raise KilnError(f"{self.path}: {len(descs)} layers but {len(diff_ids)} diff_ids in the config")
        return tuple(
            BlobLayer(d.digest, diff, d.size, d.media_type, self._opener(name, d))
            for d, diff, name in zip(descs, diff_ids, self._layer_names, strict=True)
        )

    def _opener(self, name: str, desc: Descriptor) -> Any:
        member = self._members[name]
        path = self.path

        def open_layer() -> BinaryIO:
            section = io.BufferedReader(_Section(path, member), CHUNK)
            return open_verified(section, desc.digest, desc.size)

        return open_layer


__all__ = ["TarballImage"]
