"""Labels and manifest annotations put on the final image: ``--label``, ``--annotation`` and the standard
``org.opencontainers.image.{source,revision,created}`` asked for with ``--image-source``,
``--image-revision`` and ``--image-created``.

Why ``created`` is the config's own time: with ``--reproducible`` that time is fixed (SOURCE_DATE_EPOCH or
the epoch), so the label and the annotation do not change a reproducible digest; without it they say the
same instant the config does. The standard keys go on as labels (what ``docker inspect`` and most registry
UIs read) and as annotations (what OCI tools read without fetching the config). An explicit ``--label`` or
``--annotation`` with the same key wins.
"""

from __future__ import annotations

from dataclasses import replace

from kiln.build.options import BuildOptions
from kiln.oci import Image
from kiln.oci.mutate import with_annotations, with_config

SOURCE = "org.opencontainers.image.source"
REVISION = "org.opencontainers.image.revision"
CREATED = "org.opencontainers.image.created"


def standard_metadata(options: BuildOptions, created: str | None) -> dict[str, str]:
    """The standard keys this build asked for (``created`` only when the config has a time)."""
    out: dict[str, str] = {}
    if options.image_source:
        out[SOURCE] = options.image_source
    if options.image_revision:
        out[REVISION] = options.image_revision
    if options.image_created and created:
        out[CREATED] = created
    return out


def with_labels(image: Image, options: BuildOptions) -> Image:
    """``--label`` values and the standard keys go on the final image's config only."""
    config = image.config()
    wanted = {**standard_metadata(options, config.created), **dict(options.labels)}
    if not wanted:
        return image
    labels = {**config.config.labels, **wanted}
    return with_config(image, replace(config, config=replace(config.config, labels=labels)))


def with_manifest_annotations(image: Image, options: BuildOptions) -> Image:
    """``--annotation`` values and the standard keys on the image manifest (after ``--reproducible``)."""
    wanted = {**standard_metadata(options, image.config().created), **dict(options.annotations)}
    return with_annotations(image, wanted) if wanted else image
