"""``disloc train``: train, fine-tune or resume a segmentation model."""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from .configflags import add_config_flags, apply_flags

# (flag, TrainConfig field, type, metavar, help with {default})
_OPTIONS = [
    ("--encoder", "encoder", str, None, "network encoder (default {default}; the paper's is resnet50)"),
    ("--arch", "arch", str, None, "network architecture (default {default})"),
    ("--n-masks", "n_masks", int, None, "output masks N, the most dislocations per frame (default {default})"),
    ("--epochs", "epochs", int, None, "epochs in all; with --resume the new total (default {default})"),
    ("--batch-size", "batch_size", int, None, "frames per step (default {default})"),
    ("--lr", "lr", float, None, "Adam learning rate (default {default})"),
    ("--loss", "loss", str, None, "matching loss (default {default}; the paper's is greedy)"),
    ("--empty-weight", "empty_weight", float, None,
     "weight of the push of unmatched masks to empty, hungarian+empty only (default {default})"),
    ("--skeleton-weight", "skeleton_weight", float, None,
     "weight of a skeleton recall term: masks that cover the whole length of each line (default {default}: "
     "off; more lines found, more false ones too)"),
    ("--image-size", "image_size", int, None, "training crop side in px, a multiple of 32 (default {default})"),
    ("--line-width", "line_width", float, None, "width in px of rasterised labelme line strips (default {default})"),
    ("--seed", "seed", int, None, "random seed (default {default})"),
    ("--workers", "workers", int, None, "data-loader processes (default {default})"),
    ("--threads", "threads", int, None, "CPU threads for torch (default: all cores)"),
    ("--device", "device", str, None, "auto, cpu or cuda (default {default})"),
    ("--precision", "precision", str, None,
     "auto, fp32 or bf16 (default {default}: bf16 where the hardware has it)"),
    ("--init", "init", str, None, "start from this checkpoint, or 'default' / 'realistic' for a shipped model "
     "(fine-tuning)"),
    ("--steps-per-epoch", "steps_per_epoch", int, None, "optimiser steps per epoch (default: one pass over the data; more repeats a few frames)"),
    ("--test-limit", "test_limit", int, None, "test on at most this many images per test folder"),
    ("--ema", "ema", float, None, "decay per step of a moving average of the weights that is tested and kept as "
     "best.pt (default {default}: none; fine-tuning uses 0.9)"),
    ("--lr-schedule", "lr_schedule", str, None,
     "constant or cosine (lr along half a cosine down to 0 over the epochs or the time budget; default {default})"),
    ("--crop-on-lines", "crop_on_lines", float, None,
     "share of training crops placed over a line, so crowded parts of a frame are cropped more often "
     "(default {default}: crops anywhere; fine-tuning uses 0.5)"),
    ("--normalization", "normalization", str, None,
     "per_image or local (background flattened, contrast equalised locally); default: the --init model's"),
]


def register(sub) -> None:
    from core.learn.trainconfig import ENCODERS, LOSSES, LR_SCHEDULES, TrainConfig

    p = sub.add_parser(
        "train", help="train a segmentation model on synthetic and/or annotated frames",
        description="Train a U-Net++ that puts each dislocation in its own mask. The run folder gets "
        "config.json, best.pt (best test metric), last.pt (for --resume) and history.csv.",
        epilog="examples:\n  disloc train --data synth/m2 --test synth/m2-test --epochs 20 --out runs/m2\n"
        "  disloc train --init runs/m2/best.pt --annotations frames/labelled --epochs 30 --out runs/ft\n"
        "  disloc train --out runs/m2 --resume --epochs 40",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", action="append", default=[], metavar="DIR", help="dataset folder (repeatable)")
    p.add_argument("--test", action="append", default=[], metavar="DIR",
                   help="test dataset or annotation folder (repeatable); best.pt follows its length metric")
    p.add_argument("--annotations", action="append", default=[], metavar="DIR",
                   help="folder of labelme-annotated real frames, image beside each JSON (repeatable)")
    p.add_argument("--out", required=True, metavar="RUN", help="run folder")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
    p.add_argument("--config", metavar="JSON", help="read settings from a config.json; flags override it")
    p.add_argument("--imagenet", action="store_true",
                   help="start the encoder from ImageNet weights (downloads them; needs internet)")
    p.add_argument("--no-augment", action="store_true", help="train without augmentations")
    add_config_flags(p, TrainConfig, _OPTIONS, encoder={"choices": ENCODERS}, loss={"choices": LOSSES},
                     lr_schedule={"choices": LR_SCHEDULES})
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace):
    """TrainConfig from (the run's or --config's) config.json, then the flags given."""
    from core.errors import DislocError
    from core.learn.runfolder import CONFIG_FILE, config_path, load_config
    from core.learn.trainconfig import TrainConfig
    from core.shipped import resolve_model

    out = Path(args.out)
    base: dict = {}
    if args.config:
        base = TrainConfig.load(args.config).to_dict()
    elif args.resume and config_path(out).exists():
        base = load_config(out).to_dict()
    elif args.resume:
        raise DislocError(f"{out}: no {CONFIG_FILE} to resume; start the run without --resume")
    for flag in ("data", "test", "annotations"):
        if getattr(args, flag):
            # Absolute, so that --resume and the checkpoint header work from any folder.
            base[flag] = [str(Path(d).resolve()) for d in getattr(args, flag)]
    apply_flags(args, _OPTIONS, base)
    if args.init is not None:
        base["init"] = str(resolve_model(args.init).resolve())
    if args.imagenet:
        base["encoder_weights"] = "imagenet"
    if args.no_augment:
        base["augment"] = []
    base["resume"] = bool(args.resume)
    return TrainConfig.from_dict(base, "settings")


def run(args: argparse.Namespace) -> int:
    from core.errors import Cancelled
    from core.learn.train import train
    from core.progress import TextBar

    config = build_config(args)
    bar = TextBar("train")
    try:
        result = train(config, args.out, on_progress=bar)
    except (Cancelled, KeyboardInterrupt):
        print(f"\ndisloc: training stopped; what it reached (last.pt, and best.pt after a finished epoch) is kept "
              f"in {args.out}; continue with: disloc train --out {args.out} --resume", file=sys.stderr)
        return 130
    finally:
        bar.close()
    print(f"{result.epochs_done} epochs in {result.run_dir}")
    last = result.history[-1] if result.history else {}
    if result.best_metric is not None:
        print(f"best length metric {result.best_metric:.4f} at epoch {result.best_epoch}: {result.best_path}")
    elif last:
        print(f"no test set: best.pt is the epoch with the lowest training loss (epoch {result.best_epoch})")
    if last:
        shown = {k: v for k, v in last.items() if not (isinstance(v, float) and math.isnan(v))}
        print("last epoch: " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                        for k, v in shown.items()))
    return 0
