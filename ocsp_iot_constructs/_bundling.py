"""Docker-free bundling of the library's Lambda code (every handler) plus its pinned dependencies.

CDK's asset bundling normally runs a Docker container. Here the bundling is local
(``BundlingOptions(local=...)``): the Lambda source is copied and its pinned requirements are
installed with the synthesizing interpreter's pip, for the *function's* platform and Python
version::

    pip install --requirement requirements.txt --target <out> --only-binary=:all: \
        --platform manylinux2014_<aarch64|x86_64> --implementation cp --python-version 3.14

Then the whole bundle is compiled to bytecode by an interpreter of the runtime's Python version,
when the synthesizing machine has one (see :func:`bytecode_compiler`): Lambda's code folder is
read-only, so without shipped bytecode every cold start compiles every module again (about 55 ms
more for this code and ``cryptography`` in ``make bench``'s reference run). The ``.pyc`` files are
*unchecked-hash* ones (PEP 552): CDK zips assets with every file dated 1980-01-01, which would make
timestamp-based ``.pyc`` files stale, so the import system would ignore them; hash-based ones are
used whatever the dates. Without such an interpreter the bundle ships sources only (an info
annotation says so) and works the same, only its cold starts are slower.

Only binary wheels built for that platform are accepted, so the native libraries in the bundle
(cryptography's ``_rust.abi3.so``, cffi's ``_cffi_backend``) always match the function's
architecture, whatever machine synthesizes. Docker is never used: the local bundler either
produces the bundle or raises :class:`BundlingError`; it never returns ``False``, which is what
would make CDK fall back to ``docker run``.

Where the dependencies come from (a construct prop wins over the environment variable):

* the package index of pip's configuration (PyPI by default);
* a **wheelhouse** (prop ``wheelhouse``, variable :data:`WHEELHOUSE_ENV`): pip installs with
  ``--no-index --find-links <folder>`` and no pip configuration, so synth needs no network.
  ``python -m ocsp_iot_constructs wheelhouse <folder>`` (``make wheelhouse``) fills one for both
  architectures. The bundle, and the asset hash, are the same as from the index;
* a **prebuilt bundle** (prop ``lambda_bundle``, variable :data:`LAMBDA_BUNDLE_ENV`): a folder or
  zip made by ``python -m ocsp_iot_constructs bundle <folder>`` (``make lambda-bundle``), used as
  the code asset as is, after its manifest (:data:`MANIFEST_FILE`) is checked against the function.

A failure is one :class:`BundlingError`: a ``SystemExit`` whose message says what failed and how
to fix it, so that synth stops with that message alone (no traceback, pip's output not repeated).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

from . import _pip
from ._assets import lambda_requirements_file, lambda_source_dir

#: Bumped when the bundle layout changes, so that CDK's asset cache never reuses an old bundle
#: and an old prebuilt bundle is refused. 2: the manifest file; 3: bytecode.
BUNDLER_VERSION = "3"

#: Never pulled or run: the local bundler always bundles or raises (see module docstring). CDK
#: requires an image in ``BundlingOptions``; this name says where to look if one is ever needed.
NO_DOCKER_IMAGE = "ocsp-iot-constructs/local-bundling-only-docker-is-never-used"

#: The environment variables that choose where the bundle comes from (the props win).
WHEELHOUSE_ENV = "OCSP_IOT_WHEELHOUSE"
LAMBDA_BUNDLE_ENV = "OCSP_IOT_LAMBDA_BUNDLE"
#: In a prebuilt bundle's path: replaced by the function's architecture (``arm64``, ``x86_64``).
ARCHITECTURE_PLACEHOLDER = "{architecture}"
#: The file name ``python -m ocsp_iot_constructs bundle`` gives each bundle.
BUNDLE_FILE_NAME = f"ocsp-iot-lambda-{ARCHITECTURE_PLACEHOLDER}.zip"
#: Written into every bundle: what it was built for and from (checked before a prebuilt bundle
#: is used).
MANIFEST_FILE = "ocsp_iot_bundle.json"

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
PIP_TIMEOUT_SECONDS = int(_pip.TIMEOUT_SECONDS)

#: What to do when the package index cannot serve the bundle (the end of every such error).
FIXES = (
    "Fix (one of):\n"
    "  - bundle offline from a wheelhouse: fill one where PyPI is reachable with `make wheelhouse`"
    " (in a checkout of ocsp-iot-constructs) or `python -m ocsp_iot_constructs wheelhouse"
    f" <folder>`, then set {WHEELHOUSE_ENV}=<folder> (or the construct prop wheelhouse);\n"
    "  - deploy a prebuilt bundle: `make lambda-bundle` or `python -m ocsp_iot_constructs bundle"
    f" <folder>`, then set {LAMBDA_BUNDLE_ENV}=<folder>/{BUNDLE_FILE_NAME} (or the construct"
    " prop lambda_bundle);\n"
    "  - check the package index pip uses: PIP_INDEX_URL or index-url in pip's configuration,"
    " the proxy settings and the network."
)
#: Timeout of the bytecode compilation (a few seconds for the whole bundle).
COMPILE_TIMEOUT_SECONDS = 300
#: Where Lambda puts the code: the file names written into the bytecode (tracebacks).
LAMBDA_TASK_ROOT = "/var/task"
#: Environment variable naming the interpreter that compiles the bundle's bytecode (a path),
#: or ``off`` for sources only. Default: the synthesizing interpreter when its version is the
#: runtime's, else ``python3.X`` on ``PATH``.
BYTECODE_PYTHON_ENV = "OCSP_IOT_BYTECODE_PYTHON"


class BundlingError(SystemExit):
    """The Lambda code could not be bundled (Docker is deliberately never tried).

    A ``SystemExit``: uncaught, it ends synth with its message (what failed and the fix) and
    exit status 1, without a traceback. Catch it by name where that is not wanted.
    """

    def __init__(self, message: str) -> None:
        super().__init__(f"{_pip.PREFIX}{message}")

    def __str__(self) -> str:
        return str(self.code)


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
        return cls.named(architecture.name)

    @classmethod
    def named(cls, name: str) -> BundlePlatform:
        """The platform of a Lambda architecture name (``"arm64"``, ``"x86_64"``)."""
        for platform in cls:
            if platform.lambda_name == name:
                return platform
        allowed = ", ".join(p.lambda_name for p in cls)
        msg = f"architecture must be one of {allowed}, got {name!r}"
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


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _excluded(name: str) -> bool:
    return any(fnmatch(name, pattern) for pattern in SOURCE_EXCLUDES)


def source_files(source_dir: Path) -> list[Path]:
    """The deployed files of the Lambda source (relative, sorted): every file whose name and
    folders match none of :data:`SOURCE_EXCLUDES`."""
    found: list[Path] = []
    for root, folders, files in os.walk(source_dir):
        folders[:] = sorted(f for f in folders if not _excluded(f))
        base = Path(root)
        found.extend(
            (base / name).relative_to(source_dir) for name in sorted(files) if not _excluded(name)
        )
    return sorted(found)


def source_digest(source_dir: Path) -> str:
    """SHA-256 over the deployed files' relative paths and contents."""
    digest = hashlib.sha256()
    for relative in source_files(source_dir):
        digest.update(relative.as_posix().encode() + b"\0")
        digest.update(_sha256((source_dir / relative).read_bytes()).encode() + b"\n")
    return digest.hexdigest()


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

    @property
    def target(self) -> str:
        """``"arm64 / Python 3.14"``, for messages."""
        return f"{self.platform.lambda_name} / Python {self.python_version}"

    def _selection(self) -> list[str]:
        """The pip options that pick the wheels: binary only, for the function's platform."""
        return [
            "--disable-pip-version-check",
            "--no-input",
            "--no-color",
            "--quiet",
            "--only-binary=:all:",
            "--platform",
            self.platform.pip_platform,
            "--implementation",
            "cp",
            "--python-version",
            self.python_version,
        ]

    def pip_arguments(self, target: Path, *, requirements: str | None = None) -> list[str]:
        """The ``pip install`` arguments (after ``python -m pip``) that fill ``target``; where
        the wheels come from (index or wheelhouse) is added by :func:`build_bundle`.

        :param requirements: the requirements path to name. Default: ``requirements_file``.
        """
        return [
            "install",
            *self._selection(),
            "--no-compile",
            "--target",
            str(target),
            "--requirement",
            requirements or str(self.requirements_file),
        ]

    def download_arguments(self, destination: Path) -> list[str]:
        """The ``pip download`` arguments that put this target's wheels into ``destination``."""
        return [
            "download",
            *self._selection(),
            "--dest",
            str(destination),
            "--requirement",
            str(self.requirements_file),
        ]

    @property
    def bytecode(self) -> str:
        """``"cpython-3.14"`` when the bundle ships bytecode, else ``"none"``."""
        return f"cpython-{self.python_version}" if self.compiler else "none"

    def manifest(self) -> dict[str, str]:
        """What a bundle for this spec records in :data:`MANIFEST_FILE`."""
        return {
            "architecture": self.platform.lambda_name,
            "bundler_version": BUNDLER_VERSION,
            # informative (a bundle without bytecode works the same, its cold starts are slower)
            "bytecode": self.bytecode,
            "python_version": self.python_version,
            "requirements_sha256": _sha256(self.requirements_file.read_bytes()),
            "source_sha256": source_digest(self.source_dir),
        }

    def pinned(self) -> list[str]:
        """The requirement lines (``cryptography==50.0.2``, ...)."""
        lines = self.requirements_file.read_text(encoding="utf-8").splitlines()
        return [kept for line in lines if (kept := line.split("#", 1)[0].strip())]


def build_bundle(spec: BundleSpec, output_dir: Path, *, wheelhouse: Path | None = None) -> None:
    """Fill ``output_dir`` with the Lambda code, its dependencies for ``spec``'s target and the
    manifest, with the running interpreter's pip.

    :param wheelhouse: install from this folder only (no index, no pip configuration).
        Default: the package index of pip's configuration.
    :raises BundlingError: when pip is missing or fails (the message says why, and the fix).
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    _copy_source(spec.source_dir, output_dir)
    # pip --target into a fresh folder, then merge: pip refuses nothing, and the code copied
    # above can never be overwritten by a dependency with a clashing name unnoticed.
    with tempfile.TemporaryDirectory(prefix="ocsp-iot-bundle-") as tmp:
        site = Path(tmp) / "site"
        _pip_install(spec, site, wheelhouse)
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
    (output_dir / MANIFEST_FILE).write_text(
        json.dumps(spec.manifest(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


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
    for relative in source_files(source_dir):
        (output_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source_dir / relative, output_dir / relative)


def _pip_install(spec: BundleSpec, target: Path, wheelhouse: Path | None) -> None:
    if not spec.requirements_file.is_file():
        msg = f"requirements file {spec.requirements_file} does not exist"
        raise BundlingError(msg)
    packages = spec.pinned()
    what = f"{len(packages)} pinned packages" if len(packages) != 1 else "1 pinned package"
    if wheelhouse is None:
        arguments = spec.pip_arguments(target)
        environment = None
        origin = "the package index"
    else:
        _check_wheelhouse(wheelhouse)
        arguments = [*spec.pip_arguments(target), "--no-index", "--find-links", str(wheelhouse)]
        environment = _pip.offline_environment()
        origin = f"the wheelhouse {wheelhouse} (offline)"
    try:
        _pip.run(
            arguments,
            progress=f"bundling the Lambda code for {spec.target}: pip installs {what} "
            f"from {origin} ...",
            environment=environment,
            timeout=PIP_TIMEOUT_SECONDS,
        )
    except _pip.PipFailure as failure:
        raise BundlingError(_explain(failure, spec, wheelhouse, packages)) from None


def _check_wheelhouse(wheelhouse: Path) -> None:
    if not wheelhouse.is_dir():
        msg = (
            f"the wheelhouse {wheelhouse} is not a folder. Fix: fill it where PyPI is reachable "
            f"with `make wheelhouse WHEELHOUSE={wheelhouse}` or `python -m ocsp_iot_constructs "
            f"wheelhouse {wheelhouse}`, or unset {WHEELHOUSE_ENV} (and the wheelhouse prop) to "
            "download from the package index."
        )
        raise BundlingError(msg)


def _explain(
    failure: _pip.PipFailure, spec: BundleSpec, wheelhouse: Path | None, packages: list[str]
) -> str:
    what = f"could not bundle the Lambda code for {spec.target}"
    wheel_target = f"{spec.platform.pip_platform} / CPython {spec.python_version}"
    if failure.kind == "no-pip":
        return (
            f"{what}: {failure.detail}. Fix: install it (e.g. `python -m ensurepip` or "
            "`uv pip install pip`); bundling never falls back to Docker."
        )
    if wheelhouse is not None:
        if failure.kind == "missing":
            cause = (
                f"the wheelhouse {wheelhouse} has no wheel of {failure.detail} for {wheel_target}"
            )
        else:
            cause = f"pip failed with the wheelhouse {wheelhouse}: {failure.detail}"
        return (
            f"{what}: {cause}.\nFix: fill the wheelhouse for both architectures where PyPI is "
            f"reachable: `make wheelhouse WHEELHOUSE={wheelhouse}` or `python -m "
            f"ocsp_iot_constructs wheelhouse {wheelhouse}`."
        )
    if failure.kind == "unreachable":
        shown = ", ".join(packages[:2]) + (", ..." if len(packages) > 2 else "")
        cause = f"pip could not reach the package index to download {shown} ({failure.detail})"
    elif failure.kind == "missing":
        cause = f"the package index has no wheel of {failure.detail} for {wheel_target}"
    else:
        cause = failure.detail
    return f"{what}: {cause}.\n{FIXES}"


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


# --------------------------------------------------------------------------------------------
# Prebuilt bundles
# --------------------------------------------------------------------------------------------


def write_zip(folder: Path, archive: Path) -> None:
    """Zip ``folder`` into ``archive`` reproducibly: sorted entries, fixed timestamps and modes,
    so that the same bundle always gives the same bytes (and the same asset hash)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(archive.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), (1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zipped.writestr(info, path.read_bytes())
    partial.replace(archive)


def read_manifest(bundle: Path) -> dict[str, Any] | None:
    """The manifest of a bundle folder or zip, or ``None`` when it has none (or not JSON)."""
    try:
        if bundle.is_dir():
            text = (bundle / MANIFEST_FILE).read_text(encoding="utf-8")
        else:
            with zipfile.ZipFile(bundle) as zipped:
                text = zipped.read(MANIFEST_FILE).decode("utf-8")
        manifest = json.loads(text)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    return manifest if isinstance(manifest, dict) else None


def check_prebuilt(bundle: Path, spec: BundleSpec, origin: str) -> None:
    """``bundle`` must be a bundle built for ``spec`` (architecture, Python, code, pins).

    :raises BundlingError: naming every difference, and how to rebuild it.
    """
    rebuild = (
        f"Fix: rebuild it with this version of ocsp-iot-constructs: `make lambda-bundle` or "
        f"`python -m ocsp_iot_constructs bundle <folder>`, and point {origin} at "
        f"<folder>/{BUNDLE_FILE_NAME}."
    )
    if not (bundle.is_dir() or bundle.is_file()):
        msg = f"the prebuilt Lambda bundle {bundle} (from {origin}) does not exist. {rebuild}"
        raise BundlingError(msg)
    manifest = read_manifest(bundle)
    if manifest is None:
        msg = (
            f"{bundle} (from {origin}) is not a Lambda bundle of ocsp-iot-constructs: it has no "
            f"readable {MANIFEST_FILE}. {rebuild}"
        )
        raise BundlingError(msg)
    wanted = spec.manifest()
    labels = {
        "architecture": "the architecture",
        "python_version": "the Python version",
        "bundler_version": "the bundle layout version",
        "requirements_sha256": "the pinned requirements (SHA-256)",
        "source_sha256": "the Lambda code (SHA-256)",
    }
    differences = [
        f"{label} is {manifest.get(key)!r}, the function needs {wanted[key]!r}"
        for key, label in labels.items()
        if manifest.get(key) != wanted[key]
    ]
    if differences:
        msg = (
            f"the prebuilt Lambda bundle {bundle} (from {origin}) does not fit the function "
            f"({spec.target}): " + "; ".join(differences) + f". {rebuild}"
        )
        raise BundlingError(msg)


# --------------------------------------------------------------------------------------------
# CDK integration
# --------------------------------------------------------------------------------------------

#: A failure of the local bundler, kept while jsii carries a plain error back to Python (see
#: :func:`bundling_failures`).
_PENDING: list[BundlingError] = []


@jsii.implements(cdk.ILocalBundling)
class LocalPipBundling:
    """CDK local bundling through :func:`build_bundle`; it never returns ``False``."""

    def __init__(self, spec: BundleSpec, *, wheelhouse: Path | None = None) -> None:
        self._spec = spec
        self._wheelhouse = wheelhouse

    def try_bundle(self, output_dir: str, *, image: cdk.DockerImage, **_options: Any) -> bool:
        """Build the bundle into ``output_dir``; raise on any failure.

        A ``SystemExit`` must not cross jsii's callback (the JavaScript side would wait for this
        call forever): jsii gets a ``RuntimeError`` and :func:`bundling_failures` re-raises the
        :class:`BundlingError` on the Python side.
        """
        try:
            try:
                build_bundle(self._spec, Path(output_dir), wheelhouse=self._wheelhouse)
            except OSError as error:
                msg = f"could not write the Lambda bundle for {self._spec.target}: {error}"
                raise BundlingError(msg) from None
        except BundlingError as failure:
            _PENDING.append(failure)
            raise RuntimeError(str(failure)) from None
        return True


@contextlib.contextmanager
def bundling_failures() -> Iterator[None]:
    """Wrap the creation of a function whose code comes from :func:`lambda_code`: a bundling
    failure inside CDK's asset staging comes back from jsii as a ``RuntimeError`` that repeats
    the message inside a JavaScript stack trace; the :class:`BundlingError` itself is re-raised
    instead, once."""
    _PENDING.clear()
    try:
        yield
    except RuntimeError:
        if not _PENDING:
            raise
        failure = _PENDING[-1]
        _PENDING.clear()
        raise failure from None


@dataclass(frozen=True)
class CodeSource:
    """Where a function's code comes from: ``kind`` is ``"index"``, ``"wheelhouse"`` or
    ``"prebuilt"``; ``origin`` names the prop or variable that chose it."""

    kind: str
    path: Path | None = None
    origin: str = "the default"


def code_source(
    platform: BundlePlatform,
    *,
    wheelhouse: str | os.PathLike[str] | None = None,
    lambda_bundle: str | os.PathLike[str] | None = None,
) -> CodeSource:
    """The props win over the environment variables, a prebuilt bundle over a wheelhouse;
    ``{architecture}`` in a bundle path is replaced by ``platform``'s name."""
    candidates = (
        ("prebuilt", lambda_bundle, "the construct prop lambda_bundle"),
        ("wheelhouse", wheelhouse, "the construct prop wheelhouse"),
        ("prebuilt", os.environ.get(LAMBDA_BUNDLE_ENV), LAMBDA_BUNDLE_ENV),
        ("wheelhouse", os.environ.get(WHEELHOUSE_ENV), WHEELHOUSE_ENV),
    )
    for kind, value, origin in candidates:
        if value is not None and os.fspath(value) != "":
            text = os.fspath(value).replace(ARCHITECTURE_PLACEHOLDER, platform.lambda_name)
            return CodeSource(kind, Path(text).expanduser().absolute(), origin)
    return CodeSource("index")


def lambda_code(
    *,
    architecture: lambda_.Architecture,
    runtime: lambda_.Runtime,
    source_dir: Path | None = None,
    requirements_file: Path | None = None,
    wheelhouse: str | os.PathLike[str] | None = None,
    lambda_bundle: str | os.PathLike[str] | None = None,
) -> lambda_.Code:
    """The Lambda code asset (every handler; each function names its own ``handler``), bundled
    locally for ``architecture`` and ``runtime``, or a checked prebuilt bundle.

    The asset hash of a bundled asset is that of the source (with :data:`SOURCE_EXCLUDES` left
    out) and of the bundling options, whose command names the platform and the Python version
    and whose environment holds the requirements' digest, so an arm64 and an x86_64 function
    never share a bundle and a new pin makes a new asset. Where the wheels come from is not part
    of it: a wheelhouse gives the same asset as the index, on every machine.

    :param wheelhouse: install the dependencies from this folder only. Default: the
        :data:`WHEELHOUSE_ENV` variable, else the package index.
    :param lambda_bundle: use this prebuilt bundle (folder or zip) as the code. Default: the
        :data:`LAMBDA_BUNDLE_ENV` variable, else bundle at synth.
    :raises BundlingError: when the prebuilt bundle is missing or was built for something else.
    """
    python_version = python_version_of(runtime)
    spec = BundleSpec(
        source_dir=source_dir or lambda_source_dir(),
        requirements_file=requirements_file or lambda_requirements_file(),
        platform=BundlePlatform.of(architecture),
        python_version=python_version,
        compiler=bytecode_compiler(python_version),
    )
    source = code_source(spec.platform, wheelhouse=wheelhouse, lambda_bundle=lambda_bundle)
    if source.kind == "prebuilt" and source.path is not None:
        check_prebuilt(source.path, spec, source.origin)
        return lambda_.Code.from_asset(str(source.path))
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
            local=LocalPipBundling(spec, wheelhouse=source.path),
            command=command,
            environment={
                "OCSP_IOT_BUNDLER_VERSION": BUNDLER_VERSION,
                # requirements.txt is not part of the deployed code (excluded above), but a new
                # pin must give a new asset: its digest is part of the bundling options' hash.
                "OCSP_IOT_REQUIREMENTS_SHA256": _sha256(spec.requirements_file.read_bytes()),
                # A bundle with bytecode is another asset than one without (never which
                # interpreter compiled it: every machine with one builds the same bundle).
                "OCSP_IOT_BYTECODE": spec.bytecode,
            },
        ),
    )
