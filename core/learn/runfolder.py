"""The training-run folder: the one module that knows its files.

:func:`core.learn.train.train` writes it; the CLI, the project's run list
(:mod:`core.project.runs`) and the Train panel read it, all through here::

    RUN/config.json    the TrainConfig
    RUN/last.pt        after an epoch at most once a minute, after the last epoch and on cancel
                       (with optimiser state, for --resume)
    RUN/best.pt        the epoch with the best test length metric (lowest training loss without a test set)
    RUN/history.csv    epoch, train_loss, test_loss, metric, duplicates, iou, dropped, seconds,
                       recall, length_score, on_line (the last three for annotated test frames only)

``dropped`` counts true dislocations left out of training because a frame
held more than N. Reading a run (:func:`read_run`) needs no torch, so
listing runs stays cheap for the GUI.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..errors import DislocError
from ..io.fileio import PathLike, atomic_write_text, read_json
from .trainconfig import TrainConfig

CONFIG_FILE = "config.json"
BEST = "best.pt"
LAST = "last.pt"
HISTORY_FILE = "history.csv"
CHECKPOINTS = (BEST, LAST)
HISTORY_COLUMNS = ("epoch", "train_loss", "test_loss", "metric", "duplicates", "iou", "dropped", "seconds",
                   "recall", "length_score", "on_line")


def config_path(run_dir: PathLike) -> Path:
    """The run's config.json (its TrainConfig)."""
    return Path(run_dir) / CONFIG_FILE


def best_path(run_dir: PathLike) -> Path:
    """The run's best.pt."""
    return Path(run_dir) / BEST


def last_path(run_dir: PathLike) -> Path:
    """The run's last.pt (resume from it)."""
    return Path(run_dir) / LAST


def history_path(run_dir: PathLike) -> Path:
    """The run's history.csv (one row per epoch)."""
    return Path(run_dir) / HISTORY_FILE


def is_run(folder: PathLike) -> bool:
    """Whether ``folder`` holds any file of a run (config, history or a checkpoint)."""
    folder = Path(folder)
    return any((folder / f).exists() for f in (CONFIG_FILE, HISTORY_FILE, LAST, BEST))


def write_history(path: PathLike, history: list[dict]) -> None:
    """Rewrite history.csv atomically (a reader never sees half a file)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HISTORY_COLUMNS)
    for row in history:
        w.writerow(["" if row.get(c) is None or (isinstance(row.get(c), float) and math.isnan(row[c]))
                    else (f"{row[c]:.6g}" if isinstance(row[c], float) else row[c]) for c in HISTORY_COLUMNS])
    atomic_write_text(path, buf.getvalue())


def read_history(path: PathLike) -> list[dict]:
    """Rows of a history.csv as dicts of floats (epoch and dropped as int; blanks NaN)."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            rows.append({k: (int(v) if k in ("epoch", "dropped") and v else float(v) if v else float("nan"))
                         for k, v in r.items()})
    return rows


def seconds_spent(history: list) -> float:
    """The seconds a run's finished epochs took, training, tests and checkpoint writes: the clock of a time budget."""
    return sum(float(r.get("seconds") or 0.0) for r in history)


def budget_spent(history: list, max_minutes) -> bool:
    """Whether a run with a time budget has spent it: the seconds of its epochs (training and tests) reach it.

    The training loop stops on this and the runs table calls such a run
    finished, so both agree; a resumed run only gets what is left.
    """
    if not max_minutes:
        return False
    return seconds_spent(history) >= 60.0 * float(max_minutes)


def selection_score(row: dict, select: str, has_test: bool = True) -> float:
    """What best.pt is chosen by, from one history row: higher is better (NaN: cannot tell).

    ``select`` "recall": held-out recall of traced lines, then their length
    score; "metric": the test length metric, or without a test set the
    lowest training loss.
    """
    nan = float("nan")
    if select == "recall":
        return float(row.get("recall", nan)) + 1e-3 * float(row.get("length_score") or 0.0)
    return float(row.get("metric", nan)) if has_test else -float(row.get("train_loss", nan))


@dataclass(frozen=True)
class RunInfo:
    """What a run folder holds, read without torch.

    Attributes
    ----------
    name : str
        Folder name (starts with the date and time, so names sort by age).
    path : Path
    config : dict
        config.json as written (empty when missing or unreadable).
    history : list of dict
        Rows of history.csv (epoch, train_loss, test_loss, metric, ...).
    has_best, has_last : bool
        Whether best.pt / last.pt exist.
    problem : str
        Why the folder could not be read fully ("" when it could).
    """

    name: str
    path: Path
    config: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    has_best: bool = False
    has_last: bool = False
    problem: str = ""

    @property
    def epochs_done(self) -> int:
        return int(self.history[-1]["epoch"]) if self.history else 0

    @property
    def epochs_planned(self) -> int:
        return int(self.config.get("epochs") or 0)

    @property
    def finished(self) -> bool:
        return ((self.epochs_planned > 0 and self.epochs_done >= self.epochs_planned)
                or budget_spent(self.history, self.config.get("max_minutes")))

    @property
    def epochs_text(self) -> str:
        """Epochs done of planned (``"12/40"``), or of a time budget (``"31 (8 min budget)"``)."""
        budget = self.config.get("max_minutes")
        if budget:
            return f"{self.epochs_done} ({float(budget):g} min budget)"
        return f"{self.epochs_done}/{self.epochs_planned}"

    @property
    def best_text(self) -> str:
        """What best.pt was chosen by, at which epoch: the held-out recall of a fine-tune, else the test metric."""
        if self.config.get("select") == "recall":
            rows = [r for r in self.history if not math.isnan(selection_score(r, "recall"))]
            if rows:
                r = max(rows, key=lambda r: selection_score(r, "recall"))
                return f"recall {r['recall']:.2f} (epoch {int(r['epoch'])})"
        best = self.best
        return f"{best[1]:.3f} (epoch {best[0]})" if best else "—"

    @property
    def can_resume(self) -> bool:
        return self.has_last and bool(self.config) and not self.finished

    @property
    def status(self) -> str:
        """``finished``, ``stopped`` (resumable), ``empty`` (nothing saved) or ``damaged``."""
        if self.problem:
            return "damaged"
        if self.finished:
            return "finished"
        return "stopped" if self.has_last else "empty"

    @property
    def best(self) -> Optional[tuple[int, float]]:
        """(epoch, metric) of the best test metric, or None without a test set."""
        rows = [r for r in self.history if isinstance(r.get("metric"), float) and not math.isnan(r["metric"])]
        if not rows:
            return None
        r = max(rows, key=lambda r: r["metric"])
        return int(r["epoch"]), float(r["metric"])

    @property
    def best_path(self) -> Path:
        return best_path(self.path)

    @property
    def last_path(self) -> Path:
        return last_path(self.path)

    @property
    def encoder(self) -> str:
        return str(self.config.get("encoder", "?"))

    def data_summary(self) -> str:
        """Short description of the training data (folder names; the start run when fine-tuned)."""
        names = [Path(p).name for p in self.config.get("data", [])]
        if self.config.get("annotations"):
            names.append("annotated frames")
        text = ", ".join(names) or "?"
        init = self.config.get("init")
        if init:  # fine-tuned: from which run (or checkpoint file)
            p = Path(init)
            text += f"; from {p.parent.name if p.name in CHECKPOINTS else p.name}"
        return text


def read_run(path: PathLike) -> RunInfo:
    """Read one run folder; a damaged file gives a RunInfo with ``problem`` set, never an exception."""
    path = Path(path)
    config, history, problems = {}, [], []
    cfg = config_path(path)
    if cfg.exists():
        try:
            d = read_json(cfg)
            config = d if isinstance(d, dict) else {}
            if not isinstance(d, dict):
                problems.append(f"{cfg}: not a JSON object")
        except DislocError as e:
            problems.append(str(e))
    hist = history_path(path)
    if hist.exists():
        try:
            history = read_history(hist)
        except (OSError, ValueError, KeyError) as e:
            problems.append(f"{hist}: cannot be read ({e}); the checkpoints may still be usable")
    return RunInfo(path.name, path, config, history, best_path(path).exists(), last_path(path).exists(),
                   "; ".join(problems))


def load_config(run_dir: PathLike) -> TrainConfig:
    """The TrainConfig a run was started with (to resume it)."""
    return TrainConfig.load(config_path(run_dir))
