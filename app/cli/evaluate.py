"""``disloc evaluate``: length metric of models on datasets (the paper's Fig. 9)."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    from core.learn.predict import DEFAULT_BATCH_SIZE

    p = sub.add_parser(
        "evaluate", help="score models on datasets: length metric, duplicates, union IoU",
        description="Print the models x datasets table of the length metric (paper Fig. 9a), duplicate "
        "masks per image and union IoU, for the network's masks (the paper's protocol) and after post-processing (what segment exports). With --out, also write table.csv, per_image.csv, "
        "metric_vs_count.csv and PNG plots (metric against dislocations per image, Fig. 9b).",
        epilog="example:\n  disloc evaluate --model runs/m1/best.pt --model runs/m2/best.pt "
        "--data synth/m1-test --data synth/m2-test --out eval/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", required=True, metavar="CKPT",
                   help="checkpoint, or 'default' / 'realistic' for a shipped model (repeatable)")
    p.add_argument("--data", action="append", default=[], metavar="DIR",
                   help="dataset folder or labelme annotation folder (repeatable)")
    p.add_argument("--annotations", action="append", default=[], metavar="DIR",
                   help="folder of labelme-annotated real frames (repeatable): also prints the recall of your "
                        "traced lines, their length score and the share of predictions on them")
    p.add_argument("--pool", action="store_true",
                   help="score the --model checkpoints pooled, as 'disloc segment' with several --model does (their "
                   "splines put together, each line once): recall of the traced lines of --annotations, length "
                   "score and on-line share only")
    p.add_argument("--out", metavar="DIR", help="write CSV files and plots here")
    p.add_argument("--limit", type=int, metavar="N", help="score only the first N images of each folder")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                   help="frames per forward pass (default %(default)s)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                   help="auto: bf16 where supported and checked equal to fp32 (default)")
    p.add_argument("--line-width", type=float, default=3.0,
                   help="width in px of rasterised labelme line strips (default 3)")
    p.add_argument("--matching", default="greedy", choices=("greedy", "hungarian"),
                   help="how predictions are matched to true masks (default greedy, the paper's)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.errors import DislocError
    from core.learn.evaluate import evaluate, format_table, write_reports
    from core.progress import TextBar
    from core.shipped import resolve_model

    if args.limit is not None and args.limit < 1:
        raise DislocError("--limit must be at least 1")
    if not args.data and not args.annotations:
        raise DislocError("no data given; name a dataset with --data or annotated frames with --annotations")
    from core.learn.traindata import open_source

    for d in args.annotations:
        open_source(d, "annotations")  # a clear error when the folder holds no labelme files
    if args.pool:
        return _run_pool(args)
    bar = TextBar("evaluate")
    try:
        result = evaluate([resolve_model(m) for m in args.model], args.data + args.annotations,
                          device=None if args.device == "auto" else args.device, batch_size=args.batch_size,
                          limit=args.limit, line_width=args.line_width, matching=args.matching,
                          precision=args.precision, on_progress=bar)
    finally:
        bar.close()
    print("network masks as they come out (the paper's protocol):")
    for key in ("metric", "duplicates", "iou"):
        print(format_table(result, key))
        print()
    print("after post-processing (what 'disloc segment' and the app export):")
    for key in ("metric_clean", "duplicates_clean"):
        print(format_table(result, key))
        print()
    if any(row["recall"] == row["recall"] for row in result.table):  # not NaN: annotated frames were scored
        print("traced lines of the annotated frames (what 'disloc segment' exports, scored as score_real.py):")
        for key in ("recall", "length_score", "on_line"):
            print(format_table(result, key))
            print()
    if args.out:
        for path in write_reports(result, args.out):
            print(f"wrote {path}")
    return 0


def _run_pool(args: argparse.Namespace) -> int:
    """``--pool``: the traced-line figures of the models pooled, one row per annotation folder."""
    from core.errors import DislocError
    from core.learn.evaluate import score_lines
    from core.learn.predict import Predictor
    from core.learn.traindata import open_source
    from core.progress import TextBar
    from core.shipped import resolve_model

    if len(args.model) < 2:
        raise DislocError("--pool puts several models together; name at least two with --model")
    if args.data or args.out or not args.annotations:
        raise DislocError("--pool scores the traced lines of annotated frames only: name them with --annotations, "
                          "without --data or --out")
    device = None if args.device == "auto" else args.device
    predictors = [Predictor(resolve_model(m), device=device, batch_size=args.batch_size, precision=args.precision)
                  for m in args.model]
    print(f"pooled: {' + '.join(args.model)}")
    for d in args.annotations:
        bar = TextBar("evaluate")
        try:
            ls = score_lines(predictors, open_source(d, "annotations"), line_width=args.line_width, on_image=bar)
        finally:
            bar.close()
        print(f"{d}: {ls.summary()}")
    return 0
