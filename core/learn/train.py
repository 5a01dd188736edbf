"""Training a segmentation model: from the CLI or from a GUI worker thread.

A run writes its folder (config.json, last.pt, best.pt, history.csv; the
files are described in :mod:`core.learn.runfolder`); last.pt at most once a
minute (:data:`SAVE_LAST_EVERY_S`) and after the last epoch. Cancelling keeps
best.pt and writes last.pt with the weights reached so far (resume repeats the interrupted epoch); a loss that
turns NaN stops the run and keeps the last good checkpoint untouched.
"""
from __future__ import annotations

import logging
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..analysis.scale import LINE_WIDTH_KEY
from ..errors import Cancelled, DislocError
from ..io.fileio import PathLike
from ..progress import Progress, ProgressCallback, StopCallback, check_stop, never_stop, no_progress
from .runfolder import (best_path, budget_spent, config_path, history_path, last_path, seconds_spent,
                        selection_score, write_history)
from .trainconfig import TrainConfig

log = logging.getLogger(__name__)

#: last.pt (weights, optimiser state, moving average: 68 MB for the shipped network) is written after an
#: epoch only when this many seconds have passed since the last write, and always after the last epoch and on
#: cancel. Written after every short fine-tuning epoch it took 0.3 s of each 4.5 s (README, measured).
SAVE_LAST_EVERY_S = 60.0


@dataclass(frozen=True)
class TrainResult:
    """What a finished run left behind (``best_metric`` None without a test set)."""

    run_dir: str
    epochs_done: int
    best_metric: Optional[float]
    best_epoch: Optional[int]
    history: tuple
    best_path: str
    last_path: str


def is_out_of_memory(e: BaseException) -> bool:
    """Whether an exception is an allocation failure (CUDA or CPU)."""
    if isinstance(e, MemoryError):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def out_of_memory_error(config: TrainConfig, device) -> DislocError:
    smaller = max(1, config.batch_size // 2)
    return DislocError(f"out of memory on {device} at batch size {config.batch_size} and image size "
                       f"{config.image_size} px; try --batch-size {smaller}" +
                       (f" or --image-size {config.image_size // 2}" if config.image_size >= 128 else ""))


class _Run:
    """State of one training run; :func:`train` drives it."""

    def __init__(self, config: TrainConfig, out_dir: Path, on_progress: ProgressCallback,
                 should_stop: StopCallback) -> None:
        import torch

        from .losses import MatchingDiceLoss
        from .model import DEFAULT_NORMALIZATION, create_model, load_checkpoint, read_checkpoint
        from .predict import bf16_supported, pick_device
        from .traindata import SegmentationSet, open_source

        self.cfg, self.out, self.on_progress, self.should_stop = config, out_dir, on_progress, should_stop
        self.device = pick_device(config.device)
        if config.device == "cuda" and self.device.type != "cuda":
            raise DislocError("--device cuda asked for, but torch sees no CUDA GPU; use --device cpu")
        self.bf16 = config.precision == "bf16" or (config.precision == "auto" and bf16_supported(self.device))
        self.train_sources = ([open_source(p, "dataset") for p in config.data] +
                              [open_source(p, "annotations") for p in config.annotations])
        self.test_sources = [open_source(p) for p in config.test]
        torch.manual_seed(config.seed)
        self.history: list[dict] = []
        self.best_metric: Optional[float] = None
        self.best_epoch: Optional[int] = None
        self.start_epoch = 0
        self.normalization = dict(DEFAULT_NORMALIZATION)
        arch, encoder, n = config.arch, config.encoder, config.n_masks
        opt_state = ema_state = None
        if config.resume:
            last = last_path(out_dir)
            if not last.exists():
                raise DislocError(f"{out_dir}: no last.pt to resume from; start the run without --resume")
            obj = read_checkpoint(last)
            h = obj["header"]
            arch, encoder, n = h["architecture"], h["encoder"], int(h["n_masks"])
            self.model = create_model(arch, encoder, n)
            self.model.load_state_dict({k: v.float() if v.is_floating_point() else v
                                        for k, v in obj["state_dict"].items()})
            opt_state, ema_state = obj.get("optimizer"), obj.get("ema")
            self.start_epoch = int(h["epoch"])
            self.history = list(h.get("history") or [])
            self.best_metric, self.best_epoch = h.get("run_best_metric"), h.get("run_best_epoch")
            self.normalization = h.get("normalization") or self.normalization
            log.info("resuming %s after epoch %d", out_dir, self.start_epoch)
        elif config.init:
            self.model, h = load_checkpoint(config.init)
            arch, encoder, n = h["architecture"], h["encoder"], int(h["n_masks"])
            self.normalization = h.get("normalization") or self.normalization
            if (arch, encoder, n) != (config.arch, config.encoder, config.n_masks):
                log.info("--init %s: using its network %s/%s with %d masks", config.init, arch, encoder, n)
        else:
            self.model = create_model(arch, encoder, n, config.encoder_weights)
        if config.normalization and not config.resume:
            from .trainconfig import NORMALIZATIONS

            self.normalization = dict(NORMALIZATIONS[config.normalization])
        self.arch, self.encoder, self.n_masks = arch, encoder, n
        self.imaged_line_width = (h.get(LINE_WIDTH_KEY) if config.resume else None) or self.measure_line_width()
        self.model.to(self.device).to(memory_format=torch.channels_last)
        self.averaged = None  # the moving average of the weights (config.ema), a second network
        if config.ema:
            import copy

            self.averaged = copy.deepcopy(self.model)
            if ema_state is not None:  # else (a run that had none, or a fresh start): from the current weights
                self.averaged.load_state_dict(ema_state)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        if opt_state is not None:
            self.opt.load_state_dict(opt_state)
            for g in self.opt.param_groups:  # a resumed run may be given another lr
                g["lr"] = config.lr
        self.loss_fn = MatchingDiceLoss(config.loss, config.empty_weight, config.skeleton_weight)
        self.train_set = SegmentationSet(self.train_sources, size=config.image_size, n_masks=n,
                                         line_width=config.line_width, augment_names=config.augment,
                                         seed=config.seed, train=True, crop_on_lines=config.crop_on_lines)
        per_epoch = math.ceil(len(self.train_set) / config.batch_size)
        # steps_per_epoch caps a long pass over a big dataset, and repeats a few annotated frames (the loader cycles)
        self.steps_per_epoch = int(config.steps_per_epoch) if config.steps_per_epoch else per_epoch
        self.total_steps = config.epochs * self.steps_per_epoch
        self.epoch_t0: Optional[float] = None  # perf_counter at the start of the running epoch

    def report(self, step: int, message: str, metrics: dict) -> None:
        """Tell ``on_progress`` where the run is: steps of all epochs, or, with a time budget, its seconds.

        A budget run reports the seconds :func:`budget_spent` stops on
        (:func:`seconds_spent` of its epochs plus the running epoch's, not the
        setup before them), so the bar and the stopping rule read one clock;
        the message drops the epoch total and says so when the budget is
        spent mid-epoch; ``epochs_done`` (fractional epochs) is added for the
        curves, whose x axis is epochs, as the steps no longer tell them.
        """
        if not self.cfg.max_minutes:
            self.on_progress(Progress(step, self.total_steps, message, metrics))
            return
        metrics = {**metrics, "epochs_done": step / max(1, self.steps_per_epoch)}
        budget = max(1, int(round(60.0 * float(self.cfg.max_minutes))))
        spent = seconds_spent(self.history)
        if self.epoch_t0 is not None:
            spent += time.perf_counter() - self.epoch_t0
        message = re.sub(r"/\d+", "", message)  # "epoch 3/100000 done" -> "epoch 3 done"
        if spent >= budget and self.epoch_t0 is not None:
            message += ": budget spent, finishing this epoch"
        self.on_progress(Progress(min(int(spent), budget), budget, message, metrics))

    # -------------------------------------------------------------- pieces
    def measure_line_width(self, n: int = 16):
        """Typical width (px) of the lines in the training frames, for ``disloc segment --scale auto``."""
        from ..analysis.scale import typical_line_width
        from .traindata import load_item

        items = [(s, k) for s in self.train_sources for k in s.keys]
        picks = [items[int(i)] for i in np.linspace(0, len(items) - 1, min(n, len(items)))] if items else []
        return typical_line_width(load_item(s, k, self.cfg.line_width)[0] for s, k in picks)

    def run_fraction(self, step: int) -> float:
        """How much of the run is behind, 0 to 1: seconds of the budget with ``max_minutes``, else steps."""
        if self.cfg.max_minutes:
            spent = seconds_spent(self.history)
            if self.epoch_t0 is not None:
                spent += time.perf_counter() - self.epoch_t0
            return min(1.0, spent / (60.0 * float(self.cfg.max_minutes)))
        return min(1.0, step / max(1, self.total_steps))

    def set_lr(self, step: int) -> None:
        """The learning rate of global step ``step`` (``lr_schedule``); constant leaves the optimiser's."""
        if self.cfg.lr_schedule != "cosine":
            return
        lr = 0.5 * float(self.cfg.lr) * (1.0 + math.cos(math.pi * self.run_fraction(step)))
        for g in self.opt.param_groups:
            g["lr"] = lr

    @property
    def tested_model(self):
        """The network that is tested and kept as best.pt: the moving average when there is one."""
        return self.averaged if self.averaged is not None else self.model

    def update_average(self) -> None:
        """One step of the moving average: weights move towards the model's, buffers (BatchNorm) are copied."""
        import torch

        if self.averaged is None:
            return
        with torch.no_grad():
            for a, m in zip(self.averaged.parameters(), self.model.parameters()):
                a.lerp_(m, 1.0 - float(self.cfg.ema))
            for a, m in zip(self.averaged.buffers(), self.model.buffers()):
                a.copy_(m)

    def header(self, epoch: int) -> dict:
        from .model import make_header

        return make_header(arch=self.arch, encoder=self.encoder, n_masks=self.n_masks,
                           input_size=self.cfg.image_size, normalization=self.normalization,
                           training_data=[s.summary() for s in self.train_sources],
                           test_data=[s.summary() for s in self.test_sources],
                           history=self.history, best_metric=self.best_metric if self.test_sources else None,
                           epoch=epoch,
                           config=self.cfg.to_dict(),
                           line_width=self.cfg.line_width if self.cfg.annotations else None,
                           run_best_metric=self.best_metric, run_best_epoch=self.best_epoch,
                           **{LINE_WIDTH_KEY: self.imaged_line_width})

    def save_last(self, epoch: int, partial: bool = False) -> None:
        from .model import save_checkpoint

        h = self.header(epoch)
        h["partial_epoch"] = partial
        save_checkpoint(last_path(self.out), self.model, h, optimizer_state=self.opt.state_dict(),
                        ema_state=None if self.averaged is None else self.averaged.state_dict())

    def loader(self, epoch: int):
        import torch

        from .traindata import collate

        self.train_set.set_epoch(epoch)
        rng = np.random.default_rng([self.cfg.seed, epoch])
        need = self.steps_per_epoch * self.cfg.batch_size
        order = np.concatenate([rng.permutation(len(self.train_set))
                                for _ in range(math.ceil(need / len(self.train_set)))])[:need]
        return torch.utils.data.DataLoader(self.train_set, batch_size=self.cfg.batch_size,
                                           sampler=order.tolist(), num_workers=self.cfg.workers,
                                           collate_fn=collate, pin_memory=self.device.type == "cuda")

    def train_epoch(self, epoch: int) -> tuple[float, int]:
        import torch

        from .model import normalize

        self.model.train()
        losses, dropped = [], 0
        step0 = epoch * self.steps_per_epoch
        for step, (images, masks, valid, drop) in enumerate(self.loader(epoch)):
            check_stop(self.should_stop)
            x = normalize(images.to(self.device, non_blocking=True), self.normalization)
            x = x.contiguous(memory_format=torch.channels_last)
            masks, valid = masks.to(self.device, non_blocking=True), valid.to(self.device)
            try:
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                    logits = self.model(x)
                loss = self.loss_fn(logits, masks, valid)
                if not torch.isfinite(loss):
                    raise _Diverged(epoch + 1, step + 1)
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                self.set_lr(step0 + step)
                self.opt.step()
                self.update_average()
            except (RuntimeError, MemoryError) as e:
                if is_out_of_memory(e):
                    raise out_of_memory_error(self.cfg, self.device) from None
                raise
            losses.append(float(loss.detach()))
            dropped += int(drop.sum())
            self.report(step0 + step + 1, f"epoch {epoch + 1}/{self.cfg.epochs}",
                        {"epoch": epoch + 1, "step": step + 1, "loss": losses[-1]})
        return float(np.mean(losses)) if losses else float("nan"), dropped

    def test(self, epoch: int) -> dict:
        from .evaluate import score_source
        from .metrics import summarize
        from .predict import Predictor

        nan = float("nan")
        if not self.test_sources:
            return {"test_loss": nan, "metric": nan, "duplicates": nan, "iou": nan}
        from ..analysis.linescore import LineScore

        pred = Predictor((self.tested_model, self.header(epoch)), device=self.device, batch_size=self.cfg.batch_size,
                         precision="bf16" if self.bf16 else "fp32")
        scores, losses, lines = [], [], None
        for src in self.test_sources:
            # annotated real frames are also scored as traced lines, as disloc segment's splines would be
            ss = score_source(pred, src, line_width=self.cfg.line_width, limit=self.cfg.test_limit,
                              loss=self.cfg.loss, empty_weight=self.cfg.empty_weight,
                              lines=src.kind == "annotations", should_stop=self.should_stop)
            scores += ss.scores
            losses += ss.losses
            if ss.lines is not None:
                lines = (lines or LineScore()).add(ss.lines)
        s = summarize(scores)
        row = {"test_loss": float(np.mean(losses)) if losses else nan, "metric": s["metric"],
               "duplicates": s["duplicates"], "iou": s["iou"]}
        if lines is not None:
            row.update(recall=lines.recall, length_score=lines.length, on_line=lines.on_line_share)
        return row

    def keep_if_best(self, row: dict) -> None:
        """Save the network as best.pt when this epoch's row scores best so far (:func:`selection_score`)."""
        from .model import save_checkpoint

        score = selection_score(row, self.cfg.select, bool(self.test_sources))
        if not math.isnan(score) and (self.best_metric is None or score > self.best_metric):
            self.best_metric, self.best_epoch = float(score), int(row["epoch"])
            save_checkpoint(best_path(self.out), self.tested_model, self.header(int(row["epoch"])))

    def test_start(self) -> None:
        """Score the starting model on the annotated test frames as epoch 0, a candidate for best.pt.

        A fine-tune then never hands back a model that does worse on the
        held-out frames than the one it started from.
        """
        t0 = time.perf_counter()
        tested = self.test(0)
        row = {"epoch": 0, "train_loss": float("nan"), **tested, "dropped": 0, "seconds": time.perf_counter() - t0}
        self.history.append(row)
        self.keep_if_best(row)
        write_history(history_path(self.out), self.history)
        self.report(0, "the starting model tested",
                    {k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))})


class _Diverged(Exception):
    def __init__(self, epoch: int, step: int) -> None:
        super().__init__(f"epoch {epoch}, step {step}")
        self.epoch, self.step = epoch, step


def train(config: TrainConfig, out_dir: PathLike, on_progress: ProgressCallback = no_progress,
          should_stop: StopCallback = never_stop) -> TrainResult:
    """Train (or fine-tune, or resume) a model; see the module docstring for the run folder.

    Parameters
    ----------
    config : TrainConfig
    out_dir : path
        The run folder (created; with ``config.resume`` it must hold last.pt, without it no run).
    on_progress : callable
        Gets a :class:`~core.progress.Progress` after every step (metrics
        ``epoch``, ``step``, ``loss``) and after every epoch (metrics
        ``epoch``, ``train_loss``, ``test_loss``, ``metric``, ``duplicates``,
        ``iou``, ``dropped``, ``seconds``); ``step``/``total`` count optimiser steps.
    should_stop : callable
        Polled before every step and every test batch; when it returns True
        the run saves last.pt and raises :class:`~core.errors.Cancelled`.

    Raises
    ------
    DislocError
        Bad data folders, a NaN loss (the last good checkpoint is kept), out of memory.
    Cancelled
        When ``should_stop`` asked for it.
    """
    import torch

    from .runfolder import is_run

    out = Path(out_dir)
    if not config.resume and is_run(out):  # a new run here would overwrite that run's checkpoints
        raise DislocError(f"{out}: already holds a training run; continue it with --resume (Resume in the Train "
                          "panel), or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    threads_before = torch.get_num_threads()
    run = _Run(config, out, on_progress, should_stop)
    if run.device.type == "cpu":
        torch.set_num_threads(config.threads or os.cpu_count() or 1)
    config.save(config_path(out))
    epoch = run.start_epoch
    last_saved = time.perf_counter()
    try:
        if config.select == "recall" and config.init and not config.resume:
            run.test_start()
        for epoch in range(run.start_epoch, config.epochs):
            t0 = run.epoch_t0 = time.perf_counter()
            train_loss, dropped = run.train_epoch(epoch)
            if dropped:
                log.warning("epoch %d: %d true dislocations left out (frames with more than %d); "
                            "train with more --n-masks to keep them", epoch + 1, dropped, run.n_masks)
            if not all(bool(torch.isfinite(p).all()) for p in run.model.parameters()):
                raise _Diverged(epoch + 1, run.steps_per_epoch)
            tested = run.test(epoch + 1)
            row = {"epoch": epoch + 1, "train_loss": train_loss, **tested, "dropped": dropped,
                   "seconds": time.perf_counter() - t0}
            run.history.append(row)
            # Best by the test metric (or traced-line recall, then length score); without a test set, by the
            # lowest training loss.
            run.keep_if_best(row)
            row["seconds"] = time.perf_counter() - t0  # the budget's clock counts the checkpoint writes too
            last_epoch = epoch + 1 == config.epochs or budget_spent(run.history, config.max_minutes)
            if last_epoch or time.perf_counter() - last_saved >= SAVE_LAST_EVERY_S:
                run.save_last(epoch + 1)
                last_saved = time.perf_counter()
                row["seconds"] = last_saved - t0
            run.epoch_t0 = None
            write_history(history_path(out), run.history)
            run.report((epoch + 1) * run.steps_per_epoch, f"epoch {epoch + 1}/{config.epochs} done",
                       {k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))})
            if budget_spent(run.history, config.max_minutes):
                log.info("time budget of %g min spent after epoch %d", config.max_minutes, epoch + 1)
                epoch += 1
                break
        else:
            epoch = config.epochs
    except Cancelled:
        run.save_last(epoch, partial=True)
        log.info("cancelled in epoch %d; weights so far saved to %s", epoch + 1, last_path(out))
        raise
    except _Diverged as d:
        kept = "last.pt and best.pt are" if last_path(out).exists() else "no checkpoint was"
        raise DislocError(f"training diverged: the loss became NaN/inf at {d}; {kept} kept from before. "
                          f"Try a lower --lr (now {config.lr:g})") from None
    finally:
        torch.set_num_threads(threads_before)
    epochs_done = sum(1 for r in run.history if r["epoch"] >= 1)  # epoch 0: the starting model, tested
    return TrainResult(str(out), epochs_done, None if not run.test_sources else run.best_metric,
                       run.best_epoch, tuple(run.history), str(best_path(out)), str(last_path(out)))
