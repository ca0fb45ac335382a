"""``ocsp_core.transport``: the ``http.client`` fetcher against real loopback HTTP servers and
against raw TCP peers that misbehave below HTTP (``tests/lambdas/support/hostile.py``)."""

from __future__ import annotations

import contextlib
import http.client
import itertools
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from ocsp_core import transport
from ocsp_core.transport import (
    MAX_HEADER_LINES,
    MAX_INTERIM_RESPONSES,
    MAX_LINE_BYTES,
    FetchResult,
    FetchStatus,
    HttpFetcher,
    OcspHttpClient,
)

from tests.lambdas.support.hostile import (
    CATEGORIES,
    OK_HEAD,
    HostilePeer,
    Wire,
    answer_after,
    drip_status_line,
)
from tests.lambdas.support.loopback import (
    LoopbackServer,
    RawListener,
    Reply,
    closed_port_url,
    fixed,
    untrusted_tls_context,
)
from tests.lambdas.support.pki import Pki

BODY = b"\x30\x03\x0a\x01\x00"
MAX = 1024


def fetcher_for(*urls: str, deadline_in: float = 10.0, max_bytes: int = MAX) -> HttpFetcher:
    return HttpFetcher(
        allowed_urls=frozenset(urls),
        max_response_bytes=max_bytes,
        deadline=time.monotonic() + deadline_in,
    )


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(path="/") as srv:
        yield srv


def test_answer_is_returned_with_latency(server: LoopbackServer) -> None:
    server.behaviour = fixed(Reply(body=BODY))
    result = fetcher_for(server.url).fetch(server.url, b"request-der", timeout=2)
    assert result.status is FetchStatus.ANSWERED
    assert result.body == BODY
    assert result.requested
    assert result.latency_ms is not None
    assert result.latency_ms > 0
    (request,) = server.requests
    assert request.method == "POST"
    assert request.body == b"request-der"
    assert request.headers["content-type"] == "application/ocsp-request"
    assert request.headers["accept-encoding"] == "identity"


def test_content_type_parameters_are_accepted(server: LoopbackServer) -> None:
    server.behaviour = fixed(Reply(body=BODY, content_type="Application/OCSP-Response; x=y"))
    assert fetcher_for(server.url).fetch(server.url, b"r", timeout=2).body == BODY


@pytest.mark.parametrize("content_type", ["text/html", "application/ocsp-request", None])
def test_fails_on_a_wrong_content_type(server: LoopbackServer, content_type: str | None) -> None:
    server.behaviour = fixed(Reply(body=BODY, content_type=content_type))
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=2)
    assert result.status is FetchStatus.BAD_CONTENT_TYPE
    assert not result.unavailable


def test_fails_on_a_content_encoding(server: LoopbackServer) -> None:
    server.behaviour = fixed(Reply(body=BODY, headers=(("Content-Encoding", "gzip"),)))
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=2)
    assert result.status is FetchStatus.BAD_CONTENT_TYPE


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_http_5xx_is_an_availability_failure(server: LoopbackServer, code: int) -> None:
    server.behaviour = fixed(Reply(status=code, body=b"down", content_type="text/plain"))
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=2)
    assert result.status is FetchStatus.HTTP_5XX
    assert result.unavailable


@pytest.mark.parametrize("code", [204, 400, 403, 404])
def test_other_http_statuses_are_answers_that_fail(server: LoopbackServer, code: int) -> None:
    server.behaviour = fixed(Reply(status=code, body=BODY))
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=2)
    assert result.status is FetchStatus.HTTP_STATUS
    assert not result.unavailable


def test_redirects_are_not_followed(server: LoopbackServer) -> None:
    with LoopbackServer(fixed(Reply(body=BODY)), path="/") as target:
        server.behaviour = fixed(Reply(status=302, headers=(("Location", target.url),)))
        result = fetcher_for(server.url, target.url).fetch(server.url, b"r", timeout=2)
        assert result.status is FetchStatus.HTTP_STATUS
        assert "302" in result.detail
        assert target.request_count == 0


def test_body_of_exactly_the_cap_is_read(server: LoopbackServer) -> None:
    server.behaviour = fixed(Reply(body=b"a" * MAX, content_length=-1))
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=2)
    assert result.status is FetchStatus.ANSWERED
    assert len(result.body) == MAX


@pytest.mark.parametrize("content_length", [None, -1], ids=["declared", "close-delimited"])
def test_fails_on_a_body_over_the_cap(server: LoopbackServer, content_length: int | None) -> None:
    server.behaviour = fixed(Reply(body=b"a" * 65536, repeat=64, content_length=content_length))
    started = time.monotonic()
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=5)
    assert result.status is FetchStatus.TOO_LARGE
    assert time.monotonic() - started < 4


def test_a_lying_content_length_cannot_extend_the_read(server: LoopbackServer) -> None:
    server.behaviour = fixed(Reply(body=b"a" * 65536, content_length=10))
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=2)
    assert result.status is FetchStatus.ANSWERED
    assert len(result.body) == 10


def test_a_slow_server_times_out(server: LoopbackServer) -> None:
    server.behaviour = fixed(Reply(body=BODY, delay=5))
    started = time.monotonic()
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=0.5)
    elapsed = time.monotonic() - started
    assert result.status is FetchStatus.TIMEOUT
    assert result.unavailable
    assert 0.4 < elapsed < 2.0


def test_a_dripping_body_hits_the_hard_deadline(server: LoopbackServer) -> None:
    """One byte every 0.2 s would take 200 s; each read is quick, so only a hard deadline
    stops it."""
    server.behaviour = fixed(Reply(body=b"a" * 1000, drip_interval=0.2))
    started = time.monotonic()
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=1.0)
    elapsed = time.monotonic() - started
    assert result.status is FetchStatus.TIMEOUT
    assert elapsed < 2.5


def test_the_deadline_wins_over_a_longer_timeout(server: LoopbackServer) -> None:
    server.behaviour = fixed(Reply(body=BODY, delay=5))
    started = time.monotonic()
    result = fetcher_for(server.url, deadline_in=0.5).fetch(server.url, b"r", timeout=4)
    assert result.status is FetchStatus.TIMEOUT
    assert time.monotonic() - started < 2.0


def test_no_request_when_the_deadline_has_passed(server: LoopbackServer) -> None:
    server.behaviour = fixed(Reply(body=BODY))
    result = fetcher_for(server.url, deadline_in=-1).fetch(server.url, b"r", timeout=2)
    assert result.status is FetchStatus.TIMEOUT
    assert not result.requested
    assert server.request_count == 0


def test_connection_refused_is_unreachable() -> None:
    url = closed_port_url()
    result = fetcher_for(url).fetch(url, b"r", timeout=2)
    assert result.status is FetchStatus.UNREACHABLE
    assert result.unavailable


def test_a_hang_up_is_unreachable(server: LoopbackServer) -> None:
    server.behaviour = fixed(Reply(hang_up=True))
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=2)
    assert result.status is FetchStatus.UNREACHABLE


@pytest.mark.parametrize("url_form", ["other", "file", "differently-written"])
def test_urls_off_the_allow_list_are_never_contacted(url_form: str) -> None:
    with RawListener() as listener:
        url = {
            "other": listener.url,
            "file": "file:///etc/passwd",
            "differently-written": listener.url.replace("127.0.0.1", "127.0.0.01"),
        }[url_form]
        allowed = "http://ocsp.example.com/" if url_form != "differently-written" else listener.url
        result = fetcher_for(allowed).fetch(url, b"r", timeout=1)
        assert result.status is FetchStatus.URL_NOT_ALLOWED
        assert not result.requested
        assert listener.connections_seen() == 0


def test_proxy_settings_from_the_environment_are_ignored(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.behaviour = fixed(Reply(body=BODY))
    with RawListener() as proxy:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        result = fetcher_for(server.url).fetch(server.url, b"r", timeout=2)
        assert result.status is FetchStatus.ANSWERED
        assert proxy.connections_seen() == 0


class _KeepAliveHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections = 0
    lock = threading.Lock()

    def setup(self) -> None:
        super().setup()
        with self.lock:
            type(self).connections += 1

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/ocsp-response")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


@pytest.mark.parametrize(("idle", "connections"), [(50.0, 1), (0.0, 3)])
def test_connections_are_kept_alive_across_fetches_unless_idle(
    idle: float, connections: int
) -> None:
    """The client keeps its session across fetches: a warm Lambda reuses its connection, but
    not one idle for longer than ``keepalive_idle_seconds`` (a NAT may have forgotten it)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveHandler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        _KeepAliveHandler.connections = 0
        client = OcspHttpClient(keepalive_idle_seconds=idle)
        for _ in range(3):
            fetcher = HttpFetcher(
                allowed_urls=frozenset({url}),
                max_response_bytes=MAX,
                deadline=time.monotonic() + 10,
                client=client,
            )
            assert fetcher.fetch(url, b"r", timeout=2).status is FetchStatus.ANSWERED
            time.sleep(0.01)
        assert _KeepAliveHandler.connections == connections
        client.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("declared", ["\u00b2", "-5", "1e3", "99999999999999999999", "5, 6"])
def test_a_hostile_content_length_never_looks_like_an_outage(
    server: LoopbackServer, declared: str
) -> None:
    """Whatever the header says, the result is a bounded answer or a denial, never a reason
    to fail open."""
    server.behaviour = fixed(
        Reply(body=BODY * 300, content_length=-1, headers=(("Content-Length", declared),))
    )
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=2)
    assert not result.unavailable, result
    assert result.status in (
        FetchStatus.ANSWERED,
        FetchStatus.TOO_LARGE,
        FetchStatus.PROTOCOL_ERROR,
    )
    assert len(result.body) <= MAX


def test_a_truncated_body_is_a_broken_answer(server: LoopbackServer) -> None:
    server.behaviour = fixed(Reply(body=BODY, content_length=1000))
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=2)
    assert result.status is FetchStatus.PROTOCOL_ERROR
    assert not result.unavailable


class _RawSpeaker:
    """A TCP server on 127.0.0.1 that answers each connection with fixed bytes, then closes."""

    def __init__(self, payload: bytes) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(5)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/"
        self._payload = payload
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self._sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(2)
            with contextlib.suppress(OSError):
                conn.recv(65536)
                conn.sendall(self._payload)

    def close(self) -> None:
        self._sock.close()
        self._thread.join(timeout=5)


@pytest.mark.parametrize(
    "payload",
    [b"SSH-2.0-OpenSSH_9.6\r\n", b"HTTP/1.1 abc\r\n\r\n", b"HTTP/1.1 200 OK\r\n" + b"X" * 70000],
    ids=["not-http", "bad-status-line", "header-too-long"],
)
def test_a_peer_that_does_not_speak_http_is_a_broken_answer(payload: bytes) -> None:
    speaker = _RawSpeaker(payload)
    try:
        result = fetcher_for(speaker.url).fetch(speaker.url, b"r", timeout=2)
    finally:
        speaker.close()
    assert result.status is FetchStatus.PROTOCOL_ERROR, result
    assert not result.unavailable


def test_tls_failure_is_classified_as_such(tls_server: LoopbackServer) -> None:
    fetcher = HttpFetcher(
        allowed_urls=frozenset({tls_server.url}),
        max_response_bytes=4096,
        deadline=time.monotonic() + 5,
    )
    result = fetcher.fetch(tls_server.url, b"request", timeout=2)
    assert result.status is FetchStatus.TLS_ERROR, result
    assert not result.unavailable


def test_a_hang_up_during_the_tls_handshake_is_still_unreachable() -> None:
    """Reads the ClientHello, then closes: an outage (fail mode applies), not a bad answer."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(5)
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/ocsp"

        def hang_up() -> None:
            with contextlib.suppress(OSError):
                conn, _ = listener.accept()
                with conn:
                    conn.settimeout(5)
                    conn.recv(4096)

        thread = threading.Thread(target=hang_up, daemon=True)
        thread.start()
        fetcher = HttpFetcher(
            allowed_urls=frozenset({url}), max_response_bytes=4096, deadline=time.monotonic() + 5
        )
        result = fetcher.fetch(url, b"request", timeout=2)
        thread.join(timeout=5)
    assert result.status is FetchStatus.UNREACHABLE, result
    assert result.unavailable


def test_unrecognised_transport_error_is_not_an_outage() -> None:
    # Not normalized on purpose: the fetcher is handed a URL that cannot be connected to.
    url = "http://a..b/ocsp"
    fetcher = HttpFetcher(
        allowed_urls=frozenset({url}), max_response_bytes=4096, deadline=time.monotonic() + 5
    )
    result = fetcher.fetch(url, b"request", timeout=1)
    assert result.status is FetchStatus.ERROR, result
    assert not result.unavailable


def test_two_clients_never_share_a_connection() -> None:
    """Each handler owns its client: two clients in one process open their own connections,
    and a closed client opens a new one."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveHandler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        _KeepAliveHandler.connections = 0
        first, second = OcspHttpClient(), OcspHttpClient(user_agent="other")
        for client in (first, second, first, second):
            fetcher = HttpFetcher(
                allowed_urls=frozenset({url}),
                max_response_bytes=MAX,
                deadline=time.monotonic() + 10,
                client=client,
            )
            assert fetcher.fetch(url, b"r", timeout=2).status is FetchStatus.ANSWERED
        assert _KeepAliveHandler.connections == 2
        first.close()
        fetcher = HttpFetcher(
            allowed_urls=frozenset({url}),
            max_response_bytes=MAX,
            deadline=time.monotonic() + 10,
            client=first,
        )
        assert fetcher.fetch(url, b"r", timeout=2).status is FetchStatus.ANSWERED
        assert _KeepAliveHandler.connections == 3
        second.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# -- the deadline holds against any responder --------------------------------------------------

#: The budget of the deadline tests, and the margin an answer may take beyond it.
BUDGET = 1.0
MARGIN = 0.75


def _ocsp_threads() -> list[str]:
    """Threads of the transport still alive, other than the (idle) watchdog."""
    return [
        t.name
        for t in threading.enumerate()
        if t.name.startswith("ocsp-") and t.name != "ocsp-watchdog"
    ]


@pytest.mark.parametrize("name", list(CATEGORIES))
def test_every_byte_is_bounded_by_the_deadline(name: str) -> None:
    """Whatever the peer does (or does not do), the fetch returns by the deadline, the peer
    sees the connection closed right then, and no thread of ours is left reading."""
    hostile = CATEGORIES[name]
    expected = FetchStatus.TIMEOUT if hostile.outage else FetchStatus.PROTOCOL_ERROR
    client = OcspHttpClient()
    with HostilePeer(
        hostile.script, read_request=hostile.read_request, scheme=hostile.scheme
    ) as peer:
        started = time.monotonic()
        result = client.fetch(
            peer.url, b"r", timeout=5, deadline=started + BUDGET, max_response_bytes=MAX
        )
        returned = time.monotonic()
        (connection,) = peer.wait_closed(1)
        assert not peer.errors
    client.close()
    assert result.status is expected, result
    assert result.requested
    assert returned - started < BUDGET + MARGIN, result
    assert _ocsp_threads() == []
    assert connection.closed_at is not None, "the client left the connection open"
    assert connection.closed_at < returned + MARGIN
    if hostile.outage:
        assert "deadline reached while" in result.detail, result
        # closed at the deadline: not before, and not long after
        assert connection.closed_at > started + BUDGET - 0.05


@pytest.mark.parametrize(
    ("interims", "expected"),
    [
        (0, FetchStatus.ANSWERED),
        (MAX_INTERIM_RESPONSES, FetchStatus.ANSWERED),
        (MAX_INTERIM_RESPONSES + 1, FetchStatus.PROTOCOL_ERROR),
    ],
)
def test_interim_responses_up_to_the_limit_are_skipped(
    interims: int, expected: FetchStatus
) -> None:
    with HostilePeer(answer_after(interims, lambda _body: BODY)) as peer:
        result = fetcher_for(peer.url).fetch(peer.url, b"r", timeout=2)
    assert result.status is expected, result
    if expected is FetchStatus.ANSWERED:
        assert result.body == BODY


def test_http_client_bounds_are_the_documented_ones() -> None:
    """The docs quote these limits; they are ``http.client``'s own."""
    assert MAX_HEADER_LINES == http.client._MAXHEADERS  # type: ignore[attr-defined]
    assert MAX_LINE_BYTES == http.client._MAXLINE  # type: ignore[attr-defined]


def test_many_slow_peers_at_once_do_not_delay_a_healthy_one(server: LoopbackServer) -> None:
    """No resource is shared between requests: eight dripping peers in flight on one client
    leave a healthy responder's answer as fast as ever."""
    server.behaviour = fixed(Reply(body=BODY))
    client = OcspHttpClient()
    results: list[FetchResult] = []
    with HostilePeer(drip_status_line()) as peer:
        deadline = time.monotonic() + 2 * BUDGET
        threads = [
            threading.Thread(
                target=lambda: results.append(
                    client.fetch(
                        peer.url, b"r", timeout=5, deadline=deadline, max_response_bytes=MAX
                    )
                )
            )
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        until = time.monotonic() + 2
        while len(peer.connections) < 8 and time.monotonic() < until:
            time.sleep(0.01)
        assert len(peer.connections) == 8
        healthy = []
        for _ in range(5):
            started = time.monotonic()
            result = client.fetch(
                server.url, b"r", timeout=5, deadline=started + BUDGET, max_response_bytes=MAX
            )
            healthy.append((result.status, time.monotonic() - started))
        for thread in threads:
            thread.join(timeout=5)
        closed = peer.wait_closed(8)
    client.close()
    assert [status for status, _ in healthy] == [FetchStatus.ANSWERED] * 5
    assert max(seconds for _, seconds in healthy) < BUDGET / 2, healthy
    assert [r.status for r in results] == [FetchStatus.TIMEOUT] * 8
    assert all(c.closed_at is not None for c in closed)


# -- keep-alive ---------------------------------------------------------------------------------


def _keep_alive_answer() -> bytes:
    return OK_HEAD + f"Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY


def test_a_connection_the_peer_closed_while_idle_is_not_an_outage() -> None:
    """The peer answers, keeps the connection, then drops it when the next request comes: the
    request is sent again on a new connection (an idle connection going away is not the
    responder failing)."""

    def script(wire: Wire, _body: bytes) -> None:
        if wire.send(_keep_alive_answer()):
            wire.read_request()  # and hang up without answering

    client = OcspHttpClient()
    with HostilePeer(script) as peer:
        first = client.fetch(
            peer.url, b"r", timeout=2, deadline=time.monotonic() + 5, max_response_bytes=MAX
        )
        second = client.fetch(
            peer.url, b"r", timeout=2, deadline=time.monotonic() + 5, max_response_bytes=MAX
        )
        connections = len(peer.connections)
    client.close()
    assert (first.status, second.status) == (FetchStatus.ANSWERED, FetchStatus.ANSWERED), second
    assert connections == 2


def test_a_connection_the_peer_closed_politely_is_not_reused() -> None:
    def script(wire: Wire, _body: bytes) -> None:
        wire.send(_keep_alive_answer())  # then the peer closes (end of script)

    client = OcspHttpClient()
    with HostilePeer(script) as peer:
        for _ in range(2):
            result = client.fetch(
                peer.url, b"r", timeout=2, deadline=time.monotonic() + 5, max_response_bytes=MAX
            )
            assert result.status is FetchStatus.ANSWERED, result
            time.sleep(0.05)  # the FIN arrives
        assert len(peer.connections) == 2
    client.close()


def test_a_connection_that_timed_out_is_never_reused() -> None:
    """The first connection stalls until the deadline; the next fetch opens a new one."""
    seen = itertools.count()

    def script(wire: Wire, _body: bytes) -> None:
        if next(seen) == 0:
            wire.hold()
        else:
            wire.send(_keep_alive_answer())
            wire.hold(2)

    client = OcspHttpClient()
    with HostilePeer(script) as peer:
        stalled = client.fetch(
            peer.url, b"r", timeout=0.3, deadline=time.monotonic() + 5, max_response_bytes=MAX
        )
        answered = client.fetch(
            peer.url, b"r", timeout=2, deadline=time.monotonic() + 5, max_response_bytes=MAX
        )
        (first, second) = peer.wait_closed(1) + peer.connections[1:2]
    client.close()
    assert stalled.status is FetchStatus.TIMEOUT
    assert answered.status is FetchStatus.ANSWERED, answered
    assert first.closed_at is not None
    assert second.accepted_at > first.accepted_at


def test_at_most_one_idle_connection_per_origin(server: LoopbackServer) -> None:
    """Two concurrent fetches to one keep-alive origin leave one idle connection, not two."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveHandler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        client = OcspHttpClient()
        first = client._open(transport._Target.parse(url), time.monotonic() + 5)
        second = client._open(transport._Target.parse(url), time.monotonic() + 5)
        assert isinstance(first, transport._Connection)
        assert isinstance(second, transport._Connection)
        origin = transport._Target.parse(url).origin
        client._keep(origin, first)
        client._keep(origin, second)
        assert len(client._idle) == 1
        assert second.sock is None  # the second was closed
        client.close()
        assert client._idle == {}
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_https_with_a_trusted_certificate_answers_and_keeps_the_connection(
    pki: Pki, tmp_path: Path
) -> None:
    """The handshake is verified against the client's trust store (here: the test CA) and the
    TLS connection is reused like a plain one; the Host header names the port."""
    context = untrusted_tls_context(pki, tmp_path)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveHandler)
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        url = f"https://127.0.0.1:{httpd.server_address[1]}/"
        trust = ssl.create_default_context(cadata=pki.other_ca.pem.decode())
        client = OcspHttpClient(tls_context=trust)
        _KeepAliveHandler.connections = 0
        for _ in range(3):
            result = client.fetch(
                url, b"r", timeout=2, deadline=time.monotonic() + 5, max_response_bytes=MAX
            )
            assert result.status is FetchStatus.ANSWERED, result
        assert _KeepAliveHandler.connections == 1
        client.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_a_host_name_is_resolved_off_the_calling_thread(server: LoopbackServer) -> None:
    server.behaviour = fixed(Reply(body=BODY))
    url = server.url.replace("127.0.0.1", "localhost")
    result = fetcher_for(url).fetch(url, b"r", timeout=2)
    assert result.status is FetchStatus.ANSWERED, result
    (request,) = server.requests
    assert request.headers["host"] == f"localhost:{server.port}"


def test_closing_the_client_ends_the_watchdog(server: LoopbackServer) -> None:
    server.behaviour = fixed(Reply(body=BODY))
    client = OcspHttpClient()
    assert (
        client.fetch(
            server.url, b"r", timeout=2, deadline=time.monotonic() + 5, max_response_bytes=MAX
        ).status
        is FetchStatus.ANSWERED
    )
    watchdog = client._watchdog._thread
    assert watchdog is not None
    assert watchdog.is_alive()
    client.close()
    watchdog.join(timeout=2)
    assert not watchdog.is_alive()
    # and a closed client still works (a new watchdog starts)
    assert (
        client.fetch(
            server.url, b"r", timeout=2, deadline=time.monotonic() + 5, max_response_bytes=MAX
        ).status
        is FetchStatus.ANSWERED
    )
    client.close()


def test_a_url_that_is_not_http_is_an_error_without_a_request() -> None:
    result = OcspHttpClient().fetch(
        "ftp://127.0.0.1/x", b"r", timeout=1, deadline=time.monotonic() + 1, max_response_bytes=MAX
    )
    assert (result.status, result.requested) == (FetchStatus.ERROR, False)


def test_a_responder_that_never_accepts_times_out_in_connect() -> None:
    """A listener whose accept queue is full drops the SYN (Linux): ``connect`` itself stalls,
    and its timeout (the time left) ends it at the deadline."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.1)
        try:
            started = time.monotonic()
            result = OcspHttpClient().fetch(
                f"http://127.0.0.1:{port}/",
                b"r",
                timeout=5,
                deadline=started + BUDGET,
                max_response_bytes=MAX,
            )
            elapsed = time.monotonic() - started
        finally:
            for filler in fillers:
                filler.close()
    assert result.status is FetchStatus.TIMEOUT, result
    assert result.unavailable
    assert "connect" in result.detail
    assert BUDGET - 0.05 < elapsed < BUDGET + MARGIN
