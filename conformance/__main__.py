"""``python -m conformance`` is the ``kms-conformance`` command."""

import sys

from conformance.cli import main

sys.exit(main())
