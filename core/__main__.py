"""``python -m core`` is no command: the command line is a front end over core and lives in app.cli."""
import sys

# Guarded: tools that import every module (tests walking the package) must not exit.
if __name__ == "__main__":
    sys.exit("the command line moved to the app package: run `disloc ...` or `python -m app ...`")
