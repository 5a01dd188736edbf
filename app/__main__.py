"""``python -m app ...`` is ``disloc ...`` (the command line; no arguments: the desktop app)."""
import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main())
