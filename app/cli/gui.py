"""``disloc gui``: open the desktop app (``disloc`` alone does the same)."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("gui", help="open the desktop app",
                       description="Open the Dislocation Studio window. With --screenshot, render it offscreen, "
                                   "save a PNG and exit (for docs and checks).")
    p.add_argument("--project", metavar="DIR", help="project folder to open (created if it is not one yet)")
    p.add_argument("--panel", choices=("designer", "annotate", "train", "segment", "analyse"),
                   help="panel to show first")
    p.add_argument("--screenshot", metavar="PNG", help="save the window to this PNG and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.gui.main import run_gui  # Qt is imported only here, so `disloc --help` stays light

    return run_gui(project=args.project, panel=args.panel, screenshot=args.screenshot)
