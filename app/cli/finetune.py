"""``disloc finetune``: fine-tune a model on a few annotated frames, in one step, with an honest estimate."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub) -> None:
    from core.learn.finetune import DEFAULT_MINUTES

    p = sub.add_parser(
        "finetune", help="fine-tune on a few annotated frames of your video (time budget, held-out estimate)",
        description="Fine-tune a model on labelme-annotated frames of your own video with a recipe that needs no "
        "choices: about one annotated frame in five is held back to choose the checkpoint and to estimate the "
        "quality on the rest of the video (recall of your traced lines, length score, on-line share). The run "
        "folder gets best.pt (use it with 'disloc segment --model'), last.pt, history.csv, config.json and the "
        "split it used.",
        epilog="example:\n  disloc finetune project/annotations --out runs/ft\n"
        "  disloc finetune project/annotations --out runs/ft16 --minutes 16   # twice the default: a little more recall\n"
        "  disloc segment insitu.mp4 --model runs/ft/best.pt --out seg/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("annotations", nargs="+", metavar="ANNOTATIONS",
                   help="folder(s) of labelme .json files with their images (one line strip per dislocation)")
    p.add_argument("--out", required=True, metavar="RUN", help="run folder to create")
    p.add_argument("--model", metavar="CKPT", help="checkpoint to start from, or 'default' / 'realistic' for a "
                   "shipped model (default: realistic, the shipped model for real frames)")
    p.add_argument("--minutes", type=float, default=DEFAULT_MINUTES,
                   help=f"time budget in minutes (default {DEFAULT_MINUTES:g})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: all cores)")
    p.set_defaults(func=run)


def shown_progress(bar):
    """Show finetune's progress (seconds of the budget) without the step counters the bar needs not."""
    from core.progress import Progress

    def report(p: Progress) -> None:
        bar(Progress(p.step, p.total, p.message, {k: v for k, v in p.metrics.items()
                                                  if k not in ("epoch", "step", "epochs_done")}))

    return report


def run(args: argparse.Namespace) -> int:
    from core.errors import Cancelled
    from core.learn.finetune import finetune
    from core.progress import TextBar
    from core.shipped import finetune_start_path, resolve_model

    model = resolve_model(args.model, finetune_start_path())
    bar = TextBar("finetune, s of the budget")
    try:
        rep = finetune(args.annotations, args.out, model=model, minutes=args.minutes, seed=args.seed,
                       threads=args.threads, on_progress=shown_progress(bar))
    except (Cancelled, KeyboardInterrupt):
        best = Path(args.out) / "best.pt"
        kept = (f"the best checkpoint so far is kept: use it with 'disloc segment --model {best}'"
                if best.is_file() else "no epoch had finished, so there is no checkpoint")
        print(f"\ndisloc: fine-tuning stopped; {kept}. Run it again with another --out for a new run.",
              file=sys.stderr)
        return 130
    finally:
        bar.close()
    print(f"{rep.epochs} short epochs on {len(rep.train_frames)} annotated frames -> {rep.best_path}")
    if rep.estimate is None:
        print("no frame was held back (one annotated frame): no estimate of the quality; annotate a few more")
    else:
        e = rep.estimate
        first, last = e["epochs"]
        when = "the starting model" if rep.kept_start else \
            f"the mean of epochs {first}-{last}, steadier than the chosen epoch {rep.best_epoch}'s own score"
        print(f"expected on the rest of your video (held-out {', '.join(rep.holdout_frames)}, {when}): recall "
              f"{e['recall']:.2f} of your traced lines, length score {e['length_score']:.2f}, on-line share "
              f"{e['on_line']:.2f}")
        if rep.kept_start:
            print(rep.kept_start_words())
        elif rep.pooled:
            print(rep.pooled_words())
    return 0
