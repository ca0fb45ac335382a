"""``python -m ocsp_iot_constructs``: prepare offline and repeatable synth of the Lambda code.

* ``wheelhouse FOLDER``: download the Lambda's pinned wheels for every architecture (and the
  Lambda's Python version) into FOLDER; synth then installs from it with
  ``OCSP_IOT_WHEELHOUSE=FOLDER``, without network.
* ``bundle FOLDER``: build the Lambda bundle of each architecture into
  ``FOLDER/ocsp-iot-lambda-<architecture>.zip``; synth then uses it as is with
  ``OCSP_IOT_LAMBDA_BUNDLE=FOLDER/ocsp-iot-lambda-{architecture}.zip``.

Failures print one line that says what failed and the fix, and exit with status 1.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from . import _pip
from ._assets import lambda_requirements_file, lambda_source_dir
from ._bundling import (
    ARCHITECTURE_PLACEHOLDER,
    BUNDLE_FILE_NAME,
    LAMBDA_BUNDLE_ENV,
    WHEELHOUSE_ENV,
    BundlePlatform,
    BundleSpec,
    BundlingError,
    build_bundle,
    python_version_of,
    write_zip,
)
from ._ocsp_function import RUNTIME


def _spec(platform: BundlePlatform) -> BundleSpec:
    return BundleSpec(
        source_dir=lambda_source_dir(),
        requirements_file=lambda_requirements_file(),
        platform=platform,
        python_version=python_version_of(RUNTIME),
    )


def _platforms(names: Sequence[str] | None) -> list[BundlePlatform]:
    return [BundlePlatform.named(n) for n in names] if names else list(BundlePlatform)


def fill_wheelhouse(folder: Path, platforms: Sequence[BundlePlatform]) -> None:
    """Download every pinned wheel for each of ``platforms`` into ``folder`` (from the index
    of pip's configuration)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        msg = f"could not create the wheelhouse {folder}: {error}"
        raise BundlingError(msg) from None
    for platform in platforms:
        spec = _spec(platform)
        try:
            _pip.run(
                spec.download_arguments(folder),
                progress=f"downloading the Lambda's wheels for {spec.target} into {folder} ...",
            )
        except _pip.PipFailure as failure:
            if failure.kind == "unreachable":
                cause = f"pip could not reach the package index ({failure.detail})"
            elif failure.kind == "missing":
                cause = (
                    f"the package index has no wheel of {failure.detail} for "
                    f"{platform.pip_platform} / CPython {spec.python_version}"
                )
            else:
                cause = failure.detail
            msg = (
                f"could not fill the wheelhouse {folder} for {spec.target}: {cause}.\n"
                "Fix: run this where the package index is reachable (check PIP_INDEX_URL or "
                "index-url in pip's configuration, the proxy settings and the network), then "
                "copy the folder to where synth runs."
            )
            raise BundlingError(msg) from None
    _pip.say(f"wheelhouse ready: {folder}; synth offline with {WHEELHOUSE_ENV}={folder}")


def build_bundles(
    folder: Path, platforms: Sequence[BundlePlatform], *, wheelhouse: Path | None
) -> list[Path]:
    """Build ``folder/ocsp-iot-lambda-<architecture>.zip`` for each of ``platforms``."""
    built: list[Path] = []
    for platform in platforms:
        archive = folder / BUNDLE_FILE_NAME.replace(ARCHITECTURE_PLACEHOLDER, platform.lambda_name)
        try:
            with tempfile.TemporaryDirectory(prefix="ocsp-iot-bundle-") as tmp:
                staged = Path(tmp) / "bundle"
                build_bundle(_spec(platform), staged, wheelhouse=wheelhouse)
                write_zip(staged, archive)
        except OSError as error:
            msg = f"could not write the Lambda bundle {archive}: {error}"
            raise BundlingError(msg) from None
        built.append(archive)
    _pip.say(
        f"bundles ready: {', '.join(map(str, built))}; use them with "
        f"{LAMBDA_BUNDLE_ENV}={folder / BUNDLE_FILE_NAME}"
    )
    return built


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ocsp_iot_constructs",
        description="Prepare offline and repeatable synth of the library's Lambda code.",
        epilog=f"Then synth offline with {WHEELHOUSE_ENV}=<folder>, or use the bundles as is "
        f"with {LAMBDA_BUNDLE_ENV}=<folder>/{BUNDLE_FILE_NAME}.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    architectures = [p.lambda_name for p in BundlePlatform]
    wheelhouse = commands.add_parser(
        "wheelhouse", help="download the Lambda's pinned wheels for offline synth"
    )
    wheelhouse.add_argument("folder", type=Path)
    bundle = commands.add_parser(
        "bundle", help="build the Lambda bundles (one zip per architecture) used as is at synth"
    )
    bundle.add_argument("folder", type=Path)
    bundle.add_argument(
        "--wheelhouse",
        type=Path,
        help=f"install the wheels from this folder only; default: ${WHEELHOUSE_ENV}, "
        "else the package index",
    )
    for command in (wheelhouse, bundle):
        command.add_argument(
            "--architecture",
            action="append",
            choices=architectures,
            help="only this architecture (repeatable); default: all of them",
        )
    arguments = parser.parse_args(argv)
    platforms = _platforms(arguments.architecture)
    folder = arguments.folder.absolute()  # the paths it prints are for use from anywhere
    if arguments.command == "wheelhouse":
        fill_wheelhouse(folder, platforms)
    else:
        source = arguments.wheelhouse or os.environ.get(WHEELHOUSE_ENV) or None
        build_bundles(
            folder,
            platforms,
            wheelhouse=Path(source).absolute() if source else None,
        )
    return 0
