"""The OCSP-client part of a Lambda's props, shared by the constructs whose Lambdas ask a
responder: the construct's copy of the handlers' settings tables, :class:`OcspClientOptions`
(which checks itself and renders the Lambda environment), and the checks of responder URLs and
trusted CA certificates.

Each table here is a *copy* of the Lambda side's (``lambda_src/ocsp_core/settings.py`` and each
handler's ``SETTINGS``): the constructs never import the Lambda code, and a test asserts the
copies are equal row by row. Bounds and defaults are therefore declared once per side.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from enum import Enum
from urllib.parse import urlsplit

import aws_cdk as cdk

from . import _trusted_ca
from ._types import OcspFailMode, OcspHashAlgorithm, TrustedIssuer
from ._validation import Problems, is_token, shown

# -- the settings tables ---------------------------------------------------------------------

#: Kinds of setting, as the Lambda side names them (``ocsp_core.settings.Kind``).
CERTIFICATES = "certificates"
CERTIFICATE = "certificate"
URLS = "urls"
URL = "url"
CHOICE = "choice"
INTEGER = "integer"
SECONDS = "seconds"
SWITCH = "switch"

#: The handlers refuse an OCSP deadline (or request timeout) above this many seconds.
MAX_DEADLINE_SECONDS = 4.5
#: The handlers' bound for the whole-second settings (stale-if-error, cache, freshness).
MAX_SETTING_SECONDS = 86_400
#: Lambda's longest function timeout (15 minutes).
MAX_LAMBDA_TIMEOUT_MS = 900_000


@dataclass(frozen=True)
class Setting:
    """One environment setting of a handler, and the prop it comes from (``None``: built from
    other props, e.g. ``trusted_cas``)."""

    env: str
    kind: str
    default: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    prop: str | None = None

    def row(self) -> tuple[str, str, str, float | None, float | None, tuple[str, ...]]:
        """The setting as plain values (compared with the Lambda side's ``Setting.row()``)."""
        return (self.env, self.kind, self.default, self.minimum, self.maximum, self.choices)


TRUSTED_CA_PEM = Setting("TRUSTED_CA_PEM", CERTIFICATES)
OCSP_AUTHORIZED_RESPONDER_PEM = Setting("OCSP_AUTHORIZED_RESPONDER_PEM", CERTIFICATE)
OCSP_ALLOWED_URLS = Setting("OCSP_ALLOWED_URLS", URLS)
OCSP_RESPONDER_URL = Setting("OCSP_RESPONDER_URL", URL)
OCSP_TIMEOUT_SECONDS = Setting(
    "OCSP_TIMEOUT_SECONDS",
    SECONDS,
    "2",
    minimum=0,
    maximum=MAX_DEADLINE_SECONDS,
    prop="ocsp_timeout",
)
OCSP_CACHE_MAX_SECONDS = Setting(
    "OCSP_CACHE_MAX_SECONDS",
    INTEGER,
    "3600",
    minimum=0,
    maximum=MAX_SETTING_SECONDS,
    prop="cache_max_age",
)
OCSP_CACHE_MAX_ENTRIES = Setting(
    "OCSP_CACHE_MAX_ENTRIES",
    INTEGER,
    "10000",
    minimum=0,
    maximum=1_000_000,
    prop="cache_max_entries",
)
OCSP_NONCE = Setting("OCSP_NONCE", SWITCH, "off", prop="nonce")
OCSP_MAX_RESPONSE_BYTES = Setting(
    "OCSP_MAX_RESPONSE_BYTES",
    INTEGER,
    "16384",
    minimum=1_024,
    maximum=1_048_576,
    prop="max_response_bytes",
)
#: IoT Core refuses a staple larger than this (bytes of DER): the stapling Lambda's cap.
IOT_MAX_STAPLE_BYTES = 4096
STAPLING_MAX_RESPONSE_BYTES = Setting(
    "OCSP_MAX_RESPONSE_BYTES",
    INTEGER,
    str(IOT_MAX_STAPLE_BYTES),
    minimum=1_024,
    maximum=IOT_MAX_STAPLE_BYTES,
    prop="max_response_bytes",
)
OCSP_HASH_ALGORITHM = Setting(
    "OCSP_HASH_ALGORITHM", CHOICE, "sha1", choices=("sha1", "sha256"), prop="hash_algorithm"
)
OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS = Setting(
    "OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS",
    INTEGER,
    "300",
    minimum=0,
    maximum=MAX_SETTING_SECONDS,
    prop="max_age_without_next_update",
)
OCSP_DEADLINE_SECONDS = Setting(
    "OCSP_DEADLINE_SECONDS",
    SECONDS,
    "3",
    minimum=0,
    maximum=MAX_DEADLINE_SECONDS,
    prop="ocsp_deadline",
)
OCSP_FAIL_MODE = Setting(
    "OCSP_FAIL_MODE", CHOICE, "closed", choices=("closed", "open"), prop="fail_mode"
)
OCSP_STALE_IF_ERROR_SECONDS = Setting(
    "OCSP_STALE_IF_ERROR_SECONDS",
    INTEGER,
    "0",
    minimum=0,
    maximum=MAX_SETTING_SECONDS,
    prop="stale_if_error",
)


def default_of(table: Sequence[Setting], prop: str) -> str:
    """The default text of the setting ``prop`` comes from (``""`` when ``table`` has none)."""
    return next((s.default for s in table if s.prop == prop), "")


# -- the environment -------------------------------------------------------------------------

#: Lambda's limit on the total size of a function's environment variables.
ENV_LIMIT_BYTES = 4096

#: Size assumed for a CA certificate PEM that is only known at deploy time (a token), by the
#: CA's key algorithm (``OcspPrivateCa.key_algorithm``): measured CA certificates with a modest
#: subject and the usual extensions are ~700 bytes of PEM for EC P-256, ~1,250 for RSA-2048 and
#: ~1,950 for RSA-4096; each estimate adds ~150 bytes for longer subjects. Only used for a
#: *warning*; known values are measured exactly.
ESTIMATED_PEM_BYTES_BY_KEY_ALGORITHM: Mapping[str, int] = {
    "EC_prime256v1": 850,
    "EC_secp384r1": 950,
    "EC_secp521r1": 1050,
    "RSA_2048": 1400,
    "RSA_3072": 1750,
    "RSA_4096": 2100,
}
#: ... and for a CA whose key algorithm is not known.
ESTIMATED_PEM_TOKEN_BYTES = 1400
#: Size assumed for any other token inside a value (a Region name is at most 14 characters,
#: an account id 12).
ESTIMATED_OTHER_TOKEN_BYTES = 20

_TOKEN_MARKER = re.compile(r"\$\{Token\[[^\]]*\]\}")


def estimated_pem_bytes(issuer: object) -> int:
    """The estimated PEM size of a deploy-time CA certificate, from the issuer's key algorithm."""
    algorithm = getattr(issuer, "key_algorithm", None)
    name = getattr(algorithm, "value", algorithm)
    return ESTIMATED_PEM_BYTES_BY_KEY_ALGORITHM.get(str(name), ESTIMATED_PEM_TOKEN_BYTES)


@dataclass(frozen=True, kw_only=True)
class EnvironmentSize:
    """How big a function environment is, as Lambda counts it (see :func:`environment_size`).

    :param known_bytes: bytes of everything known at synth (tokens counted as zero).
    :param estimated_bytes: ``known_bytes`` plus an estimate for each token.
    :param token_count: how many deploy-time values (tokens) the environment holds.
    """

    known_bytes: int
    estimated_bytes: int
    token_count: int


def environment_size(
    environment: Mapping[str, str], *, pem_tokens: Sequence[int] = ()
) -> EnvironmentSize:
    """Measure ``environment`` against Lambda's 4 KB limit.

    AWS does not publish the exact formula; we count the UTF-8 bytes of the compact JSON object
    ``{"KEY":"value",...}`` (keys, values, quotes, separators, JSON escapes such as ``\\n``), which
    is at least as large as any plausible count, so a set this check accepts is never refused by
    Lambda for its size. Tokens (deploy-time values) count zero in ``known_bytes``; in
    ``estimated_bytes`` one token per entry of ``pem_tokens`` counts that entry's size (see
    :func:`estimated_pem_bytes`) and any other token :data:`ESTIMATED_OTHER_TOKEN_BYTES`.
    """
    tokens = sum(len(_TOKEN_MARKER.findall(k + v)) for k, v in environment.items())
    stripped = {_TOKEN_MARKER.sub("", k): _TOKEN_MARKER.sub("", v) for k, v in environment.items()}
    known = len(json.dumps(stripped, separators=(",", ":"), ensure_ascii=False).encode())
    pem = list(pem_tokens)[:tokens]
    estimated = known + sum(pem) + (tokens - len(pem)) * ESTIMATED_OTHER_TOKEN_BYTES
    return EnvironmentSize(known_bytes=known, estimated_bytes=estimated, token_count=tokens)


def seconds_text(milliseconds: float) -> str:
    """A duration as the handler reads it: whole seconds as ``"3"``, else ``"1.5"``."""
    if milliseconds % 1000 == 0:
        return str(int(milliseconds // 1000))
    # Exact decimal digits (a float format would round 86399.001 to "86399").
    return format((Decimal(repr(milliseconds)) / 1000).normalize(), "f")


# -- the option group ------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    """A whole number, not a bool (``True`` would reach the Lambda as ``"True"``)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _whole(value: float | None) -> int:
    return int(value or 0)


@dataclass(frozen=True, kw_only=True)
class OcspClientOptions:
    """How a Lambda asks an OCSP responder. ``None`` means the handler's default (the
    ``default`` of the setting in the handler's table); only the settings in a handler's table
    apply to it.

    :param fail_mode: what the pre-auth check answers when the status cannot be established.
    :param stale_if_error: how long a cached good answer may be used past its freshness while
        the responder is unavailable.
    :param cache_max_age: upper bound of the answer cache (never beyond ``nextUpdate``).
    :param cache_max_entries: how many answers the cache keeps.
    :param ocsp_timeout: per responder request.
    :param ocsp_deadline: overall budget per invocation.
    :param max_age_without_next_update: freshness of an answer without ``nextUpdate``.
    :param max_response_bytes: cap on a responder's answer.
    :param nonce: send an OCSP nonce.
    :param hash_algorithm: CertID hash.
    """

    fail_mode: OcspFailMode | None = None
    stale_if_error: cdk.Duration | None = None
    cache_max_age: cdk.Duration | None = None
    cache_max_entries: int | None = None
    ocsp_timeout: cdk.Duration | None = None
    ocsp_deadline: cdk.Duration | None = None
    max_age_without_next_update: cdk.Duration | None = None
    max_response_bytes: int | None = None
    nonce: bool | None = None
    hash_algorithm: OcspHashAlgorithm | None = None

    def given(self) -> dict[str, object]:
        """The options that were set (not ``None``), by prop name."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }

    def milliseconds(self, table: Sequence[Setting], prop: str) -> float | None:
        """The effective value of a duration option in milliseconds (the default when unset);
        ``None`` when it is not a Duration (already reported by :meth:`check`)."""
        value = getattr(self, prop)
        if value is None:
            return float(default_of(table, prop) or 0) * 1000
        return value.to_milliseconds() if isinstance(value, cdk.Duration) else None

    def check(self, problems: Problems, table: Sequence[Setting], *, timeout: object) -> None:
        """Record every value the handler would refuse (it would then deny every device), and
        every option its table does not have; ``timeout`` is the Lambda's.

        The bounds are those of ``table``; a test feeds generated values to both sides and
        requires them to agree.
        """
        props = {s.prop: s for s in table if s.prop is not None}
        for prop in self.given():
            if prop not in props:  # pragma: no cover - the constructs only set their own
                problems.add(
                    prop, "unset (this Lambda has no such setting)", shown(getattr(self, prop))
                )
        for prop, setting in props.items():
            value = getattr(self, prop)
            if value is not None:
                _check_option(problems, setting, value)
        lambda_timeout = _milliseconds(problems, "timeout", timeout)
        if lambda_timeout is not None and not (
            0 < lambda_timeout <= MAX_LAMBDA_TIMEOUT_MS and lambda_timeout % 1000 == 0
        ):
            problems.add(
                "timeout",
                "a positive whole number of seconds (Lambda timeouts are whole seconds), at most "
                "900 (Lambda's maximum)",
                shown(timeout),
            )
            lambda_timeout = None
        # The cross-checks below compare props that are each valid: a prop already reported
        # is not reported again for what follows from its bad value.
        request = (
            None if problems.reported("ocsp_timeout") else self.milliseconds(table, "ocsp_timeout")
        )
        has_deadline = "ocsp_deadline" in props
        deadline = (
            self.milliseconds(table, "ocsp_deadline")
            if has_deadline and not problems.reported("ocsp_deadline")
            else None
        )
        if request is not None and deadline is not None and request > deadline:
            effective_deadline = self.ocsp_deadline or _seconds(table, "ocsp_deadline")
            problems.add(
                "ocsp_timeout",
                f"at most ocsp_deadline ({shown(effective_deadline)})",
                shown(self.ocsp_timeout or _seconds(table, "ocsp_timeout")),
            )
        longest, keyword = (
            (deadline, "ocsp_deadline") if has_deadline else (request, "ocsp_timeout")
        )
        if (
            lambda_timeout is not None
            and longest is not None
            and longest >= lambda_timeout
            and not problems.reported(keyword)
        ):
            # The function would be cut off before the handler answers: every slow responder
            # would then deny, whatever fail_mode says.
            problems.add(
                keyword,
                f"below the Lambda timeout ({shown(timeout)}) so that the handler answers "
                "before the function times out",
                shown(getattr(self, keyword) or _seconds(table, keyword)),
                f"lower {keyword} or raise timeout",
            )

    def environment(
        self,
        table: Sequence[Setting],
        *,
        issuers: Sequence[TrustedIssuer],
        allowed_urls: Sequence[str],
        responder_url: str | None,
        authorized_responder_pem: str | None = None,
    ) -> dict[str, str]:
        """The Lambda environment for ``table``: every setting with a value (the default when
        the option is unset); ``OCSP_RESPONDER_URL`` and ``OCSP_AUTHORIZED_RESPONDER_PEM`` only
        when given."""
        environment: dict[str, str] = {}
        for setting in table:
            if setting.env == TRUSTED_CA_PEM.env:
                environment[setting.env] = "\n".join(
                    i.issuing_ca_certificate_pem.strip() for i in issuers
                )
            elif setting.env == OCSP_ALLOWED_URLS.env:
                environment[setting.env] = ",".join(allowed_urls)
            elif setting.env == OCSP_RESPONDER_URL.env:
                if responder_url is not None:
                    environment[setting.env] = responder_url
            elif setting.env == OCSP_AUTHORIZED_RESPONDER_PEM.env:
                if authorized_responder_pem is not None:
                    environment[setting.env] = authorized_responder_pem.strip()
            elif setting.prop is not None:
                environment[setting.env] = _render(setting, getattr(self, setting.prop))
        return environment


def _seconds(table: Sequence[Setting], prop: str) -> cdk.Duration:
    """The default of a duration prop as a Duration (for messages)."""
    return cdk.Duration.millis(float(default_of(table, prop) or 0) * 1000)


def _milliseconds(problems: Problems, keyword: str, value: object) -> float | None:
    """``value`` in milliseconds; ``None`` (and a recorded problem) unless it is a Duration."""
    if isinstance(value, cdk.Duration):
        return value.to_milliseconds()
    problems.add(keyword, "a cdk.Duration", value, "e.g. cdk.Duration.seconds(2)")
    return None


def _check_option(problems: Problems, setting: Setting, value: object) -> None:
    """Record ``value`` of the option ``setting.prop`` unless the handler accepts it."""
    prop = setting.prop or setting.env
    low, high = setting.minimum, setting.maximum
    if setting.kind == SECONDS:
        millis = _milliseconds(problems, prop, value)
        max_ms = (high or 0) * 1000
        problems.require(
            millis is None or (low or 0) * 1000 < millis <= max_ms,
            prop,
            f"above {_whole(low)} and at most {max_ms:g} ms (IoT Core's budget is ~5 s)",
            shown(value),
        )
    elif setting.kind == INTEGER and setting.env.endswith("_SECONDS"):
        millis = _milliseconds(problems, prop, value)
        problems.require(
            millis is None
            or (millis % 1000 == 0 and (low or 0) * 1000 <= millis <= (high or 0) * 1000),
            prop,
            f"whole seconds from {_whole(low)} to "
            f"{cdk.Duration.seconds(_whole(high)).to_human_string()}",
            shown(value),
        )
    elif setting.kind == INTEGER:
        problems.require(
            _is_int(value) and (low or 0) <= value <= (high or 0),  # type: ignore[operator]
            prop,
            f"a whole number between {_whole(low)} and {_whole(high)}",
            value,
        )
    elif setting.kind == SWITCH:
        problems.require(isinstance(value, bool), prop, "True or False", value)
    elif setting.kind == CHOICE:
        problems.require(
            isinstance(value, Enum) and value.value in setting.choices,
            prop,
            f"one of {', '.join(setting.choices)}",
            shown(value),
        )


def _render(setting: Setting, value: object) -> str:
    """``value`` as the handler reads ``setting`` (its default when ``None``)."""
    if value is None:
        return setting.default
    if isinstance(value, cdk.Duration):
        return seconds_text(value.to_milliseconds())
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


# -- responder URLs --------------------------------------------------------------------------

#: The handlers read responder URLs of printable ASCII without space or backslash, at most
#: this long (``ocsp_core.settings.normalize_url``); the construct refuses anything else.
URL_CHARACTERS = re.compile(r"[!-\[\]-~]+")
MAX_URL_CHARS = 2048
#: ... whose host is an IP address or a DNS name of such labels (lower case after parsing).
HOST_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
MAX_HOST_CHARS = 253


def check_url(problems: Problems, keyword: str, url: object) -> None:
    """Record ``url`` unless the handlers can read and connect to it."""
    if not isinstance(url, str):
        problems.add(keyword, "an http:// or https:// URL", url)
        return
    if is_token(url):
        return
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        parts, port_ok = None, False
    ok = (
        parts is not None
        and port_ok
        and parts.scheme in {"http", "https"}
        and is_host(parts.hostname)
        and parts.username is None
        and not parts.query
        and not parts.fragment
        and "," not in url
        and "#" not in url
        and len(url) <= MAX_URL_CHARS
        and URL_CHARACTERS.fullmatch(url) is not None
    )
    problems.require(
        ok,
        keyword,
        "an http:// or https:// URL of printable ASCII with a host and no credentials, query, "
        f"fragment, comma or space, at most {MAX_URL_CHARS} characters "
        "(e.g. 'http://ocsp.example.com')",
        url,
    )


def is_host(host: str | None) -> bool:
    """A host the handler can connect to: a DNS name, an IPv4 or an IPv6 address."""
    if not host:
        return False
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    name = host.removesuffix(".")
    return len(name) <= MAX_HOST_CHARS and all(
        HOST_LABEL.fullmatch(label) for label in name.split(".")
    )


def allowed_urls(
    problems: Problems,
    issuers: Sequence[TrustedIssuer],
    allowed_responder_urls: Sequence[str],
    responder_url: str | None,
    *,
    require_one: bool = True,
) -> list[str]:
    """Check every URL; return the allow-list: the CAs' responders, then the extra URLs.

    ``require_one=False`` skips the "at least one responder URL" rule (when ``trusted_cas``
    was already reported as empty or unusable, a second message about
    ``allowed_responder_urls`` would only point at a prop the user never set)."""
    named: list[tuple[str, str]] = [
        (f"trusted_cas[{i}].ocsp_responder_url", issuer.ocsp_responder_url)
        for i, issuer in enumerate(issuers)
        if issuer.ocsp_responder_url is not None
    ]
    if isinstance(allowed_responder_urls, str | bytes | bytearray) or not isinstance(
        allowed_responder_urls, Sequence
    ):
        problems.add(
            "allowed_responder_urls",
            "a list of URLs",
            allowed_responder_urls,
            "wrap a single URL in a list",
        )
        allowed_responder_urls = []
    extra = [(f"allowed_responder_urls[{i}]", u) for i, u in enumerate(allowed_responder_urls)]
    for keyword, url in [*named, *extra]:
        check_url(problems, keyword, url)
    if responder_url is not None:
        check_url(problems, "responder_url", responder_url)
    # Each URL once, in order; a URL that is not a string was reported above.
    allowed = list(dict.fromkeys(url for _, url in [*named, *extra] if isinstance(url, str)))
    problems.require(
        bool(allowed) or responder_url is not None or not require_one,
        "allowed_responder_urls",
        "at least one OCSP responder URL (a trusted CA's ocsp_responder_url, "
        "allowed_responder_urls or responder_url)",
        list(allowed_responder_urls),
        "without one every device would be denied",
    )
    return allowed


# -- trusted CAs -----------------------------------------------------------------------------

_PEM_CERT = re.compile(
    r"^-----BEGIN CERTIFICATE-----\s*\n([A-Za-z0-9+/=\s]+?)\n-----END CERTIFICATE-----\s*$"
)


#: What a trusted CA the pre-auth Lambda refuses would do (the end of the message).
PREAUTH_REFUSED = "the Lambda would refuse it and deny every device (CONFIG_ERROR)"


def check_trusted_cas(
    problems: Problems,
    trusted_cas: object,
    *,
    keyword: str = "trusted_cas",
    refused: str = PREAUTH_REFUSED,
) -> list[TrustedIssuer]:
    """Record every unusable entry of ``trusted_cas`` (the prop ``keyword``); return the usable
    ones. A literal PEM must also be a CA the Lambda accepts (``_trusted_ca``); ``refused`` says
    what the function would do with one it does not."""
    if isinstance(trusted_cas, str | bytes | bytearray) or not isinstance(trusted_cas, Sequence):
        problems.add(
            keyword,
            "a list of OcspPrivateCa or TrustedCa.from_pem(...) objects",
            type(trusted_cas).__name__,
        )
        return []
    problems.require(
        len(trusted_cas) > 0,
        keyword,
        "at least one CA (an OcspPrivateCa or TrustedCa.from_pem(...))",
        list(trusted_cas),
    )
    issuers: list[TrustedIssuer] = []
    prop = keyword
    for index, issuer in enumerate(trusted_cas):
        keyword = f"{prop}[{index}]"
        if not isinstance(issuer, TrustedIssuer):
            problems.add(
                keyword,
                "an object with issuing_ca_certificate_pem and ocsp_responder_url "
                "(OcspPrivateCa or TrustedCa.from_pem(...))",
                type(issuer).__name__,
            )
            continue
        pem = issuer.issuing_ca_certificate_pem
        if any(issuer is other or pem == other.issuing_ca_certificate_pem for other in issuers):
            problems.add(
                keyword,
                f"a CA not already in {prop} (each certificate takes room in the Lambda's "
                "4 KB environment)",
                abbreviate(pem) if isinstance(pem, str) else pem,
                "drop the repeat",
            )
            continue
        if not isinstance(pem, str):
            problems.add(
                f"{keyword}.issuing_ca_certificate_pem",
                "a PEM string (str)",
                pem,
                "decode it first: TrustedCa.from_pem(pem.decode('ascii'))"
                if isinstance(pem, bytes | bytearray)
                else None,
            )
            continue
        if not is_token(pem) and not is_one_pem_certificate(pem):
            problems.add(
                f"{keyword}.issuing_ca_certificate_pem",
                "exactly one PEM 'CERTIFICATE' block with a DER body",
                abbreviate(pem),
            )
            continue
        unusable = None if is_token(pem) else _trusted_ca.pem_problem(pem)
        if unusable is not None:
            # Kept in the list: its URL and size still count, so this is the only problem.
            problem, what = unusable
            problems.add(
                f"{keyword}.issuing_ca_certificate_pem",
                problem,
                what,
                refused,
            )
        issuers.append(issuer)
    return issuers


def pem_certificate_der(pem: str) -> bytes | None:
    """The DER of exactly one PEM ``CERTIFICATE`` block whose body is a DER SEQUENCE, else
    ``None``."""
    match = _PEM_CERT.match(pem.strip())
    if match is None:
        return None
    try:
        der = base64.b64decode("".join(match.group(1).split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    # A certificate is a DER SEQUENCE.
    return der if len(der) > 64 and der[0] == 0x30 else None


def is_one_pem_certificate(pem: str) -> bool:
    """Exactly one PEM ``CERTIFICATE`` block whose body is a DER SEQUENCE."""
    return pem_certificate_der(pem) is not None


def abbreviate(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters for a message."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
