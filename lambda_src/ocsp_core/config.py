"""Settings read once from the Lambda environment; any bad value is a ``ConfigError``.

Every problem is collected and reported together in one message, so one log line says all that
is wrong. Names, defaults and bounds are listed in ``docs/preauth-lambda.md``.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from cryptography import x509

#: IoT Core gives a pre-auth Lambda about 5 s; every answer must come well before that.
MAX_DEADLINE_SECONDS = 4.5

DEFAULTS: Mapping[str, str] = {
    "OCSP_ALLOWED_URLS": "",
    "OCSP_RESPONDER_URL": "",
    "OCSP_FAIL_MODE": "closed",
    "OCSP_STALE_IF_ERROR_SECONDS": "0",
    "OCSP_TIMEOUT_SECONDS": "2",
    "OCSP_DEADLINE_SECONDS": "3",
    "OCSP_CACHE_MAX_SECONDS": "3600",
    "OCSP_CACHE_MAX_ENTRIES": "10000",
    "OCSP_NONCE": "off",
    "OCSP_MAX_RESPONSE_BYTES": "16384",
    "OCSP_HASH_ALGORITHM": "sha1",
    "OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS": "300",
}

#: (minimum, maximum) of the integer settings, inclusive.
INT_BOUNDS: Mapping[str, tuple[int, int]] = {
    "OCSP_STALE_IF_ERROR_SECONDS": (0, 86_400),
    "OCSP_CACHE_MAX_SECONDS": (0, 86_400),
    "OCSP_CACHE_MAX_ENTRIES": (0, 1_000_000),
    "OCSP_MAX_RESPONSE_BYTES": (1_024, 1_048_576),
    "OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS": (0, 86_400),
}

_INT = re.compile(r"[0-9]{1,9}")
_DECIMAL = re.compile(r"[0-9]{1,4}(\.[0-9]{1,6})?")
# Printable ASCII without space or backslash: anything else is a parser-differential risk.
_URL_CHARS = re.compile(r"[!-\[\]-~]+")
_MAX_URL_CHARS = 2_048
_MAX_HOST_CHARS = 253
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
_E = TypeVar("_E", bound=enum.StrEnum)


class ConfigError(Exception):
    """The environment is missing or has a malformed setting; ``problems`` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid configuration: " + "; ".join(problems))


class FailMode(enum.StrEnum):
    """What to do when the responder cannot be reached (never when it answers badly)."""

    CLOSED = "closed"
    OPEN = "open"


class HashName(enum.StrEnum):
    """Hash of the CertID we send (responses may use any hash; we recompute with theirs)."""

    SHA1 = "sha1"
    SHA256 = "sha256"


@dataclass(frozen=True, slots=True)
class Settings:
    trusted_cas: tuple[x509.Certificate, ...]
    #: Normalized URLs (``normalize_url``) that may be contacted.
    allowed_urls: frozenset[str]
    #: Normalized override replacing the certificates' AIA URL; implicitly allowed.
    responder_url: str | None = None
    fail_mode: FailMode = FailMode.CLOSED
    stale_if_error_seconds: int = 0
    timeout_seconds: float = 2.0
    deadline_seconds: float = 4.0
    cache_max_seconds: int = 3600
    cache_max_entries: int = 10_000
    nonce: bool = False
    max_response_bytes: int = 16_384
    hash_algorithm: HashName = HashName.SHA1
    max_age_without_next_update_seconds: int = 300


def _check_host(host: str) -> None:
    """A DNS name (labels of 1-63 letters, digits, ``-``, ``_``; an optional final dot), an
    IPv4 address or a bracketed IPv6 address. Anything else could never be connected to, and
    the transport must never mistake "cannot even try" for an unreachable responder."""
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            msg = f"host {host[:100]!r} is not an IPv6 address"
            raise ValueError(msg) from exc
        return
    name = host.removesuffix(".")
    if len(name) > _MAX_HOST_CHARS or not all(_LABEL.fullmatch(part) for part in name.split(".")):
        msg = f"host {host[:100]!r} is not a valid host name"
        raise ValueError(msg)


def normalize_url(raw: str) -> str:
    """Return the canonical form of an http(s) URL, or raise ``ValueError`` saying why not.

    Lower-case scheme and host, default port dropped, empty path -> ``/``. User info, fragments,
    spaces, control characters, backslashes and non-ASCII are refused outright.
    """
    if len(raw) > _MAX_URL_CHARS:
        msg = f"longer than {_MAX_URL_CHARS} characters"
        raise ValueError(msg)
    if not _URL_CHARS.fullmatch(raw):
        msg = "contains spaces, control characters, backslashes or non-ASCII characters"
        raise ValueError(msg)
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        msg = "scheme must be http or https"
        raise ValueError(msg)
    if "@" in parts.netloc:
        msg = "must not contain user info"
        raise ValueError(msg)
    if parts.fragment or raw.endswith("#"):
        msg = "must not contain a fragment"
        raise ValueError(msg)
    host = parts.hostname
    if not host:
        msg = "has no host"
        raise ValueError(msg)
    _check_host(host)
    port = parts.port  # raises ValueError when out of range or not a number
    if port == 0:
        msg = "port 0 is not a port"
        raise ValueError(msg)
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != (80 if scheme == "http" else 443):
        netloc = f"{netloc}:{port}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{parts.path or '/'}{query}"


def _int(env: Mapping[str, str], name: str, problems: list[str]) -> int:
    raw = env.get(name, "").strip() or DEFAULTS[name]
    low, high = INT_BOUNDS[name]
    if _INT.fullmatch(raw) and low <= int(raw) <= high:
        return int(raw)
    problems.append(f"{name} must be a whole number from {low} to {high}, got {raw!r}")
    return low


def _seconds(env: Mapping[str, str], name: str, high: float, problems: list[str]) -> float | None:
    raw = env.get(name, "").strip() or DEFAULTS[name]
    if _DECIMAL.fullmatch(raw) and 0 < float(raw) <= high:
        return float(raw)
    problems.append(f"{name} must be a number of seconds above 0 and at most {high}, got {raw!r}")
    return None


def _choice(env: Mapping[str, str], name: str, kind: type[_E], problems: list[str]) -> _E:
    raw = env.get(name, "").strip() or DEFAULTS[name]
    try:
        return kind(raw.lower())
    except ValueError:
        allowed = " or ".join(repr(m.value) for m in kind)
        problems.append(f"{name} must be {allowed}, got {raw!r}")
        return next(iter(kind))


def _trusted_cas(env: Mapping[str, str], problems: list[str]) -> tuple[x509.Certificate, ...]:
    raw = env.get("TRUSTED_CA_PEM", "").strip()
    if not raw:
        problems.append("TRUSTED_CA_PEM must hold one or more PEM CA certificates, got nothing")
        return ()
    try:
        cas = tuple(x509.load_pem_x509_certificates(raw.encode("ascii")))
    except (ValueError, UnicodeEncodeError) as exc:
        problems.append(f"TRUSTED_CA_PEM must hold PEM certificates; it does not parse ({exc})")
        return ()
    for index, ca in enumerate(cas):
        try:
            constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
            is_ca = constraints.ca
        except (x509.ExtensionNotFound, ValueError):
            is_ca = False
        if not is_ca:
            problems.append(
                f"TRUSTED_CA_PEM certificate #{index + 1} ({ca.subject.rfc4514_string()[:200]}) "
                "must be a CA certificate (basicConstraints cA=TRUE)"
            )
    return cas


def _urls(env: Mapping[str, str], problems: list[str]) -> tuple[frozenset[str], str | None]:
    allowed: set[str] = set()
    raw_list = env.get("OCSP_ALLOWED_URLS", "").strip()
    for item in (part.strip() for part in raw_list.split(",")):
        if not item:
            continue
        try:
            allowed.add(normalize_url(item))
        except ValueError as exc:
            problems.append(
                f"OCSP_ALLOWED_URLS entries must be absolute http(s) URLs; {item[:200]!r} {exc}"
            )
    override: str | None = None
    raw_override = env.get("OCSP_RESPONDER_URL", "").strip()
    if raw_override:
        try:
            override = normalize_url(raw_override)
        except ValueError as exc:
            problems.append(
                f"OCSP_RESPONDER_URL must be an absolute http(s) URL; {raw_override[:200]!r} {exc}"
            )
    if not raw_list.replace(",", "").strip() and not raw_override:
        problems.append(
            "OCSP_ALLOWED_URLS must list at least one responder URL (comma-separated) "
            "unless OCSP_RESPONDER_URL is set, got nothing"
        )
    if override is not None:
        allowed.add(override)  # the override is configured by the deployer: implicitly allowed
    return frozenset(allowed), override


def load_settings(env: Mapping[str, str]) -> Settings:
    """Read every setting from ``env`` (``os.environ``); raise one ``ConfigError`` listing all
    problems."""
    problems: list[str] = []
    trusted = _trusted_cas(env, problems)
    allowed, override = _urls(env, problems)
    deadline = _seconds(env, "OCSP_DEADLINE_SECONDS", MAX_DEADLINE_SECONDS, problems)
    timeout = _seconds(env, "OCSP_TIMEOUT_SECONDS", MAX_DEADLINE_SECONDS, problems)
    if timeout is not None and deadline is not None and timeout > deadline:
        problems.append(
            f"OCSP_TIMEOUT_SECONDS must not exceed OCSP_DEADLINE_SECONDS ({deadline:g}), "
            f"got {timeout:g}"
        )
    settings = Settings(
        trusted_cas=trusted,
        allowed_urls=allowed,
        responder_url=override,
        fail_mode=_choice(env, "OCSP_FAIL_MODE", FailMode, problems),
        stale_if_error_seconds=_int(env, "OCSP_STALE_IF_ERROR_SECONDS", problems),
        timeout_seconds=timeout or 0.0,
        deadline_seconds=deadline or 0.0,
        cache_max_seconds=_int(env, "OCSP_CACHE_MAX_SECONDS", problems),
        cache_max_entries=_int(env, "OCSP_CACHE_MAX_ENTRIES", problems),
        nonce=_on_off(env, "OCSP_NONCE", problems),
        max_response_bytes=_int(env, "OCSP_MAX_RESPONSE_BYTES", problems),
        hash_algorithm=_choice(env, "OCSP_HASH_ALGORITHM", HashName, problems),
        max_age_without_next_update_seconds=_int(
            env, "OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS", problems
        ),
    )
    if problems:
        raise ConfigError(problems)
    return settings


def _on_off(env: Mapping[str, str], name: str, problems: list[str]) -> bool:
    raw = env.get(name, "").strip() or DEFAULTS[name]
    if raw.lower() in ("on", "off"):
        return raw.lower() == "on"
    problems.append(f"{name} must be 'on' or 'off', got {raw!r}")
    return False
