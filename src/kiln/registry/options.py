"""How to reach registries: one frozen value built by the CLI and passed down."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RegistryOptions:
    """Transport, TLS, mirror and retry settings (kaniko's registry flags).

    Registry names are hosts as they appear in references (``localhost:5000``,
    ``index.docker.io`` for Docker Hub).
    """

    insecure: bool = False  # --insecure: push over plain HTTP to every registry
    insecure_pull: bool = False  # --insecure-pull: pull over plain HTTP
    insecure_registries: tuple[str, ...] = ()  # --insecure-registry: HTTP for push and pull
    skip_tls_verify: bool = False  # --skip-tls-verify: no TLS verification anywhere
    skip_tls_verify_pull: bool = False  # --skip-tls-verify-pull
    skip_tls_verify_registries: tuple[str, ...] = ()  # --skip-tls-verify-registry
    registry_certificates: Mapping[str, str] = field(default_factory=dict)  # registry -> CA file
    registry_client_certs: Mapping[str, tuple[str, str]] = field(
        default_factory=dict
    )  # registry -> (cert, key)
    registry_maps: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # orig -> mirrors (pull only)
    skip_default_registry_fallback: bool = False
    push_retry: int = 0
    image_download_retry: int = 0
    # Every request's own tries after a connection failure, 408, 429 or 5xx, whatever the flags say: kaniko gets
    # these from go-containerregistry's transport (3 attempts), and a registry that answers one HEAD with a 500
    # while another job commits the same blob must not fail the build. The flags raise it, never lower it.
    request_retries: int = 2
    retry_base_delay: float = 1.0  # seconds; backoff is base * 2**attempt
    timeout: float = 60.0
    user_agent: str = "kiln/0.1.0"
    # DOCKER_CONFIG, HOME, CI_REGISTRY*, ... are read from here; kept out of repr() as it may hold tokens
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    def retries(self, push: bool) -> int:
        """How many times a request, upload or interrupted read is tried again after a transient failure: the
        flag for its direction (``--push-retry`` or ``--image-download-retry``), at least ``request_retries``."""
        return max(self.push_retry if push else self.image_download_retry, self.request_retries)
