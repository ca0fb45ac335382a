"""Synth-time validation of :class:`~ocsp_iot_constructs._stapling_types.OcspStapling`, for
``StaplingDomainConfig`` and ``OcspValidatingDomain(stapling=...)``.

``check`` records every problem (each keyword prefixed ``stapling.``) in the caller's
``Problems``, so that one ``PropsError`` lists the domain's and the stapling's problems together,
and returns the options with their defaults filled in and the Lambda environment rendered.
``warnings`` lists the risky-but-allowed choices.

What can be checked at synth, and what cannot:

- A PEM known at synth (``TrustedCa.from_pem``, ``OcspAuthorizedResponder(certificate_pem=...)``)
  is read (``_certificate_facts``): a trusted CA must be a CA certificate (so a self-signed
  server certificate named as its own CA is refused), the delegate must not be a CA, must carry
  the OCSPSigning extended key usage and must name one of the trusted CAs as its issuer (name and
  key identifier; signatures are verified by the Lambda, not at synth). A deploy-time PEM (an
  ``OcspPrivateCa``'s certificate) cannot be read: those checks are skipped.
- The server certificate is only an ACM ARN: an ``acm.Certificate`` (public) or
  ``acm.PrivateCertificate`` (issued by a private CA) is never self-signed, but the issuer of an
  imported certificate is unknown at synth.
- The delegate must be a certificate *imported* into ACM: one ACM issues (``acm.Certificate``,
  ``acm.PrivateCertificate``) carries no OCSPSigning usage and its key never leaves ACM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm

from . import _ocsp_client as client
from . import _stapling_function as contract
from ._certificate_facts import CertificateFacts, certificate_facts
from ._ocsp_client import EnvironmentSize, OcspClientOptions
from ._ocsp_function import FunctionOptions
from ._stapling_types import OcspAuthorizedResponder, OcspStapling
from ._types import TrustedIssuer
from ._validation import PrefixedProblems, Problems, implements, is_token, shown

#: The stapling Lambda's timeout unless one is given (IoT Core does not publish its own limit
#: for the call; the request timeout must stay below it).
DEFAULT_TIMEOUT = cdk.Duration.seconds(5)
#: IoT Core's limit on ``OcspLambdaArn`` (CloudFormation allows 170).
MAX_OCSP_LAMBDA_ARN_CHARS = 140
#: Lambda's limit on a function name (a generated name is never longer).
MAX_FUNCTION_NAME_CHARS = 64
#: Assumed for a deploy-time partition and Region: the longest in use ("aws-us-gov",
#: "us-isof-south-1") plus a margin.
ESTIMATED_PARTITION_CHARS = 10
ESTIMATED_REGION_CHARS = 16
ACCOUNT_CHARS = 12
#: Bounds of the alarm props.
MAX_RETRIEVAL_ALARM_HOURS = 24
MAX_DAYS_TO_EXPIRY_THRESHOLD = 365

#: Options that only configure the Lambda (an error without ``responder_function``).
_LAMBDA_ONLY = (
    "responder_url",
    "ocsp_timeout",
    "cache_max_age",
    "max_age_without_next_update",
    "max_response_bytes",
    "architecture",
    "timeout",
    "reserved_concurrent_executions",
    "vpc",
    "vpc_subnets",
    "log_encryption_key",
)
_PREFIX = "stapling."


@dataclass(frozen=True, kw_only=True)
class StaplingProps:
    """Validated stapling options, defaults applied."""

    options: OcspStapling
    issuers: tuple[TrustedIssuer, ...]
    authorized_responder: OcspAuthorizedResponder | None
    #: The responder the Lambda forwards to (``None`` without the Lambda).
    responder_url: str | None
    #: The Lambda's props, or ``None`` for IoT-managed stapling.
    function: FunctionOptions | None
    environment: Mapping[str, str]
    environment_size: EnvironmentSize | None
    retrieval_alarm_hours: int
    days_to_expiry_threshold: int


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def estimated_lambda_arn_chars(
    stack: cdk.Stack, *, function_name: str | None = None, qualifier: str | None = None
) -> int:
    """The length of ``arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]``
    for a function of ``stack``; deploy-time parts count their longest plausible length (a
    generated function name: Lambda's 64-character maximum)."""

    def size(value: str | None, estimate: int) -> int:
        return estimate if value is None or is_token(value) else len(value)

    return (
        len("arn:")
        + size(stack.partition, ESTIMATED_PARTITION_CHARS)
        + len(":lambda:")
        + size(stack.region, ESTIMATED_REGION_CHARS)
        + 1
        + size(stack.account, ACCOUNT_CHARS)
        + len(":function:")
        + size(function_name, MAX_FUNCTION_NAME_CHARS)
        + (0 if qualifier is None else 1 + len(qualifier))
    )


def check_lambda_arn_length(problems: Problems, estimated_chars: int) -> None:
    problems.require(
        estimated_chars <= MAX_OCSP_LAMBDA_ARN_CHARS,
        "responder_function",
        f"a function whose ARN IoT Core accepts as OcspLambdaArn (at most "
        f"{MAX_OCSP_LAMBDA_ARN_CHARS} characters)",
        f"an ARN of up to {estimated_chars} characters",
        "use a shorter function name or qualifier",
    )


def _facts(pem: object) -> CertificateFacts | None:
    return certificate_facts(pem) if isinstance(pem, str) and not is_token(pem) else None


def _check_authorized_responder(  # noqa: PLR0911 - one early return per failed check
    problems: Problems,
    responder: object,
    *,
    lambda_needs_pem: bool,
    issuers: Sequence[TrustedIssuer],
) -> OcspAuthorizedResponder | None:
    if responder is None:
        return None
    if not isinstance(responder, OcspAuthorizedResponder):
        problems.add(
            "authorized_responder",
            "an OcspAuthorizedResponder(certificate=..., certificate_pem=...)",
            type(responder).__name__,
        )
        return None
    certificate = responder.certificate
    if not implements(certificate, acm.ICertificate):
        problems.add(
            "authorized_responder.certificate",
            "an acm.ICertificate",
            type(certificate).__name__,
        )
    elif isinstance(
        certificate, acm.Certificate | acm.PrivateCertificate | acm.DnsValidatedCertificate
    ):
        problems.add(
            "authorized_responder.certificate",
            "the responder certificate imported into ACM (e.g. acm.Certificate."
            "from_certificate_arn): a certificate ACM issues carries no OCSPSigning extended key "
            "usage and its key never leaves ACM, so it cannot sign OCSP answers",
            type(certificate).__name__,
        )
    pem = responder.certificate_pem
    if pem is None:
        problems.require(
            not lambda_needs_pem,
            "authorized_responder.certificate_pem",
            "the responder certificate's PEM when responder_function=True (the Lambda returns "
            "only answers it signed)",
            None,
        )
        return responder
    if not isinstance(pem, str):
        problems.add("authorized_responder.certificate_pem", "a PEM string", type(pem).__name__)
        return responder
    if is_token(pem):
        return responder
    facts = certificate_facts(pem)
    if facts is None:
        problems.add(
            "authorized_responder.certificate_pem",
            "exactly one PEM 'CERTIFICATE' block with a DER body",
            client.abbreviate(pem),
        )
        return responder
    if facts.is_ca:  # the one problem: the other rules are about delegates
        problems.add(
            "authorized_responder.certificate_pem",
            "a delegated responder certificate, not a CA certificate",
            client.abbreviate(pem),
        )
        return responder
    problems.require(
        facts.ocsp_signing,
        "authorized_responder.certificate_pem",
        "a certificate with the OCSPSigning extended key usage (id-kp-OCSPSigning, RFC 6960 "
        "4.2.2.2)",
        client.abbreviate(pem),
    )
    known_cas = [f for f in (_facts(i.issuing_ca_certificate_pem) for i in issuers) if f]
    if known_cas:
        problems.require(
            any(facts.names_as_issuer(ca) for ca in known_cas),
            "authorized_responder.certificate_pem",
            "a certificate issued directly by one of trusted_cas (the server certificate's CA)",
            client.abbreviate(pem),
            "IoT Core and the Lambda accept a delegate only of the CA that issued the server "
            "certificate",
        )
    return responder


#: What a trusted CA the stapling Lambda refuses would do (the end of the message).
REFUSED_CA = (
    "the stapling Lambda would refuse it (CONFIG_ERROR) and nothing would be stapled; trust the "
    "CA that issued the server certificate (a self-signed server certificate cannot be stapled)"
)


def _ca_keywords(options: OcspStapling) -> list[str]:
    """The keywords under which ``trusted_cas`` and its entries are reported."""
    count = len(options.trusted_cas) if isinstance(options.trusted_cas, Sequence) else 0
    entries = [f"trusted_cas[{index}]" for index in range(count)]
    return ["trusted_cas", *entries, *(f"{entry}.issuing_ca_certificate_pem" for entry in entries)]


def _responder_url(
    problems: Problems,
    options: OcspStapling,
    issuers: Sequence[TrustedIssuer],
    *,
    cas_ok: bool,
) -> str | None:
    """The URL the stapling Lambda forwards to; when it would come from ``trusted_cas`` and
    those were reported unusable, no second problem about it."""
    if options.responder_url is not None:
        client.check_url(problems, "responder_url", options.responder_url)
        return options.responder_url if isinstance(options.responder_url, str) else None
    urls = list(dict.fromkeys(i.ocsp_responder_url for i in issuers if i.ocsp_responder_url))
    if len(urls) == 1:
        client.check_url(problems, "trusted_cas[0].ocsp_responder_url", urls[0])
        return urls[0]
    if not cas_ok:
        return None
    problems.add(
        "responder_url",
        "the URL of the responder the stapling Lambda forwards to",
        None,
        "set responder_url, or trust one CA that has an ocsp_responder_url",
    )
    return None


def _function_options(options: OcspStapling) -> FunctionOptions:
    return FunctionOptions.with_defaults(
        architecture=options.architecture,
        memory_size=options.memory_size,
        timeout=options.timeout,
        default_timeout=DEFAULT_TIMEOUT,
        log_retention=options.log_retention,
        tracing=options.tracing,
        reserved_concurrent_executions=options.reserved_concurrent_executions,
        vpc=options.vpc,
        vpc_subnets=options.vpc_subnets,
        security_groups=options.security_groups,
        log_encryption_key=options.log_encryption_key,
    )


def _check_alarm_props(problems: Problems, options: OcspStapling) -> None:
    hours, days = options.retrieval_alarm_hours, options.days_to_expiry_threshold
    problems.require(
        _is_int(hours) and 1 <= hours <= MAX_RETRIEVAL_ALARM_HOURS,
        "retrieval_alarm_hours",
        f"a whole number of hours from 1 to {MAX_RETRIEVAL_ALARM_HOURS} (IoT Core refreshes "
        "the staple hourly)",
        hours,
    )
    problems.require(
        _is_int(days) and 1 <= days <= MAX_DAYS_TO_EXPIRY_THRESHOLD,
        "days_to_expiry_threshold",
        f"a whole number of days from 1 to {MAX_DAYS_TO_EXPIRY_THRESHOLD}",
        days,
    )


def check(parent: Problems, stapling: object, *, stack: cdk.Stack) -> StaplingProps | None:
    """Record every problem of ``stapling`` in ``parent``; the validated props (``None`` when
    ``stapling`` is not an ``OcspStapling``: then only read them after ``raise_if_any``)."""
    if not isinstance(stapling, OcspStapling):
        parent.add("stapling", "an OcspStapling(...) (or None)", type(stapling).__name__)
        return None
    problems = PrefixedProblems(parent, _PREFIX)
    options = stapling
    with_lambda = options.responder_function
    problems.require(
        isinstance(with_lambda, bool), "responder_function", "True or False", with_lambda
    )
    # Without trusted CAs only the Lambda (responder_function=True) needs them; when the switch
    # itself is wrong (reported above) no second problem follows from it.
    if not options.trusted_cas and with_lambda is not True:
        issuers: list[TrustedIssuer] = []
    else:
        issuers = client.check_trusted_cas(problems, options.trusted_cas, refused=REFUSED_CA)
    responder = _check_authorized_responder(
        problems,
        options.authorized_responder,
        lambda_needs_pem=with_lambda is True,
        issuers=issuers,
    )
    _check_alarm_props(problems, options)
    if with_lambda is not True:
        for name in _LAMBDA_ONLY:
            value = getattr(options, name)
            if value is not None:
                problems.add(name, "unset unless responder_function=True", shown(value))
        if options.security_groups:
            problems.add(
                "security_groups",
                "empty unless responder_function=True",
                list(options.security_groups),
            )
        return StaplingProps(
            options=options,
            issuers=tuple(issuers),
            authorized_responder=responder,
            responder_url=None,
            function=None,
            environment={},
            environment_size=None,
            retrieval_alarm_hours=options.retrieval_alarm_hours,
            days_to_expiry_threshold=options.days_to_expiry_threshold,
        )

    url = _responder_url(
        problems, options, issuers, cas_ok=not problems.reported(*_ca_keywords(options))
    )
    function = _function_options(options)
    function.check(problems)
    ocsp = OcspClientOptions(
        ocsp_timeout=options.ocsp_timeout,
        cache_max_age=options.cache_max_age,
        max_age_without_next_update=options.max_age_without_next_update,
        max_response_bytes=options.max_response_bytes,
    )
    ocsp.check(problems, contract.SETTINGS, timeout=function.timeout)
    pem = responder.certificate_pem if responder is not None else None
    environment = ocsp.environment(
        contract.SETTINGS,
        issuers=issuers,
        allowed_urls=[],
        responder_url=url,
        authorized_responder_pem=pem if isinstance(pem, str) else None,
    )
    size = client.environment_size(
        environment,
        pem_tokens=[
            *(
                client.estimated_pem_bytes(i)
                for i in issuers
                if is_token(i.issuing_ca_certificate_pem)
            ),
            *([client.ESTIMATED_PEM_TOKEN_BYTES] if isinstance(pem, str) and is_token(pem) else []),
        ],
    )
    problems.require(
        size.known_bytes <= client.ENV_LIMIT_BYTES,
        "the Lambda environment (trusted_cas and authorized responder PEMs, responder URL and "
        "settings)",
        f"at most {client.ENV_LIMIT_BYTES} bytes in total (Lambda's 4 KB limit)",
        f"{size.known_bytes} bytes",
        "trust fewer CAs",
    )
    check_lambda_arn_length(problems, estimated_lambda_arn_chars(stack))
    return StaplingProps(
        options=options,
        issuers=tuple(issuers),
        authorized_responder=responder,
        responder_url=url,
        function=function,
        environment=environment,
        environment_size=size,
        retrieval_alarm_hours=options.retrieval_alarm_hours,
        days_to_expiry_threshold=options.days_to_expiry_threshold,
    )


def warnings(props: StaplingProps) -> list[tuple[str, str]]:
    """Risky but allowed settings: (warning id, message) pairs the user can acknowledge."""
    size = props.environment_size
    if size is None or size.estimated_bytes <= client.ENV_LIMIT_BYTES:
        return []
    return [
        (
            "staplingEnvironmentSize",
            f"the stapling Lambda's environment may exceed Lambda's 4 KB limit: "
            f"{size.known_bytes} bytes are known and {size.token_count} deploy-time value(s) "
            f"are estimated at {size.estimated_bytes} bytes in total; the deployment fails if "
            "it does.",
        )
    ]
