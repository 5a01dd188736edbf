import sys

from .cli import main

# Guarded so that importing core.__main__ (pkgutil.walk_packages does) never
# starts the app.
if __name__ == "__main__":
    sys.exit(main())
