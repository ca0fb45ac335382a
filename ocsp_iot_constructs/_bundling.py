"""Docker-free bundling of the library's Lambda code (every handler) plus its pinned dependencies.

CDK's asset bundling normally runs a Docker container. Here the bundling is local
(``BundlingOptions(local=...)``): the Lambda source is copied and its pinned requirements are
installed with the synthesizing interpreter's pip, for the *function's* platform and Python
version::

    pip install --requirement requirements.txt --target <out> --only-binary=:all: \
        --platform manylinux2014_<aarch64|x86_64> --implementation cp --python-version 3.14

Only binary wheels built for that platform are accepted, so the native libraries in the bundle
(cryptography's ``_rust.abi3.so``, cffi's ``_cffi_backend``) always match the function's
architecture, whatever machine synthesizes. Docker is never used: the local bundler either
produces the bundle or raises :class:`BundlingError`; it never returns ``False``, which is what
would make CDK fall back to ``docker run``.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

from ._assets import lambda_requirements_file, lambda_source_dir

#: Bumped when the bundle layout changes, so that CDK's asset cache never reuses an old bundle.
BUNDLER_VERSION = "1"

#: Never pulled or run: the local bundler always bundles or raises (see module docstring). CDK
#: requires an image in ``BundlingOptions``; this name says where to look if one is ever needed.
NO_DOCKER_IMAGE = "ocsp-iot-constructs/local-bundling-only-docker-is-never-used"

#: Source files that are not part of the deployed code (and must not change the asset hash).
SOURCE_EXCLUDES: tuple[str, ...] = (
    "__pycache__",
    "*.pyc",
    "*.pyo",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "tests",
    "ruff.toml",
    "requirements.txt",
)

#: Files pip writes into each ``*.dist-info`` that nothing reads at run time (``RECORD`` only
#: serves ``pip uninstall``/``importlib.metadata.files``). ``METADATA``, ``WHEEL`` and the license
#: files stay.
DIST_INFO_NOISE: tuple[str, ...] = ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")

#: Timeout of the pip subprocess (a cold download of the pinned wheels takes a few seconds).
PIP_TIMEOUT_SECONDS = 600


class BundlingError(RuntimeError):
    """The Lambda bundle could not be built locally (Docker is deliberately never tried)."""


class BundlePlatform(Enum):
    """A Lambda architecture as pip's ``--platform`` tag and the ELF ``e_machine`` it implies."""

    ARM_64 = ("arm64", "manylinux2014_aarch64", 0xB7)
    X86_64 = ("x86_64", "manylinux2014_x86_64", 0x3E)

    def __init__(self, lambda_name: str, pip_platform: str, elf_machine: int) -> None:
        self.lambda_name = lambda_name
        self.pip_platform = pip_platform
        self.elf_machine = elf_machine

    @classmethod
    def of(cls, architecture: lambda_.Architecture) -> BundlePlatform:
        """The platform of a Lambda ``Architecture``."""
        for platform in cls:
            if platform.lambda_name == architecture.name:
                return platform
        allowed = ", ".join(p.lambda_name for p in cls)
        msg = f"architecture must be one of {allowed}, got {architecture.name!r}"
        raise ValueError(msg)


def python_version_of(runtime: lambda_.Runtime) -> str:
    """``"3.14"`` for ``Runtime.PYTHON_3_14``; raises ``ValueError`` for a non-Python runtime."""
    prefix = "python"
    name = runtime.name
    version = name.removeprefix(prefix)
    major, _, minor = version.partition(".")
    if not name.startswith(prefix) or not (major.isdigit() and minor.isdigit()):
        msg = f"runtime must be a Python runtime (e.g. python3.14), got {name!r}"
        raise ValueError(msg)
    return version


@dataclass(frozen=True, kw_only=True)
class BundleSpec:
    """What to bundle and for which target.

    :param source_dir: the Lambda code folder (copied without :data:`SOURCE_EXCLUDES`).
    :param requirements_file: pinned requirements installed next to the code.
    :param platform: the target architecture.
    :param python_version: the target Python version, ``"3.14"``; a parameter so that a test can
        build the same bundle for the interpreter that runs it.
    """

    source_dir: Path
    requirements_file: Path
    platform: BundlePlatform
    python_version: str

    def pip_arguments(self, target: Path, *, requirements: str | None = None) -> list[str]:
        """The ``pip install`` arguments (after ``python -m pip``) that fill ``target``.

        :param requirements: the requirements path to name. Default: ``requirements_file``.
        """
        return [
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--no-compile",
            "--quiet",
            "--only-binary=:all:",
            "--platform",
            self.platform.pip_platform,
            "--implementation",
            "cp",
            "--python-version",
            self.python_version,
            "--target",
            str(target),
            "--requirement",
            requirements or str(self.requirements_file),
        ]


def build_bundle(spec: BundleSpec, output_dir: Path) -> None:
    """Fill ``output_dir`` with the Lambda code and its dependencies for ``spec``'s target,
    with the running interpreter's pip.

    :raises BundlingError: when pip is missing or fails (its output is in the message).
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    _copy_source(spec.source_dir, output_dir)
    # pip --target into a fresh folder, then merge: pip refuses nothing, and the code copied
    # above can never be overwritten by a dependency with a clashing name unnoticed.
    with tempfile.TemporaryDirectory(prefix="ocsp-iot-bundle-") as tmp:
        site = Path(tmp) / "site"
        _pip_install(spec, site)
        _prune_dependencies(site)
        for entry in sorted(site.iterdir()):
            destination = output_dir / entry.name
            if destination.exists():
                msg = (
                    f"dependency {entry.name!r} clashes with a file of the Lambda source "
                    f"{spec.source_dir}; rename the source module"
                )
                raise BundlingError(msg)
            shutil.move(str(entry), str(destination))


def _copy_source(source_dir: Path, output_dir: Path) -> None:
    if not source_dir.is_dir():
        msg = f"Lambda source folder {source_dir} does not exist"
        raise BundlingError(msg)
    shutil.copytree(
        source_dir,
        output_dir,
        ignore=shutil.ignore_patterns(*SOURCE_EXCLUDES),
        dirs_exist_ok=True,
    )


def _pip_install(spec: BundleSpec, target: Path) -> None:
    python = sys.executable
    if not spec.requirements_file.is_file():
        msg = f"requirements file {spec.requirements_file} does not exist"
        raise BundlingError(msg)
    command = [python, "-m", "pip", *spec.pip_arguments(target)]
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            command,
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        msg = f"could not run pip to bundle the Lambda code ({' '.join(command)}): {error}"
        raise BundlingError(msg) from error
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()[-3000:]
        hint = ""
        if "No module named pip" in output:
            hint = (
                f"; the interpreter {python} has no pip: install it (e.g. `{python} -m ensurepip`"
                " or `uv pip install pip`) - bundling never falls back to Docker"
            )
        msg = (
            f"pip failed (exit {result.returncode}) while bundling the Lambda code for "
            f"{spec.platform.pip_platform} / Python {spec.python_version}{hint}:\n{output}"
        )
        raise BundlingError(msg)


def _prune_dependencies(site: Path) -> None:
    """Drop what the function never loads: console scripts, byte code, test suites, RECORDs."""
    shutil.rmtree(site / "bin", ignore_errors=True)
    for path in sorted(site.rglob("*"), reverse=True):
        if path.is_dir() and path.name in {"__pycache__", "tests"}:
            shutil.rmtree(path)
        elif path.is_file() and (
            path.suffix in {".pyc", ".pyo"}
            or (path.parent.name.endswith(".dist-info") and path.name in DIST_INFO_NOISE)
        ):
            path.unlink()


@jsii.implements(cdk.ILocalBundling)
class LocalPipBundling:
    """CDK local bundling through :func:`build_bundle`; it never returns ``False``."""

    def __init__(self, spec: BundleSpec) -> None:
        self._spec = spec

    def try_bundle(self, output_dir: str, *, image: cdk.DockerImage, **_options: Any) -> bool:
        """Build the bundle into ``output_dir``; raise :class:`BundlingError` on any failure."""
        build_bundle(self._spec, Path(output_dir))
        return True


def lambda_code(
    *,
    architecture: lambda_.Architecture,
    runtime: lambda_.Runtime,
    source_dir: Path | None = None,
    requirements_file: Path | None = None,
) -> lambda_.Code:
    """The Lambda code asset (every handler; each function names its own ``handler``), bundled
    locally for ``architecture`` and ``runtime``.

    The asset hash is that of the source (with :data:`SOURCE_EXCLUDES` left out) and of the
    bundling options, whose command names the platform and the Python version and whose
    environment holds the requirements' digest,
    so an arm64 and an x86_64 function never share a bundle and a new pin makes a new asset.
    """
    spec = BundleSpec(
        source_dir=source_dir or lambda_source_dir(),
        requirements_file=requirements_file or lambda_requirements_file(),
        platform=BundlePlatform.of(architecture),
        python_version=python_version_of(runtime),
    )
    # The command documents what the local bundler does and, being part of the bundling options,
    # puts the platform and the Python version into the asset hash. It names no path of this
    # machine, so every checkout hashes the same.
    command = [
        "python",
        "-m",
        "pip",
        *spec.pip_arguments(Path("/asset-output"), requirements="requirements.txt"),
    ]
    return lambda_.Code.from_asset(
        str(spec.source_dir),
        exclude=list(SOURCE_EXCLUDES),
        bundling=cdk.BundlingOptions(
            image=cdk.DockerImage.from_registry(NO_DOCKER_IMAGE),
            local=LocalPipBundling(spec),
            command=command,
            environment={
                "OCSP_IOT_BUNDLER_VERSION": BUNDLER_VERSION,
                # requirements.txt is not part of the deployed code (excluded above), but a new
                # pin must give a new asset: its digest is part of the bundling options' hash.
                "OCSP_IOT_REQUIREMENTS_SHA256": hashlib.sha256(
                    spec.requirements_file.read_bytes()
                ).hexdigest(),
            },
        ),
    )
