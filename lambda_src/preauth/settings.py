"""The pre-auth Lambda's settings: its table of environment variables and the ``Settings`` read
from them once. Any bad value is a ``ConfigError`` listing every problem.

Names, defaults and bounds are listed in ``docs/preauth-lambda.md``; the construct's copy of
:data:`SETTINGS` is ``ocsp_iot_constructs._preauth_function.SETTINGS`` (a test compares them).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography import x509

from ocsp_core import settings as table
from ocsp_core.certid import HashName
from ocsp_core.settings import (
    MAX_DEADLINE_SECONDS,
    MAX_SETTING_SECONDS,
    ConfigError,
    Kind,
    Problems,
    Setting,
    read_settings,
)

__all__ = ["DEFAULTS", "SETTINGS", "ConfigError", "FailMode", "Settings", "load_settings"]


class FailMode(enum.StrEnum):
    """What to do when the responder cannot be reached (never when it answers badly)."""

    CLOSED = "closed"
    OPEN = "open"


#: Every setting the handler reads, in the order its problems are reported.
SETTINGS: tuple[Setting, ...] = (
    table.TRUSTED_CA_PEM,
    table.OCSP_ALLOWED_URLS,
    table.OCSP_RESPONDER_URL,
    Setting("OCSP_DEADLINE_SECONDS", Kind.SECONDS, "3", minimum=0, maximum=MAX_DEADLINE_SECONDS),
    table.OCSP_TIMEOUT_SECONDS,
    Setting("OCSP_FAIL_MODE", Kind.CHOICE, "closed", choices=tuple(m.value for m in FailMode)),
    Setting(
        "OCSP_STALE_IF_ERROR_SECONDS", Kind.INTEGER, "0", minimum=0, maximum=MAX_SETTING_SECONDS
    ),
    table.OCSP_CACHE_MAX_SECONDS,
    table.OCSP_CACHE_MAX_ENTRIES,
    table.OCSP_NONCE,
    table.OCSP_MAX_RESPONSE_BYTES,
    table.OCSP_HASH_ALGORITHM,
    table.OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS,
)

#: The default text of every setting (``""``: none), as the docs and the construct quote it.
DEFAULTS: Mapping[str, str] = table.defaults(SETTINGS)


@dataclass(frozen=True, slots=True)
class Settings:
    """The handler's settings (every field is read from the environment: no defaults here)."""

    trusted_cas: tuple[x509.Certificate, ...]
    #: Normalized URLs (``normalize_url``) that may be contacted.
    allowed_urls: frozenset[str]
    #: Normalized override replacing the certificates' AIA URL; implicitly allowed.
    responder_url: str | None
    fail_mode: FailMode
    stale_if_error_seconds: int
    timeout_seconds: float
    deadline_seconds: float
    cache_max_seconds: int
    cache_max_entries: int
    nonce: bool
    max_response_bytes: int
    hash_algorithm: HashName
    max_age_without_next_update_seconds: int


def load_settings(env: Mapping[str, str]) -> Settings:
    """Read every setting from ``env`` (``os.environ``); raise one ``ConfigError`` listing all
    problems."""
    problems = Problems(SETTINGS)
    values = read_settings(env, SETTINGS, problems)
    raw_allowed = env.get("OCSP_ALLOWED_URLS", "").replace(",", "").strip()
    if not raw_allowed and not env.get("OCSP_RESPONDER_URL", "").strip():
        problems.add(
            "OCSP_ALLOWED_URLS",
            "OCSP_ALLOWED_URLS must list at least one responder URL (comma-separated) "
            "unless OCSP_RESPONDER_URL is set, got nothing",
        )
    timeout, deadline = values.get("OCSP_TIMEOUT_SECONDS"), values.get("OCSP_DEADLINE_SECONDS")
    if isinstance(timeout, float) and isinstance(deadline, float) and timeout > deadline:
        problems.add(
            "OCSP_TIMEOUT_SECONDS",
            f"OCSP_TIMEOUT_SECONDS must not exceed OCSP_DEADLINE_SECONDS ({deadline:g}), "
            f"got {timeout:g}",
        )
    problems.raise_if_any()
    override = values.optional_url("OCSP_RESPONDER_URL")
    allowed = values.urls("OCSP_ALLOWED_URLS")
    return Settings(
        trusted_cas=values.certificates("TRUSTED_CA_PEM"),
        # the override is configured by the deployer: implicitly allowed
        allowed_urls=allowed if override is None else allowed | {override},
        responder_url=override,
        fail_mode=FailMode(values.text("OCSP_FAIL_MODE")),
        stale_if_error_seconds=values.integer("OCSP_STALE_IF_ERROR_SECONDS"),
        timeout_seconds=values.seconds("OCSP_TIMEOUT_SECONDS"),
        deadline_seconds=values.seconds("OCSP_DEADLINE_SECONDS"),
        cache_max_seconds=values.integer("OCSP_CACHE_MAX_SECONDS"),
        cache_max_entries=values.integer("OCSP_CACHE_MAX_ENTRIES"),
        nonce=values.switch("OCSP_NONCE"),
        max_response_bytes=values.integer("OCSP_MAX_RESPONSE_BYTES"),
        hash_algorithm=HashName(values.text("OCSP_HASH_ALGORITHM")),
        max_age_without_next_update_seconds=values.integer(
            "OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS"
        ),
    )
