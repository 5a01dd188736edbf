"""Fine-tuning epochs: last.pt written after every epoch against at most once a minute.

last.pt holds the weights, the optimiser state and the moving average of the
weights (68 MB for the shipped network). Fine-tuning epochs are short
(the recipe: 4 steps of 4 crops and a test of the held-out frames), so
writing it after each of them cost a noticeable share of the time budget;
:data:`core.learn.train.SAVE_LAST_EVERY_S` now writes it at most once a
minute, after the last epoch and on cancel. This runs the same epochs of the
recipe both ways in one process (from the shipped model for real frames, on
ten synthetic annotated frames the size of the real video in
``../shared/realdata/tem_8um``, two of them held out; nothing read from
``../shared``) and prints the seconds per epoch and per write of last.pt.

    .venv/bin/python benchmarks/bench_checkpoint.py [--epochs 12] [--threads 1]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import core.learn.train as training  # noqa: E402
from bench_crops import make_frames  # noqa: E402
from core.learn.finetune import RECIPE  # noqa: E402
from core.learn.trainconfig import TrainConfig  # noqa: E402
from core.shipped import finetune_start_path  # noqa: E402


WRITES: list = []  # seconds of each last.pt write in the current run
_save_last = training._Run.save_last


def _timed_save_last(self, *a, **kw):
    t = time.perf_counter()
    _save_last(self, *a, **kw)
    WRITES.append(time.perf_counter() - t)


training._Run.save_last = _timed_save_last  # the real writer, timed


def run(train_dir: Path, hold_dir: Path, out: Path, epochs: int, threads: int, every_s: float):
    """(seconds per epoch, [seconds of each last.pt write]) of a run of the recipe."""
    training.SAVE_LAST_EVERY_S = every_s
    WRITES.clear()
    cfg = TrainConfig(annotations=(str(train_dir),), test=(str(hold_dir),), init=str(finetune_start_path()),
                      epochs=epochs, threads=threads, seed=0, **RECIPE)
    t = time.perf_counter()
    training.train(cfg, out)
    return (time.perf_counter() - t) / epochs, list(WRITES)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        frames, train_dir, hold_dir = tmp / "frames", tmp / "train", tmp / "hold"
        frames.mkdir(), train_dir.mkdir(), hold_dir.mkdir()
        h, w = make_frames(frames)
        for f in sorted(frames.iterdir()):
            shutil.copy(f, (hold_dir if int(f.stem.split("_")[1]) in (3, 8) else train_dir) / f.name)
        print(f"recipe epochs ({RECIPE['steps_per_epoch']} steps of {RECIPE['batch_size']} crops, 2 held-out "
              f"frames of {w} x {h} px), {args.epochs} epochs each way, {args.threads} thread(s)")
        # Warm-up (first-run costs: page cache, allocator), not timed.
        run(train_dir, hold_dir, tmp / "warm", 1, args.threads, 0.0)
        every, w_every = run(train_dir, hold_dir, tmp / "every", args.epochs, args.threads, 0.0)
        size = (tmp / "every" / "last.pt").stat().st_size / 1e6
        minute, w_minute = run(train_dir, hold_dir, tmp / "minute", args.epochs, args.threads, 60.0)
    n = args.epochs
    for name, per_epoch, w in (("after every epoch (before): ", every, w_every),
                               ("at most once a minute (now):", minute, w_minute)):
        print(f"last.pt {name} {per_epoch:5.2f} s per epoch; {len(w):2d} writes of {size:.0f} MB, "
              f"{sum(w) / n:5.3f} s per epoch spent writing")
    per_write = sum(w_every) / len(w_every)
    print(f"one write of last.pt: {per_write:.3f} s (median {sorted(w_every)[len(w_every) // 2]:.3f} s), "
          f"{100 * per_write / every:.1f} % of an epoch when written after every one")


if __name__ == "__main__":
    main()
