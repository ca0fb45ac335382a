"""``ocsp_core`` is the generic OCSP client: it imports the standard library, ``cryptography``
(and ``certifi`` for an https responder), and itself; never an application (``preauth``,
``stapling``), a handler, or the AWS SDK."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[3] / "lambda_src" / "ocsp_core"
ALLOWED = {"cryptography", "certifi", "ocsp_core"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_the_core_imports_only_the_standard_library_cryptography_and_itself() -> None:
    modules = sorted(CORE.glob("*.py"))
    assert len(modules) >= 8, modules
    foreign = {
        path.name: sorted(
            name for name in _imports(path) - ALLOWED if name not in sys.stdlib_module_names
        )
        for path in modules
    }
    assert {name: bad for name, bad in foreign.items() if bad} == {}


def test_the_layering_check_sees_a_foreign_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import json\nfrom preauth.models import Decision\nimport botocore.config\n")
    assert _imports(probe) - ALLOWED - set(sys.stdlib_module_names) == {"preauth", "botocore"}
