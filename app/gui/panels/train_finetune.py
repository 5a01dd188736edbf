"""The Train panel's one-click fine-tune on the project's annotated frames.

One button runs :func:`core.learn.finetune.finetune` (a time budget, about
one annotated frame in five held back to choose best.pt and to estimate the
quality) from the project's model, else the shipped model for real frames
(:func:`core.project.runs.finetune_start_model`), never from a random
network, in the panel's child process and worker, so the window stays
responsive and Cancel works as for training. When it ends, the held-out
estimate is shown in plain words and the new best.pt becomes the project's
model (any other run can be chosen again in the runs table).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from PySide6 import QtWidgets

from core.io.labelme import list_annotations
from core.learn.finetune import DEFAULT_MINUTES
from core.progress import Progress
from core.project.runs import finetune_start_model, new_run_dir

from .threads import default_threads

MIN_FRAMES = 2  # one to learn from and one held back to check on


def estimate_words(estimate: Optional[dict], holdout: tuple) -> str:
    """The held-out estimate as a sentence for a microscopist."""
    if not estimate:
        return "No frame could be held back, so there is no estimate of the quality; annotate a few more frames."
    e = estimate
    return (f"Expected on the rest of your video (checked on {len(holdout)} annotated frame(s) it did not learn "
            f"from): it finds {e['recall']:.0%} of the lines you traced (recall {e['recall']:.2f}); the lines it "
            f"finds have {e['length_score']:.0%} of the traced length (length score {e['length_score']:.2f}); "
            f"{e['on_line']:.0%} of its lines lie on a traced line (on-line share {e['on_line']:.2f}).")


class FinetuneBox(QtWidgets.QWidget):
    """"Fine-tune on annotated frames": a time budget, the button, and what the last fine-tune expects.

    ``panel`` is the Train panel (no import: it imports this module); the
    fine-tune runs as its job, in its job bar, curves and runs table.
    ``recipe`` (None: the measured recipe) replaces TrainConfig settings of
    the recipe, as :func:`core.learn.finetune.finetune` takes it (tests use tiny crops).
    """

    def __init__(self, panel: QtWidgets.QWidget) -> None:
        super().__init__()
        self.panel = panel
        self.recipe: Optional[dict] = None
        self.report = None
        self.minutes = QtWidgets.QDoubleSpinBox()
        self.minutes.setRange(0.1, 600.0)
        self.minutes.setDecimals(1)
        self.minutes.setValue(DEFAULT_MINUTES)
        self.minutes.setPrefix("budget ")
        self.minutes.setSuffix(" min")
        self.minutes.setToolTip("Time budget of the fine-tune: it stops after the first short epoch past it")
        self.button = QtWidgets.QPushButton("Fine-tune on annotated frames")
        self.button.setToolTip("One click, no other settings: from the project's model (else the shipped model for "
                               "real frames) on "
                               "the frames you annotated in Annotate (about ten is best), one in five held back to "
                               "check the result; the new model becomes the project's model")
        self.button.clicked.connect(self.start)
        self.result = QtWidgets.QLabel("")  # shown once there is something to say: the estimate, or what to do
        self.result.setWordWrap(True)
        self.result.setStyleSheet("color:#333;")
        self.result.setVisible(False)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.button, 1)
        row.addWidget(self.minutes)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 4)
        lay.addLayout(row)
        lay.addWidget(self.result)
        self._budget_s = 1

    def say(self, text: str) -> None:
        self.result.setText(text)
        self.result.setVisible(bool(text))

    # -- what it trains on --------------------------------------------------------------
    def annotation_folders(self) -> list[Path]:
        """The project's annotations/ and any folder of labelme files added to the training data list."""
        p = self.panel.ctx.project
        folders = [p.annotations_dir] if p is not None else []
        for f in self.panel.form.annotation_folders():
            if f not in folders:
                folders.append(f)
        return [f for f in folders if f.is_dir() and list_annotations(f)]

    def count_frames(self) -> int:
        return sum(len(list_annotations(f)) for f in self.annotation_folders())

    # -- running ------------------------------------------------------------------------
    def start(self) -> Optional[Path]:
        """Start the fine-tune; returns the run folder (None when refused, with a message saying what to do)."""
        from core.learn.finetune import finetune

        panel, ctx = self.panel, self.panel.ctx
        if panel.running:
            return None
        if ctx.project is None:
            ctx.warn("open or create a project first (File > New project)")
            return None
        n = self.count_frames()
        if n < MIN_FRAMES:
            msg = (f"annotate at least {MIN_FRAMES} frames in Annotate first (Ctrl+2; about ten is best): "
                   f"{n} annotated so far. Predict this frame (P) there and correct the lines to go faster.")
            self.say(msg)
            ctx.warn(msg)
            return None
        model, source = finetune_start_model(ctx.project.root)
        if model is None:
            ctx.error(source)
            return None
        run_dir = new_run_dir(ctx.project.root, "finetune_annotated")
        folders = [str(f) for f in self.annotation_folders()]
        minutes, recipe = float(self.minutes.value()), self.recipe
        threads = panel.threads or default_threads()
        self._budget_s = max(1, int(round(minutes * 60)))
        self.say(f"Fine-tuning from the {source} ({model.name}) on {n} annotated frames, {minutes:g} min…")
        panel.launch_child(finetune, (folders, str(run_dir)),
                           dict(model=str(model), minutes=minutes, threads=threads, recipe=recipe), run_dir, [],
                           config=None, message=f"fine-tuning the {source} on {n} annotated frames: preparing…",
                           total=self._budget_s, on_finished=self._on_finished, on_failed=self._on_failed,
                           on_progress=self._on_progress, on_done=self._on_done)
        panel.job_bar.bar.setFormat("%v / %m s")
        return run_dir

    def _on_done(self) -> None:
        self.panel._on_done()

    def _on_progress(self, p: Progress) -> None:
        panel, m = self.panel, p.metrics
        if "seconds" in m:  # a short epoch ended, with its held-out scores (epoch 0: the starting model)
            panel.history.append(dict(m))
            panel.curves.set_history(panel.history)
        elif "loss" in m:
            panel.curves.add_step(float(m["epochs_done"]), float(m["loss"]))
        now = time.monotonic()
        if "seconds" not in m and now - panel._last_ui < 0.25:
            return  # the text is redrawn a few times a second, not on every step
        panel._last_ui = now
        panel.job_bar.bar.setRange(0, p.total)  # finetune reports seconds of its budget
        panel.job_bar.bar.setValue(p.step)
        parts = [f"fine-tuning: {p.message}", f"{p.step} of {p.total} s"]
        if "loss" in m:
            parts.append(f"loss {m['loss']:.4f}")
        if panel.history and "recall" in panel.history[-1]:
            parts.append(f"held-out recall {panel.history[-1]['recall']:.2f}")
        panel.status.setText("   ·   ".join(parts))
        panel.progressed.emit(p)

    def _on_finished(self, rep) -> None:
        panel = self.panel
        self.report = rep
        words = " ".join(w for w in (estimate_words(rep.estimate, rep.holdout_frames), rep.kept_start_words(),
                                     rep.pooled_words(app=True)) if w)
        head = f"{Path(rep.run_dir).name}: {rep.epochs} short epochs on {len(rep.train_frames)} frames."
        self.say(f"<b>{head}</b><br>{words}")
        panel.status.setText(f"{head} {words}")
        panel._outcome = "finished"
        if Path(rep.best_path).exists():
            what = ("the model it started from, kept: no epoch did better on the held-out frames" if rep.kept_start
                    else "the fine-tuned model")
            panel.use_model(rep.best_path, note=f" ({what}; choose another run in the table to go back)")
        else:
            panel.ctx.warn(f"{Path(rep.run_dir).name}: no best.pt (no epoch could be checked on the held-out "
                           "frames); give it more minutes")
        panel.refresh()
        panel.select_run(rep.run_dir)

    def _on_failed(self, msg: str) -> None:
        panel, run = self.panel, self.panel.run_dir
        if msg == "stopped":
            kept = "best.pt so far is kept" if (run / "best.pt").exists() else "no epoch had finished"
            text = f"{run.name} stopped; {kept}. Press Fine-tune again for a new run."
            self.say(text)
            panel.status.setText(text)
            panel.ctx.info(f"fine-tuning stopped; {kept} in {run}")
        else:
            self.say(f"Fine-tuning failed: {msg}")
            panel.status.setText(f"{run.name} failed: {msg}")
            panel.ctx.error(f"fine-tuning failed: {msg}")
        panel.refresh()
        panel.select_run(run)
        panel._outcome = msg
