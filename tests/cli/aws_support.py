"""An AWS API emulator on loopback for the ``enroll`` / ``revoke`` tests: moto in server mode
(acm-pca, iot, dynamodb, iam), reached over real HTTP by the real SDK (boto3), plus a scripted
loopback server for the AWS errors moto never answers with.

moto is an emulator, not AWS. What it does not reproduce, and how the tests live with it:

- AWS Private CA: issued certificates carry **no AIA / OCSP URL** (so every device enrolled
  against it gets the NO_RESPONDER_URL warning); the CA key is always RSA-2048 and
  ``KeyAlgorithm``, ``SigningAlgorithm``, ``Validity`` and ``UsageMode`` are ignored (every CA
  reports ``SHORT_LIVED_CERTIFICATE``, every certificate is valid 365 days); only the
  ``RootCACertificate/V1`` and ``EndEntityCertificate/V1`` templates are modelled, so a
  certificate of ``EndEntityClientAuthCertificate/V1`` has no extensions at all; issuing
  works from a CA that is not ACTIVE (the command checks the status itself first);
  revocation is only a string match on the serial (an upper-case colon-hex serial even makes
  ``GetCertificate`` fail afterwards), a second revocation is not refused with
  ``RequestAlreadyProcessedException``, and nothing answers OCSP. The root is issued through
  moto with ``RootCACertificate/V1`` (a locally signed root imported into it leaves a chain
  that does not verify).
- AWS IoT: certificate IDs are SHA-256 of the PEM *text* unless ``iot.use_valid_cert`` is set
  (set here, in-process, so IDs are SHA-256 of the DER as in IoT); ``DescribeCertificate``
  has no ``certificateMode``; ``RegisterCertificate`` checks neither the CA nor the signature;
  ``DescribeEndpoint`` returns a random host per call; a REVOKED certificate can be set ACTIVE
  again; policies are stored, never evaluated.
- IAM: with ``INITIAL_NO_AUTH_ACTION_COUNT`` (``/moto-api/reset-auth``) moto checks policies,
  but answers with an XML 403 (the command reads its code from it), and its signature check
  fails on IoT calls without a body: so permission tests use AWS Private CA's (JSON) calls.
- Throttling and "already revoked" are never answered: :class:`ScriptedAws` answers them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
from cryptography import x509
from moto.core import config as moto_config
from moto.server import ThreadedMotoServer

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROOT_TEMPLATE = "arn:aws:acm-pca:::template/RootCACertificate/V1"
#: Variables that would point the SDK anywhere but the emulator (or at this machine's files).
_SDK_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_ENDPOINT_URL_ACM_PCA",
    "AWS_ENDPOINT_URL_IOT",
    "AWS_ENDPOINT_URL_DYNAMODB",
)


def sdk_environment(endpoint: str) -> dict[str, str]:
    """What the SDK reads to talk to ``endpoint`` with dummy credentials and nothing else."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        # never ask an instance metadata service for credentials (it is not on loopback)
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "2",
        "AWS_RETRY_MODE": "standard",
    }


def apply_sdk_environment(monkeypatch: Any, endpoint: str) -> None:
    for name in _SDK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in sdk_environment(endpoint).items():
        monkeypatch.setenv(name, value)


class MotoServer:
    """moto's server on 127.0.0.1 (an ephemeral port), for one test session."""

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # IoT certificate IDs as AWS IoT makes them (SHA-256 of the DER), not of the PEM text
        moto_config.default_user_config["iot"]["use_valid_cert"] = True
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def __enter__(self) -> MotoServer:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
        wsgi = self._server._server
        if wsgi is not None:
            wsgi.server_close()  # stop() leaves the socket open

    def _post(self, path: str, body: bytes = b"") -> None:
        request = urllib.request.Request(
            self.url + path,
            data=body,
            method="POST",
            headers={"Content-Type": "application/octet-stream"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()

    def reset(self) -> None:
        """Forget every resource (and switch IAM checks off again)."""
        self._post("/moto-api/reset-auth", b"inf")
        self._post("/moto-api/reset")

    def enforce_iam(self) -> None:
        """From now on every request is checked against moto's IAM (until :meth:`reset`)."""
        self._post("/moto-api/reset-auth", b"0")


def client(service: str, region: str = REGION, **kwargs: Any) -> Any:
    return boto3.client(service, region_name=region, **kwargs)


def make_ca(*, region: str = REGION, activate: bool = True, name: str = "Fleet Root CA") -> str:
    """A root CA in the emulator, OCSP on, its certificate issued through moto
    (``RootCACertificate/V1``) and imported: ACTIVE (else left PENDING_CERTIFICATE)."""
    pca = client("acm-pca", region)
    arn: str = pca.create_certificate_authority(
        CertificateAuthorityType="ROOT",
        CertificateAuthorityConfiguration={
            "KeyAlgorithm": "EC_prime256v1",
            "SigningAlgorithm": "SHA256WITHECDSA",
            "Subject": {"CommonName": name, "Organization": "Example IoT"},
        },
        RevocationConfiguration={"OcspConfiguration": {"Enabled": True}},
        UsageMode="GENERAL_PURPOSE",
    )["CertificateAuthorityArn"]
    if activate:
        csr = pca.get_certificate_authority_csr(CertificateAuthorityArn=arn)["Csr"]
        root_arn = pca.issue_certificate(
            CertificateAuthorityArn=arn,
            Csr=csr.encode(),
            SigningAlgorithm="SHA256WITHECDSA",
            TemplateArn=ROOT_TEMPLATE,
            Validity={"Value": 10, "Type": "YEARS"},
        )["CertificateArn"]
        pem = pca.get_certificate(CertificateAuthorityArn=arn, CertificateArn=root_arn)
        pca.import_certificate_authority_certificate(
            CertificateAuthorityArn=arn, Certificate=pem["Certificate"].encode()
        )
    return arn


def ca_certificate(arn: str, region: str = REGION) -> x509.Certificate:
    pem = client("acm-pca", region).get_certificate_authority_certificate(
        CertificateAuthorityArn=arn
    )["Certificate"]
    return x509.load_pem_x509_certificate(pem.encode())


def make_policy(name: str = "DevicePolicy", region: str = REGION) -> str:
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}],
    }
    client("iot", region).create_policy(policyName=name, policyDocument=json.dumps(document))
    return name


def register_ca_with_iot(ca_arn: str, region: str = REGION) -> str:
    """The CA registered with IoT Core as the construct does (SNI_ONLY, ACTIVE)."""
    pem = client("acm-pca", region).get_certificate_authority_certificate(
        CertificateAuthorityArn=ca_arn
    )["Certificate"]
    answer = client("iot", region).register_ca_certificate(
        caCertificate=pem, setAsActive=True, certificateMode="SNI_ONLY"
    )
    return str(answer["certificateId"])


def make_table(name: str = "SharedCache", region: str = REGION) -> str:
    """A table shaped like the shared cache: partition key ``pk`` (string)."""
    client("dynamodb", region).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def outputs_file(path: Any, stack: str = "OcspIotReference", **outputs: str) -> Any:
    """What ``cdk deploy --outputs-file`` writes."""
    path.write_text(json.dumps({stack: outputs}, indent=2))
    return path


class ScriptedAws:
    """A loopback HTTP server answering every AWS call with one scripted error, in the wire
    format of JSON services (AWS Private CA, DynamoDB: ``__type``) and of REST-JSON ones (IoT:
    ``x-amzn-ErrorType``): for what moto never answers (throttling, already revoked)."""

    def __init__(
        self,
        *,
        status: int,
        code: str,
        message: str,
        answers: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        """``answers`` maps an ``X-Amz-Target`` (e.g. ``ACMPrivateCA.GetCertificate...``) to
        a successful JSON answer; every other call gets the error."""
        self.status, self.code, self.message = status, code, message
        self.answers = dict(answers or {})
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                target = str(self.headers.get("X-Amz-Target") or self.path)
                outer.requests.append(target)
                if target in outer.answers:
                    body = json.dumps(outer.answers[target]).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/x-amz-json-1.1")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                body = json.dumps({"__type": outer.code, "message": outer.message}).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("x-amzn-ErrorType", outer.code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _answer  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedAws:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)


@contextlib.contextmanager
def iam_user_without_permissions(server: MotoServer) -> Iterator[dict[str, str]]:
    """Access keys of an IAM user that may do nothing, with moto checking IAM meanwhile."""
    iam = client("iam")
    iam.create_user(UserName="operator")
    key = iam.create_access_key(UserName="operator")["AccessKey"]
    server.enforce_iam()
    try:
        yield {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        }
    finally:
        server.reset()
