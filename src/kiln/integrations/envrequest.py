"""``KILN_*`` variables -> ExecutorRequest, the input form of the GitLab and Jenkins adapters.

Why variables: a GitLab component input or a Jenkins step argument pasted into a script is a shell
injection; set as a variable and read here, it stays data.
"""

from __future__ import annotations

from collections.abc import Mapping

from kiln.integrations.request import ExecutorRequest, parse_bool, split_lines, split_words

PREFIX = "KILN_"


def split_names(text: str) -> list[str]:
    """Image names separated by newlines, commas or spaces (a name never holds any of them)."""
    return text.replace(",", " ").split()


def request_from_env(environ: Mapping[str, str], destinations: list[str] | None = None) -> ExecutorRequest:
    """The request the ``KILN_*`` variables describe; ``destinations`` is the default for none given."""

    def get(name: str) -> str:
        return environ.get(PREFIX + name, "").strip()

    names = split_names(get("DESTINATIONS")) or list(destinations or [])
    return ExecutorRequest(
        context=get("CONTEXT") or ".",
        dockerfile=get("DOCKERFILE"),
        destinations=tuple(names),
        push=parse_bool(get("PUSH"), f"{PREFIX}PUSH", default=True),
        build_args=tuple(split_lines(get("BUILD_ARGS"))),
        labels=tuple(split_lines(get("LABELS"))),
        target=get("TARGET"),
        cache=parse_bool(get("CACHE"), f"{PREFIX}CACHE"),
        cache_repo=get("CACHE_REPO"),
        platform=get("PLATFORM"),
        oci_layout_path=get("OCI_LAYOUT_PATH"),
        tar_path=get("TAR_PATH"),
        digest_file=get("DIGEST_FILE"),
        image_name_with_digest_file=get("IMAGE_NAME_WITH_DIGEST_FILE"),
        image_name_tag_with_digest_file=get("IMAGE_NAME_TAG_WITH_DIGEST_FILE"),
        provenance=parse_bool(get("PROVENANCE"), f"{PREFIX}PROVENANCE"),
        extra_args=tuple(split_words(get("EXTRA_ARGS"), f"{PREFIX}EXTRA_ARGS")),
    )
