"""``enroll`` and ``revoke`` from parsed arguments: stack values, clients, issuer, registry.

Kept apart from ``cli`` so that ``check`` and ``probe`` never import what these need.
"""

from __future__ import annotations

import argparse
from typing import Any

from ocsp_iot._aws import CaArn, Clients
from ocsp_iot.device import read_certificates
from ocsp_iot.enroll import (
    EnrollOptions,
    IotRegistry,
    Issuer,
    LocalCaIssuer,
    PrivateCaIssuer,
    check_thing_name,
    read_batch,
    read_csr,
    run_enroll,
)
from ocsp_iot.errors import InputError
from ocsp_iot.revoke import resolve_target, run_revoke
from ocsp_iot.stack import StackValues, stack_values


def _region(args: argparse.Namespace) -> str | None:
    region = getattr(args, "region", None)
    return str(region) if region else None


def enroll(args: argparse.Namespace) -> tuple[dict[str, Any], str, int]:
    """Run ``enroll``; the JSON payload, the text and the exit code."""
    if args.batch is not None and args.csr is not None:
        raise InputError("--csr is for one device; --batch makes a key for each")
    if args.no_policy and args.policy:
        raise InputError("give --policy NAME or --no-policy, not both")
    names = read_batch(args.batch) if args.batch is not None else [check_thing_name(args.name)]
    stack = stack_values(
        outputs_path=args.outputs,
        stack=args.stack,
        ca_arn=args.ca_arn,
        policy_name=args.policy,
        topic_prefix=args.topic_prefix,
        domain_name=args.domain,
        iot_ca_certificate_id=args.iot_ca_id,
    )
    csr = read_csr(args.csr) if args.csr is not None else None
    if args.server_ca is not None:
        read_certificates(args.server_ca, what="--server-ca")  # the command must work as printed
    issuer: Issuer
    registry: IotRegistry | None = None
    if args.local_ca is not None:
        issuer = LocalCaIssuer(args.local_ca)
    else:
        if stack.ca_arn is None:
            raise InputError("which CA issues? give --ca-arn ARN, --local-ca DIR or --outputs FILE")
        ca = CaArn.parse(stack.ca_arn)
        if stack.policy_name is None and not args.no_policy:
            raise InputError(
                "which IoT policy do devices get? give --policy NAME, --outputs FILE of a stack "
                "with a device policy, or --no-policy"
            )
        clients = Clients(command="ocsp-iot enroll", default_region=_region(args) or ca.region)
        issuer = PrivateCaIssuer(clients, ca)
        registry = IotRegistry(
            clients,
            region=clients.default_region,
            policy_name=None if args.no_policy else stack.policy_name,
            ca_id=stack.iot_ca_certificate_id,
        )
    options = EnrollOptions(
        out=args.out,
        issuer=issuer,
        registry=registry,
        stack=stack,
        key_algorithm=args.key_algorithm,
        csr=csr,
        dry_run=args.dry_run,
        server_ca=args.server_ca,
    )
    report = run_enroll(
        names=names,
        options=options,
        validity_days=args.validity_days,
        batch=args.batch is not None,
    )
    code = 0 if report.failed is None else report.failed[1].exit_code
    return report.as_json(), report.as_text(), code


def revoke(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    stack: StackValues = stack_values(
        outputs_path=args.outputs, stack=args.stack, ca_arn=args.ca_arn, table_name=args.table
    )
    target = resolve_target(device_dir=args.device, serial_text=args.serial, stack=stack)
    clients = Clients(command="ocsp-iot revoke", default_region=_region(args) or target.ca.region)
    report = run_revoke(
        target=target,
        clients=clients,
        reason=args.reason,
        table=stack.table_name,
        iot=args.iot,
        region=_region(args),
        dry_run=args.dry_run,
    )
    return report.as_json(), report.as_text()


__all__ = ["enroll", "revoke"]
