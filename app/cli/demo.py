"""``disloc demo``: the shipped model on a synthetic in-situ video, end to end."""
from __future__ import annotations

import argparse
import os
import sys


def register(sub) -> None:
    p = sub.add_parser(
        "demo", help="run the shipped model on a synthetic video and open the result",
        description="Render a 30-frame synthetic in-situ video (a pileup gliding a few px per frame, ground truth "
                    "kept), segment it with the shipped model, track the dislocations, write splines and pair "
                    "distances (CSV + plots) into a demo project, print the agreement with the ground truth, then "
                    "open the app on that project.")
    p.add_argument("--project", default="demo-project", metavar="DIR", help="demo project folder (default: %(default)s)")
    p.add_argument("--model", metavar="CKPT",
                   help="checkpoint to use, or 'realistic' for the shipped model for real frames "
                   "(default: the shipped model)")
    p.add_argument("--frames", type=int, default=30, help="frames in the video (default: %(default)s)")
    p.add_argument("--size", type=int, default=512, help="frame size in px (default: %(default)s)")
    p.add_argument("--seed", type=int, default=2024, help="random seed of the video (default: %(default)s)")
    p.add_argument("--no-gui", action="store_true", help="stop after writing the results")
    p.set_defaults(func=run)


def _has_screen() -> bool:
    if os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal"):
        return False
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def run(args: argparse.Namespace) -> int:
    from core.demo import RESULT_NAME, run_demo
    from core.progress import TextBar
    from core.shipped import resolve_model

    bar = TextBar("segment")
    model = resolve_model(args.model) if args.model else None
    r = run_demo(args.project, model=model, n_frames=args.frames, size=args.size, seed=args.seed, on_progress=bar)
    bar.close()
    out = os.path.join(os.path.abspath(args.project), "results", RESULT_NAME)

    def fmt(v, spec):
        return "n/a" if v != v else format(v, spec)

    print(f"Demo project: {os.path.abspath(args.project)}")
    print(f"  results:           {out}  (splines.csv, pair_distances.csv, pair_distances.png)")
    print(f"  length metric:     {fmt(r.length_metric, '.3f')}   (1 = every dislocation found at its true length)")
    print(f"  duplicate masks:   {fmt(r.duplicates, '.2f')} per frame")
    print(f"  union IoU:         {fmt(r.iou, '.3f')}")
    print(f"  pair distance err: {fmt(r.pair_error_px, '.2f')} px  (neighbouring dislocations of the pileup)")
    print(f"  auto pairs:        {', '.join(f'{a}:{b}' for a, b in r.pairs) or 'none'}  (see pair_distances.png)")
    print(f"  time:              {r.seconds:.0f} s in all, {r.seconds_per_frame:.2f} s per frame")
    if args.no_gui:
        return 0
    if not _has_screen():
        print(f"No screen here: open the results later with  disloc gui --project {args.project}")
        return 0
    from app.gui.main import run_gui

    return run_gui(project=args.project, panel="segment", screenshot=None)
