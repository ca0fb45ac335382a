"""Run by tests/test_packaging.py in a throwaway venv that holds only the built wheel."""

import json
import pathlib

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm

import ocsp_iot_constructs
from ocsp_iot_constructs import (
    OcspPrivateCa,
    OcspStapling,
    OcspValidatingDomain,
    lambda_source_dir,
)

app = cdk.App(
    context={"aws:cdk:bundling-stacks": [], "aws:cdk:enable-asset-metadata": True},
    outdir="cdk.out",
)
stack = cdk.Stack(app, "FromWheel")
ca = OcspPrivateCa(stack, "Ca")
OcspValidatingDomain(
    stack,
    "Domain",
    domain_name="iot.example.com",
    server_certificate=acm.Certificate.from_certificate_arn(
        stack,
        "Cert",
        "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000",
    ),
    trusted_cas=[ca],
    stapling=OcspStapling(responder_function=True, trusted_cas=[ca]),
)
assembly = app.synth()
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
