"""The staple refresher: IoT Core's policy (the last valid answer is kept until its nextUpdate,
then none) with real answers from ``openssl ocsp`` and answers signed in-process."""

from __future__ import annotations

import base64
import datetime as dt
import os
from collections.abc import Callable, Iterator

import pytest

from ocsp_iot._lambda import ConfigError, StaplingFunction
from ocsp_iot.local.pki import Issued, LocalPki
from ocsp_iot.local.responder import OpensslResponder
from ocsp_iot.local.staple import MAX_STAPLE_BYTES, StapleRefresher, StapleSource
from tests.lambdas.support.forge import build_answer, parse_request
from tests.lambdas.support.pki import Issued as SignerIssued
from tests.local.support import (
    SERVER_NAME,
    local_responder,
    responder_staple_source,
    stapling_function,
)


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


class Switchable:
    """A staple source whose behaviour the test changes between refreshes."""

    def __init__(self, source: StapleSource) -> None:
        self.source: Callable[[str], str] = source
        self.requests: list[str] = []

    def __call__(self, request_b64: str) -> str:
        self.requests.append(request_b64)
        return self.source(request_b64)


@pytest.fixture(scope="module")
def pki() -> LocalPki:
    return LocalPki.create(name="Staple")


@pytest.fixture(scope="module")
def server(pki: LocalPki) -> Issued:
    return pki.issue_server(SERVER_NAME)


@pytest.fixture(scope="module")
def responder(pki: LocalPki, server: Issued) -> Iterator[OpensslResponder]:
    with local_responder(pki, nmin=30) as running:
        running.set_good(server.certificate)
        yield running


def _refresher(
    pki: LocalPki, server: Issued, source: StapleSource, clock: Clock
) -> StapleRefresher:
    return StapleRefresher(
        source=source,
        certificate=server.certificate,
        issuer=pki.issuing_ca.certificate,
        clock=clock,
    )


def test_keeps_the_last_good_answer_until_its_next_update_then_none(
    pki: LocalPki, server: Issued, responder: OpensslResponder
) -> None:
    clock = Clock()
    source = Switchable(responder_staple_source(responder))
    refresher = _refresher(pki, server, source, clock)
    assert refresher.current_der() == b""  # nothing before the first refresh
    assert refresher.refresh().staple is not None
    first = refresher.staple
    assert first is not None and first.status == "GOOD" and first.signer == "issuer"
    assert first.next_update is not None
    # the request is the one IoT Core sends: base64 DER about the server certificate
    parsed = parse_request(base64.b64decode(source.requests[0]))
    assert parsed is not None and parsed.serial == server.serial

    def broken(_request: str) -> str:
        raise ConnectionError("responder down")

    source.source = broken
    outcome = refresher.refresh()
    assert outcome.staple is None and "ConnectionError" in (outcome.problem or "")
    assert refresher.current_der() == first.der  # kept
    clock.now = first.next_update + dt.timedelta(seconds=1)
    assert refresher.current_der() == b""  # dropped once nextUpdate has passed
    source.source = responder_staple_source(responder)
    clock.now = dt.datetime.now(dt.UTC)
    refresher.refresh()
    assert refresher.current_der() != b""  # back with the next successful refresh


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (lambda: "", "no answer"),
        (lambda: "not base64 !", "not base64"),
        (lambda: base64.b64encode(b"\x30" * (MAX_STAPLE_BYTES + 1)).decode(), "4 KiB"),
        (lambda: base64.b64encode(b"\x30\x03\x0a\x01\x00").decode(), "MALFORMED_RESPONSE"),
    ],
)
def test_an_unusable_answer_keeps_the_previous_staple(
    pki: LocalPki,
    server: Issued,
    responder: OpensslResponder,
    answer: Callable[[], str],
    problem: str,
) -> None:
    source = Switchable(responder_staple_source(responder))
    refresher = _refresher(pki, server, source, Clock())
    refresher.refresh()
    good = refresher.current_der()
    source.source = lambda _request: answer()
    outcome = refresher.refresh()
    assert outcome.staple is None and problem in (outcome.problem or "")
    assert refresher.current_der() == good


def test_an_answer_signed_by_another_ca_is_not_stapled(pki: LocalPki, server: Issued) -> None:
    def forged(request_b64: str) -> str:
        parsed = parse_request(base64.b64decode(request_b64))
        assert parsed is not None
        rogue = SignerIssued(cert=pki.rogue_ca.certificate, key=pki.rogue_ca.key)
        signed = build_answer(parsed, signer=rogue)
        return base64.b64encode(signed).decode()

    refresher = _refresher(pki, server, forged, Clock())
    outcome = refresher.refresh()
    assert outcome.staple is None
    assert outcome.problem is not None and outcome.problem.startswith("BAD_SIGNATURE")
    assert refresher.current_der() == b""


def test_a_revoked_answer_is_stapled_as_it_is(pki: LocalPki, responder: OpensslResponder) -> None:
    # IoT Core staples what the responder says; judging it is the client's business
    revoked = pki.issue_server(SERVER_NAME)
    responder.set_revoked(revoked.certificate)
    refresher = StapleRefresher(
        source=responder_staple_source(responder),
        certificate=revoked.certificate,
        issuer=pki.issuing_ca.certificate,
    )
    refresher.refresh()
    assert refresher.staple is not None and refresher.staple.status == "REVOKED"


def test_fails_for_a_refresh_period_that_is_not_positive(pki: LocalPki, server: Issued) -> None:
    with pytest.raises(ValueError, match="refresh_seconds must be above 0"):
        StapleRefresher(
            source=lambda _r: "",
            certificate=server.certificate,
            issuer=pki.issuing_ca.certificate,
            refresh_seconds=0,
        )


def test_the_stapling_handler_is_a_staple_source(
    pki: LocalPki, server: Issued, responder: OpensslResponder
) -> None:
    os.environ["OCSP_RESPONDER_URL"] = "http://127.0.0.1:1/of-the-test-process"
    try:
        stapler = stapling_function(pki, responder)
        before = responder.request_count
        refresher = _refresher(pki, server, stapler, Clock())
        assert refresher.refresh().staple is not None
        assert refresher.staple is not None and refresher.staple.status == "GOOD"
        assert stapler.last_record is not None
        assert (stapler.last_record["outcome"], stapler.last_record["cacheHit"]) == (
            "STAPLE",
            False,
        )
        # its own cache, kept between invocations as in one warm Lambda environment
        assert refresher.refresh().staple is not None
        assert stapler.last_record["cacheHit"] is True
        assert responder.request_count - before == 1
        # the process environment is the test's again after each invocation
        assert os.environ["OCSP_RESPONDER_URL"] == "http://127.0.0.1:1/of-the-test-process"
        stapler.close()
    finally:
        os.environ.pop("OCSP_RESPONDER_URL", None)


def test_the_stapling_handler_refuses_a_bad_environment(pki: LocalPki) -> None:
    with pytest.raises(ConfigError, match="OCSP_RESPONDER_URL must be the http"):
        StaplingFunction({"TRUSTED_CA_PEM": pki.issuing_ca.pem.decode()})
    with pytest.raises(ValueError, match="not a stapling handler setting: HOME"):
        StaplingFunction({"HOME": "/"})
