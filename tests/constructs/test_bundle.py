"""The Lambda bundle (both handlers): built locally (never Docker) for the function's architecture.

Two real Python 3.14 bundles (arm64, x86_64) come out of a CDK synth with bundling on; their
native libraries and wheel tags are checked. The clean-interpreter test builds the same bundle
(same code path, ``build_bundle``) for the interpreter running the tests, then imports the
handler in ``python -I -S`` with only the bundle on ``sys.path`` and has it answer real events,
one of which needs a real OCSP round trip to a responder on 127.0.0.1; the stapling handler of the
same bundle does the same with IoT Core's stapling event.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import marshal
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Annotations, Match
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from ocsp_iot_constructs._assets import lambda_requirements_file, lambda_source_dir
from ocsp_iot_constructs._bundling import (
    BUNDLER_VERSION,
    BYTECODE_PYTHON_ENV,
    MANIFEST_FILE,
    NO_DOCKER_IMAGE,
    BundlePlatform,
    BundleSpec,
    BundlingError,
    build_bundle,
    bundling_failures,
    bytecode_compiler,
    lambda_code,
    python_version_of,
    source_digest,
)
from ocsp_iot_constructs._ocsp_function import RUNTIME
from ocsp_iot_constructs.ocsp_validating_domain import OcspValidatingDomain, TrustedCa
from tests.lambdas.support.forge import answer_with, build_answer, parse_request
from tests.lambdas.support.harness import make_event
from tests.lambdas.support.loopback import LoopbackServer, Reply, fixed
from tests.lambdas.support.pki import build_pki
from tests.support import new_app

pytestmark = pytest.mark.slow

ELF_MAGIC = b"\x7fELF"
EM_AARCH64 = 0xB7
EM_X86_64 = 0x3E
#: Native libraries that must exist in every bundle: (glob, what loads it).
NATIVE_LIBRARIES = ("cryptography/hazmat/bindings/_rust*.so", "_cffi_backend*.so")


def elf_machine(path: Path) -> int:
    """The ELF header's ``e_machine`` (offset 18, 2 bytes, byte order from ``EI_DATA``)."""
    header = path.read_bytes()[:20]
    assert header[:4] == ELF_MAGIC, f"{path.name} is not an ELF file"
    little = header[5] == 1
    return int.from_bytes(header[18:20], "little" if little else "big")


def wheel_tags(bundle: Path) -> dict[str, list[str]]:
    """``{distribution: [Tag, ...]}`` from each ``*.dist-info/WHEEL`` in the bundle."""
    tags: dict[str, list[str]] = {}
    for wheel in sorted(bundle.glob("*.dist-info/WHEEL")):
        lines = wheel.read_text().splitlines()
        tags[wheel.parent.name.split("-")[0]] = [
            line.split(":", 1)[1].strip() for line in lines if line.startswith("Tag:")
        ]
    return tags


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


# --------------------------------------------------------------------------------------------
# The real 3.14 bundles, produced by CDK's local bundling through the construct (the
# session fixture ``synthesized_bundles`` of conftest.py)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki() -> Any:
    """The Lambda tests' PKI (``tests/lambdas/support/pki.py``)."""
    return build_pki()


@pytest.mark.parametrize(("arch", "machine"), [("arm64", EM_AARCH64), ("x86_64", EM_X86_64)])
def test_native_libraries_match_the_function_architecture(
    synthesized_bundles: dict[str, Path], arch: str, machine: int
) -> None:
    bundle = synthesized_bundles[arch]
    for pattern in NATIVE_LIBRARIES:
        found = sorted(bundle.glob(pattern))
        assert found, f"{pattern} missing from the {arch} bundle"
        for library in found:
            assert elf_machine(library) == machine, f"{library.name}: wrong architecture"
    # every native library of the bundle, not only the two named ones
    every = sorted(bundle.rglob("*.so"))
    assert len(every) >= 2
    assert {elf_machine(p) for p in every} == {machine}
    # cffi's extension is built for CPython 3.14 exactly (an abi3 library has no version)
    assert [p.name for p in bundle.glob("_cffi_backend*.so")] == [
        f"_cffi_backend.cpython-314-{'aarch64' if arch == 'arm64' else 'x86_64'}-linux-gnu.so"
    ]


@pytest.mark.parametrize("arch", ["arm64", "x86_64"])
def test_wheel_tags_fit_python_3_14_on_the_function_architecture(
    synthesized_bundles: dict[str, Path], arch: str
) -> None:
    machine = "aarch64" if arch == "arm64" else "x86_64"
    tags = wheel_tags(synthesized_bundles[arch])
    assert set(tags) == {"cryptography", "cffi", "pycparser", "certifi"}, sorted(tags)
    for distribution, dist_tags in tags.items():
        assert dist_tags, distribution
        for tag in dist_tags:
            python, abi, platform_tag = tag.split("-")
            assert python in {"py3", "cp314"} or re.fullmatch(r"cp3\d+", python), tag
            if abi == "abi3":
                assert int(python.removeprefix("cp3")) <= 14, tag
            else:
                assert abi in {"none", "cp314"}, tag
            assert platform_tag == "any" or platform_tag.endswith(machine), tag
        # a wheel may list several platforms; pip chose it for one that manylinux2014
        # (glibc 2.17) covers
        assert any(
            t.endswith("-any") or re.search(r"-manylinux(2014|_2_(1[0-7]|[5-9]))_", t)
            for t in dist_tags
        ), (distribution, dist_tags)
    assert any(t.startswith("cp314-cp314-") for t in tags["cffi"])


@pytest.mark.parametrize("arch", ["arm64", "x86_64"])
def test_bundle_holds_the_code_and_nothing_else(
    synthesized_bundles: dict[str, Path], arch: str
) -> None:
    bundle = synthesized_bundles[arch]
    source = lambda_source_dir()
    assert (bundle / "preauth_handler.py").read_bytes() == (
        source / "preauth_handler.py"
    ).read_bytes()
    assert (bundle / "stapling_handler.py").read_bytes() == (
        source / "stapling_handler.py"
    ).read_bytes()
    for package in ("ocsp_core", "preauth", "stapling"):
        modules = sorted((source / package).glob("*.py"))
        assert modules, package
        for module in modules:
            assert (bundle / package / module.name).read_bytes() == module.read_bytes()
    assert not (bundle / "bin").exists()
    assert not (bundle / "requirements.txt").exists()
    assert not (bundle / "ruff.toml").exists()
    # bytecode only when this machine has a Python 3.14 to compile it (test_bytecode_*)
    if bytecode_compiler("3.14") is None:
        assert not list(bundle.rglob("__pycache__"))
        assert not list(bundle.rglob("*.pyc"))
    assert not [p for p in bundle.rglob("tests") if p.is_dir()]
    assert not list(bundle.glob("*.dist-info/RECORD"))
    # license files survive the pruning
    assert list(bundle.glob("cryptography-*.dist-info/licenses/*"))
    # the manifest records what the bundle was built for and from (checked when it is reused)
    assert json.loads((bundle / MANIFEST_FILE).read_text()) == {
        "architecture": arch,
        "bundler_version": BUNDLER_VERSION,
        "bytecode": "none" if bytecode_compiler("3.14") is None else "cpython-3.14",
        "python_version": "3.14",
        "requirements_sha256": hashlib.sha256(lambda_requirements_file().read_bytes()).hexdigest(),
        "source_sha256": source_digest(source),
    }


def test_architectures_get_distinct_bundles(synthesized_bundles: dict[str, Path]) -> None:
    assert synthesized_bundles["arm64"] != synthesized_bundles["x86_64"]


def test_bundling_never_falls_back_to_docker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing local bundle is an error that names the cause; ``docker`` is never run."""
    broken = tmp_path / "requirements.txt"
    broken.write_text("this-distribution-does-not-exist-ocsp-iot==0.0.0\n")
    app = new_app(bundle=True)
    stack = cdk.Stack(app, "Broken")
    # A PATH without docker: had CDK fallen back to Docker, the error would be about docker.
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(BundlingError) as failure, bundling_failures():
        lambda_.Function(
            stack,
            "F",
            runtime=RUNTIME,
            handler="preauth_handler.handler",
            code=lambda_code(
                architecture=lambda_.Architecture.ARM_64,
                runtime=RUNTIME,
                requirements_file=broken,
            ),
        )
    message = str(failure.value)
    assert message.startswith(
        "ocsp-iot-constructs: could not bundle the Lambda code for arm64 / Python 3.14: the "
        "package index has no wheel of this-distribution-does-not-exist-ocsp-iot==0.0.0 for "
        "manylinux2014_aarch64 / CPython 3.14.\nFix (one of):"
    ), message
    assert failure.value.code == message  # uncaught, it ends synth with this message alone
    assert "docker" not in message.lower().replace(NO_DOCKER_IMAGE, "")


def test_python_version_and_platform_follow_the_function() -> None:
    assert python_version_of(lambda_.Runtime.PYTHON_3_14) == "3.14"
    assert python_version_of(lambda_.Runtime.PYTHON_3_11) == "3.11"
    with pytest.raises(ValueError, match="must be a Python runtime"):
        python_version_of(lambda_.Runtime.NODEJS_22_X)
    assert BundlePlatform.of(lambda_.Architecture.ARM_64).pip_platform == "manylinux2014_aarch64"
    assert BundlePlatform.of(lambda_.Architecture.X86_64).elf_machine == EM_X86_64


# --------------------------------------------------------------------------------------------
# Clean interpreter: the handler imports and answers from the bundle alone
# --------------------------------------------------------------------------------------------


#: The running interpreter's version: the host bundle is built (and compiled) for it.
HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def host_platform() -> BundlePlatform:
    """The bundle platform of this machine (``uname -m``); an unknown one fails, never skips."""
    machine = platform.machine()
    for candidate in BundlePlatform:
        if candidate.pip_platform.endswith(f"_{machine}") or candidate.lambda_name == machine:
            return candidate
    pytest.fail(f"no Lambda architecture runs on this {machine!r} host")


def host_architecture() -> lambda_.Architecture:
    """The Lambda architecture of this machine."""
    target = host_platform()
    return (
        lambda_.Architecture.ARM_64
        if target is BundlePlatform.ARM_64
        else lambda_.Architecture.X86_64
    )


@pytest.fixture(scope="module")
def host_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundle for this host's architecture and the running interpreter's version (same
    code path as the real one), so that this interpreter can load its native libraries."""
    target = host_platform()
    out = tmp_path_factory.mktemp("bundle-host") / "asset"
    build_bundle(
        BundleSpec(
            source_dir=lambda_source_dir(),
            requirements_file=lambda_requirements_file(),
            platform=target,
            python_version=HOST_PYTHON,
            compiler=bytecode_compiler(HOST_PYTHON),
        ),
        out,
    )
    libraries = sorted(out.rglob("*.so"))
    assert libraries
    assert {elf_machine(p) for p in libraries} == {target.elf_machine}
    return out


_PROBE = """
import importlib, json, sys, time
bundle, name = sys.argv[1], sys.argv[2]
assert not any("site-packages" in p for p in sys.path), sys.path
sys.path.insert(0, bundle)
started = time.perf_counter()
handler_module = importlib.import_module(name)
import_ms = (time.perf_counter() - started) * 1000
import cryptography, certifi, _cffi_backend
modules = {m: sys.modules[m].__file__ for m in ("cryptography", "certifi", "_cffi_backend",
                                                 name)
           if m in sys.modules}
absent = [m for m in ("requests", "urllib3", "charset_normalizer", "idna") if m in sys.modules]
answers = [handler_module.handler(json.loads(e), None) for e in sys.argv[3:]]
print(json.dumps({"import_ms": import_ms, "modules": modules, "answers": answers,
                  "absent": absent}))
"""


def _run_clean(
    bundle: Path, events: list[Any], env: dict[str, str], *, module: str = "preauth_handler"
) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _PROBE, str(bundle), module, *map(json.dumps, events)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=bundle,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    probe: dict[str, Any] = json.loads(lines[-1])
    probe["log_lines"] = [json.loads(line) for line in lines[:-1] if line.startswith("{")]
    probe["stderr"] = result.stderr
    return probe


def test_handler_answers_from_the_bundle_in_a_clean_interpreter(
    host_bundle: Path, pki: Any
) -> None:
    good = answer_with(lambda request: build_answer(request, signer=pki.issuing_ca))
    with LoopbackServer(good) as responder:
        device = pki.issue_device(ocsp_url=responder.url)
        stranger = pki.issue_device(issuer=pki.other_ca, ocsp_url=responder.url)
        env = {
            "TRUSTED_CA_PEM": pki.issuing_ca.pem.decode(),
            "OCSP_ALLOWED_URLS": responder.url,
            "OCSP_TIMEOUT_SECONDS": "2",
            "OCSP_DEADLINE_SECONDS": "3",
            "AWS_LAMBDA_FUNCTION_NAME": "bundle-test",
        }
        probe = _run_clean(
            host_bundle, [make_event(device), make_event(stranger), {"not": "an event"}], env
        )
        requests = responder.request_count
        assert responder.errors == []
    assert probe["answers"] == [
        {"isAuthenticated": True},
        {"isAuthenticated": False},
        {"isAuthenticated": False},
    ]
    assert requests == 1  # only the trusted device reached the responder
    for module, path in probe["modules"].items():
        assert Path(path).is_relative_to(host_bundle), (module, path)
    assert probe["absent"] == [], "the handler needs no HTTP library but the standard one"
    reasons = [line.get("reason") for line in probe["log_lines"]]
    assert reasons == ["GOOD", "UNTRUSTED_ISSUER", "MALFORMED_EVENT"]
    # Reported by the lead: the cold import time of the handler from the bundle.
    print(f"\ncold import of preauth_handler from the bundle: {probe['import_ms']:.0f} ms")


def test_stapling_handler_answers_from_the_bundle_in_a_clean_interpreter(
    host_bundle: Path, pki: Any
) -> None:
    """The second handler of the same bundle: a verified answer comes back byte for byte (base64),
    a malformed event gets ``""``."""
    server_cert = pki.issue_device()
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(server_cert.cert, pki.issuing_ca.cert, hashes.SHA1())  # noqa: S303
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    parsed = parse_request(request)
    assert parsed is not None
    body = build_answer(parsed, signer=pki.issuing_ca, next_update_offset=600)
    with LoopbackServer(fixed(Reply(body=body))) as responder:
        env = {
            "TRUSTED_CA_PEM": pki.issuing_ca.pem.decode(),
            "OCSP_RESPONDER_URL": responder.url,
            "AWS_LAMBDA_FUNCTION_NAME": "bundle-test-stapling",
        }
        probe = _run_clean(
            host_bundle,
            [base64.b64encode(request).decode(), "not base64", {"not": "a string"}],
            env,
            module="stapling_handler",
        )
        requests = responder.request_count
        assert responder.errors == []
    good, *empty = probe["answers"]
    assert base64.b64decode(good) == body
    assert empty == ["", ""]
    assert requests == 1
    for module, path in probe["modules"].items():
        assert Path(path).is_relative_to(host_bundle), (module, path)
    reasons = [line.get("reason") for line in probe["log_lines"]]
    assert reasons == ["GOOD", "MALFORMED_EVENT", "MALFORMED_EVENT"]
    assert {line["FunctionName"] for line in probe["log_lines"]} == {"bundle-test-stapling"}
    print(f"\ncold import of stapling_handler from the bundle: {probe['import_ms']:.0f} ms")


def test_cold_import_time_and_bundle_size(
    host_bundle: Path, synthesized_bundles: dict[str, Path]
) -> None:
    """Figures for the report; bounds are generous (a regression guard, not a benchmark)."""
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-X",
            "importtime",
            "-c",
            f"import sys; sys.path.insert(0, {str(host_bundle)!r}); import preauth_handler",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=host_bundle,
        env={"PYTHONPATH": ""},
        check=False,
    )
    wall_ms = (time.perf_counter() - started) * 1000
    assert result.returncode == 0, result.stderr
    cumulative = [
        int(m.group(1))
        for m in re.finditer(
            r"import time:\s+\d+ \|\s+(\d+) \| preauth_handler$", result.stderr, re.M
        )
    ]
    assert cumulative, result.stderr[-2000:]
    sizes = {arch: tree_size(path) for arch, path in synthesized_bundles.items()}
    print(
        f"\nimporttime preauth_handler: {cumulative[0] / 1000:.0f} ms cumulative "
        f"(process {wall_ms:.0f} ms); unzipped bundle: "
        + ", ".join(f"{a} {s / 1_000_000:.1f} MB" for a, s in sizes.items())
    )
    assert cumulative[0] < 5_000_000  # microseconds
    for size in sizes.values():
        assert 1_000_000 < size < 50_000_000  # Lambda allows 250 MB unzipped


# --------------------------------------------------------------------------------------------
# Bytecode
# --------------------------------------------------------------------------------------------


def test_bytecode_of_every_module_is_unchecked_hash_for_the_bundles_python(
    host_bundle: Path,
) -> None:
    """CDK zips assets with every file dated 1980-01-01: only hash-based .pyc files survive
    that (PEP 552), and unchecked ones are used without reading the source again."""
    tag = sys.implementation.cache_tag
    sources = [p for p in host_bundle.rglob("*.py") if "__pycache__" not in p.parts]
    assert len(sources) > 100
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        assert pyc.is_file(), f"no bytecode for {source.relative_to(host_bundle)}"
        header = pyc.read_bytes()[:8]
        assert header[:4] == importlib.util.MAGIC_NUMBER, pyc
        assert int.from_bytes(header[4:8], "little") == 0b01, f"{pyc}: not unchecked-hash"
    # Tracebacks name the file where Lambda puts it, not where the bundle was built.
    code = marshal.loads(  # noqa: S302 - bytecode this test's own bundler wrote
        (host_bundle / "__pycache__" / f"preauth_handler.{tag}.pyc").read_bytes()[16:]
    )
    assert code.co_filename == "/var/task/preauth_handler.py"


def test_the_bundles_bytecode_is_what_a_read_only_import_loads(host_bundle: Path) -> None:
    """With files dated as CDK zips them and no bytecode written (``-B``, like Lambda's
    read-only code folder), every module of the bundle loads from its shipped .pyc."""
    for path in host_bundle.rglob("*"):
        os.utime(path, (315532800, 315532800))  # 1980-01-01, as in CDK's asset zip
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-B",
            "-v",
            "-c",
            f"import sys; sys.path.insert(0, {str(host_bundle)!r}); import preauth_handler",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    prefix = str(host_bundle)
    loaded = re.findall(r"^# code object from '([^']+)'$", done.stderr, re.M)
    from_bundle = [path for path in loaded if path.startswith(prefix)]
    assert len(from_bundle) > 50, loaded
    compiled_from_source = [path for path in from_bundle if path.endswith(".py")]
    assert compiled_from_source == []


def test_bytecode_follows_the_environment_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BYTECODE_PYTHON_ENV, "off")
    assert bytecode_compiler(HOST_PYTHON) is None
    monkeypatch.setenv(BYTECODE_PYTHON_ENV, sys.executable)
    assert bytecode_compiler(HOST_PYTHON) == sys.executable
    # an interpreter of another version would write bytecode the runtime ignores
    with pytest.raises(BundlingError, match=r"is not a Python 3\.14 interpreter"):
        bytecode_compiler("3.14")
    monkeypatch.setenv(BYTECODE_PYTHON_ENV, "/nonexistent/python3.14")
    with pytest.raises(BundlingError, match=f"{BYTECODE_PYTHON_ENV}="):
        bytecode_compiler("3.14")


def test_a_bundle_with_bytecode_is_another_asset(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether the bundle has bytecode is part of the asset hash (which interpreter compiled it
    is not: any interpreter of the version builds the same bundle)."""

    def asset_hash() -> str:
        app = new_app()
        stack = cdk.Stack(app, "S")
        code = lambda_code(architecture=host_architecture(), runtime=lambda_.Runtime.PYTHON_3_11)
        function = lambda_.Function(
            stack,
            "F",
            runtime=lambda_.Runtime.PYTHON_3_11,
            handler="preauth_handler.handler",
            code=code,
        )
        resource = stack.resolve(function.node.default_child.code)  # type: ignore[union-attr]
        return str(resource["s3Key"])

    if HOST_PYTHON != "3.11":
        pytest.fail("this test builds for the checkout's interpreter, Python 3.11")
    monkeypatch.setenv(BYTECODE_PYTHON_ENV, sys.executable)
    with_bytecode = asset_hash()
    monkeypatch.setenv(BYTECODE_PYTHON_ENV, "off")
    without = asset_hash()
    assert with_bytecode != without


def test_without_an_interpreter_of_the_runtime_an_info_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(BYTECODE_PYTHON_ENV, "off")
    app = new_app()
    stack = cdk.Stack(app, "S", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    cert = acm.Certificate.from_certificate_arn(
        stack, "Cert", "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
    )
    OcspValidatingDomain(
        stack,
        "Domain",
        domain_name="devices.example.com",
        server_certificate=cert,
        trusted_cas=[
            TrustedCa.from_pem(
                build_pki().issuing_ca.pem.decode(), ocsp_responder_url="http://ocsp.example.com"
            )
        ],
    )
    infos = Annotations.from_stack(stack).find_info(
        "/S/Domain/Function", Match.string_like_regexp("ships without bytecode")
    )
    assert len(infos) == 1, infos


# --------------------------------------------------------------------------------------------
# Asset hash
# --------------------------------------------------------------------------------------------


def _code_keys(
    source_dir: Path | None = None, *, requirements: Path | None = None, bundle: bool = False
) -> dict[str, str]:
    app = new_app(bundle=bundle)
    stack = cdk.Stack(app, "Hash")
    for arch in (lambda_.Architecture.ARM_64, lambda_.Architecture.X86_64):
        lambda_.Function(
            stack,
            arch.name,
            runtime=RUNTIME,
            handler="preauth_handler.handler",
            code=lambda_code(
                architecture=arch,
                runtime=RUNTIME,
                source_dir=source_dir,
                requirements_file=requirements,
            ),
        )
    template = app.synth().get_stack_by_name("Hash").template
    return {
        logical_id: resource["Properties"]["Code"]["S3Key"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }


def test_asset_hash_is_stable_and_follows_the_architecture(tmp_path: Path) -> None:
    first = _code_keys()
    assert len(set(first.values())) == 2  # arm64 and x86_64 never share a bundle
    assert _code_keys() == first  # a second synth (new jsii objects) hashes the same
    # Byte code, caches and tests next to the source do not change the asset
    copy = tmp_path / "lambda_src"
    shutil.copytree(lambda_source_dir(), copy)
    (copy / "__pycache__").mkdir(exist_ok=True)
    (copy / "__pycache__" / "preauth_handler.cpython-311.pyc").write_bytes(b"noise")
    (copy / "tests").mkdir()
    (copy / "tests" / "test_x.py").write_text("x = 1\n")
    assert _code_keys(copy) == first
    # a new pin in requirements.txt (not itself deployed) makes a new asset
    pins = tmp_path / "requirements.txt"
    pins.write_text(lambda_requirements_file().read_text() + "idna==3.10\n")
    assert set(_code_keys(copy, requirements=pins).values()).isdisjoint(first.values())
    # ... while a change to the code does
    (copy / "preauth_handler.py").write_text(
        (copy / "preauth_handler.py").read_text() + "\n# changed\n"
    )
    changed = _code_keys(copy)
    assert set(changed.values()).isdisjoint(first.values())


def test_asset_hash_is_the_same_with_and_without_bundling(
    synthesized_bundles: dict[str, Path],
) -> None:
    """``cdk diff`` on a stack whose bundling is skipped shows the same code version."""
    unbundled = set(_code_keys().values())
    bundled = {path.name.removeprefix("asset.") + ".zip" for path in synthesized_bundles.values()}
    assert bundled == unbundled
