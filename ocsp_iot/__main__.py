"""``python -m ocsp_iot``: the ``ocsp-iot`` command."""

import sys

from ocsp_iot.cli import main

sys.exit(main())
