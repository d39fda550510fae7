"""``python -m nervplayer``: the same entry point as the ``nervplayer`` command."""

import multiprocessing
import sys

from nervplayer.cli.main import main

if __name__ == "__main__":  # a fit's child process (spawn) imports this module again: it must not start the app
    multiprocessing.freeze_support()  # the bundled app: the child process starts here
    sys.exit(main())
