"""``python -m bioplausible``: the command line (see :mod:`bioplausible.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
