"""The pre-auth handler against a hostile OCSP responder on loopback (real HTTP, real crypto).

Each ``Case`` scripts what the responder answers. ``kind`` says what the contract requires:

- ``check``: an answer arrived and fails a check -> DENY with ``reason`` in both fail modes;
- ``unavailable``: unreachable / tryLater / 5xx / timeout -> DENY RESPONDER_UNAVAILABLE when
  fail-closed, ALLOW FAIL_OPEN when fail-open;
- ``allow``: an honest answer -> ALLOW GOOD in both modes.

Every decision must arrive within the deadline (generous bound: deadline + 1.5 s).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from tests.lambdas.support.cas import Extension, policies, subject_alt_name, unknown
from tests.lambdas.support.forge import (
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
from tests.lambdas.support.harness import ALLOW, DENY, Invoker, make_event
from tests.lambdas.support.loopback import (
    Behaviour,
    LoopbackServer,
    RawListener,
    Reply,
    closed_port_url,
    fixed,
)
from tests.lambdas.support.pki import Issued, Pki, usage

Configure = Callable[..., None]

TIMEOUT_SECONDS = 1
DEADLINE_SECONDS = 2
#: Generous upper bound on any decision's wall time.
BOUND_SECONDS = DEADLINE_SECONDS + 1.5
UNSUPPORTED = "UNSUPPORTED_CRITICAL_EXTENSION"
FAST = {"OCSP_TIMEOUT_SECONDS": TIMEOUT_SECONDS, "OCSP_DEADLINE_SECONDS": DEADLINE_SECONDS}


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
    return lambda ctx: _signed_by(getattr(ctx.pki, signer), **kwargs)


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
        lambda ctx: _signed_by(ctx.pki.delegate_no_eku),
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
        lambda ctx: _signed_by(ctx.delegate_not_yet_valid),
        "check",
        "UNAUTHORIZED_RESPONDER",
    ),
    Case(
        "delegate-issued-by-trusted-root",
        lambda ctx: _signed_by(ctx.delegate_by_root),
        "check",
        "UNAUTHORIZED_RESPONDER",
        trust_root=True,
    ),
    Case(
        "delegate-issued-by-rogue-namesake",
        lambda ctx: _signed_by(ctx.delegate_by_rogue),
        "check",
        "UNAUTHORIZED_RESPONDER",
    ),
    Case(
        "delegate-with-critical-unknown-extension",
        lambda ctx: _signed_by(ctx.delegate_critical_unknown),
        "check",
        "UNAUTHORIZED_RESPONDER",
    ),
    Case(
        "delegate-with-critical-policies",
        lambda ctx: _signed_by(ctx.delegate_critical_policies),
        "check",
        "UNAUTHORIZED_RESPONDER",
    ),
    Case(
        "good-delegate-with-critical-subject-alt-name",
        lambda ctx: _signed_by(ctx.delegate_critical_san),
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


def _count_by_kind() -> dict[str, int]:
    counts: dict[str, int] = {}
    for case in CASES:
        counts[case.kind] = counts.get(case.kind, 0) + 1
    return counts


def test_case_table_is_sane() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    assert all(c.kind in {"check", "unavailable", "allow"} for c in CASES)
    assert all(c.reason for c in CASES if c.kind == "check")
    counts = _count_by_kind()
    assert counts["check"] >= 30
    assert counts["unavailable"] >= 5


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[LoopbackServer, LoopbackServer]]:
    with LoopbackServer() as hostile, LoopbackServer(fixed(Reply(body=b""))) as target:
        yield hostile, target


@pytest.fixture
def hostile(servers: tuple[LoopbackServer, LoopbackServer]) -> LoopbackServer:
    """The hostile responder, with no traffic recorded yet."""
    server = servers[0]
    server.clear()
    return server


def _signed_by(signer: Issued, **answer: Any) -> Behaviour:
    """Answers every request with ``build_answer(request, signer=signer, **answer)``."""
    return answer_with(lambda r: build_answer(r, signer=signer, **answer))


@pytest.fixture(scope="module")
def ctx(pki: Pki, servers: tuple[LoopbackServer, LoopbackServer]) -> Ctx:
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
        redirect_target=servers[1],
        impostor=Issued(impostor_cert, pki.issuing_ca.key),
    )


@pytest.mark.parametrize("mode", ["closed", "open"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_responder(
    *,
    case: Case,
    mode: str,
    ctx: Ctx,
    servers: tuple[LoopbackServer, LoopbackServer],
    configure: Configure,
    invoke: Invoker,
) -> None:
    hostile, target = servers
    hostile.clear()
    target.clear()
    hostile.behaviour = case.behaviour(ctx)
    url = closed_port_url() if case.unreachable else hostile.url
    device = ctx.pki.issue_device(ocsp_url=url)
    configure(trusted=[ctx.pki.issuing_ca], allowed=[url], OCSP_FAIL_MODE=mode, **FAST, **case.env)

    outcome = invoke(make_event(device))

    assert outcome.seconds < BOUND_SECONDS, outcome
    if case.kind == "allow":
        assert (outcome.answer, outcome.reason) == (ALLOW, "GOOD"), outcome
    elif case.kind == "check":
        assert (outcome.answer, outcome.reason) == (DENY, case.reason), outcome
    elif mode == "closed":
        assert (outcome.answer, outcome.reason) == (DENY, "RESPONDER_UNAVAILABLE"), outcome
    else:
        assert (outcome.answer, outcome.reason) == (ALLOW, "FAIL_OPEN"), outcome
    # Exactly one request per decision (no retries), and a redirect is never followed.
    assert hostile.request_count == (0 if case.unreachable else 1)
    assert target.request_count == 0
    assert target.connections == 0
    assert outcome.log["ResponderRequests"] == 1
    answered = case.kind == "allow" or case.reason in {"REVOKED", "UNKNOWN"}
    assert outcome.log["ResponderErrors"] == (0 if answered else 1)
    assert not hostile.errors
    assert outcome.log["cacheHit"] is False
    if not case.unreachable:
        sent = hostile.requests[0]
        assert sent.method == "POST"
        assert sent.headers.get("content-type") == "application/ocsp-request"


def test_unavailable_answers_are_not_cached_as_fail_open(
    pki: Pki, hostile: LoopbackServer, configure: Configure, invoke: Invoker
) -> None:
    # Fail-open once, then the responder comes back and says revoked: the device is denied.
    hostile.behaviour = fixed(Reply(status=503, body=b"", content_type=None))
    device = pki.issue_device(ocsp_url=hostile.url)
    configure(trusted=[pki.issuing_ca], allowed=[hostile.url], OCSP_FAIL_MODE="open", **FAST)
    assert invoke(make_event(device)).reason == "FAIL_OPEN"
    hostile.behaviour = _signed_by(pki.issuing_ca, status="revoked")
    outcome = invoke(make_event(device))
    assert (outcome.answer, outcome.reason) == (DENY, "REVOKED"), outcome
    assert hostile.request_count == 2


def test_forged_answer_does_not_poison_the_cache(
    pki: Pki, hostile: LoopbackServer, configure: Configure, invoke: Invoker
) -> None:
    hostile.behaviour = _signed_by(pki.rogue_ca)
    device = pki.issue_device(ocsp_url=hostile.url)
    configure(trusted=[pki.issuing_ca], allowed=[hostile.url], **FAST)
    assert invoke(make_event(device)).answer == DENY
    hostile.behaviour = _signed_by(pki.issuing_ca)
    outcome = invoke(make_event(device))
    assert (outcome.answer, outcome.reason, outcome.log["cacheHit"]) == (ALLOW, "GOOD", False)
    assert hostile.request_count == 2


# -- untrusted devices never cause a request ------------------------------------------------


@pytest.mark.parametrize(
    ("issuer_name", "chain_extra", "trusted_name"),
    [
        ("rogue_ca", (), "issuing_ca"),
        ("rogue_ca", ("rogue_ca",), "issuing_ca"),
        ("other_ca", (), "issuing_ca"),
        ("other_ca", ("other_ca",), "issuing_ca"),
        ("delegate", ("issuing_ca",), "issuing_ca"),
        # Only the root is trusted; the device sends the (genuine) issuing CA as intermediate.
        ("issuing_ca", ("issuing_ca",), "root"),
    ],
)
@pytest.mark.parametrize("mode", ["closed", "open"])
def test_untrusted_device_denied_without_request(
    *,
    pki: Pki,
    hostile: LoopbackServer,
    configure: Configure,
    invoke: Invoker,
    issuer_name: str,
    chain_extra: tuple[str, ...],
    trusted_name: str,
    mode: str,
) -> None:
    # The responder would happily vouch for it, signed by the device's own issuer.
    issuer: Issued = getattr(pki, issuer_name)
    hostile.behaviour = _signed_by(issuer)
    device = pki.issue_device(issuer=issuer, ocsp_url=hostile.url)
    trusted = getattr(pki, trusted_name)
    configure(trusted=[trusted], allowed=[hostile.url], OCSP_FAIL_MODE=mode, **FAST)
    outcome = invoke(make_event(device, *(getattr(pki, n) for n in chain_extra)))
    assert (outcome.answer, outcome.reason) == (DENY, "UNTRUSTED_ISSUER"), outcome
    assert hostile.request_count == 0
    assert outcome.log["ResponderRequests"] == 0


@pytest.mark.parametrize(
    ("extensions", "key_usage", "reason"),
    [
        pytest.param(
            [unknown(critical=True)], None, "UNSUPPORTED_CRITICAL_EXTENSION", id="unknown"
        ),
        pytest.param(
            [policies(critical=True)], None, "UNSUPPORTED_CRITICAL_EXTENSION", id="policies"
        ),
        pytest.param([], usage(digital_signature=False), "NOT_A_DEVICE_CERT", id="no-signing"),
    ],
)
@pytest.mark.parametrize("mode", ["closed", "open"])
def test_device_the_checker_cannot_use_is_denied_without_request(
    *,
    pki: Pki,
    hostile: LoopbackServer,
    configure: Configure,
    invoke: Invoker,
    extensions: list[Extension],
    key_usage: x509.KeyUsage | None,
    reason: str,
    mode: str,
) -> None:
    """RFC 5280 4.2: a critical extension the checker does not understand makes the device
    certificate unusable, even though its CA issued it and the responder says good."""
    hostile.behaviour = _signed_by(pki.issuing_ca)
    device = pki.issue_device(ocsp_url=hostile.url, extensions=extensions, key_usage=key_usage)
    configure(trusted=[pki.issuing_ca], allowed=[hostile.url], OCSP_FAIL_MODE=mode, **FAST)
    outcome = invoke(make_event(device))
    assert (outcome.answer, outcome.reason) == (DENY, reason), outcome
    assert hostile.request_count == 0


@pytest.mark.parametrize(
    ("offsets", "reason"),
    [(((-30, -1)), "CERT_EXPIRED"), (((1, 30)), "CERT_NOT_YET_VALID")],
)
def test_device_outside_validity_denied_without_request(
    *,
    pki: Pki,
    hostile: LoopbackServer,
    configure: Configure,
    invoke: Invoker,
    offsets: tuple[int, int],
    reason: str,
) -> None:
    hostile.behaviour = _signed_by(pki.issuing_ca)
    now = dt.datetime.now(dt.UTC)
    device = pki.issue_device(
        ocsp_url=hostile.url,
        not_before=now + dt.timedelta(days=offsets[0]),
        not_after=now + dt.timedelta(days=offsets[1]),
    )
    configure(trusted=[pki.issuing_ca], allowed=[hostile.url], OCSP_FAIL_MODE="open", **FAST)
    outcome = invoke(make_event(device))
    assert (outcome.answer, outcome.reason) == (DENY, reason), outcome
    assert hostile.request_count == 0


# -- SSRF: a URL from the certificate is contacted only if allow-listed -----------------------


@pytest.mark.parametrize("mode", ["closed", "open"])
@pytest.mark.parametrize(
    "aia",
    [
        "{raw}",
        "{raw}/../ocsp",
        "http://127.0.0.1:{allowed_port}@127.0.0.1:{raw_port}/ocsp",
        "http://localhost:{raw_port}/ocsp",
        "http://127.0.0.1:{raw_port}/ocsp#http://127.0.0.1:{allowed_port}/ocsp",
        "http://127.0.0.1:{raw_port}\\@127.0.0.1:{allowed_port}/ocsp",
    ],
)
def test_aia_not_on_allow_list_is_never_contacted(
    *,
    pki: Pki,
    hostile: LoopbackServer,
    configure: Configure,
    invoke: Invoker,
    aia: str,
    mode: str,
) -> None:
    hostile.behaviour = _signed_by(pki.issuing_ca)
    with RawListener() as listener:
        url = aia.format(raw=listener.url, raw_port=listener.port, allowed_port=hostile.port)
        device = pki.issue_device(ocsp_url=url)
        configure(trusted=[pki.issuing_ca], allowed=[hostile.url], OCSP_FAIL_MODE=mode, **FAST)
        outcome = invoke(make_event(device))
        assert (outcome.answer, outcome.reason) == (DENY, "URL_NOT_ALLOWED"), outcome
        assert listener.connections_seen(wait=0.3) == 0
    assert hostile.request_count == 0
    assert outcome.log["ResponderRequests"] == 0


def test_decision_line_is_an_emf_document(
    pki: Pki, hostile: LoopbackServer, configure: Configure, invoke: Invoker
) -> None:
    hostile.behaviour = _signed_by(pki.delegate)
    device = pki.issue_device(ocsp_url=hostile.url)
    configure(trusted=[pki.issuing_ca], allowed=[hostile.url], **FAST)
    started = time.time()
    outcome = invoke(make_event(device, connection_id="c-42", principal_id="p-42"))
    log = outcome.log
    assert (log["connectionId"], log["principalId"]) == ("c-42", "p-42")
    assert int(log["serial"], 16) == device.serial
    assert log["FunctionName"] == "local"
    assert (log["verdict"], log["reason"], log["cacheHit"]) == ("ALLOW", "GOOD", False)
    assert (log["Decisions"], log["CacheHits"], log["ResponderRequests"]) == (1, 0, 1)
    assert log["ResponderErrors"] == 0
    assert log["ResponderLatency"] > 0
    assert log["HandlerLatency"] >= log["ResponderLatency"]
    assert "BEGIN CERTIFICATE" not in str(log)
    emf = log["_aws"]
    assert abs(emf["Timestamp"] / 1000 - started) < 5
    directives = emf["CloudWatchMetrics"]
    assert directives[0]["Namespace"] == "OcspIot/PreAuth"
    assert directives[0]["Dimensions"] == [["FunctionName", "Verdict"], ["FunctionName", "Reason"]]
    assert directives[0]["Metrics"] == [{"Name": "Decisions", "Unit": "Count"}]
    names = [m["Name"] for m in directives[1]["Metrics"]]
    assert names == [
        "CacheHits",
        "ResponderRequests",
        "ResponderErrors",
        "ResponderLatency",
        "HandlerLatency",
    ]
    # EMF reads each dimension's value and each metric's value from top-level keys.
    for directive in directives:
        for dimension_set in directive["Dimensions"]:
            assert all(isinstance(log[name], str) for name in dimension_set), dimension_set
        for metric in directive["Metrics"]:
            assert isinstance(log[metric["Name"]], int | float), metric
    assert (log["Verdict"], log["Reason"]) == ("ALLOW", "GOOD")
    # A cache hit omits ResponderLatency from the directive and the document.
    again = invoke(make_event(device)).log
    assert (again["cacheHit"], again["CacheHits"], again["ResponderRequests"]) == (True, 1, 0)
    assert "ResponderLatency" not in again
    again_names = [m["Name"] for m in again["_aws"]["CloudWatchMetrics"][1]["Metrics"]]
    assert "ResponderLatency" not in again_names


# -- the overall deadline ----------------------------------------------------------------------


class _LambdaContext:
    """The one LambdaContext method the handler may consult (a plain stand-in object)."""

    def __init__(self, remaining_ms: int) -> None:
        self._remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms


@pytest.mark.parametrize(
    ("settings", "context_ms", "bound"),
    [
        pytest.param(
            {"OCSP_TIMEOUT_SECONDS": 1, "OCSP_DEADLINE_SECONDS": 1}, None, 1.6, id="deadline"
        ),
        pytest.param(
            {"OCSP_TIMEOUT_SECONDS": 3, "OCSP_DEADLINE_SECONDS": 4},
            1000,
            1.2,
            id="lambda-remaining-time",
        ),
    ],
)
@pytest.mark.parametrize("behaviour", ["delay", "drip"])
def test_deadline_bounds_a_stalling_responder(
    *,
    pki: Pki,
    hostile: LoopbackServer,
    configure: Configure,
    invoke: Invoker,
    settings: dict[str, int],
    context_ms: int | None,
    bound: float,
    behaviour: str,
) -> None:
    stall = {"delay": 10.0} if behaviour == "delay" else {"drip_interval": 0.2}
    hostile.behaviour = answer_with(lambda r: build_answer(r, signer=pki.issuing_ca), **stall)
    device = pki.issue_device(ocsp_url=hostile.url)
    configure(trusted=[pki.issuing_ca], allowed=[hostile.url], **settings)
    context = None if context_ms is None else _LambdaContext(context_ms)
    outcome = invoke(make_event(device), context)
    assert (outcome.answer, outcome.reason) == (DENY, "RESPONDER_UNAVAILABLE"), outcome
    assert outcome.seconds < bound, outcome.seconds
    assert hostile.request_count == 1


def test_https_responder_with_an_untrusted_certificate_denies_even_in_fail_open(
    pki: Pki, tls_server: LoopbackServer, configure: Configure, invoke: Invoker
) -> None:
    device = pki.issue_device(ocsp_url=tls_server.url)
    configure(trusted=[pki.issuing_ca], allowed=[tls_server.url], OCSP_FAIL_MODE="open", **FAST)
    outcome = invoke(make_event(device))
    assert (outcome.answer, outcome.reason) == (DENY, "TLS_ERROR"), outcome
    assert outcome.log["ResponderErrors"] == 1
    assert tls_server.request_count == 0  # the handshake failed: no HTTP request was served
