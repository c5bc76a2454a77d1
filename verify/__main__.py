"""`python -m verify ...` runs `gtx-verify`."""

import sys

from verify.cli import main

sys.exit(main())
