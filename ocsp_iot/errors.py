"""The errors ``ocsp-iot`` turns into one line and an exit code (see ``ocsp_iot.cli``)."""

from __future__ import annotations


class OcspIotError(Exception):
    """An expected failure with a message meant for the user."""

    #: The process exit code (``ocsp_iot.cli.ExitCode``) this error ends the command with.
    exit_code = 2


class InputError(OcspIotError):
    """Bad input: a missing or unreadable file, not a certificate, a key that does not match,
    a bad argument value (exit code 2)."""


class UnreachableError(OcspIotError):
    """A host could not be reached: refused, timed out, no such name (exit code 3)."""

    exit_code = 3


class MissingExtraError(OcspIotError):
    """An optional dependency is not installed (exit code 2)."""

    def __init__(self, *, command: str, module: str, extra: str) -> None:
        super().__init__(
            f"{command} needs {module}, which is not installed: "
            f"pip install 'ocsp-iot-constructs[{extra}]'"
        )


class MissingProgramError(OcspIotError):
    """A program the command runs is not installed: ``openssl``, ``mosquitto``,
    ``mosquitto_pub``, ``mosquitto_sub`` (exit code 10)."""

    exit_code = 10


class ConflictError(OcspIotError):
    """The command refuses to act: the name is taken by another device, or the registry holds
    something that contradicts the device folder (exit code 1). Nothing was changed."""

    exit_code = 1


class NotPermittedError(OcspIotError):
    """AWS refused the caller: no credentials, or no permission for an action (exit code 5)."""

    exit_code = 5


class CaNotActiveError(OcspIotError):
    """The certificate authority exists but is not ACTIVE (exit code 6)."""

    exit_code = 6


class NotFoundError(OcspIotError):
    """An AWS resource the command was pointed at does not exist there: the CA (or it lives in
    another region or account), the IoT policy, the table (exit code 7)."""

    exit_code = 7


class ThrottledError(OcspIotError):
    """AWS throttled the calls, even after the SDK's retries (exit code 8)."""

    exit_code = 8


class AwsServiceError(OcspIotError):
    """Any other error an AWS service answered with (exit code 9)."""

    exit_code = 9
