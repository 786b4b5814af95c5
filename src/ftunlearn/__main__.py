"""``python -m ftunlearn``: the command line."""

import sys

from ftunlearn.cli import main

sys.exit(main())
