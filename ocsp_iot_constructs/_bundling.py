"""Docker-free bundling of the library's Lambda code (every handler) plus its pinned dependencies.

CDK's asset bundling normally runs a Docker container. Here the bundling is local
(``BundlingOptions(local=...)``): the Lambda source is copied and its pinned requirements are
installed with the synthesizing interpreter's pip, for the *function's* platform and Python
version::

    pip install --requirement requirements.txt --target <out> --only-binary=:all: \
        --platform manylinux2014_<aarch64|x86_64> --implementation cp --python-version 3.14

Then the whole bundle is compiled to bytecode by an interpreter of the runtime's Python version,
when the synthesizing machine has one (see :func:`bytecode_compiler`): Lambda's code folder is
read-only, so without shipped bytecode every cold start compiles every module again (about
150 ms for this code and ``cryptography``). The ``.pyc`` files are *unchecked-hash* ones
(PEP 552): CDK zips assets with every file dated 1980-01-01, which would make timestamp-based
``.pyc`` files stale, so the import system would ignore them; hash-based ones are used whatever
the dates. Without such an interpreter the bundle ships sources only (an info annotation says
so) and works the same, only its cold starts are slower.

Only binary wheels built for that platform are accepted, so the native libraries in the bundle
(cryptography's ``_rust.abi3.so``, cffi's ``_cffi_backend``) always match the function's
architecture, whatever machine synthesizes. Docker is never used: the local bundler either
produces the bundle or raises :class:`BundlingError`; it never returns ``False``, which is what
would make CDK fall back to ``docker run``.
"""

from __future__ import annotations

import hashlib
import os
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
BUNDLER_VERSION = "2"

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
#: Timeout of the bytecode compilation (a few seconds for the whole bundle).
COMPILE_TIMEOUT_SECONDS = 300
#: Where Lambda puts the code: the file names written into the bytecode (tracebacks).
LAMBDA_TASK_ROOT = "/var/task"
#: Environment variable naming the interpreter that compiles the bundle's bytecode (a path),
#: or ``off`` for sources only. Default: the synthesizing interpreter when its version is the
#: runtime's, else ``python3.X`` on ``PATH``.
BYTECODE_PYTHON_ENV = "OCSP_IOT_BYTECODE_PYTHON"


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
    :param compiler: an interpreter of ``python_version`` that compiles the bundle to bytecode
        (:func:`bytecode_compiler`); ``None`` ships sources only.
    """

    source_dir: Path
    requirements_file: Path
    platform: BundlePlatform
    python_version: str
    #: An interpreter of ``python_version`` that compiles the bytecode; ``None``: sources only.
    compiler: str | None = None

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
    if spec.compiler is not None:
        _compile(spec.compiler, output_dir)


def _interpreter_version(python: str) -> str | None:
    """``"3.14"`` for an interpreter that runs, else ``None``."""
    try:
        done = subprocess.run(  # noqa: S603 - a fixed argv, no shell
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


_COMPILERS: dict[str, str | None] = {}


def bytecode_compiler(python_version: str) -> str | None:
    """The interpreter that compiles a bundle for ``python_version``, or ``None`` (sources only):
    ``$OCSP_IOT_BYTECODE_PYTHON`` (a path, or ``off``), else the synthesizing interpreter when
    it is that version, else ``python3.X`` on ``PATH``. Bytecode is version-specific: another
    version's ``.pyc`` files would be ignored, so there is no fallback to another interpreter."""
    override = os.environ.get(BYTECODE_PYTHON_ENV, "").strip()
    key = f"{python_version}|{override}"
    if key in _COMPILERS:
        return _COMPILERS[key]
    candidates: list[str | None]
    if override.lower() == "off":
        candidates = []
    elif override:
        candidates = [override]
    else:
        running = f"{sys.version_info.major}.{sys.version_info.minor}"
        candidates = [
            sys.executable if running == python_version else None,
            shutil.which(f"python{python_version}"),
        ]
    found = next((c for c in candidates if c and _interpreter_version(c) == python_version), None)
    if override and override.lower() != "off" and found is None:
        msg = (
            f"{BYTECODE_PYTHON_ENV}={override!r} is not a Python {python_version} interpreter "
            f"(set it to one, or to 'off' to ship sources only)"
        )
        raise BundlingError(msg)
    _COMPILERS[key] = found
    return found


def _compile(python: str, output_dir: Path) -> None:
    """Compile every module of ``output_dir`` to unchecked-hash bytecode, with the file names
    Lambda will see (``/var/task/...``) and a fixed hash seed (the same bundle every time)."""
    command = [
        python,
        "-m",
        "compileall",
        "-q",
        "-j",
        "0",
        "--invalidation-mode",
        "unchecked-hash",
        "-s",
        str(output_dir),
        "-p",
        LAMBDA_TASK_ROOT,
        str(output_dir),
    ]
    try:
        done = subprocess.run(  # noqa: S603 - a fixed argv, no shell
            command,
            capture_output=True,
            text=True,
            timeout=COMPILE_TIMEOUT_SECONDS,
            check=False,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        msg = f"could not compile the Lambda bundle with {python}: {error}"
        raise BundlingError(msg) from error
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()[-3000:]
        msg = (
            f"compiling the Lambda bundle with {python} failed (exit {done.returncode}):\n{output}"
        )
        raise BundlingError(msg)


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
    python_version = python_version_of(runtime)
    spec = BundleSpec(
        source_dir=source_dir or lambda_source_dir(),
        requirements_file=requirements_file or lambda_requirements_file(),
        platform=BundlePlatform.of(architecture),
        python_version=python_version,
        compiler=bytecode_compiler(python_version),
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
                # A bundle with bytecode is another asset than one without (never which
                # interpreter compiled it: every machine with one builds the same bundle).
                "OCSP_IOT_BYTECODE": f"cpython-{python_version}" if spec.compiler else "none",
            },
        ),
    )
