"""``disloc``: one command line tool for every core job.

Each subcommand lives in its own module of this package with two functions:
``register(subparsers)`` adds its parser (and ``set_defaults(func=run)``),
``run(args) -> int`` does the work. Modules must import quickly: torch and
friends are imported inside ``run``.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from core import __version__
from core.errors import Cancelled, DislocError

# Order = order in ``disloc --help``.
COMMAND_MODULES = [
    "gui",
    "synth",
    "train",
    "finetune",
    "evaluate",
    "segment",
    "track",
    "demo",
]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``disloc`` parser with every subcommand, or with ``command`` alone.

    A run builds only its own subcommand's parser, so it imports only its own
    module: ``disloc synth`` starts without ``core.learn``, whose flags the
    train and fine-tune parsers are made from.
    """
    parser = argparse.ArgumentParser(
        prog="disloc",
        description="Dislocation Studio: synthetic TEM data, segmentation, splines and tracking of dislocations. "
        "Run without arguments to open the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"disloc {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES if command is None else [command]:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv and "gui" in COMMAND_MODULES:
        argv = ["gui"]
    command = next((a for a in argv if not a.startswith("-")), None)  # the top-level options take no value
    parser = build_parser(command if command in COMMAND_MODULES else None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except DislocError as e:
        print(f"disloc: error: {e}", file=sys.stderr)
        return 2
    except (Cancelled, KeyboardInterrupt):
        print("disloc: stopped; finished work is kept, run the same command again to resume", file=sys.stderr)
        return 130
    except MemoryError:
        print("disloc: error: out of memory; try a smaller --batch-size or fewer --workers", file=sys.stderr)
        return 3
    except OSError as e:  # a file system error no job turned into a message: still one line, exit 2
        logging.getLogger(__name__).info("file system error", exc_info=True)  # the trace with -v
        where = f"{e.filename}: " if e.filename else ""
        print(f"disloc: error: {where}{e.strerror or e}; check that the file or folder exists and can be written",
              file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
