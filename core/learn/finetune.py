"""Fine-tuning on a few annotated frames of the user's own video: a recipe that needs no choices.

The paper's promise to a microscopist: annotate about ten frames, fine-tune,
and the whole video is segmented well. :func:`finetune` does it in one
call, with a time budget instead of epochs:

* the annotated frames are split: about one in five is held back (at least
  one when there are two or more), spread over the video, to choose the
  checkpoint and to estimate the quality on the rest of the video
  (recall of traced lines, length score, on-line share:
  :mod:`core.analysis.linescore`, the definitions of the project's real-data
  scorer);
* training starts from a given model or the shipped one (never from random),
  on crops at the model's training resolution, with the augmentations that
  vary between frames of one video (brightness, contrast, gamma, blur,
  noise) but no flips, quarter turns or zoom: the frames to segment share
  the annotated ones' geometry, and on a real video the geometric ones kept
  the network from learning it within minutes (README, measured);
* half the crops are placed over a traced line, anywhere in the crop
  (the rest anywhere in the frame): the crowded parts of a frame hold most
  of its traced pixels, so they are cropped more often and fewer steps are
  spent on empty background (README, measured);
* the traced lines become masks 5 px wide, a little wider than most
  dislocations are imaged: the network is not asked to place a 3 px band to
  the pixel, which it cannot in minutes, and the spline follows the mask's
  middle either way (README, measured);
* short epochs, so the held-out frames are checked often; the run stops
  when the budget is spent and best.pt is the held-out best;
* the starting model is scored on the held-out frames first (epoch 0): when
  no epoch beats it, best.pt is the starting model and the report says
  so, rather than handing back a model that does worse on the user's frames.

The split is written into the run folder (``split/train``, ``split/holdout``:
copies of the labelme files with their images), so a run says what it
was checked on. Measured figures behind the recipe are in the README.
"""
from __future__ import annotations

import logging
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import DislocError
from ..io.fileio import PathLike
from ..io.labelme import list_annotations, read_labelme, write_labelme
from ..progress import ProgressCallback, StopCallback, never_stop, no_progress
from .augment import PHOTOMETRIC
from .trainconfig import TrainConfig

log = logging.getLogger(__name__)

#: The recipe (chosen by the measurements quoted in the README's fine-tuning section).
RECIPE = dict(lr=2e-3, image_size=256, batch_size=4, steps_per_epoch=4, loss="hungarian", line_width=5.0,
              augment=PHOTOMETRIC, select="recall", ema=0.9, crop_on_lines=0.5)
DEFAULT_MINUTES = 9.0  # ends within 10 min of wall time; recall still rises up to ~twice that (README, measured)
HOLDOUT_EVERY = 5  # one annotated frame in five is held back
ESTIMATE_WINDOW = 5  # the estimate averages from this many epochs before the chosen one, if before mid-run (README)


@dataclass(frozen=True)
class FinetuneReport:
    """What :func:`finetune` did and what it expects on the rest of the video.

    ``estimate`` holds the held-out frames' recall, length score and on-line
    share of the run's later epochs, and the span of epochs averaged
    (:func:`held_out_estimate`; None without held-out frames); ``best_epoch``
    0 means the starting model scored best there. ``pooled`` holds the
    held-out frames' figures of ``best.pt`` alone and pooled with
    ``last.pt`` (:func:`score_pool_held_out`; None when there is no
    held-out frame, the starting model was kept or the last epoch was chosen).
    """

    run_dir: Path
    train_frames: tuple
    holdout_frames: tuple
    epochs: int
    best_epoch: Optional[int]
    estimate: Optional[dict]
    best_path: Path
    pooled: Optional[dict] = None

    @property
    def kept_start(self) -> bool:
        """Whether no epoch beat the starting model on the held-out frames (best.pt is that model)."""
        return self.best_epoch == 0

    @property
    def last_path(self) -> Path:
        return self.run_dir / "last.pt"

    def pooled_words(self, app: bool = False) -> str:
        """The held-out frames with best.pt alone and pooled with last.pt, and how to pool; '' without them.

        ``app``: say where the box is in the Segment panel instead of the command.
        """
        p = self.pooled
        if not p:
            return ""
        a, b = p["alone"], p["pooled"]
        return (f"Pooled with the last epoch (last.pt), the held-out frames' recall is {b['recall']:.2f} against "
                f"{a['recall']:.2f} for best.pt alone (length score {b['length_score']:.2f}, on-line share "
                f"{b['on_line']:.2f}; a few held-out frames are too few to show a difference this small, either "
                "way: on tem_8um's 49 frames pooling found 0.015-0.055 more of the lines in each of eleven runs, "
                "README). "
                + ("To pool them, tick 'with last.pt' beside 'Segment whole video' in the Segment panel "
                   if app else
                   f"To pool them: disloc segment VIDEO --model {self.best_path} --model {self.last_path} --out DIR ")
                + "(segmenting takes twice as long)")

    def kept_start_words(self) -> str:
        """One sentence when best.pt is the starting model, else ''."""
        if not self.kept_start:
            return ""
        return ("No epoch did better on the held-out frames than the model it started from, so best.pt is that "
                "model unchanged. Fine-tuning learns most from frames whose dislocations are all traced; "
                "annotate more frames, or trace every dislocation in them, and run it again.")


def split_annotations(files: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """(train, holdout): every :data:`HOLDOUT_EVERY`-th frame held back, spread over the list.

    With 2-4 frames one is held back; with one, none (there is then no
    estimate, and the report says so).
    """
    files = list(files)
    n = len(files)
    if n < 2:
        return files, []
    k = max(1, int(round(n / HOLDOUT_EVERY)))
    # evenly spread, away from the ends: frames far apart in time differ most
    picks = sorted({int(round(x)) for x in np.linspace(0, n - 1, k + 2)[1:-1]})
    hold = [files[i] for i in picks]
    return [f for f in files if f not in hold], hold


def _copy_split(files: Sequence[Path], folder: Path) -> None:
    """Copy labelme files and their images into ``folder`` (image paths made local; originals untouched)."""
    from .traindata import _annotation_image

    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        lf = read_labelme(f)
        img = _annotation_image(f, lf.image_path)
        target = folder / f"{f.stem}{img.suffix}"
        shutil.copyfile(img, target)  # the contents only: a read-only original gives a writable copy
        lf.image_path = target.name
        write_labelme(folder / f.name, lf)


def held_out_estimate(history: Sequence[dict], best_epoch: Optional[int],
                      window: int = ESTIMATE_WINDOW) -> Optional[dict]:
    """What to expect on the rest of the video: held-out scores of the run's later epochs.

    The chosen epoch is the one whose held-out recall was highest, the
    maximum of numbers that swing by 0.1-0.2 from one short epoch to the
    next (two held-out frames hold about 30 traced lines), so its own score
    is optimistic, and so are its neighbours', drawn up with it. The mean
    over every epoch from the middle of the run to its end (from ``window``
    epochs before the chosen one when that lies earlier) measures the level
    the network has settled at instead, over many more epochs. On tem_8um,
    over 15 runs of 45-303 epochs, it read 0.00-0.07 high (mean +0.04);
    the chosen epoch and five on each side, the estimate until 4 December,
    read 0.00-0.11 high (mean +0.07; README). When the starting model was
    kept (epoch 0) its own score is the estimate: that network did not change.
    """
    if best_epoch is None:
        return None
    if best_epoch < 1:
        rows = [r for r in history if r["epoch"] == best_epoch]
    else:
        last = max(int(r["epoch"]) for r in history)
        first = max(1, min(best_epoch - window, last // 2 + 1))
        rows = [r for r in history if first <= r["epoch"] <= last]
    out = {}
    for k in ("recall", "length_score", "on_line"):
        vals = [float(r[k]) for r in rows if k in r and not math.isnan(float(r[k]))]
        out[k] = float(np.mean(vals)) if vals else float("nan")
    out["epochs"] = (int(rows[0]["epoch"]), int(rows[-1]["epoch"])) if rows else None  # the span averaged
    return out


def collect_annotations(folders: Sequence[PathLike]) -> list[Path]:
    """Every labelme file of the folders, in name order within each folder; the images must be readable."""
    files: list[Path] = []
    for d in folders:
        found = list_annotations(d)
        if not found:
            raise DislocError(f"{d}: no labelme .json files; annotate some frames first (Annotate panel)")
        files += found
    stems = [f.stem for f in files]
    if len(set(stems)) != len(stems):
        dup = sorted({s for s in stems if stems.count(s) > 1})
        raise DislocError(f"two annotation files are both called {dup[0]}.json; rename one")
    return files


def finetune(annotations: Sequence[PathLike], out: PathLike, *, model: Optional[PathLike] = None,
             minutes: float = DEFAULT_MINUTES, seed: int = 0, threads: Optional[int] = None,
             recipe: Optional[dict] = None, on_progress: ProgressCallback = no_progress,
             should_stop: StopCallback = never_stop) -> FinetuneReport:
    """Fine-tune a model on annotated frames within a time budget.

    Parameters
    ----------
    annotations : folders
        labelme files (one line strip per dislocation) with their images.
    out : path
        The run folder (created; must not hold another run).
    model : path, optional
        Checkpoint to start from (default: the shipped model for real frames,
        ``realistic.pt``, else ``default.pt``; :func:`core.shipped.finetune_start_path`).
    minutes : float
        Time budget (the run stops after the first epoch past it).
    seed : int
    threads : int, optional
        torch CPU threads (default: all cores).
    recipe : dict, optional
        TrainConfig settings that replace those of :data:`RECIPE` (for tests
        and experiments; the defaults are the measured recipe).
    on_progress, should_stop
        As :func:`core.learn.train.train`; with its time budget, progress
        counts seconds of the budget (``_Run.report``) and its metrics hold
        ``epochs_done``, the fractional epoch.

    Raises
    ------
    DislocError
        No annotations, unreadable images, a run folder in use, no model.
    """
    from ..shipped import finetune_start_path
    from .runfolder import is_run
    from .train import train

    out = Path(out)
    if out.exists() and is_run(out):
        raise DislocError(f"{out}: already holds a training run; choose another --out")
    if not minutes or minutes <= 0:
        raise DislocError(f"--minutes must be positive, got {minutes}")
    init = Path(model) if model else finetune_start_path()
    if not init.is_file():
        raise DislocError(f"{init}: model not found; pass --model CKPT")
    files = collect_annotations(annotations)
    train_files, hold = split_annotations(files)
    # A failed earlier attempt into this folder (no run yet) may have left another split: start afresh,
    # or a frame held back now could still be trained on.
    shutil.rmtree(out / "split", ignore_errors=True)
    _copy_split(train_files, out / "split" / "train")
    if hold:
        _copy_split(hold, out / "split" / "holdout")
    else:
        log.warning("only one annotated frame: nothing held back, so no estimate of the quality; annotate more")
    cfg = TrainConfig(annotations=(str(out / "split" / "train"),),
                      test=(str(out / "split" / "holdout"),) if hold else (), init=str(init), epochs=100000,
                      max_minutes=float(minutes), seed=int(seed), threads=threads,
                      **{**RECIPE, "select": RECIPE["select"] if hold else "metric", **(recipe or {})})
    res = train(cfg, out, on_progress, should_stop)
    estimate = held_out_estimate(res.history, res.best_epoch) if hold else None
    pooled = None
    if hold and res.best_epoch and Path(res.last_path).is_file() and res.best_epoch != res.epochs_done:
        pooled = score_pool_held_out(Path(res.best_path), Path(res.last_path), out / "split" / "holdout",
                                     should_stop)
    return FinetuneReport(out, tuple(f.name for f in train_files), tuple(f.name for f in hold), res.epochs_done,
                          res.best_epoch, estimate, Path(res.best_path), pooled)


def score_pool_held_out(best: Path, last: Path, holdout: Path, should_stop: StopCallback = never_stop) -> dict:
    """Held-out traced-line scores of ``best`` alone and pooled with ``last``.

    Both from :func:`~core.learn.evaluate.score_lines`.

    Pooling a run's chosen and last epochs (``disloc segment --model best.pt
    --model last.pt``) found more of the traced lines on tem_8um than the
    chosen epoch alone (README); the held-out frames say whether it does on
    the user's video too. Returns ``{"alone": {...}, "pooled": {...}}``,
    each with recall, length_score, on_line.
    """
    from .evaluate import score_lines
    from .predict import Predictor
    from .traindata import open_source

    src = open_source(holdout, "annotations")
    a, b = Predictor(best), Predictor(last)
    words = lambda ls: {"recall": ls.recall, "length_score": ls.length, "on_line": ls.on_line_share}  # noqa: E731
    return {"alone": words(score_lines([a], src, should_stop=should_stop)),
            "pooled": words(score_lines([a, b], src, should_stop=should_stop))}
