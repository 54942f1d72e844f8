"""``python -m qfbackup``."""

import sys

from qfbackup.cli.main import main

sys.exit(main())
