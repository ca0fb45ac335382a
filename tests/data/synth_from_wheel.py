"""Run by tests/test_packaging.py in a throwaway venv that holds the built wheel."""

import json
import pathlib

import aws_cdk as cdk

import ocsp_iot_constructs
from ocsp_iot_constructs import lambda_source_dir

app = cdk.App(context={"aws:cdk:bundling-stacks": []}, outdir="cdk.out")
stack = cdk.Stack(app, "FromWheel")
# The wired constructs join here as they land (see README usage).
names = getattr(ocsp_iot_constructs, "__all__", [])
if "OcspPrivateCa" in names and "OcspValidatingDomain" in names:
    from aws_cdk import aws_certificatemanager as acm

    ca = ocsp_iot_constructs.OcspPrivateCa(stack, "Ca", common_name="Fleet Root")
    ocsp_iot_constructs.OcspValidatingDomain(
        stack,
        "Domain",
        domain_name="iot.example.com",
        server_certificate=acm.Certificate.from_certificate_arn(
            stack,
            "Cert",
            "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000",
        ),
        trusted_cas=[ca],
    )
else:
    cdk.CfnOutput(stack, "Placeholder", value="x")
assembly = app.synth()
template = json.loads(pathlib.Path(assembly.directory, "FromWheel.template.json").read_text())
print(f"package={pathlib.Path(ocsp_iot_constructs.__file__).parent}")
print(f"lambda_src={lambda_source_dir()}")
print(f"resources={len(template.get('Resources', {})) + len(template.get('Outputs', {}))}")
