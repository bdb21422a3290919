"""Amazon ECR: ``ACCOUNT.dkr.ecr.REGION.amazonaws.com`` -> boto3 ``ecr.get_authorization_token``.

The token is ``base64("AWS:" + password)``, valid 12 hours; it is cached per registry until shortly before it
expires. Credentials are boto3's usual chain, fed from the given environment (keys, ``AWS_PROFILE``, web identity
for IRSA is read by boto3 itself); ``AWS_ENDPOINT_URL_ECR``/``AWS_ENDPOINT_URL`` point at another endpoint.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kiln.errors import AuthError
from kiln.registry.cloud.quiet import quiet_loggers
from kiln.registry.keychain import Credential

log = logging.getLogger(__name__)

_ECR_HOST = re.compile(
    r"^(?P<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)"
    r"\.(?:amazonaws\.com(?:\.cn)?|sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$"
)
_EARLY = 300.0  # refresh this many seconds before the token expires
_NO_CREDENTIALS = ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError")


@dataclass(frozen=True)
class ECRRegistry:
    account: str
    region: str


def parse_ecr_host(host: str) -> ECRRegistry | None:
    """The account and region of an ECR registry host, or None for any other host."""
    match = _ECR_HOST.match(host.lower().split(":", 1)[0])
    return ECRRegistry(match["account"], match["region"]) if match else None


class ECRProvider:
    """Credentials for private ECR registries from the caller's AWS identity."""

    def __init__(self, environ: Mapping[str, str], client_factory: Any = None) -> None:
        self._environ = environ
        self._client_factory = client_factory
        self._cache: dict[str, tuple[Credential, float]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "ECRProvider()"

    def _client(self, region: str) -> Any:
        if self._client_factory is not None:
            return self._client_factory(region)
        import boto3

        env = self._environ
        session = boto3.session.Session(
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
            profile_name=env.get("AWS_PROFILE") or None,
        )
        endpoint = env.get("AWS_ENDPOINT_URL_ECR") or env.get("AWS_ENDPOINT_URL") or None
        return session.client("ecr", region_name=region, endpoint_url=endpoint)

    def resolve(self, registry: str) -> Credential | None:
        target = parse_ecr_host(registry)
        if target is None:
            return None
        with self._lock:
            cached = self._cache.get(registry)
            if cached and cached[1] - _EARLY > time.time():
                return cached[0]
            try:
                from botocore.exceptions import BotoCoreError, ClientError
            except ImportError:
                log.warning(
                    "%s looks like Amazon ECR; install kiln[s3] (boto3) to log in automatically", registry
                )
                return None
            try:
                with quiet_loggers("botocore", "boto3", "urllib3"):
                    answer = self._client(target.region).get_authorization_token(registryIds=[target.account])
            except ClientError as err:
                code = str(err.response.get("Error", {}).get("Code", "unknown"))
                raise AuthError(
                    f"Amazon ECR refused a login token for {registry}: {code}",
                    code="DENIED",
                    hint="check the AWS credentials and their ecr:GetAuthorizationToken permission",
                ) from None
            except BotoCoreError as err:
                if type(err).__name__ in _NO_CREDENTIALS:
                    log.debug("no AWS credentials for %s; trying anonymously", registry)
                    return None
                raise AuthError(
                    f"cannot get an Amazon ECR login token for {registry}: {type(err).__name__}",
                    code="CONNECTION",
                    temporary=True,
                ) from None
            credential, expires = _credential_from(answer, registry)
            self._cache[registry] = (credential, expires)
            return credential


def _credential_from(answer: Mapping[str, Any], registry: str) -> tuple[Credential, float]:
    try:
        data = answer["authorizationData"][0]
        user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    except (KeyError, IndexError, ValueError, UnicodeDecodeError):
        raise AuthError(f"Amazon ECR answered an unreadable login token for {registry}") from None
    expires_at = data.get("expiresAt")
    expires = expires_at.timestamp() if hasattr(expires_at, "timestamp") else float(expires_at or 0)
    return Credential(username=user, password=password), expires
