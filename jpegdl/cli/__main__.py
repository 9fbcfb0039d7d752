"""``python -m jpegdl.cli``."""

import sys

from jpegdl.cli import main

sys.exit(main())
