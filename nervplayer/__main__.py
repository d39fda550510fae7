"""``python -m nervplayer``: the same entry point as the ``nervplayer`` command."""

import sys

from nervplayer.cli.main import main

sys.exit(main())
