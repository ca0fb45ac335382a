"""The one place ``ocsp_iot`` uses the AWS SDK (boto3, from the ``cli`` extra): clients, and
every AWS error a user can cause turned into one line and an exit code.

boto3 is imported only when a command talks to AWS, so ``check``, ``probe`` and
``enroll --local-ca`` work without it. Credentials, region defaults, retries and endpoints come
from the SDK's usual sources (profile, ``AWS_*`` variables, ``AWS_ENDPOINT_URL_<SERVICE>``: how
the tests point it at an emulator on loopback). The region of every call is explicit: a
certificate authority's region is the one its ARN names.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ocsp_iot.errors import (
    AwsServiceError,
    CaNotActiveError,
    MissingExtraError,
    NotFoundError,
    NotPermittedError,
    OcspIotError,
    ThrottledError,
    UnreachableError,
)

#: Error codes meaning "who you are, or what you may do": no or bad credentials, no permission.
PERMISSION_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "MissingAuthenticationToken",
    }
)
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
        "SlowDown",
    }
)
NOT_FOUND_CODES = frozenset({"ResourceNotFoundException", "InvalidArnException", "NotFound"})
#: AWS Private CA: the CA is not in a state that allows the call (not ACTIVE).
INVALID_STATE_CODES = frozenset({"InvalidStateException"})

_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):acm-pca:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"certificate-authority/(?P<id>[0-9a-fA-F-]{1,64})"
)
_XML_CODE = re.compile(r"<Code>([^<]{1,100})</Code>")
_XML_MESSAGE = re.compile(r"<Message>([^<]{0,500})</Message>")
#: botocore names the service in its user agent; this names the command too.
USER_AGENT_EXTRA = "ocsp-iot"


@dataclass(frozen=True)
class CaArn:
    """An AWS Private CA certificate authority ARN, split."""

    arn: str
    partition: str
    region: str
    account: str

    @classmethod
    def parse(cls, text: str, *, what: str = "--ca-arn") -> CaArn:
        match = _ARN.fullmatch(text.strip())
        if match is None:
            msg = (
                f"{what} must be an AWS Private CA ARN "
                f"(arn:aws:acm-pca:REGION:ACCOUNT:certificate-authority/ID), got {text[:200]!r}"
            )
            raise OcspIotError(msg)
        return cls(
            arn=text.strip(),
            partition=match["partition"],
            region=match["region"],
            account=match["account"],
        )

    def template_arn(self, template: str) -> str:
        """The ARN of a Private CA certificate template in this CA's partition."""
        return f"arn:{self.partition}:acm-pca:::template/{template}"


def _boto3(command: str) -> Any:
    try:
        import boto3  # noqa: PLC0415 - optional extra, imported when a command talks to AWS
    except ImportError as exc:
        raise MissingExtraError(command=command, module="boto3", extra="cli") from exc
    return boto3


class Clients:
    """boto3 clients, one per service and region, made on first use."""

    def __init__(self, *, command: str, default_region: str) -> None:
        boto3 = _boto3(command)
        from botocore.config import Config  # noqa: PLC0415 - comes with boto3

        self._session = boto3.session.Session()
        self._config = Config(
            connect_timeout=10, read_timeout=30, user_agent_extra=USER_AGENT_EXTRA
        )
        self.default_region = default_region
        self._made: dict[tuple[str, str], Any] = {}

    def get(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.default_region)
        if key not in self._made:
            self._made[key] = self._session.client(service, region_name=key[1], config=self._config)
        return self._made[key]

    def pca(self, region: str | None = None) -> Any:
        return self.get("acm-pca", region)

    def iot(self, region: str | None = None) -> Any:
        return self.get("iot", region)

    def dynamodb(self, region: str | None = None) -> Any:
        return self.get("dynamodb", region)


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (``None`` for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code is not None else None


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else None


def _code_and_message(exc: BaseException) -> tuple[str, str]:
    response = getattr(exc, "response", {}) or {}
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    code = str(error.get("Code") or "")
    message = str(error.get("Message") or "")
    # An XML error document where JSON was expected (seen from emulators, and from gateways in
    # front of a service): take its code and message.
    if message.lstrip().startswith("<"):
        xml_code, xml_message = _XML_CODE.search(message), _XML_MESSAGE.search(message)
        code = xml_code.group(1) if xml_code else code
        message = xml_message.group(1) if xml_message else ""
    return code, " ".join(message.split())[:300]


def translate(  # noqa: PLR0911 - one answer per kind of error
    exc: BaseException, *, doing: str, hint_not_found: str = ""
) -> OcspIotError:
    """The one-line error for an exception of the SDK raised while ``doing`` something."""
    name = type(exc).__name__
    if name in {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}:
        return NotPermittedError(
            f"{doing}: no AWS credentials found (configure a profile, AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
        )
    if name in {"NoRegionError"}:
        return OcspIotError(f"{doing}: no AWS region (give --region)")
    if name in {
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectionClosedError",
        "ProxyConnectionError",
    }:
        return UnreachableError(f"{doing}: could not reach AWS ({name}: {str(exc)[:200]})")
    if name == "WaiterError":
        last = getattr(exc, "last_response", None)
        if isinstance(last, dict) and "Error" in last:
            inner = _LastResponseError(last)
            return translate(inner, doing=doing, hint_not_found=hint_not_found)
        return AwsServiceError(f"{doing}: {str(exc)[:300]}")
    code, message = _code_and_message(exc)
    detail = f"{code}: {message}" if message else code
    status = _status(exc)
    if code in PERMISSION_CODES or status == 403:
        return NotPermittedError(f"{doing}: not permitted ({detail})")
    if code in THROTTLING_CODES or status == 429:
        return ThrottledError(
            f"{doing}: throttled by AWS even after retries ({detail}); retry later"
        )
    if code in INVALID_STATE_CODES:
        return CaNotActiveError(f"{doing}: the certificate authority is not ACTIVE ({detail})")
    if code in NOT_FOUND_CODES:
        suffix = f"; {hint_not_found}" if hint_not_found else ""
        return NotFoundError(f"{doing}: not found ({detail}){suffix}")
    if not code:
        return AwsServiceError(f"{doing}: {name}: {str(exc)[:300]}")
    return AwsServiceError(f"{doing}: {detail}")


class _LastResponseError(Exception):
    """A waiter's last error response, shaped like a ``ClientError`` for :func:`translate`."""

    def __init__(self, response: dict[str, Any]) -> None:
        super().__init__(str(response.get("Error")))
        self.response = response


def is_sdk_error(exc: BaseException) -> bool:
    """Is ``exc`` one of botocore's (a service error, or the SDK's own)?"""
    return type(exc).__module__.startswith("botocore")


@contextlib.contextmanager
def aws_call(doing: str, *, hint_not_found: str = "") -> Iterator[None]:
    """Turn an SDK exception raised inside into the command's one-line error."""
    try:
        yield
    except OcspIotError:
        raise
    except Exception as exc:
        if is_sdk_error(exc):
            raise translate(exc, doing=doing, hint_not_found=hint_not_found) from exc
        raise
