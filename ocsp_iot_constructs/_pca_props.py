"""Synth-time validation of :class:`~ocsp_iot_constructs.ocsp_private_ca.OcspPrivateCa` props.

``resolve`` checks every prop, records each problem, raises one ``PropsError`` listing them all,
and otherwise returns the props with their defaults filled in (:class:`CaSettings`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import aws_cdk as cdk

from . import _ocsp_cname
from ._ocsp_cname import OcspCnameDistribution
from ._pca_types import (
    DEFAULT_SIGNING_ALGORITHM,
    CaHierarchy,
    CaSubject,
    KeyAlgorithm,
    SigningAlgorithm,
    UsageMode,
)
from ._validation import (
    DNS_NAME_RULE,
    Problems,
    check_bool,
    enum_member,
    is_dns_name,
    is_token,
    shown,
)

DEFAULT_ROOT_COMMON_NAME = "OCSP IoT Root CA"
DEFAULT_ROOT_VALIDITY_DAYS = 3650
DEFAULT_ISSUING_VALIDITY_DAYS = 1825
DEFAULT_CRL_EXPIRATION_DAYS = 7
MAX_CA_VALIDITY_DAYS = 36500
MAX_CRL_EXPIRATION_DAYS = 5000  # CrlConfiguration.ExpirationInDays maximum (CFN schema)

_COUNTRY = re.compile(r"[A-Za-z]{2}")
#: Upper bounds of the subject fields (Private CA's ASN1Subject limits).
_SUBJECT_LIMITS = (
    ("common_name", 64),
    ("organization", 64),
    ("organizational_unit", 64),
    ("state", 128),
    ("locality", 128),
)
_REMOVAL_POLICIES = (
    cdk.RemovalPolicy.RETAIN,
    cdk.RemovalPolicy.DESTROY,
    cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
)


@dataclass(frozen=True, kw_only=True)
class CaSettings:
    """Validated props with defaults applied."""

    hierarchy: CaHierarchy
    key_algorithm: KeyAlgorithm
    signing_algorithm: SigningAlgorithm
    usage_mode: UsageMode
    root_subject: CaSubject
    root_validity_days: int
    #: ``None`` exactly when ``hierarchy`` is ``ROOT_ONLY``.
    issuing_subject: CaSubject | None
    issuing_validity_days: int | None
    ocsp_custom_cname: str | None
    #: The CloudFront distribution to build for ``ocsp_custom_cname``, if any.
    ocsp_cname_distribution: OcspCnameDistribution | None
    #: ``None`` when no CRL is published.
    crl_expiration_days: int | None
    crl_custom_cname: str | None
    allow_acm_renewal: bool
    register_with_iot: bool
    removal_policy: cdk.RemovalPolicy


def resolve(
    construct_id: str,
    *,
    hierarchy: object,
    root_subject: object,
    issuing_subject: object,
    key_algorithm: object,
    signing_algorithm: object,
    root_validity: object,
    issuing_validity: object,
    usage_mode: object,
    ocsp_custom_cname: object,
    ocsp_cname_distribution: object,
    crl: object,
    crl_expiration: object,
    crl_custom_cname: object,
    allow_acm_renewal: object,
    register_with_iot: object,
    removal_policy: object,
) -> CaSettings:
    """Validate every prop; raise one ``PropsError`` naming all problems, else the settings."""
    problems = Problems("OcspPrivateCa", construct_id)
    hierarchy_ = enum_member(problems, "hierarchy", CaHierarchy, hierarchy)
    key, signing = _algorithms(problems, key_algorithm, signing_algorithm)
    usage = enum_member(problems, "usage_mode", UsageMode, usage_mode)
    root_subject_ = (
        CaSubject(common_name=DEFAULT_ROOT_COMMON_NAME) if root_subject is None else root_subject
    )
    root_ok = _check_subject(problems, "root_subject", root_subject_)
    root_days = _days(
        problems, "root_validity", root_validity, DEFAULT_ROOT_VALIDITY_DAYS, MAX_CA_VALIDITY_DAYS
    )
    issuing_subject_: CaSubject | None = None
    issuing_days: int | None = None
    if hierarchy_ is CaHierarchy.ROOT_ONLY:
        # A subordinate's settings without a subordinate: say so rather than ignore them.
        _only_with(
            problems,
            {"issuing_subject": issuing_subject, "issuing_validity": issuing_validity},
            "when hierarchy is CaHierarchy.ROOT_ONLY (there is no subordinate issuing CA)",
            "use hierarchy=CaHierarchy.ROOT_AND_ISSUING or drop it",
        )
    else:
        issuing_subject_ = _issuing_subject(problems, root_subject_, root_ok, issuing_subject)
        issuing_days = _days(
            problems,
            "issuing_validity",
            issuing_validity,
            DEFAULT_ISSUING_VALIDITY_DAYS,
            MAX_CA_VALIDITY_DAYS,
        )
        if root_days is not None and issuing_days is not None and issuing_days >= root_days:
            problems.add(
                "issuing_validity",
                f"shorter than root_validity ({root_days} days): Private CA cannot issue a "
                "certificate that outlives its issuer",
                f"{issuing_days} days",
            )
    ocsp_cname = _host(problems, "ocsp_custom_cname", ocsp_custom_cname)
    if ocsp_cname_distribution is not None:
        _ocsp_cname.check(problems, "ocsp_cname_distribution", ocsp_cname_distribution, ocsp_cname)
    crl_days: int | None = None
    crl_cname: str | None = None
    crl_ok = check_bool(problems, "crl", crl)
    check_bool(problems, "allow_acm_renewal", allow_acm_renewal)
    check_bool(problems, "register_with_iot", register_with_iot)
    if crl_ok and crl:
        crl_days = _days(
            problems,
            "crl_expiration",
            crl_expiration,
            DEFAULT_CRL_EXPIRATION_DAYS,
            MAX_CRL_EXPIRATION_DAYS,
        )
        crl_cname = _host(problems, "crl_custom_cname", crl_custom_cname)
    elif crl_ok:
        _only_with(
            problems,
            {"crl_expiration": crl_expiration, "crl_custom_cname": crl_custom_cname},
            "unless crl=True",
            "set crl=True to publish a CRL, or drop it",
        )
    if not any(removal_policy is p for p in _REMOVAL_POLICIES):
        problems.add(
            "removal_policy",
            "one of RemovalPolicy.RETAIN, RemovalPolicy.DESTROY, "
            "RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE",
            shown(removal_policy),
        )
    problems.raise_if_any()
    if (
        hierarchy_ is None
        or key is None
        or signing is None
        or usage is None
        or root_days is None
        or not isinstance(root_subject_, CaSubject)
        or not isinstance(removal_policy, cdk.RemovalPolicy)
        or not isinstance(allow_acm_renewal, bool)
        or not isinstance(register_with_iot, bool)
    ):  # pragma: no cover - each None above recorded a problem, so raise_if_any raised
        raise RuntimeError("OcspPrivateCa props passed validation but are incomplete")
    return CaSettings(
        hierarchy=hierarchy_,
        key_algorithm=key,
        signing_algorithm=signing,
        usage_mode=usage,
        root_subject=root_subject_,
        root_validity_days=root_days,
        issuing_subject=issuing_subject_,
        issuing_validity_days=issuing_days,
        ocsp_custom_cname=ocsp_cname,
        ocsp_cname_distribution=(
            ocsp_cname_distribution
            if isinstance(ocsp_cname_distribution, OcspCnameDistribution)
            else None
        ),
        crl_expiration_days=crl_days,
        crl_custom_cname=crl_cname,
        allow_acm_renewal=allow_acm_renewal,
        register_with_iot=register_with_iot,
        removal_policy=removal_policy,
    )


def _algorithms(
    problems: Problems, key_algorithm: object, signing_algorithm: object
) -> tuple[KeyAlgorithm | None, SigningAlgorithm | None]:
    key = enum_member(problems, "key_algorithm", KeyAlgorithm, key_algorithm)
    if signing_algorithm is None:
        return key, None if key is None else DEFAULT_SIGNING_ALGORITHM[key]
    signing = enum_member(problems, "signing_algorithm", SigningAlgorithm, signing_algorithm)
    if key is not None and signing is not None and key.family != signing.family:
        problems.add(
            "signing_algorithm",
            f"an {key.family} algorithm to match key_algorithm {key.value}",
            signing.value,
            f"use {DEFAULT_SIGNING_ALGORITHM[key].value} or omit signing_algorithm",
        )
        return key, None
    return key, signing


def _issuing_subject(
    problems: Problems, root_subject: object, root_ok: bool, issuing_subject: object
) -> CaSubject | None:
    if issuing_subject is None:
        if not root_ok or not isinstance(root_subject, CaSubject):
            return None  # already reported; nothing sensible to derive from
        derived = replace(root_subject, common_name=f"{root_subject.common_name} Issuing CA")
        if not _check_subject(
            problems,
            "issuing_subject (derived from root_subject)",
            derived,
            fix="pass issuing_subject explicitly",
        ):
            return None
        return derived
    if not _check_subject(problems, "issuing_subject", issuing_subject):
        return None
    if issuing_subject == root_subject:
        problems.add(
            "issuing_subject",
            "different from root_subject (a certificate whose subject equals its issuer's "
            "looks self-issued to path builders)",
            issuing_subject,
            "change at least its common_name",
        )
    return issuing_subject if isinstance(issuing_subject, CaSubject) else None


def _only_with(problems: Problems, values: dict[str, object], when: str, fix: str) -> None:
    for keyword, value in values.items():
        if value is not None:
            problems.add(keyword, f"omitted {when}", shown(value), fix)


def _days(
    problems: Problems, keyword: str, value: object, default_days: int, max_days: int
) -> int | None:
    """Whole days in [1, max_days]; ``None`` means ``default_days``."""
    if value is None:
        return default_days
    if not isinstance(value, cdk.Duration):
        problems.add(keyword, "a cdk.Duration", value, f"e.g. cdk.Duration.days({default_days})")
        return None
    if value.is_unresolved():
        problems.add(keyword, "a literal duration (its day count goes into the template)", "token")
        return None
    days = value.to_days(integral=False)
    if days != int(days) or not 1 <= days <= max_days:
        problems.add(
            keyword,
            f"a whole number of days between 1 and {max_days}",
            value.to_human_string(),
        )
        return None
    return int(days)


def _host(problems: Problems, keyword: str, value: object) -> str | None:
    """A DNS host name such as ``ocsp.example.com``: no scheme, port, path or trailing dot."""
    if value is None:
        return None
    if not isinstance(value, str):
        problems.add(keyword, "a host name such as 'ocsp.example.com'", value)
        return None
    if is_token(value):
        return value
    if "://" in value:
        host = value.split("://", 1)[1].split("/", 1)[0]
        problems.add(keyword, "a host name without a scheme", value, f"use {host!r}")
    elif not is_dns_name(value):
        # One rule for every DNS name a prop takes (domain_name of the domain constructs too).
        lower = value.lower()
        problems.add(
            keyword,
            f"{DNS_NAME_RULE} such as 'ocsp.example.com'",
            value,
            f"use {lower!r}" if lower != value and is_dns_name(lower) else None,
        )
    else:
        return value
    return None


def _check_subject(
    problems: Problems, keyword: str, subject: object, fix: str | None = None
) -> bool:
    """Record every problem of ``subject``; True when there was none."""
    if not isinstance(subject, CaSubject):
        problems.add(keyword, "a CaSubject", subject, "e.g. CaSubject(common_name='Acme Root CA')")
        return False
    ok = True
    for field, limit in _SUBJECT_LIMITS:
        value = getattr(subject, field)
        if (value is None and field != "common_name") or is_token(value):
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > limit:
            problems.add(
                f"{keyword}.{field}", f"a non-blank string of 1-{limit} characters", value, fix
            )
            ok = False
    country = subject.country
    if (
        country is not None
        and not is_token(country)
        and not (isinstance(country, str) and _COUNTRY.fullmatch(country))
    ):
        problems.add(f"{keyword}.country", "a two-letter ISO 3166 code such as 'DE'", country)
        ok = False
    return ok
