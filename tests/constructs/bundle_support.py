"""Helpers of the bundle tests: synthesize domains with bundling on and find their code assets,
compare bundles (folders or zips) file by file, run ``python -m ocsp_iot_constructs``."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_

from ocsp_iot_constructs.ocsp_validating_domain import OcspValidatingDomain, TrustedCa
from tests.constructs.domain_support import ACCOUNT, CA_PEM, CERT_ARN, OCSP_URL, REGION
from tests.lambdas.support.loopback import closed_port_url
from tests.support import new_app

ARCHITECTURES = (lambda_.Architecture.ARM_64, lambda_.Architecture.X86_64)


def synth_domain_bundles(
    architectures: Sequence[lambda_.Architecture] = ARCHITECTURES, **overrides: Any
) -> dict[str, Path]:
    """``{"arm64": <code asset>, ...}``: one ``OcspValidatingDomain`` per architecture, in one
    synth with bundling on. The asset is the bundle folder in ``cdk.out``, or the zip file for a
    prebuilt zip bundle. CDK's in-process asset cache is cleared first, so that the local bundler
    really runs (an earlier synth of the same asset hash would otherwise be reused)."""
    cdk.AssetStaging.clear_asset_hash_cache()
    app = new_app(bundle=True)
    stack = cdk.Stack(app, "Bundles", env=cdk.Environment(account=ACCOUNT, region=REGION))
    cert = cdk.aws_certificatemanager.Certificate.from_certificate_arn(stack, "Cert", CERT_ARN)
    domains = {
        arch.name: OcspValidatingDomain(
            stack,
            f"Domain-{arch.name}",
            domain_name=f"{arch.name.replace('_', '-')}.example.com",
            server_certificate=cert,
            trusted_cas=[TrustedCa.from_pem(CA_PEM, ocsp_responder_url=OCSP_URL)],
            architecture=arch,
            alarms=False,
            **overrides,
        )
        for arch in architectures
    }
    assembly = app.synth()
    template = assembly.get_stack_by_name("Bundles").template
    assets: dict[str, Path] = {}
    for name, domain in domains.items():
        logical_id = stack.get_logical_id(domain.function.node.default_child)  # type: ignore[arg-type]
        key: str = template["Resources"][logical_id]["Properties"]["Code"]["S3Key"]
        folder = Path(assembly.directory) / f"asset.{key.removesuffix('.zip')}"
        assets[name] = folder if folder.is_dir() else Path(assembly.directory) / f"asset.{key}"
        assert assets[name].exists(), (name, key)
    return assets


def bundle_contents(bundle: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file of a bundle folder or zip."""
    if bundle.is_dir():
        return {
            p.relative_to(bundle).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(bundle.rglob("*"))
            if p.is_file()
        }
    with zipfile.ZipFile(bundle) as zipped:
        return {
            info.filename: hashlib.sha256(zipped.read(info)).hexdigest()
            for info in zipped.infolist()
            if not info.is_dir()
        }


def run_cli(
    *arguments: str, env: Mapping[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``python -m ocsp_iot_constructs <arguments>`` as a user runs it (``make wheelhouse``)."""
    return subprocess.run(
        [sys.executable, "-m", "ocsp_iot_constructs", *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(env) if env is not None else None,
        check=False,
    )


def closed_index_url() -> str:
    """A package index URL on 127.0.0.1 where nothing listens (connection refused)."""
    return closed_port_url().removesuffix("/ocsp") + "/simple"


def unreachable_index_environment(index_url: str) -> dict[str, str]:
    """os.environ with pip pointed at ``index_url`` (nothing listens there) and without any
    other source of packages: no pip configuration file, no ``PIP_*`` variable, no retries."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    environment.update(
        {"PIP_INDEX_URL": index_url, "PIP_CONFIG_FILE": os.devnull, "PIP_RETRIES": "0"}
    )
    return environment
