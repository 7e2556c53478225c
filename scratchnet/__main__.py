"""``python -m scratchnet``: see :mod:`scratchnet.cli`."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
