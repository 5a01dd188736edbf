"""``disloc track``: distances between chosen dislocations across frames (paper Fig. 15)."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "track", help="pair distances over time from a segmented folder (CSV + plot)",
        description="Read DIR/splines.csv (written by 'disloc segment', with dislocation ids) and write "
        "DIR/pair_distances.csv (frame, time_s, id_a, id_b, distance_px[, distance_nm]) and "
        "DIR/pair_distances.png (distance against frame). The distance of a pair is the mean over the 50 "
        "points of one dislocation of the distance to the other's curve, averaged both ways.",
        epilog="examples:\n  disloc track seg/ --pairs auto\n  disloc track seg/ --pairs 3:5,5:8\n"
        "  disloc track seg/ --splines-out seg/splines_kept.csv --min-frames 3",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", metavar="DIR", help="output folder of 'disloc segment'")
    p.add_argument("--pairs", default="auto",
                   help="auto (consecutive pairs among the leading three of the largest pileup) or "
                   "ID:ID,ID:ID (default auto)")
    p.add_argument("--no-plot", action="store_true", help="do not write pair_distances.png")
    p.add_argument("--splines-out", metavar="CSV",
                   help="also write the spline points of the tracks seen in at least --min-frames frames here "
                   "(splines.csv's columns; fragments found once or twice left out)")
    p.add_argument("--min-frames", type=int, default=None, metavar="K",
                   help="with --splines-out: keep tracks seen in at least K frames (default 3; 1 keeps all)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.analysis.measure import FRAGMENT_MAX_FRAMES
    from core.analysis.results import track_run, write_kept_splines
    from core.errors import DislocError

    if args.min_frames is not None and not args.splines_out:
        raise DislocError("--min-frames chooses the tracks written by --splines-out; give --splines-out CSV too")
    if args.splines_out:
        k = FRAGMENT_MAX_FRAMES if args.min_frames is None else args.min_frames
        kept, left = write_kept_splines(args.dir, args.splines_out, k)
        print(f"{kept} tracks seen in {k} or more frames -> {args.splines_out} ({left} left out)")
    pairs, path = track_run(args.dir, pairs=args.pairs, plot=not args.no_plot)
    print(f"pairs {', '.join(f'{a}:{b}' for a, b in pairs)} -> {path}")
    return 0
