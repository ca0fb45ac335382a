"""The single place that finds the Lambda source folder.

Installed from a wheel, the Lambda code travels inside the package as ``_lambda_src`` (hatch
``force-include``); in a checkout (or an editable install) it is the top-level ``lambda_src``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_CANDIDATES = (
    _PACKAGE_DIR / "_lambda_src",  # installed wheel
    _PACKAGE_DIR.parent / "lambda_src",  # source checkout / editable install
)
#: A file every copy of the Lambda code has (the generic OCSP core all handlers use).
MARKER_FILE = "ocsp_core/__init__.py"


def lambda_source_dir() -> Path:
    """Return the folder holding the Lambda code (the handlers, ``ocsp_core`` and the
    applications beside it).

    :raises FileNotFoundError: when neither the packaged nor the checkout copy exists, which
        means a broken installation.
    """
    for candidate in _CANDIDATES:
        if (candidate / MARKER_FILE).is_file():
            return candidate
    searched = ", ".join(str(c) for c in _CANDIDATES)
    msg = (
        f"ocsp_iot_constructs: Lambda source not found (searched: {searched}); "
        "reinstall the package"
    )
    raise FileNotFoundError(msg)


def lambda_requirements_file() -> Path:
    """Return the pinned runtime requirements of the Lambda code."""
    return lambda_source_dir() / "requirements.txt"
