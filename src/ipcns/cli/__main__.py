"""``python -m ipcns.cli``: the ipcns command."""

import sys

from ipcns.cli import main

sys.exit(main())
