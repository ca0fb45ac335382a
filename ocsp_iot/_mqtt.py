"""The two MQTT 3.1.1 packets the probe needs: CONNECT out, CONNACK in."""

from __future__ import annotations

#: CONNACK return codes (MQTT 3.1.1, 3.2.2.3).
CONNACK_CODES = {
    0: "accepted",
    1: "unacceptable protocol version",
    2: "identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}
DISCONNECT = b"\xe0\x00"


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def connect_packet(client_id: str, *, keepalive_seconds: int = 30) -> bytes:
    """A CONNECT with a clean session and no credentials."""
    ident = client_id.encode("utf-8")
    if len(ident) > 65_535:
        msg = "client id longer than 65535 bytes"
        raise ValueError(msg)
    variable = b"\x00\x04MQTT\x04\x02" + keepalive_seconds.to_bytes(2, "big")
    payload = len(ident).to_bytes(2, "big") + ident
    body = variable + payload
    return b"\x10" + _remaining_length(len(body)) + body


def parse_connack(data: bytes) -> int | None:
    """The return code of a CONNACK at the start of ``data``; ``None`` if it is not one."""
    if len(data) < 4 or data[0] != 0x20 or data[1] != 0x02:
        return None
    return data[3]
