"""`python -m jachess.cli` runs the command line."""

import sys

from jachess.cli import main

sys.exit(main())
