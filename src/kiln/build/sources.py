"""Where a stage's base and ``--from`` files come from: earlier stages, or images pulled once per build."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path

from kiln.build.cache.base_images import cached_base
from kiln.build.options import BuildOptions
from kiln.build.source_policy import check_image
from kiln.build.stage import StageResult
from kiln.dockerfile import Stage, StageGraph
from kiln.errors import BuildStepError, KilnError, Location
from kiln.fs.unpack import apply_layer
from kiln.oci import Image, Platform, mediatypes
from kiln.reference import Reference
from kiln.registry import RegistryClient, pull

log = logging.getLogger(__name__)


class ImageSources:
    """Resolves stage bases and ``COPY --from`` references for one build."""

    def __init__(
        self,
        options: BuildOptions,
        platform: Platform,
        work: Path,
        results: Mapping[int, StageResult],
        graph: StageGraph,
        client: RegistryClient | None = None,
    ) -> None:
        """``client``: the run's registry client, which its owner closes; without one, the first pull makes
        one that ``close()`` closes."""
        self.options = options
        self.platform = platform
        self.work = work
        self.results = results
        self.graph = graph
        self._client = client
        self._owns_client = client is None
        self._pulled: dict[tuple[str, str], Image] = {}
        self._unpacked: dict[str, Path] = {}

    @property
    def client(self) -> RegistryClient:
        if self._client is None:
            self._client = RegistryClient(self.options.registry)
        return self._client

    def close(self) -> None:
        if self._client is not None and self._owns_client:
            self._client.close()

    def pull(self, name: str, platform: Platform, where: Location | None, what: str = "image") -> Image:
        key = (name, str(platform))
        if key not in self._pulled:
            check_image(self.options, name, what, where)  # again here: names only known at run time
            try:
                ref = Reference.parse(name)
                log.info("pulling %s (%s)", ref, platform)
                self._pulled[key] = cached_base(self.options, pull(self.client, ref, platform))
            except KilnError as err:
                raise BuildStepError(
                    f"cannot use image {name!r}: {err.message}", location=where, hint=err.hint
                ) from None
        return self._pulled[key]

    def pulled(self) -> list[tuple[str, str, Image]]:
        """Every image pulled so far, once: (name as written, platform, image); what provenance records."""
        return [(name, platform, image) for (name, platform), image in self._pulled.items()]

    def base_of(self, stage: Stage) -> tuple[Image | None, bool]:
        """The stage's base image (None for scratch) and whether the result is Docker-typed."""
        if stage.base_stage is not None:
            result = self.results[stage.base_stage]
            return result.image, result.docker
        if stage.is_scratch:
            return None, False
        platform = Platform.parse(stage.platform) if stage.platform else self.platform
        image = self.pull(stage.base, platform, stage.from_.location, "base image")
        return image, mediatypes.is_docker(image.media_type())

    def root_of(self, ref: str) -> Path:
        """Files of stage ``ref`` (name or index), else of the image ``ref`` unpacked once."""
        try:
            stage = self.graph.stage(ref)
        except KeyError:
            stage = None
        if stage is not None:
            result = self.results.get(stage.index)
            if result is None:
                raise BuildStepError(f"--from={ref}: stage {stage.display_name} has not been built")
            return result.files
        if ref not in self._unpacked:
            image = self.pull(ref, self.platform, None, "--from image")
            target = self.work / hashlib.sha256(ref.encode()).hexdigest()[:24]
            target.mkdir(parents=True, exist_ok=True)
            for layer in image.layers():
                with layer.open_compressed() as blob:
                    apply_layer(target, blob, mediatypes.layer_compression(layer.media_type))
            self._unpacked[ref] = target
        return self._unpacked[ref]


def read_secrets(options: BuildOptions) -> dict[str, bytes]:
    """``--secret`` values read once (files and environment variables); only RUN mounts ever see them."""
    out: dict[str, bytes] = {}
    for secret in options.secrets:
        if secret.env:
            value = options.environ.get(secret.env)
            if value is None:
                raise KilnError(f"--secret id={secret.id}: environment variable {secret.env} is not set")
            out[secret.id] = value.encode()
        elif secret.src:
            try:
                out[secret.id] = Path(secret.src).read_bytes()
            except OSError as err:
                raise KilnError(
                    f"--secret id={secret.id}: cannot read {secret.src}: {err.strerror}"
                ) from None
    return out
