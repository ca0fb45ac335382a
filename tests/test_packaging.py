"""The distribution: wheel contents; constructs used from an installed wheel, not a checkout."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

import app as reference_app
from tests.support import ROOT, cdk_json_context, new_app

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
    assert "ocsp_iot_constructs/_lambda_src/stapling_handler.py" in names
    assert "ocsp_iot_constructs/_lambda_src/requirements.txt" in names
    assert any(n.startswith("ocsp_iot_constructs/_lambda_src/ocsp_core/") for n in names)
    # nothing of the checkout's test or tooling trees leaks into the wheel
    assert not [n for n in names if n.startswith(("tests/", "bench/", "node_modules/"))]
    assert not [n for n in names if "__pycache__" in n]
    # the license travels with the wheel (hatchling copies LICENSE into the .dist-info)
    (license_file,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    assert zipfile.ZipFile(wheel).read(license_file) == (ROOT / "LICENSE").read_bytes()


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
    # the pre-auth and the stapling Lambda: one code asset, the wheel's copy
    asset_paths = lines["asset_paths"].split(";")
    assert len(asset_paths) == 2, lines
    assert {Path(p) for p in asset_paths} == {Path(lines["lambda_src"])}, lines
    _assert_the_documented_acknowledgement_works(lines)


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


def _assert_the_documented_acknowledgement_works(lines: dict[str, str]) -> None:
    """synth_from_wheel.py's fail-open domain warns, and the id the docs give silences it."""
    (warning,) = json.loads(lines["warnings_unacknowledged"])
    assert warning.endswith("[ack: Annotation::ocsp-iot:failOpen]"), warning
    assert json.loads(lines["warnings_acknowledged"]) == []


# --------------------------------------------------------------------------------------------
# Version ranges for users, exact pins for the repository
# --------------------------------------------------------------------------------------------

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: Installed next to any project; never pinned in constraints.txt.
UNPINNED = {"ocsp-iot-constructs", "pip", "setuptools", "wheel"}


def _pins(path: Path) -> dict[str, str]:
    """``{normalized name: version}`` of a file of ``name==version`` lines."""
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", line
            pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


CONSTRAINTS = _pins(ROOT / "constraints.txt")


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


def test_lambda_requirements_match_the_repository_pins() -> None:
    """The Lambda is tested with the same packages it is bundled with (cryptography and its
    dependencies, certifi), and needs nothing else (HTTP is the standard library's)."""
    pins = _pins(ROOT / "lambda_src" / "requirements.txt")
    assert set(pins) == {"cryptography", "cffi", "pycparser", "certifi"}, pins
    for name, version in pins.items():
        assert CONSTRAINTS.get(name) == version, (
            f"{name}: lambda {version}, constraints.txt {CONSTRAINTS.get(name)}"
        )
        # and the test environment really runs that version
        assert importlib.metadata.version(name) == version, name


def test_every_dev_dependency_and_installed_package_is_pinned() -> None:
    dev = [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["dev"]]
    for requirement in dev:
        assert not requirement.specifier, (
            f"{requirement}: the dev extra names packages; their versions live in constraints.txt"
        )
        assert canonicalize_name(requirement.name) in CONSTRAINTS, requirement.name
    lambda_names = set(_pins(ROOT / "lambda_src" / "requirements.txt"))
    assert lambda_names <= {canonicalize_name(r.name) for r in dev}
    # the lock is complete: every package of the test environment is pinned, at that version
    installed: dict[str, str] = {
        canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()
    }
    unpinned = sorted(
        f"{n}=={v}" for n, v in installed.items() if n not in set(CONSTRAINTS) | UNPINNED
    )
    assert unpinned == [], f"add to constraints.txt: {unpinned}"
    wrong = {n: (installed.get(n), v) for n, v in CONSTRAINTS.items() if installed.get(n) != v}
    assert wrong == {}, "installed vs constraints.txt (run `make setup`)"
    (hatchling,) = PYPROJECT["build-system"]["requires"]
    assert hatchling == f"hatchling=={CONSTRAINTS['hatchling']}"


def test_the_bench_extra_is_pinned_in_the_bench_constraints() -> None:
    """``make bench`` installs ``.[dev,bench]`` with both constraint files: the bench extra names
    packages only, each pinned in bench/constraints.txt, which never re-pins a dev package."""
    bench_pins = _pins(ROOT / "bench" / "constraints.txt")
    bench = [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["bench"]]
    assert bench, "the bench extra is empty"
    for requirement in bench:
        assert not requirement.specifier, requirement
        assert canonicalize_name(requirement.name) in bench_pins, requirement.name
    assert set(bench_pins).isdisjoint(CONSTRAINTS), set(bench_pins) & set(CONSTRAINTS)


def _ranges() -> dict[str, SpecifierSet]:
    declared = [
        *PYPROJECT["project"]["dependencies"],
        *PYPROJECT["project"]["optional-dependencies"]["nag"],
        *PYPROJECT["project"]["optional-dependencies"]["cli"],
    ]
    return {canonicalize_name(r.name): r.specifier for r in map(Requirement, declared)}


def _floor(specifiers: SpecifierSet) -> str:
    (lowest,) = [s.version for s in specifiers if s.operator == ">="]
    return lowest


def test_the_library_declares_ranges_that_hold_the_repository_pins() -> None:
    ranges = _ranges()
    assert set(ranges) == {
        "aws-cdk-lib",
        "constructs",
        "jsii",
        "cdk-nag",
        "cryptography",
        "requests",
        "pyopenssl",
        "boto3",
    }
    for name, specifiers in ranges.items():
        operators = sorted(s.operator for s in specifiers)
        assert operators == ["<", ">="], f"{name}{specifiers}: a lower bound and a major cap"
        (cap,) = [Version(s.version) for s in specifiers if s.operator == "<"]
        # capped at a major version above the floor (cryptography and pyOpenSSL release a
        # major version a few times a year: their caps admit the majors they were tested with)
        assert cap.minor == cap.micro == 0, (name, cap)
        assert cap > Version(_floor(specifiers)), (name, cap)
        # the repository tests a supported version
        assert CONSTRAINTS[name] in specifiers, (name, CONSTRAINTS[name], str(specifiers))
    assert _floor(ranges["aws-cdk-lib"]) == "2.269.0"


def test_the_wheel_requires_the_ranges(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zipped:
        (metadata,) = [n for n in zipped.namelist() if n.endswith(".dist-info/METADATA")]
        lines = zipped.read(metadata).decode().splitlines()
    required: dict[str, tuple[SpecifierSet, str | None]] = {
        canonicalize_name(r.name): (r.specifier, str(r.marker) if r.marker else None)
        for r in (
            Requirement(line.split(":", 1)[1])
            for line in lines
            if line.startswith("Requires-Dist:")
        )
    }
    ranges = _ranges()
    for name in ("aws-cdk-lib", "constructs", "jsii"):
        assert required[name] == (ranges[name], None), name
    assert required["cdk-nag"] == (ranges["cdk-nag"], 'extra == "nag"')
    # no exact pin reaches users (the dev extra names packages without versions)
    assert [n for n, (specifier, _) in required.items() if "==" in str(specifier)] == []


# --------------------------------------------------------------------------------------------
# The lowest supported versions
# --------------------------------------------------------------------------------------------


def _pip(venv_python: Path, *arguments: str) -> None:
    """The dev venv's pip installs into the throwaway venv (``pip --python``), from the index of
    pip's configuration; its cache makes a second run fast."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv_python),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            *arguments,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def _installed(venv_python: Path) -> dict[str, str]:
    script = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name'].lower(): d.version for d in m.distributions()}))"
    )
    result = subprocess.run(
        [str(venv_python), "-I", "-c", script], capture_output=True, text=True, check=True
    )
    installed: dict[str, str] = json.loads(result.stdout)
    return installed


def _requires(venv_python: Path, name: str) -> list[Requirement]:
    script = f"import importlib.metadata as m, json; print(json.dumps(m.requires({name!r})))"
    result = subprocess.run(
        [str(venv_python), "-I", "-c", script], capture_output=True, text=True, check=True
    )
    return [Requirement(r) for r in json.loads(result.stdout)]


def _run_in(
    venv_python: Path, script: Path, cwd: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    environment.update(env)
    return subprocess.run(
        [str(venv_python), "-I", str(script)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_lowest_supported_versions_synthesize_the_reference_app(
    wheel: Path, tmp_path: Path
) -> None:
    """The wheel installed with the lowest versions pyproject.toml allows: the constructs
    synthesize (bundling skipped), and the reference app synthesizes with cdk-nag's packs and
    the Lambda bundled, so every acknowledgement id parses and the nag gate passes there."""
    floors = {name: _floor(specifiers) for name, specifiers in _ranges().items()}
    env_dir = tmp_path / "floor-venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)  # the bundler runs the app's pip
    python = env_dir / "bin" / "python"
    work = tmp_path / "work"
    work.mkdir()
    for name in ("synth_from_wheel.py",):
        shutil.copy(ROOT / "tests" / "data" / name, work / name)
    shutil.copy(ROOT / "app.py", work / "app.py")

    # GIVEN the wheel with aws-cdk-lib, constructs and jsii at their floors
    library = {n: floors[n] for n in ("aws-cdk-lib", "constructs", "jsii")}
    _pip(python, str(wheel), *(f"{n}=={v}" for n, v in library.items()))
    installed = _installed(python)
    assert {n: installed[n] for n in library} == library

    # WHEN the constructs synthesize THEN they do, and the documented acknowledgement works
    result = _run_in(python, work / "synth_from_wheel.py", work)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert lines["package"].startswith(str(env_dir)), lines
    _assert_the_documented_acknowledgement_works(lines)

    # GIVEN cdk-nag at its floor, with the lowest constructs cdk-nag itself accepts
    _pip(python, f"cdk-nag=={floors['cdk-nag']}", "constructs==10.5.1")
    installed = _installed(python)
    nag_needs = _requires(python, "cdk-nag")
    for requirement in nag_needs:
        name = canonicalize_name(requirement.name)
        if name in ("aws-cdk-lib", "constructs", "jsii"):
            assert installed[name] in requirement.specifier, (name, installed[name])
    (nag_constructs,) = [r for r in nag_needs if r.name == "constructs"]
    assert _floor(nag_constructs.specifier) == installed["constructs"] == "10.5.1"
    assert installed["aws-cdk-lib"] == floors["aws-cdk-lib"]
    assert installed["jsii"] == floors["jsii"]

    # WHEN the reference app synthesizes (nag packs registered, Lambda bundled)
    outdir = work / "cdk.out.reference"
    result = _run_in(
        python,
        work / "app.py",
        work,
        CDK_OUTDIR=str(outdir),
        CDK_CONTEXT_JSON=json.dumps(cdk_json_context()),
    )

    # THEN it passes the nag gate and produces the same resources as with the repository's pins
    assert result.returncode == 0, result.stderr[-3000:]
    template = json.loads((outdir / "OcspIotReference.template.json").read_text())
    resources = {k: r["Type"] for k, r in template["Resources"].items()}
    pinned_app = new_app()
    reference_app.build_app(pinned_app)
    pinned = pinned_app.synth().get_stack_by_name("OcspIotReference").template
    assert resources == {k: r["Type"] for k, r in pinned["Resources"].items()}
    bundles = [p for p in outdir.glob("asset.*") if (p / "preauth_handler.py").is_file()]
    assert len(bundles) == 1, sorted(p.name for p in outdir.iterdir())
