"""The errors ``ocsp-iot`` turns into one line and an exit code (see ``ocsp_iot.cli``)."""

from __future__ import annotations


class OcspIotError(Exception):
    """An expected failure with a message meant for the user."""


class InputError(OcspIotError):
    """Bad input: a missing or unreadable file, not a certificate, a key that does not match,
    a bad argument value (exit code 2)."""


class UnreachableError(OcspIotError):
    """A host could not be reached: refused, timed out, no such name (exit code 3)."""


class MissingExtraError(OcspIotError):
    """An optional dependency is not installed (exit code 2)."""

    def __init__(self, *, command: str, module: str, extra: str) -> None:
        super().__init__(
            f"{command} needs {module}, which is not installed: "
            f"pip install 'ocsp-iot-constructs[{extra}]'"
        )
