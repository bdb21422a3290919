"""``kiln index``: merge per-platform images (pushed by digest on native machines) into one index."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click

from kiln.cli.executor import USER_AGENT, scrubber_of
from kiln.cli.flags import bool_flag, int_flag, log_flags, multi_flag, registry_flags, string_flag
from kiln.cli.render import KilnCommand
from kiln.cli.scrub import CREDENTIAL_VARIABLES
from kiln.cli.values import parse_key_values
from kiln.errors import UsageError

if TYPE_CHECKING:
    # imported where used: ``kiln index --help`` and flag errors should not load the registry code
    from kiln.oci import Platform
    from kiln.reference import Repository
    from kiln.registry.index import IndexChild, PublishedIndex
    from kiln.registry.options import RegistryOptions


def index_children(
    images: Sequence[str], digests_from: Sequence[str], home: Repository
) -> tuple[IndexChild, ...]:
    """Images named on the command line, then every digest in the --digests-from files, in order."""
    from kiln.reference import Reference
    from kiln.registry.index import IndexChild, child_by_digest
    from kiln.storage.digest_files import read_digest_records

    children = [IndexChild(Reference.parse(text), "the command line") for text in images]
    for record in read_digest_records(digests_from):
        children.append(child_by_digest(record.digest, record.name, record.origin, home))
    return tuple(children)


def parse_platforms(values: Sequence[str]) -> tuple[Platform, ...]:
    """Repeatable and comma-separated: ``--platform linux/amd64,linux/arm64``."""
    from kiln.oci import Platform

    return tuple(Platform.parse(p) for v in values for p in v.split(",") if p.strip())


def index_annotations(values: Sequence[str]) -> Mapping[str, str]:
    return parse_key_values(values, "--index-annotations")


def write_index_digest_files(params: Mapping[str, Any], published: PublishedIndex) -> None:
    from kiln.storage.digest_files import write_digest_file, write_image_name_files

    if params["digest_file"]:
        write_digest_file(params["digest_file"], published.digest)
    write_image_name_files(
        params["image_name_with_digest_file"] or None,
        params["image_name_tag_with_digest_file"] or None,
        published.pushed,
        published.digest,
    )


def run_index(ctx: click.Context, images: Sequence[str], params: Mapping[str, Any]) -> PublishedIndex:
    from kiln.cli import logs
    from kiln.cli.buildopts import registry_options
    from kiln.reference import Reference
    from kiln.registry.client import RegistryClient
    from kiln.registry.index import IndexRequest, publish_index

    environ = dict(os.environ)
    scrubber_of(ctx).add_from_environ(environ, CREDENTIAL_VARIABLES)
    logs.configure(params["verbosity"], params["log_format"], params["log_timestamp"], scrub=scrubber_of(ctx))
    destinations = tuple(Reference.parse(d) for d in params["destination"])
    if not destinations:
        raise UsageError(
            "kiln index needs a --destination", hint="e.g. --destination registry.example.com/app:1.0"
        )
    request = IndexRequest(
        children=index_children(images, params["digests_from"], destinations[0].context()),
        destinations=destinations,
        legacy=bool(params["legacy_manifest_list"]),
        annotations=index_annotations(params["index_annotations"]),
        platforms=parse_platforms(params["platform"]),
    )
    options: RegistryOptions = registry_options(params, environ, USER_AGENT)
    if options.insecure:  # the images read are the ones copied and pushed back: plain HTTP for them too
        options = dataclasses.replace(options, insecure_pull=True)
    with RegistryClient(options) as client:
        published = publish_index(client, request)
    write_index_digest_files(params, published)
    return published


@click.command("index", cls=KilnCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("images", nargs=-1, metavar="[IMAGE@DIGEST]...")
@multi_flag("-d", "--destination", help="where to push the index (tag or repository)")
@multi_flag(
    "--digests-from",
    help="digest file, image-name-with-digest file, or a directory of them (per-platform builds' outputs)",
)
@bool_flag("--legacy-manifest-list", False, "push a Docker manifest list instead of an OCI image index")
@multi_flag("--index-annotations", help="KEY=VALUE annotation on the index")
@multi_flag("--platform", help="os/arch[/variant] the index must hold, comma-separated; refuse others")
@string_flag("--digest-file", help="write the index digest here")
@string_flag("--image-name-with-digest-file", help="write repo@digest lines for the index here")
@string_flag("--image-name-tag-with-digest-file", help="write repo:tag@digest lines for the index here")
@bool_flag("--insecure", False, "use plain HTTP registries (for the images read and the pushes)")
@bool_flag("--skip-tls-verify", False, "do not verify registries' TLS certificates")
@int_flag("--push-retry", 0, "retries for each push request (2 at least)")
@int_flag("--image-download-retry", 0, "retries for each read request (2 at least)")
@registry_flags
@log_flags
@click.pass_context
def index(ctx: click.Context, /, images: tuple[str, ...], **params: Any) -> None:
    """Merge per-platform images into one OCI image index (or Docker manifest list) and push it.

    Each IMAGE (by digest) and each digest in --digests-from becomes one entry; its platform is read
    from the image's config. Children in other repositories are copied into the destination's first.
    Prints the index digest.
    """
    published = run_index(ctx, images, params)
    click.echo(str(published.digest))
