"""Where the bundle's wheels come from: the package index, a wheelhouse (offline) or a prebuilt
bundle, and the one clear error when none of them works.

"Offline" is proven, not assumed: pip is pointed at a loopback port where nothing listens, with
no pip configuration and no other ``PIP_*`` source; a bundle that still builds can only have
come from the wheelhouse. The wheelhouse is filled by the real command (``make wheelhouse`` runs
``python -m ocsp_iot_constructs wheelhouse``) from the package index.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_

from ocsp_iot_constructs import PropsError, _pip
from ocsp_iot_constructs._assets import lambda_requirements_file, lambda_source_dir
from ocsp_iot_constructs._bundling import (
    BUNDLER_VERSION,
    LAMBDA_BUNDLE_ENV,
    MANIFEST_FILE,
    WHEELHOUSE_ENV,
    BundlePlatform,
    BundleSpec,
    BundlingError,
    lambda_code,
    write_zip,
)
from ocsp_iot_constructs._cli import build_bundles
from ocsp_iot_constructs._ocsp_function import RUNTIME
from tests.constructs.bundle_support import (
    bundle_contents,
    closed_index_url,
    run_cli,
    synth_domain_bundles,
    unreachable_index_environment,
)
from tests.constructs.domain_support import make_domain, new_stack
from tests.lambdas.support.loopback import LoopbackServer, Reply, fixed
from tests.support import ROOT, new_app

pytestmark = pytest.mark.slow

ANSI = re.compile(r"\x1b\[")
ARM = lambda_.Architecture.ARM_64
#: The pinned ``name==version`` lines of the Lambda's requirements.
PINS = [
    line.split("#", 1)[0].strip()
    for line in lambda_requirements_file().read_text().splitlines()
    if line.split("#", 1)[0].strip()
]


def _wheel_name(requirement: str) -> str:
    """``charset-normalizer==3.5.2`` -> ``charset_normalizer-3.5.2`` (a wheel file's start)."""
    name, version = requirement.split("==")
    return f"{name.replace('-', '_')}-{version}"


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheelhouse")
    result = run_cli("wheelhouse", str(folder))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"wheelhouse ready: {folder}" in result.stderr
    return folder


@pytest.fixture(scope="module")
def prebuilt(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the real ``bundle`` command (``make lambda-bundle``) fills, built offline."""
    folder = tmp_path_factory.mktemp("prebuilt")
    result = run_cli(
        "bundle",
        str(folder),
        "--wheelhouse",
        str(wheelhouse),
        env=unreachable_index_environment(closed_index_url()),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


def _spec(platform: BundlePlatform, source_dir: Path | None = None) -> BundleSpec:
    return BundleSpec(
        source_dir=source_dir or lambda_source_dir(),
        requirements_file=lambda_requirements_file(),
        platform=platform,
        python_version="3.14",
    )


# --------------------------------------------------------------------------------------------
# Wheelhouse
# --------------------------------------------------------------------------------------------


def test_wheelhouse_holds_every_pinned_wheel_for_both_architectures(wheelhouse: Path) -> None:
    wheels = sorted(p.name for p in wheelhouse.glob("*.whl"))
    for requirement in PINS:
        found = [w for w in wheels if w.startswith(_wheel_name(requirement) + "-")]
        assert found, f"no wheel of {requirement} in {wheels}"
        native = [w for w in found if not w.endswith("-none-any.whl")]
        if native:  # a platform wheel for each architecture, for CPython 3.14
            assert any("aarch64" in w for w in native), (requirement, native)
            assert any("x86_64" in w for w in native), (requirement, native)
            for wheel in native:
                assert "-cp314-" in wheel or "-abi3-" in wheel, wheel
    assert len(wheels) == len({w.split("-", 2)[0] for w in wheels}) + len(
        [w for w in wheels if "aarch64" in w]
    )  # nothing but the pins: one wheel per pin, two for a native one


def test_offline_bundles_from_the_wheelhouse_equal_the_pypi_bundles(
    wheelhouse: Path,
    synthesized_bundles: dict[str, Path],
    unreachable_index: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # GIVEN no reachable index, and the wheelhouse in the environment variable
    monkeypatch.setenv(WHEELHOUSE_ENV, str(wheelhouse))

    # WHEN a synth bundles both architectures
    offline = synth_domain_bundles()

    # THEN pip installed from the wheelhouse, and the bundles (and their asset hashes) are the
    # ones the package index gives
    stderr = capfd.readouterr().err
    for arch in ("arm64", "x86_64"):
        assert (
            f"bundling the Lambda code for {arch} / Python 3.14: pip installs {len(PINS)} pinned "
            f"packages from the wheelhouse {wheelhouse} (offline) ..."
        ) in stderr
        assert offline[arch].name == synthesized_bundles[arch].name  # same asset hash
        assert bundle_contents(offline[arch]) == bundle_contents(synthesized_bundles[arch])
    assert unreachable_index not in stderr


def test_the_wheelhouse_prop_wins_over_the_variable(
    wheelhouse: Path,
    synthesized_bundles: dict[str, Path],
    unreachable_index: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv(WHEELHOUSE_ENV, str(tmp_path / "no-such-wheelhouse"))
    offline = synth_domain_bundles([ARM], wheelhouse=wheelhouse)
    assert bundle_contents(offline["arm64"]) == bundle_contents(synthesized_bundles["arm64"])


def test_fails_when_the_wheelhouse_lacks_a_wheel_for_the_architecture(
    wheelhouse: Path, unreachable_index: str, tmp_path: Path
) -> None:
    # GIVEN a wheelhouse filled for x86_64 only
    partial = tmp_path / "wheelhouse-x86_64"
    partial.mkdir()
    for wheel in wheelhouse.glob("*.whl"):
        if "aarch64" not in wheel.name:
            shutil.copy(wheel, partial)
    # WHEN an arm64 function is bundled from it THEN the error names the missing wheel and fix
    with pytest.raises(BundlingError) as failure:
        synth_domain_bundles([ARM], wheelhouse=partial)
    assert str(failure.value) == (
        "ocsp-iot-constructs: could not bundle the Lambda code for arm64 / Python 3.14: the "
        f"wheelhouse {partial} has no wheel of {PINS[0]} for manylinux2014_aarch64 / CPython "
        "3.14.\nFix: fill the wheelhouse for both architectures where PyPI is reachable: "
        f"`make wheelhouse WHEELHOUSE={partial}` or `python -m ocsp_iot_constructs wheelhouse "
        f"{partial}`."
    )


def test_fails_when_the_wheelhouse_is_not_a_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(BundlingError, match=r"the wheelhouse .*nowhere is not a folder\. Fix: "):
        synth_domain_bundles([ARM], wheelhouse=missing)


# --------------------------------------------------------------------------------------------
# One clear error, and progress while pip runs
# --------------------------------------------------------------------------------------------


def test_fails_with_one_clear_error_when_neither_index_nor_wheelhouse_works(
    tmp_path: Path,
) -> None:
    # GIVEN the reference app, run as `cdk synth` runs it, with the index unreachable, no
    # wheelhouse and colour forced on (as some CI systems do)
    url = closed_index_url()
    env = {
        **unreachable_index_environment(url),
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
        "FORCE_COLOR": "1",
    }
    env.pop(WHEELHOUSE_ENV, None)
    env.pop(LAMBDA_BUNDLE_ENV, None)

    # WHEN it synthesizes
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    # THEN it stops with exit status 1 and one error that says what failed and the fix: no
    # traceback, no colour codes, pip's output not repeated
    assert result.returncode == 1, result.stderr[-3000:]
    lines = result.stderr.splitlines()
    error_at = next(i for i, line in enumerate(lines) if "could not bundle" in line)
    assert lines[error_at - 1] == (
        "ocsp-iot-constructs: bundling the Lambda code for arm64 / Python 3.14: pip installs "
        f"{len(PINS)} pinned packages from the package index ..."
    )
    assert lines[error_at] == (
        "ocsp-iot-constructs: could not bundle the Lambda code for arm64 / Python 3.14: pip "
        f"could not reach the package index to download {PINS[0]}, {PINS[1]}, ... "
        f"({url}/{PINS[0].split('==')[0]}/: connection refused)."
    )
    assert lines[error_at + 1] == "Fix (one of):"
    fixes = "\n".join(lines[error_at + 2 :])
    assert "`make wheelhouse`" in fixes
    assert f"then set {WHEELHOUSE_ENV}=<folder>" in fixes
    assert f"then set {LAMBDA_BUNDLE_ENV}=<folder>/ocsp-iot-lambda-{{architecture}}.zip" in fixes
    assert "check the package index pip uses: PIP_INDEX_URL" in fixes
    assert len(lines) == error_at + 5  # the message is the end of the output
    assert "Traceback" not in result.stderr
    assert "RuntimeError" not in result.stderr
    assert not ANSI.search(result.stderr)
    assert result.stderr.count("could not bundle") == 1
    assert "ERROR:" not in result.stderr  # pip's own lines stay out of sight


def test_prints_progress_while_pip_runs_and_names_a_wheel_the_index_lacks(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a real, slow package index on 127.0.0.1 that has none of the packages
    monkeypatch.setattr(_pip, "HEARTBEAT_SECONDS", 0.3)
    with LoopbackServer(
        fixed(Reply(status=404, body=b"not here", content_type="text/plain", delay=1.5)),
        path="/simple",
    ) as index:
        for name in [k for k in os.environ if k.startswith("PIP_")]:
            monkeypatch.delenv(name)
        for name, value in unreachable_index_environment(index.url).items():
            if name.startswith("PIP_"):
                monkeypatch.setenv(name, value)
        with pytest.raises(BundlingError) as failure:
            synth_domain_bundles([ARM])
        asked = [r.path for r in index.requests]
    assert f"/simple/{PINS[0].split('==')[0]}/" in asked
    stderr = capfd.readouterr().err
    assert re.search(r"ocsp-iot-constructs: \.\.\. pip is still running \(\d+ s\)", stderr)
    assert str(failure.value).startswith(
        "ocsp-iot-constructs: could not bundle the Lambda code for arm64 / Python 3.14: the "
        f"package index has no wheel of {PINS[0]} for manylinux2014_aarch64 / CPython 3.14.\n"
        "Fix (one of):"
    )


def test_the_wheelhouse_command_fails_with_one_clear_error_when_offline(tmp_path: Path) -> None:
    url = closed_index_url()
    result = run_cli(
        "wheelhouse",
        str(tmp_path / "wh"),
        "--architecture",
        "arm64",
        env=unreachable_index_environment(url),
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-2:] == [
        f"ocsp-iot-constructs: could not fill the wheelhouse {tmp_path / 'wh'} for arm64 / "
        "Python 3.14: pip could not reach the package index "
        f"({url}/{PINS[0].split('==')[0]}/: connection refused).",
        "Fix: run this where the package index is reachable (check PIP_INDEX_URL or index-url "
        "in pip's configuration, the proxy settings and the network), then copy the folder to "
        "where synth runs.",
    ]
    assert "Traceback" not in result.stderr
    assert not ANSI.search(result.stderr)


# --------------------------------------------------------------------------------------------
# Prebuilt bundles
# --------------------------------------------------------------------------------------------


def test_prebuilt_bundles_equal_the_pypi_bundles(
    prebuilt: Path, synthesized_bundles: dict[str, Path]
) -> None:
    assert sorted(p.name for p in prebuilt.iterdir()) == [
        "ocsp-iot-lambda-arm64.zip",
        "ocsp-iot-lambda-x86_64.zip",
    ]
    for arch in ("arm64", "x86_64"):
        assert bundle_contents(prebuilt / f"ocsp-iot-lambda-{arch}.zip") == bundle_contents(
            synthesized_bundles[arch]
        )


def test_prebuilt_bundles_are_the_code_asset_as_is(
    prebuilt: Path,
    unreachable_index: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the prebuilt zips in the environment variable, one path for every architecture
    monkeypatch.setenv(LAMBDA_BUNDLE_ENV, str(prebuilt / "ocsp-iot-lambda-{architecture}.zip"))

    # WHEN a synth with bundling on uses them
    assets = synth_domain_bundles()

    # THEN each function's asset is its architecture's zip, byte for byte, and pip never ran
    for arch, asset in assets.items():
        assert asset.suffix == ".zip"
        assert asset.read_bytes() == (prebuilt / f"ocsp-iot-lambda-{arch}.zip").read_bytes()
    assert "pip installs" not in capfd.readouterr().err


def test_prebuilt_bundles_are_reproducible(
    wheelhouse: Path, prebuilt: Path, tmp_path: Path
) -> None:
    (again,) = build_bundles(tmp_path, [BundlePlatform.ARM_64], wheelhouse=wheelhouse)
    assert again.read_bytes() == (prebuilt / "ocsp-iot-lambda-arm64.zip").read_bytes()


def test_the_lambda_bundle_prop_takes_a_bundle_folder(
    prebuilt: Path, synthesized_bundles: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "arm64-bundle"
    shutil.unpack_archive(prebuilt / "ocsp-iot-lambda-arm64.zip", folder, "zip")
    (asset,) = synth_domain_bundles([ARM], lambda_bundle=folder).values()
    assert bundle_contents(asset) == bundle_contents(synthesized_bundles["arm64"])


def _zip_with(tmp_path: Path, manifest: dict[str, Any] | None) -> Path:
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "preauth_handler.py").write_text("def handler(event, context): ...\n")
    if manifest is not None:
        (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    archive = tmp_path / "bundle.zip"
    write_zip(folder, archive)
    return archive


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("other architecture", r"the architecture is 'x86_64', the function needs 'arm64'"),
        (
            "no manifest",
            rf"is not a Lambda bundle of ocsp-iot-constructs: it has no readable "
            rf"{MANIFEST_FILE}",
        ),
        ("missing", r"does not exist"),
        (
            "older layout and other code",
            r"the bundle layout version is '1', the function needs "
            rf"'{BUNDLER_VERSION}'; the Lambda code \(SHA-256\) is 'old', the function needs",
        ),
    ],
)
def test_fails_when_a_prebuilt_bundle_does_not_fit_the_function(
    case: str, message: str, prebuilt: Path, tmp_path: Path
) -> None:
    fitting = _spec(BundlePlatform.ARM_64).manifest()
    if case == "other architecture":
        bundle = prebuilt / "ocsp-iot-lambda-x86_64.zip"
    elif case == "no manifest":
        bundle = _zip_with(tmp_path, None)
    elif case == "missing":
        bundle = tmp_path / "nothing.zip"
    else:
        bundle = _zip_with(tmp_path, {**fitting, "bundler_version": "1", "source_sha256": "old"})
    with pytest.raises(BundlingError, match=message) as failure:
        lambda_code(architecture=ARM, runtime=RUNTIME, lambda_bundle=bundle)
    assert "the construct prop lambda_bundle" in str(failure.value)
    assert "python -m ocsp_iot_constructs bundle <folder>" in str(failure.value)


def test_a_prebuilt_bundle_of_other_lambda_code_is_refused(prebuilt: Path, tmp_path: Path) -> None:
    changed = tmp_path / "lambda_src"
    shutil.copytree(lambda_source_dir(), changed)
    handler = changed / "preauth_handler.py"
    handler.write_text(handler.read_text() + "\n# changed\n")
    with pytest.raises(BundlingError, match=r"the Lambda code \(SHA-256\) is '[0-9a-f]{64}'"):
        lambda_code(
            architecture=ARM,
            runtime=RUNTIME,
            source_dir=changed,
            lambda_bundle=prebuilt / "ocsp-iot-lambda-arm64.zip",
        )


# --------------------------------------------------------------------------------------------
# Asset hash and props
# --------------------------------------------------------------------------------------------


def _code_keys(**options: Any) -> list[str]:
    app = new_app()  # bundling skipped: the hash is known without building
    stack = cdk.Stack(app, "Hash")
    for arch in (ARM, lambda_.Architecture.X86_64):
        lambda_.Function(
            stack,
            arch.name,
            runtime=RUNTIME,
            handler="preauth_handler.handler",
            code=lambda_code(architecture=arch, runtime=RUNTIME, **options),
        )
    template = app.synth().get_stack_by_name("Hash").template
    return [
        r["Properties"]["Code"]["S3Key"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    ]


def test_asset_hash_does_not_depend_on_where_the_wheels_come_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_index = _code_keys()
    assert _code_keys(wheelhouse=tmp_path / "a") == from_index
    assert _code_keys(wheelhouse=str(tmp_path / "elsewhere" / "b")) == from_index
    monkeypatch.setenv(WHEELHOUSE_ENV, str(tmp_path / "c"))
    assert _code_keys() == from_index


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"wheelhouse": 42}, "wheelhouse must be a path (str or os.PathLike), got 'int'"),
        (
            {"lambda_bundle": ["x.zip"]},
            "lambda_bundle must be a path (str or os.PathLike), got 'list'",
        ),
        (
            {"wheelhouse": "wheels", "lambda_bundle": "bundle.zip"},
            "lambda_bundle must be omitted when wheelhouse is set (a prebuilt bundle needs no "
            "wheels), got 'bundle.zip'; set one of the two",
        ),
    ],
)
def test_fails_when_a_bundle_source_prop_is_invalid(
    overrides: dict[str, Any], problem: str
) -> None:
    with pytest.raises(PropsError) as failure:
        make_domain(new_stack(), **overrides)
    assert failure.value.problems == (problem,)
