"""``python -m edgekd``: the same command line as the ``edgekd`` script, so launchers that
start a module (``torchrun -m edgekd ...``, ``accelerate launch -m edgekd ...``) can run it."""

import sys

from edgekd.cli import main

if __name__ == "__main__":
    sys.exit(main())
