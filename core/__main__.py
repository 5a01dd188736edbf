import sys

from .cli import main

# Guarded: tools that import every module (tests walking the package) must not start the app.
if __name__ == "__main__":
    sys.exit(main())
