"""``python -m ftunlearn``: the command line."""

import sys

try:
    from ftunlearn.cli import main
except KeyboardInterrupt:  # Ctrl-C while the command is still being imported
    print("ftunlearn: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
