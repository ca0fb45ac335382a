"""Property tests of the whole handler: any input gets one of the two answers, and no mutation
of a good device's chain is ever allowed.

The responder used here says ``good`` (correctly signed by the CA) for *any* CertID it is asked
about, and the unmutated device is allowed (and cached) first, so only the mutation itself can
make the handler deny; an ALLOW for a mutated chain would be a real hole.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.lambdas.support.forge import answer_with, build_answer
from tests.lambdas.support.harness import ALLOW, DENY, Invoker, make_event
from tests.lambdas.support.loopback import LoopbackServer
from tests.lambdas.support.pki import Issued, Pki

Configure = Callable[..., None]
FAST = {"OCSP_TIMEOUT_SECONDS": 1, "OCSP_DEADLINE_SECONDS": 2}


def prop(examples: int) -> settings:
    """Modest example counts (CI has 2 cores); function-scoped fixtures (environment, output
    capture) are deliberately shared by all examples of one test."""
    return settings(
        max_examples=examples,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        deadline=None,
    )


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=16,
)


@pytest.fixture
def primed(
    pki: Pki,
    good_device: Issued,
    good_server: LoopbackServer,
    configure: Configure,
    invoke: Invoker,
) -> Invoker:
    """Configured handler whose cache already holds the good device's answer."""
    configure(trusted=[pki.issuing_ca], allowed=[good_server.url], **FAST)
    for encoding in ("pem", "der"):
        outcome = invoke(make_event(good_device, encoding=encoding))
        assert (outcome.answer, outcome.reason) == (ALLOW, "GOOD"), outcome
    return invoke


def _lenient_der(entry: str) -> bytes | None:
    """What a permissive reader could take ``entry`` to mean (to spot no-op mutations)."""
    text = entry.strip()
    text = text.removeprefix("-----BEGIN CERTIFICATE-----").removesuffix(
        "-----END CERTIFICATE-----"
    )
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _deny_unless_same_cert(outcome: Any, entry: str, good_device: Issued) -> None:
    if outcome.answer == ALLOW:
        assert _lenient_der(entry) == good_device.der, f"mutated chain allowed: {entry!r}"


# -- arbitrary input -------------------------------------------------------------------------


@prop(150)
@given(event=json_values)
def test_arbitrary_json_is_denied_without_exception(primed: Invoker, event: Any) -> None:
    outcome = primed(event)
    assert outcome.answer == DENY


@prop(150)
@given(
    connection=json_values | st.fixed_dictionaries({"id": json_values | st.text(max_size=30)}),
    principal=json_values,
    server_name=json_values,
    chain=json_values | st.lists(json_values | st.text(max_size=60), max_size=6),
    extra=st.dictionaries(st.text(max_size=10), json_values, max_size=3),
)
def test_event_shaped_garbage_is_denied(
    *, primed: Invoker, connection: Any, principal: Any, server_name: Any, chain: Any, extra: Any
) -> None:
    event = {
        **extra,
        "connectionMetadata": connection,
        "principalId": principal,
        "serverName": server_name,
        "clientCertificateChain": chain,
    }
    assert primed(event).answer == DENY


@prop(100)
@given(
    first=st.sampled_from(["device-pem", "device-der", "issuing-ca", "rogue-device", "junk"]),
    rest=st.lists(st.sampled_from(["issuing-ca", "root", "device-pem", "junk"]), max_size=5),
    connection_id=st.text(max_size=40),
    principal_id=st.text(max_size=40),
    extra=st.dictionaries(st.text(max_size=10), json_scalars, max_size=2),
)
def test_only_the_good_leaf_is_allowed(
    *,
    primed: Invoker,
    pki: Pki,
    good_device: Issued,
    first: str,
    rest: list[str],
    connection_id: str,
    principal_id: str,
    extra: dict[str, Any],
) -> None:
    rogue = pki.issue_device(issuer=pki.rogue_ca)
    entries = {
        "device-pem": good_device.pem.decode(),
        "device-der": base64.b64encode(good_device.der).decode(),
        "issuing-ca": pki.issuing_ca.pem.decode(),
        "root": pki.root.pem.decode(),
        "rogue-device": rogue.pem.decode(),
        "junk": "not a certificate",
    }
    event = make_event(
        *(entries[name] for name in [first, *rest]),
        connection_id=connection_id,
        principal_id=principal_id,
    )
    outcome = primed({**extra, **event})
    if outcome.answer == ALLOW:
        assert first.startswith("device-")
        assert "junk" not in rest
        assert len(rest) < 5
        assert outcome.log["connectionId"] == connection_id[:256]


# -- mutations of a good device's chain -------------------------------------------------------


@prop(300)
@given(data=st.data(), encoding=st.sampled_from(["pem", "der"]))
def test_der_byte_flips_are_never_allowed(
    primed: Invoker, good_device: Issued, data: st.DataObject, encoding: str
) -> None:
    der = bytearray(good_device.der)
    index = data.draw(st.integers(0, len(der) - 1), label="index")
    der[index] ^= data.draw(st.integers(1, 255), label="xor")
    body = base64.b64encode(bytes(der)).decode()
    entry = (
        f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
        if encoding == "pem"
        else body
    )
    outcome = primed(make_event(entry))
    assert outcome.answer == DENY, outcome


@prop(150)
@given(data=st.data())
def test_pem_text_mutations_are_never_allowed(
    primed: Invoker, good_device: Issued, data: st.DataObject
) -> None:
    pem = good_device.pem.decode()
    index = data.draw(st.integers(0, len(pem) - 1), label="index")
    replacement = data.draw(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-\n ")
        | st.text(max_size=2),
        label="replacement",
    )
    mutated = pem[:index] + replacement + pem[index + 1 :]
    outcome = primed(make_event(mutated))
    _deny_unless_same_cert(outcome, mutated, good_device)


@prop(80)
@given(data=st.data(), encoding=st.sampled_from(["pem-text", "der"]))
def test_truncations_are_never_allowed(
    primed: Invoker, good_device: Issued, data: st.DataObject, encoding: str
) -> None:
    if encoding == "der":
        cut = data.draw(st.integers(0, len(good_device.der) - 1), label="cut")
        entry = base64.b64encode(good_device.der[:cut]).decode()
        outcome = primed(make_event(entry))
        assert outcome.answer == DENY, outcome
    else:
        pem = good_device.pem.decode()
        cut = data.draw(st.integers(0, len(pem) - 1), label="cut")
        entry = pem[:cut]
        _deny_unless_same_cert(primed(make_event(entry)), entry, good_device)


@prop(80)
@given(
    garbage=st.lists(
        st.binary(min_size=1, max_size=200).map(lambda b: base64.b64encode(b).decode())
        | st.text(min_size=1, max_size=80)
        | st.binary(min_size=1, max_size=200).map(
            lambda b: (
                "-----BEGIN CERTIFICATE-----\n"
                + base64.b64encode(b).decode()
                + "\n-----END CERTIFICATE-----\n"
            )
        ),
        min_size=1,
        max_size=4,
    ),
    at=st.integers(0, 4),
)
def test_extra_garbage_entries_are_never_allowed(
    primed: Invoker, good_device: Issued, garbage: list[str], at: int
) -> None:
    # Garbage before the leaf, after it, or both: never an allow.
    position = min(at, len(garbage))
    chain = [*garbage[:position], good_device.pem.decode(), *garbage[position:]]
    outcome = primed(make_event(*chain))
    assert outcome.answer == DENY, outcome


def test_swapped_chain_order_is_denied(primed: Invoker, pki: Pki, good_device: Issued) -> None:
    outcome = primed(make_event(pki.issuing_ca, good_device))
    assert (outcome.answer, outcome.reason) == (DENY, "NOT_A_DEVICE_CERT"), outcome


@pytest.mark.parametrize("leaf_name", ["issuing_ca", "delegate", "delegate_no_eku"])
def test_non_device_certificate_as_leaf_is_denied(
    pki: Pki, configure: Configure, invoke: Invoker, leaf_name: str
) -> None:
    # With the root trusted too, the issuing CA's own certificate *is* directly issued by a
    # trusted CA, and this responder (signed by the leaf's issuer) says good for anything; a CA
    # certificate or an OCSP-signing certificate is still not a device (TLS client) certificate.
    # (delegate_no_eku carries clientAuth, so it is a device as far as usage goes.)
    leaf = getattr(pki, leaf_name)
    signer = pki.root if leaf_name == "issuing_ca" else pki.issuing_ca
    behaviour = answer_with(lambda r: build_answer(r, signer=signer))
    with LoopbackServer(behaviour) as server:
        configure(trusted=[pki.root, pki.issuing_ca], responder_url=server.url, **FAST)
        outcome = invoke(make_event(leaf))
        if leaf_name == "delegate_no_eku":
            assert (outcome.answer, outcome.reason) == (ALLOW, "GOOD"), outcome
            assert server.request_count == 1
        else:
            assert (outcome.answer, outcome.reason) == (DENY, "NOT_A_DEVICE_CERT"), outcome
            assert server.request_count == 0


def test_json_round_trip_of_answers(primed: Invoker, good_device: Issued) -> None:
    # The answer must serialize as the exact JSON IoT Core expects.
    answer, _out, _err = primed.raw(make_event(good_device))
    assert json.dumps(answer) == '{"isAuthenticated": true}'
