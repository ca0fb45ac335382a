"""The ``ocsp-iot`` command.

Exit codes (the same for every subcommand, so scripts can rely on them):

====  ==============================================================================
0     allowed / accepted / ok (``demo``: every step as expected)
1     denied / refused (``demo``: a step showed something else than expected)
2     usage or input error (missing file, not a certificate, key that does not match,
      bad option value, a missing optional dependency)
3     could not reach: the host (``probe``), or the responder when that is why the
      pre-auth handler denied (``check``, reason ``RESPONDER_UNAVAILABLE``)
4     internal error (a bug: one line on stderr, never a traceback)
5     AWS: no credentials, or not permitted (``enroll``, ``revoke``)
6     AWS: the certificate authority is not ACTIVE
7     AWS: not found: the CA (or it is in another region or account), the IoT policy,
      the table
8     AWS: throttled, even after the SDK's retries
9     AWS: any other error a service answered with
10    a program the command runs is not installed (``demo``: openssl, mosquitto,
      mosquitto_pub, mosquitto_sub)
130   interrupted (Ctrl-C)
====  ==============================================================================

``enroll`` and ``revoke`` exit 1 when they refuse to act (a thing name taken by another
certificate, a revoked device enrolled again): nothing was changed.

With ``--json`` the result (or the error) is one JSON object on stdout; progress lines and, in
text mode, errors go to stderr.
"""

from __future__ import annotations

import argparse
import enum
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ocsp_iot.errors import InputError, MissingExtraError, OcspIotError, UnreachableError

PROG = "ocsp-iot"


class ExitCode(enum.IntEnum):
    OK = 0
    REFUSED = 1
    INPUT_ERROR = 2
    UNREACHABLE = 3
    INTERNAL_ERROR = 4
    NOT_PERMITTED = 5
    CA_NOT_ACTIVE = 6
    NOT_FOUND = 7
    THROTTLED = 8
    AWS_ERROR = 9
    MISSING_PROGRAM = 10
    INTERRUPTED = 130


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str, code: ExitCode) -> int:
    if args.json:
        sys.stdout.write(json.dumps({**payload, "exitCode": int(code)}, indent=2) + "\n")
    else:
        sys.stdout.write(text + "\n")
    sys.stdout.flush()
    return int(code)


def _cmd_check(args: argparse.Namespace) -> int:
    from ocsp_iot.check import run_check  # noqa: PLC0415 - imports the Lambda code

    report = run_check(
        device_path=args.device,
        ca_path=args.ca,
        responder=args.responder,
        env_items=args.env,
        server_name=args.servername,
        timeout=args.timeout,
    )
    if report.allowed:
        code = ExitCode.OK
    elif report.reason == "RESPONDER_UNAVAILABLE":
        code = ExitCode.UNREACHABLE
    else:
        code = ExitCode.REFUSED
    return _emit(args, report.as_json(), report.as_text(), code)


def _cmd_probe(args: argparse.Namespace) -> int:
    from ocsp_iot.probe import run_probe  # noqa: PLC0415 - imports pyOpenSSL

    report = run_probe(
        target=args.target,
        server_name=args.servername,
        cert_path=args.cert,
        key_path=args.key,
        ca_path=args.ca,
        timeout=args.timeout,
        wait_seconds=args.wait,
        mqtt=args.mqtt,
        client_id=args.client_id,
        require_staple=args.require_staple,
    )
    if report.unreachable:
        code = ExitCode.UNREACHABLE
    else:
        code = ExitCode.OK if report.ok() else ExitCode.REFUSED
    return _emit(args, report.as_json(), report.as_text(), code)


def _cmd_demo(args: argparse.Namespace) -> int:
    from ocsp_iot.demo import demo_exit_code, run_demo  # noqa: PLC0415

    report = run_demo(keep=args.keep, server_name=args.servername)
    return _emit(args, report.as_json(), report.as_text(), ExitCode(demo_exit_code(report)))


def _cmd_enroll(args: argparse.Namespace) -> int:
    from ocsp_iot import commands  # noqa: PLC0415 - imports boto3 only when needed

    payload, text, code = commands.enroll(args)
    return _emit(args, payload, text, ExitCode(code))


def _cmd_revoke(args: argparse.Namespace) -> int:
    from ocsp_iot import commands  # noqa: PLC0415

    payload, text = commands.revoke(args)
    return _emit(args, payload, text, ExitCode.OK)


def _days(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 3650:
        msg = f"must be a whole number of days from 1 to 3650, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        msg = f"must be a number of seconds, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not 0 < value <= 3600:
        msg = f"must be above 0 and at most 3600, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Enroll, check, troubleshoot and revoke devices of an OCSP-checked AWS IoT "
        "Core fleet.",
        epilog="Exit codes: 0 ok/allowed, 1 denied/refused, 2 input error, 3 could not reach, "
        "4 internal error; AWS (enroll, revoke): 5 not permitted, 6 CA not ACTIVE, 7 not "
        "found, 8 throttled, 9 other AWS error; 10 a program it runs is not installed.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser(
        "check",
        help="the decision the pre-auth Lambda would make for a device right now",
        description="Run the pre-auth Lambda's handler on a device certificate, as IoT Core "
        "would, and summarise the responder's answer.",
    )
    check.add_argument(
        "device",
        type=Path,
        metavar="DEVICE",
        help="device certificate (PEM/DER; more PEM certificates after it are sent as its "
        "chain) or a device folder (device.pem, chain.pem, device.key)",
    )
    check.add_argument(
        "--ca",
        type=Path,
        help="trusted CA certificate(s), PEM (TRUSTED_CA_PEM); default for a device folder: the "
        "first certificate of its chain.pem, the CA that issued it",
    )
    check.add_argument(
        "--responder",
        metavar="URL",
        help="OCSP responder to ask instead of the certificate's AIA URL (OCSP_RESPONDER_URL)",
    )
    check.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other handler setting, e.g. OCSP_FAIL_MODE=open (repeatable)",
    )
    check.add_argument(
        "--servername",
        default="iot.example.com",
        help="serverName of the event (default: %(default)s)",
    )
    check.add_argument(
        "--timeout",
        type=_seconds,
        default=5.0,
        help="seconds for the summary's own request (default: %(default)s)",
    )
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(run=_cmd_check)

    probe = sub.add_parser(
        "probe",
        help="connect like a device: server certificate, staple, accepted or not",
        description="Connect with SNI like a device (optionally with a client certificate), "
        "ask for a staple, and report what the endpoint did.",
    )
    probe.add_argument("target", metavar="HOST[:PORT]", help="endpoint (default port 8883)")
    probe.add_argument(
        "--servername", metavar="NAME", help="SNI to send (default: HOST unless it is an IP)"
    )
    probe.add_argument(
        "--cert", type=Path, metavar="DEVICE.pem", help="client certificate or device folder"
    )
    probe.add_argument("--key", type=Path, metavar="DEVICE.key", help="client key")
    probe.add_argument(
        "--ca",
        type=Path,
        metavar="ROOT.pem",
        help="CA(s) to verify the server with (default: public roots)",
    )
    probe.add_argument(
        "--mqtt", action="store_true", help="also send an MQTT CONNECT and read the CONNACK"
    )
    probe.add_argument("--client-id", help="MQTT client id for --mqtt (default: random)")
    probe.add_argument(
        "--require-staple",
        action="store_true",
        help="exit 1 unless a verified 'good' staple came back",
    )
    probe.add_argument(
        "--timeout", type=_seconds, default=10.0, help="seconds for each step (default: 10)"
    )
    probe.add_argument(
        "--wait",
        type=_seconds,
        default=1.0,
        help="seconds the server must keep the connection open to count as accepted (default: 1)",
    )
    probe.add_argument("--json", action="store_true", help="print one JSON object")
    probe.set_defaults(run=_cmd_probe)
    _add_demo(sub)
    _add_enroll(sub)
    _add_revoke(sub)
    return parser


def _add_demo(sub: Any) -> None:
    from ocsp_iot.demo import DEFAULT_SERVER_NAME  # noqa: PLC0415

    demo = sub.add_parser(
        "demo",
        help="the whole fleet on 127.0.0.1: PKI, openssl ocsp, mosquitto, the local endpoint, "
        "real devices",
        description="Build a local PKI, start a real openssl ocsp responder, mosquitto and the "
        "local IoT Core look-alike endpoint (the pre-auth and stapling handlers deciding), "
        "connect devices with mosquitto_pub/mosquitto_sub and openssl s_client, stop the "
        "responder, and print what each step showed against what was expected. Exits 1 on "
        "any mismatch. Every process it starts is stopped at the end.",
    )
    demo.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="keep the working files (PKI, device folders, responder index, endpoint log) in "
        "DIR, a new or empty folder (default: a temporary folder, removed)",
    )
    demo.add_argument(
        "--servername",
        default=DEFAULT_SERVER_NAME,
        metavar="NAME",
        help="the endpoint's name, sent by devices as SNI (default: %(default)s)",
    )
    demo.add_argument("--json", action="store_true", help="print one JSON object")
    demo.set_defaults(run=_cmd_demo)


def _add_stack_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--outputs",
        type=Path,
        metavar="FILE",
        help="the file `cdk deploy --outputs-file FILE` wrote: stack values not given as flags "
        "(IssuingCaArn, DevicePolicyName, DeviceTopicPrefix, DomainName, IotCaCertificateId, "
        "SharedCacheTableName)",
    )
    command.add_argument("--stack", metavar="NAME", help="the stack in --outputs (if several)")
    command.add_argument(
        "--region", help="AWS region of IoT Core (and the table) (default: the CA's region)"
    )
    command.add_argument(
        "--dry-run", action="store_true", help="say what would be done; change nothing"
    )
    command.add_argument("--json", action="store_true", help="print one JSON object")


def _add_enroll(sub: Any) -> None:
    from ocsp_iot.enroll import DEFAULT_KEY_ALGORITHM, KEY_ALGORITHMS  # noqa: PLC0415

    enroll = sub.add_parser(
        "enroll",
        help="issue, register and connect a device (key made here; idempotent)",
        description="Make a key and CSR here, have the CA issue a clientAuth certificate, "
        "write the device folder, register the certificate with AWS IoT Core (ACTIVE), "
        "create the thing, attach the device policy, and print the mosquitto_pub command "
        "that connects. Running it again for an enrolled name changes nothing.",
    )
    names = enroll.add_mutually_exclusive_group(required=True)
    names.add_argument("name", nargs="?", metavar="NAME", help="the thing name (and client id)")
    names.add_argument(
        "--batch", type=Path, metavar="NAMES.csv", help="enroll every name of a CSV file"
    )
    source = enroll.add_mutually_exclusive_group()
    source.add_argument("--ca-arn", metavar="ARN", help="the issuing AWS Private CA")
    source.add_argument(
        "--local-ca",
        type=Path,
        metavar="DIR",
        help="issue from a local CA folder instead (no AWS: for the local endpoint)",
    )
    key = enroll.add_mutually_exclusive_group()
    key.add_argument(
        "--csr", type=Path, metavar="FILE", help="the device's own CSR (its key stays there)"
    )
    key.add_argument(
        "--key-algorithm",
        choices=KEY_ALGORITHMS,
        default=DEFAULT_KEY_ALGORITHM,
        help="of the key made here (default: %(default)s)",
    )
    enroll.add_argument(
        "--validity-days",
        type=_days,
        metavar="N",
        help="certificate validity (default: 365, or 7 for a short-lived CA)",
    )
    enroll.add_argument(
        "--out",
        type=Path,
        default=Path(),
        metavar="DIR",
        help="where device folders go: DIR/NAME (default: the current folder)",
    )
    enroll.add_argument("--policy", metavar="NAME", help="the IoT device policy to attach")
    enroll.add_argument(
        "--no-policy", action="store_true", help="attach no IoT policy (the stack has none)"
    )
    enroll.add_argument(
        "--topic-prefix",
        metavar="PREFIX",
        help="the device policy's topic prefix (default: devices)",
    )
    enroll.add_argument("--domain", metavar="NAME", help="the custom domain devices connect to")
    enroll.add_argument(
        "--iot-ca-id",
        metavar="ID",
        help="register under this CA certificate registered with IoT (default: without a CA, "
        "SNI_ONLY, unless --outputs names one)",
    )
    enroll.add_argument(
        "--server-ca",
        type=Path,
        metavar="FILE",
        help="what the printed command trusts for the endpoint (default: the public roots; "
        "the local CA's root with --local-ca)",
    )
    _add_stack_options(enroll)
    enroll.set_defaults(run=_cmd_enroll)


def _add_revoke(sub: Any) -> None:
    from ocsp_iot.revoke import DEFAULT_REASON, REASONS  # noqa: PLC0415

    revoke = sub.add_parser(
        "revoke",
        help="revoke a device: AWS Private CA, the shared cache's deny entry, the IoT registry",
        description="Revoke a device certificate at AWS Private CA, write its deny entry to "
        "the shared cache table (every pre-auth Lambda refuses it at once) and, with --iot, "
        "set the IoT registry certificate to REVOKED. Each step already done is reported.",
    )
    revoke.add_argument(
        "device", nargs="?", type=Path, metavar="DEVICE_DIR", help="a device folder (enroll's)"
    )
    revoke.add_argument("--serial", metavar="HEX", help="a serial number instead of a folder")
    revoke.add_argument("--ca-arn", metavar="ARN", help="the CA that issued it")
    revoke.add_argument(
        "--reason",
        choices=REASONS,
        default=DEFAULT_REASON,
        help="RFC 5280 reason (default: %(default)s)",
    )
    revoke.add_argument("--table", metavar="NAME", help="the shared cache table (DynamoDB)")
    revoke.add_argument(
        "--iot", action="store_true", help="also set the IoT registry certificate to REVOKED"
    )
    _add_stack_options(revoke)
    revoke.set_defaults(run=_cmd_revoke)


def _fail(args: argparse.Namespace | None, message: str, code: ExitCode) -> int:
    if args is not None and getattr(args, "json", False):
        sys.stdout.write(json.dumps({"error": message, "exitCode": int(code)}, indent=2) + "\n")
        sys.stdout.flush()
    else:
        sys.stderr.write(f"{PROG}: error: {message}\n")
    return int(code)


def run(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0911 - one exit per error kind
    """Parse ``argv`` and run the command; return the exit code (never raises, except
    ``SystemExit`` from argparse for ``--help`` and usage errors)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Callable[[argparse.Namespace], int] = args.run
    try:
        return command(args)
    except (InputError, MissingExtraError) as exc:
        return _fail(args, str(exc), ExitCode.INPUT_ERROR)
    except UnreachableError as exc:
        return _fail(args, str(exc), ExitCode.UNREACHABLE)
    except OcspIotError as exc:
        return _fail(args, str(exc), ExitCode(exc.exit_code))
    except KeyboardInterrupt:
        return _fail(args, "interrupted", ExitCode.INTERRUPTED)
    except BrokenPipeError:
        return int(ExitCode.OK)  # the reader went away (e.g. `| head`)
    except Exception as exc:  # the top-level handler: one line, never a traceback
        detail = f"{type(exc).__name__}: {str(exc)[:300]}"
        return _fail(args, f"internal error ({detail}); please report it", ExitCode.INTERNAL_ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    """The console entry point (``ocsp-iot``)."""
    return run(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
