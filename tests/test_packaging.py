"""The distribution: wheel contents; constructs used from an installed wheel, not a checkout."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), "."],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("ocsp_iot_constructs-*.whl")
    return built


def test_wheel_carries_the_lambda_code(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "ocsp_iot_constructs/py.typed" in names
    assert "ocsp_iot_constructs/_lambda_src/preauth_handler.py" in names
    assert "ocsp_iot_constructs/_lambda_src/requirements.txt" in names
    assert any(n.startswith("ocsp_iot_constructs/_lambda_src/ocsp_core/") for n in names)
    # nothing of the checkout's test or tooling trees leaks into the wheel
    assert not [n for n in names if n.startswith(("tests/", "bench/", "node_modules/"))]
    assert not [n for n in names if "__pycache__" in n]


def _install_wheel(wheel: Path, tmp_path: Path) -> tuple[Path, str]:
    """A throwaway venv holding only our wheel; its dependencies (aws-cdk-lib, ...) come from
    the dev venv's site-packages as a plain path entry, so the dev venv's editable install of
    this project (a .pth there) is NOT processed and the checkout is never on sys.path."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    target = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(target) / "zz_dev_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--quiet",
            "--target",
            target,
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return py, target


def test_constructs_synthesize_from_an_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    # GIVEN a throwaway venv holding only our wheel
    py, target = _install_wheel(wheel, tmp_path)
    script = tmp_path / "synth_from_wheel.py"
    script.write_text(
        (ROOT / "tests" / "data" / "synth_from_wheel.py").read_text(), encoding="utf-8"
    )
    work = tmp_path / "work"
    work.mkdir()

    # WHEN a user's app synthesizes a stack with the library's constructs
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    result = subprocess.run(
        [str(py), "-I", str(script)], cwd=work, env=env, capture_output=True, text=True, check=False
    )

    # THEN the constructs came from the wheel and found their Lambda code inside it
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert lines["package"].startswith(target), lines
    assert Path(lines["lambda_src"]) == Path(target) / "ocsp_iot_constructs" / "_lambda_src"
    assert str(ROOT) not in lines["package"]
    assert {"AWS::IoT::DomainConfiguration", "AWS::ACMPCA::CertificateAuthority"} <= set(
        lines["types"].split(",")
    )
    (asset_path,) = lines["asset_paths"].split(";")
    assert Path(asset_path) == Path(lines["lambda_src"]), lines


def test_the_command_from_an_installed_wheel_runs_the_packaged_lambda_code(
    wheel: Path, tmp_path: Path
) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"ocsp_iot/cli.py", "ocsp_iot/local/endpoint.py", "ocsp_iot/py.typed"} <= names
    (metadata,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "ocsp-iot = ocsp_iot.cli:main" in zipfile.ZipFile(wheel).read(metadata).decode()
    py, target = _install_wheel(wheel, tmp_path)
    code = (
        "import sys, ocsp_iot.cli\n"
        "from ocsp_iot import _lambda\n"
        "print(_lambda.lambda_source_dir())\n"
        "print(_lambda.preauth_module().__file__)\n"
        "print('aws_cdk' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run(
        [str(py), "-I", "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    folder, handler, cdk = done.stdout.split()
    assert Path(folder) == Path(target) / "ocsp_iot_constructs" / "_lambda_src"
    assert Path(handler) == Path(folder) / "preauth_handler.py"
    assert cdk == "False"


def test_the_aws_sdk_is_only_the_commands_dependency(wheel: Path) -> None:
    """boto3 comes with the `cli` extra (as a range), never with the constructs."""
    names = zipfile.ZipFile(wheel).namelist()
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    requires = [
        line.removeprefix("Requires-Dist: ")
        for line in zipfile.ZipFile(wheel).read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist: ")
    ]
    sdk = [r for r in requires if r.startswith(("boto3", "botocore", "moto"))]
    assert [r for r in sdk if not r.endswith("extra == 'dev'")] == [
        "boto3<2,>=1.34; extra == 'cli'"
    ], requires
    assert {"ocsp_iot/enroll.py", "ocsp_iot/revoke.py", "ocsp_iot/_aws.py"} <= set(names)


def test_lambda_requirements_match_dev_pins() -> None:
    """The Lambda is tested with the same cryptography/requests it is bundled with."""
    pins = {}
    for raw in (ROOT / "lambda_src" / "requirements.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"][
        "dev"
    ]
    dev_pins = {}
    for requirement in dev:
        # exact pins only; a pin may name extras (moto[acmpca,...]==X)
        pinned = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[A-Za-z0-9_,.-]+\])?==(\S+)", requirement)
        assert pinned is not None, requirement
        dev_pins[pinned.group(1)] = pinned.group(2)
    assert {"cryptography", "requests"} <= set(pins), pins
    for name, version in pins.items():
        assert dev_pins.get(name) == version, f"{name}: lambda {version}, dev {dev_pins.get(name)}"
        # and the test environment really runs that version
        assert importlib.metadata.version(name) == version, name
