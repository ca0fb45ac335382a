"""The hostile OCSP responder's repertoire, shared by the pre-auth and the stapling tests.

Each ``Case`` scripts what a loopback responder answers (``behaviour(ctx)``) and says what the
pre-auth contract requires (``kind``: ``check`` -> a denial with ``reason``, ``unavailable`` ->
the fail mode decides, ``allow`` -> GOOD); the stapling tests map each case to their own
contract. ``make_ctx`` builds the certificates the cases need beyond the test PKI.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from .cas import policies, subject_alt_name, unknown
from .forge import (
    ParsedRequest,
    answer_with,
    build_answer,
    flip_signature_bit,
    resigned_with_sha1,
    unsuccessful,
    with_extra_single_responses,
    with_responder_id,
    with_response_type,
    with_single_responses_first,
)
from .loopback import Behaviour, LoopbackServer, Reply, fixed
from .pki import Issued, Pki

#: The request timeout the cases are written for ("slower-than-timeout" waits 2 s longer).
TIMEOUT_SECONDS = 1


@dataclass
class Ctx:
    pki: Pki
    redirect_target: LoopbackServer
    impostor: Issued  # same key as issuing_ca, other subject
    delegate_not_yet_valid: Issued
    delegate_by_root: Issued  # OCSPSigning EKU, chains to the trusted root, not the issuer
    delegate_by_rogue: Issued  # issued by the CA that shares issuing_ca's name
    delegate_critical_unknown: Issued  # authorized, but with a critical extension unknown to us
    delegate_critical_policies: Issued  # authorized, but with critical certificatePolicies
    delegate_critical_san: Issued  # authorized, with a critical subjectAltName (understood)


@dataclass(frozen=True)
class Case:
    name: str
    behaviour: Callable[[Ctx], Behaviour]
    kind: str  # check | unavailable | allow
    reason: str = ""
    env: dict[str, str] = field(default_factory=dict)
    #: the responder's URL is swapped for one where nothing listens
    unreachable: bool = False
    #: also trust the root (a delegate chaining to a trusted root is still not authorized)
    trust_root: bool = False


def _signed(signer: str, **kwargs: Any) -> Callable[[Ctx], Behaviour]:
    return lambda ctx: signed_by(getattr(ctx.pki, signer), **kwargs)


def _reply(**kwargs: Any) -> Callable[[Ctx], Behaviour]:
    return lambda _ctx: fixed(Reply(**kwargs))


def _good(ctx: Ctx, r: ParsedRequest, **kwargs: Any) -> bytes:
    return build_answer(r, signer=ctx.pki.issuing_ca, **kwargs)


def _status(status: ocsp.OCSPResponseStatus) -> Callable[[Ctx], Behaviour]:
    return _reply(body=unsuccessful(status))


def _conflicting(ctx: Ctx) -> Behaviour:
    key = ctx.pki.issuing_ca.key
    return answer_with(
        lambda r: with_extra_single_responses(
            _good(ctx, r), [_good(ctx, r, status="revoked")], key=key
        )
    )


def _extra_unrelated_first(ctx: Ctx) -> Behaviour:
    key = ctx.pki.issuing_ca.key
    return answer_with(
        lambda r: with_single_responses_first(
            _good(ctx, r), [_good(ctx, r, serial=r.serial + 1, status="revoked")], key=key
        )
    )


def _other_serial_only(ctx: Ctx) -> Behaviour:
    return answer_with(lambda r: _good(ctx, r, serial=r.serial ^ 0x5A5A))


def _responder_id_someone_else(ctx: Ctx) -> Behaviour:
    # Signed by the CA's key, but the ResponderID names another subject (the "impostor" has
    # the CA's key under another name, so OCSPResponseBuilder accepts it).
    return answer_with(
        lambda r: build_answer(
            r, signer=ctx.pki.issuing_ca, responder_cert=ctx.impostor.cert, include_signer=False
        )
    )


def _responder_id_delegate_signed_by_ca(ctx: Ctx) -> Behaviour:
    # The ResponderID names the authorized delegate (included), but the CA key signed it.
    pki = ctx.pki

    def make(r: ParsedRequest) -> bytes:
        by_ca = build_answer(r, signer=pki.issuing_ca, certs=[pki.delegate.cert])
        by_delegate = build_answer(r, signer=pki.delegate)
        return with_responder_id(by_ca, by_delegate, key=pki.issuing_ca.key)

    return answer_with(make)


def _redirect(ctx: Ctx) -> Behaviour:
    return fixed(
        Reply(status=302, headers=(("Location", ctx.redirect_target.url),), content_type=None)
    )


def _tamper(ctx: Ctx, transform: Callable[[bytes], bytes]) -> Behaviour:
    return answer_with(lambda r: transform(_good(ctx, r)))


CASES: list[Case] = [
    # -- honest answers ----------------------------------------------------------------------
    Case("good-signed-by-ca", _signed("issuing_ca"), "allow", "GOOD"),
    Case("good-signed-by-delegate", _signed("delegate"), "allow", "GOOD"),
    Case("good-ca-responder-id-by-key", _signed("issuing_ca", responder_by="key"), "allow"),
    Case("good-delegate-responder-id-by-key", _signed("delegate", responder_by="key"), "allow"),
    Case("good-no-certs-included", _signed("issuing_ca", include_signer=False), "allow"),
    Case("good-with-unrelated-single-first", _extra_unrelated_first, "allow"),
    Case(
        "good-missing-nonce-tolerated",
        _signed("issuing_ca", nonce=None),
        "allow",
        env={"OCSP_NONCE": "on"},
    ),
    Case("good-recent-no-next-update", _signed("issuing_ca", next_update_offset=None), "allow"),
    Case(
        "good-certid-rehashed-sha256",
        lambda ctx: answer_with(
            lambda r: _good(
                ctx, r, cert_id_issuer=ctx.pki.issuing_ca.cert, cert_id_algorithm=hashes.SHA256()
            )
        ),
        "allow",
    ),
    # -- wrong signer --------------------------------------------------------------------------
    Case(
        "signed-by-rogue-ca-same-name",
        _signed("rogue_ca", include_signer=False),
        "check",
        "BAD_SIGNATURE",
    ),
    Case("signed-by-rogue-ca-included", _signed("rogue_ca"), "check", "BAD_SIGNATURE"),
    Case(
        "signed-by-rogue-ca-by-key",
        _signed("rogue_ca", responder_by="key"),
        "check",
        "UNAUTHORIZED_RESPONDER",
    ),
    Case("delegate-without-eku", _signed("delegate_no_eku"), "check", "UNAUTHORIZED_RESPONDER"),
    Case("delegate-of-other-ca", _signed("delegate_other_ca"), "check", "UNAUTHORIZED_RESPONDER"),
    Case("delegate-expired", _signed("delegate_expired"), "check", "UNAUTHORIZED_RESPONDER"),
    Case(
        "delegate-not-included",
        _signed("delegate", include_signer=False),
        "check",
        "UNAUTHORIZED_RESPONDER",
    ),
    Case("other-ca-signs-itself", _signed("other_ca"), "check", "UNAUTHORIZED_RESPONDER"),
    Case(
        "device-signs-its-own",
        lambda ctx: signed_by(ctx.pki.delegate_no_eku),
        "check",
        "UNAUTHORIZED_RESPONDER",
    ),
    Case(
        "responder-id-names-someone-else",
        _responder_id_someone_else,
        "check",
        "UNAUTHORIZED_RESPONDER",
    ),
    Case(
        "responder-id-delegate-but-ca-signed",
        _responder_id_delegate_signed_by_ca,
        "check",
        "BAD_SIGNATURE",
    ),
    Case(
        "signature-bit-flipped",
        lambda ctx: _tamper(ctx, flip_signature_bit),
        "check",
        "BAD_SIGNATURE",
    ),
    Case(
        "delegate-not-yet-valid",
        lambda ctx: signed_by(ctx.delegate_not_yet_valid),
        "check",
        "UNAUTHORIZED_RESPONDER",
    ),
    Case(
        "delegate-issued-by-trusted-root",
        lambda ctx: signed_by(ctx.delegate_by_root),
        "check",
        "UNAUTHORIZED_RESPONDER",
        trust_root=True,
    ),
    Case(
        "delegate-issued-by-rogue-namesake",
        lambda ctx: signed_by(ctx.delegate_by_rogue),
        "check",
        "UNAUTHORIZED_RESPONDER",
    ),
    Case(
        "delegate-with-critical-unknown-extension",
        lambda ctx: signed_by(ctx.delegate_critical_unknown),
        "check",
        "UNAUTHORIZED_RESPONDER",
    ),
    Case(
        "delegate-with-critical-policies",
        lambda ctx: signed_by(ctx.delegate_critical_policies),
        "check",
        "UNAUTHORIZED_RESPONDER",
    ),
    Case(
        "good-delegate-with-critical-subject-alt-name",
        lambda ctx: signed_by(ctx.delegate_critical_san),
        "allow",
    ),
    Case(
        "signed-with-sha1",
        lambda ctx: _tamper(ctx, lambda d: resigned_with_sha1(d, key=ctx.pki.issuing_ca.key)),
        "check",
        "BAD_SIGNATURE",
    ),
    # -- the status itself (an answer that arrives and is valid) ----------------------------
    Case("revoked-by-delegate", _signed("delegate", status="revoked"), "check", "REVOKED"),
    Case("revoked-by-ca", _signed("issuing_ca", status="revoked"), "check", "REVOKED"),
    Case("unknown-by-ca", _signed("issuing_ca", status="unknown"), "check", "UNKNOWN"),
    # -- not our CertID --------------------------------------------------------------------------
    Case("certid-other-serial", _other_serial_only, "check", "CERTID_MISMATCH"),
    Case(
        "certid-other-issuer",
        lambda ctx: answer_with(lambda r: _good(ctx, r, cert_id_issuer=ctx.pki.other_ca.cert)),
        "check",
        "CERTID_MISMATCH",
    ),
    Case(
        "certid-same-name-other-key",
        lambda ctx: answer_with(lambda r: _good(ctx, r, cert_id_issuer=ctx.pki.rogue_ca.cert)),
        "check",
        "CERTID_MISMATCH",
    ),
    Case("conflicting-good-and-revoked", _conflicting, "check", "CONFLICTING_RESPONSES"),
    # -- time ----------------------------------------------------------------------------------
    Case(
        "next-update-before-this-update",
        _signed("issuing_ca", this_update_offset=-60, next_update_offset=-120),
        "check",
        "MALFORMED_RESPONSE",
    ),
    Case(
        "stale-next-update",
        _signed("issuing_ca", this_update_offset=-7200, next_update_offset=-3600),
        "check",
        "STALE_RESPONSE",
    ),
    Case(
        "future-this-update",
        _signed("issuing_ca", this_update_offset=3600, next_update_offset=7200),
        "check",
        "FUTURE_RESPONSE",
    ),
    Case(
        "no-next-update-old-this-update",
        _signed("issuing_ca", this_update_offset=-3600, next_update_offset=None),
        "check",
        "STALE_RESPONSE",
    ),
    Case(
        "no-next-update-when-required",
        _signed("issuing_ca", next_update_offset=None),
        "check",
        "STALE_RESPONSE",
        env={"OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS": "0"},
    ),
    # -- nonce -----------------------------------------------------------------------------------
    Case(
        "wrong-nonce",
        _signed("issuing_ca", nonce=b"\x00" * 32),
        "check",
        "NONCE_MISMATCH",
        env={"OCSP_NONCE": "on"},
    ),
    # -- response status ---------------------------------------------------------------------
    Case("status-try-later", _status(ocsp.OCSPResponseStatus.TRY_LATER), "unavailable"),
    Case(
        "status-unauthorized",
        _status(ocsp.OCSPResponseStatus.UNAUTHORIZED),
        "check",
        "RESPONSE_STATUS_UNAUTHORIZED",
    ),
    Case(
        "status-malformed-request",
        _status(ocsp.OCSPResponseStatus.MALFORMED_REQUEST),
        "check",
        "RESPONSE_STATUS_MALFORMED_REQUEST",
    ),
    Case(
        "status-internal-error",
        _status(ocsp.OCSPResponseStatus.INTERNAL_ERROR),
        "check",
        "RESPONSE_STATUS_INTERNAL_ERROR",
    ),
    Case(
        "status-sig-required",
        _status(ocsp.OCSPResponseStatus.SIG_REQUIRED),
        "check",
        "RESPONSE_STATUS_SIG_REQUIRED",
    ),
    # -- broken bodies -----------------------------------------------------------------------
    Case(
        "garbage-der",
        _reply(body=b"\x30\x82\xff\xff" + bytes(range(256)) * 4),
        "check",
        "MALFORMED_RESPONSE",
    ),
    Case("empty-body", _reply(body=b""), "check", "MALFORMED_RESPONSE"),
    Case(
        "truncated-der",
        lambda ctx: _tamper(ctx, lambda d: d[: len(d) // 2]),
        "check",
        "MALFORMED_RESPONSE",
    ),
    Case(
        "trailing-garbage",
        lambda ctx: _tamper(ctx, lambda d: d + b"\x00\x01"),
        "check",
        "MALFORMED_RESPONSE",
    ),
    Case(
        "not-a-basic-response",
        lambda ctx: _tamper(ctx, with_response_type),
        "check",
        "MALFORMED_RESPONSE",
    ),
    Case("oversized-declared", _reply(body=b"\x30" * 65536), "check", "RESPONSE_TOO_LARGE"),
    Case(
        "oversized-undeclared",
        _reply(body=b"\x30" * 4096, repeat=256, content_length=-1),
        "check",
        "RESPONSE_TOO_LARGE",
    ),
    Case(
        "content-length-lies-small",
        lambda ctx: answer_with(lambda r: _good(ctx, r) + b"\x00" * 40000, content_length=100),
        "check",
        "MALFORMED_RESPONSE",
    ),
    # -- HTTP ----------------------------------------------------------------------------------
    Case("http-500", _reply(status=500, body=b"oops", content_type="text/plain"), "unavailable"),
    Case("http-503", _reply(status=503, body=b"", content_type=None), "unavailable"),
    Case(
        "http-404",
        _reply(status=404, body=b"", content_type="text/plain"),
        "check",
        "BAD_HTTP_STATUS",
    ),
    Case("http-302-redirect", _redirect, "check", "BAD_HTTP_STATUS"),
    Case(
        "wrong-content-type",
        lambda ctx: answer_with(lambda r: _good(ctx, r), content_type="text/html"),
        "check",
        "BAD_CONTENT_TYPE",
    ),
    Case(
        "missing-content-type",
        lambda ctx: answer_with(lambda r: _good(ctx, r), content_type=None),
        "check",
        "BAD_CONTENT_TYPE",
    ),
    Case(
        "gzip-encoded",
        lambda ctx: answer_with(lambda r: _good(ctx, r), headers=(("Content-Encoding", "gzip"),)),
        "check",
        "BAD_CONTENT_TYPE",
    ),
    # -- availability --------------------------------------------------------------------------
    Case(
        "slower-than-timeout",
        lambda ctx: answer_with(lambda r: _good(ctx, r), delay=TIMEOUT_SECONDS + 2),
        "unavailable",
    ),
    Case(
        "slow-drip-body",
        lambda ctx: answer_with(lambda r: _good(ctx, r), drip_interval=0.25),
        "unavailable",
    ),
    Case("hang-up-without-answer", _reply(hang_up=True), "unavailable"),
    Case("connection-refused", _signed("issuing_ca"), "unavailable", unreachable=True),
]


def signed_by(signer: Issued, **answer: Any) -> Behaviour:
    """Answers every request with ``build_answer(request, signer=signer, **answer)``."""
    return answer_with(lambda r: build_answer(r, signer=signer, **answer))


def make_ctx(pki: Pki, redirect_target: LoopbackServer) -> Ctx:
    """The context of the cases: ``redirect_target`` is where a redirect points."""
    impostor_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Someone Else")])
    now = dt.datetime.now(dt.UTC)
    impostor_cert = (
        x509.CertificateBuilder()
        .subject_name(impostor_subject)
        .issuer_name(impostor_subject)
        .public_key(pki.issuing_ca.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(pki.issuing_ca.key, hashes.SHA256())
    )
    now_plus_day = now + dt.timedelta(days=1)
    return Ctx(
        delegate_not_yet_valid=pki.issue_delegate(
            not_before=now_plus_day, not_after=now_plus_day + dt.timedelta(days=1)
        ),
        delegate_by_root=pki.issue_delegate(issuer=pki.root),
        delegate_by_rogue=pki.issue_delegate(issuer=pki.rogue_ca),
        delegate_critical_unknown=pki.issue_delegate(extensions=[unknown(critical=True)]),
        delegate_critical_policies=pki.issue_delegate(extensions=[policies(critical=True)]),
        delegate_critical_san=pki.issue_delegate(extensions=[subject_alt_name(critical=True)]),
        pki=pki,
        redirect_target=redirect_target,
        impostor=Issued(impostor_cert, pki.issuing_ca.key),
    )
