"""Run by tests/test_packaging.py in a throwaway venv that holds only the built wheel (with the
repository's pinned dependencies, and again with the lowest supported ones)."""

import json
import pathlib

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm

import ocsp_iot_constructs
from ocsp_iot_constructs import (
    OcspFailMode,
    OcspPrivateCa,
    OcspStapling,
    OcspValidatingDomain,
    lambda_source_dir,
)

#: The id the docs tell users to acknowledge a warning with.
ACKNOWLEDGEMENT = "Annotation::ocsp-iot:failOpen"


def build(outdir: str, *, acknowledge: bool) -> cdk.cx_api.CloudAssembly:
    app = cdk.App(
        context={"aws:cdk:bundling-stacks": [], "aws:cdk:enable-asset-metadata": True},
        outdir=outdir,
    )
    stack = cdk.Stack(app, "FromWheel")
    ca = OcspPrivateCa(stack, "Ca")
    domain = OcspValidatingDomain(
        stack,
        "Domain",
        domain_name="iot.example.com",
        server_certificate=acm.Certificate.from_certificate_arn(
            stack,
            "Cert",
            "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000",
        ),
        trusted_cas=[ca],
        fail_mode=OcspFailMode.OPEN,  # warns: ocsp-iot:failOpen
        stapling=OcspStapling(responder_function=True, trusted_cas=[ca]),
    )
    if acknowledge:
        cdk.Validations.of(domain).acknowledge(
            cdk.Acknowledgment(id=ACKNOWLEDGEMENT, reason="this test fleet prefers availability")
        )
    return app.synth()


def warnings(assembly: cdk.cx_api.CloudAssembly) -> list[str]:
    return [
        str(message.entry.data)
        for artifact in assembly.stacks
        for message in artifact.messages
        if message.level == cdk.cx_api.SynthesisMessageLevel.WARNING
    ]


unacknowledged = build("cdk.out.unacknowledged", acknowledge=False)
assembly = build("cdk.out", acknowledge=True)
template = json.loads(pathlib.Path(assembly.directory, "FromWheel.template.json").read_text())
types = sorted({r["Type"] for r in template["Resources"].values()})
# with bundling skipped, CDK records the asset's source folder: the wheel's copy of the code
asset_paths = [
    r["Metadata"]["aws:asset:path"]
    for r in template["Resources"].values()
    if r["Type"] == "AWS::Lambda::Function" and "aws:asset:path" in r.get("Metadata", {})
]
print(f"package={pathlib.Path(ocsp_iot_constructs.__file__).parent}")
print(f"lambda_src={lambda_source_dir()}")
print(f"types={','.join(types)}")
print(f"asset_paths={';'.join(asset_paths)}")
print(f"warnings_unacknowledged={json.dumps(warnings(unacknowledged))}")
print(f"warnings_acknowledged={json.dumps(warnings(assembly))}")
