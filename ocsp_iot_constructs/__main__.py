"""``python -m ocsp_iot_constructs``: see ``_cli`` (wheelhouse and prebuilt Lambda bundles)."""

import sys

from ._cli import main

sys.exit(main())
