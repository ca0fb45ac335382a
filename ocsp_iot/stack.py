"""Stack-specific values for ``enroll`` and ``revoke``: from flags, or from the JSON file that
``cdk deploy --outputs-file outputs.json`` writes (``{"<stack name>": {"<output key>": value}}``).

The output keys are the reference stack's (``app.py``); a flag always wins over the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ocsp_iot.errors import InputError

#: Output keys of the reference stack (app.py) that the commands read.
OUTPUT_CA_ARN = "IssuingCaArn"
OUTPUT_POLICY_NAME = "DevicePolicyName"
OUTPUT_TOPIC_PREFIX = "DeviceTopicPrefix"
OUTPUT_DOMAIN_NAME = "DomainName"
OUTPUT_IOT_CA_ID = "IotCaCertificateId"
OUTPUT_TABLE_NAME = "SharedCacheTableName"
#: The device policy's default topic prefix (the construct's ``DevicePolicy.topic_prefix``).
DEFAULT_TOPIC_PREFIX = "devices"
MAX_OUTPUTS_BYTES = 1_048_576


@dataclass(frozen=True)
class StackValues:
    """What the commands need to know about the deployed stack (``None``: not known)."""

    ca_arn: str | None = None
    policy_name: str | None = None
    topic_prefix: str = DEFAULT_TOPIC_PREFIX
    domain_name: str | None = None
    iot_ca_certificate_id: str | None = None
    table_name: str | None = None


def read_outputs(path: Path, stack: str | None) -> Mapping[str, str]:
    """The outputs of one stack from a ``cdk deploy --outputs-file`` file."""
    try:
        if path.stat().st_size > MAX_OUTPUTS_BYTES:
            raise InputError(f"--outputs {path}: too large for a cdk outputs file")
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise InputError(f"--outputs {path}: no such file") from exc
    except (OSError, ValueError) as exc:
        raise InputError(f"--outputs {path}: not a readable JSON file ({exc})") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise InputError(
            f"--outputs {path}: expected what `cdk deploy --outputs-file` writes, "
            '{"StackName": {"OutputKey": "value"}}'
        )
    if stack is not None:
        if stack not in data:
            names = ", ".join(sorted(data)) or "none"
            raise InputError(f"--outputs {path}: no stack {stack!r} (stacks: {names})")
        outputs = data[stack]
    elif len(data) == 1:
        (outputs,) = data.values()
    else:
        names = ", ".join(sorted(data)) or "none"
        raise InputError(f"--outputs {path} holds {len(data)} stacks ({names}): give --stack NAME")
    return {str(k): str(v) for k, v in outputs.items() if isinstance(v, str | int)}


def stack_values(
    *,
    outputs_path: Path | None,
    stack: str | None,
    ca_arn: str | None = None,
    policy_name: str | None = None,
    topic_prefix: str | None = None,
    domain_name: str | None = None,
    iot_ca_certificate_id: str | None = None,
    table_name: str | None = None,
) -> StackValues:
    """Flags, completed from the outputs file when one is given."""
    outputs: Mapping[str, str] = {}
    if outputs_path is not None:
        outputs = read_outputs(outputs_path, stack)
    elif stack is not None:
        raise InputError("--stack needs --outputs FILE")
    return StackValues(
        ca_arn=ca_arn or outputs.get(OUTPUT_CA_ARN),
        policy_name=policy_name or outputs.get(OUTPUT_POLICY_NAME),
        topic_prefix=topic_prefix or outputs.get(OUTPUT_TOPIC_PREFIX) or DEFAULT_TOPIC_PREFIX,
        domain_name=domain_name or outputs.get(OUTPUT_DOMAIN_NAME),
        iot_ca_certificate_id=iot_ca_certificate_id or outputs.get(OUTPUT_IOT_CA_ID),
        table_name=table_name or outputs.get(OUTPUT_TABLE_NAME),
    )
