"""The ``ocsp-iot`` console script: installed, fast (no CDK), clear about a missing extra, and
reaching the very Lambda code the constructs deploy."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

from ocsp_iot import _lambda
from ocsp_iot_constructs import _assets


def test_the_console_script_is_declared_and_installed() -> None:
    (entry,) = importlib.metadata.entry_points(group="console_scripts", name="ocsp-iot")
    assert entry.value == "ocsp_iot.cli:main"
    script = Path(sys.executable).parent / "ocsp-iot"
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0
    for command in ("check", "probe", "enroll", "revoke"):
        assert command in done.stdout
    assert "Exit codes: 0 ok/allowed, 1 denied/refused, 2 input error" in done.stdout


def test_it_finds_the_same_lambda_code_as_the_constructs() -> None:
    assert _lambda.lambda_source_dir() == _assets.lambda_source_dir()
    assert (_lambda.lambda_source_dir() / "preauth_handler.py").is_file()


def test_the_command_never_imports_the_cdk() -> None:
    code = (
        "import sys\n"
        "import ocsp_iot.cli, ocsp_iot.check, ocsp_iot.probe, ocsp_iot.local.endpoint\n"
        "ocsp_iot._lambda.preauth_module()\n"
        "print(sorted(m for m in ('aws_cdk', 'jsii', 'ocsp_iot_constructs', 'boto3') "
        "if m in sys.modules))\n"
        "import ocsp_iot.commands, ocsp_iot.enroll, ocsp_iot.revoke\n"
        "print(sorted(m for m in ('aws_cdk', 'jsii', 'ocsp_iot_constructs') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    # check and probe never load the AWS SDK; enroll and revoke load it only when they run
    assert done.stdout.split("\n")[:2] == ["[]", "[]"]


def test_a_missing_extra_is_one_clear_error() -> None:
    # ``sys.modules[name] = None`` makes ``import name`` fail as if it were not installed
    code = (
        "import sys\n"
        "sys.modules['OpenSSL'] = None\n"
        "from ocsp_iot.cli import main\n"
        "sys.exit(main(['probe', '127.0.0.1:1']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "ocsp-iot: error: ocsp-iot probe needs pyOpenSSL, which is not installed: "
        "pip install 'ocsp-iot-constructs[cli]'\n"
    )
