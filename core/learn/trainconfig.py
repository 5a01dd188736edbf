"""TrainConfig: every setting of a training run, validated, saved as JSON.

Also the canonical lists of names a config may use (architectures,
encoders, losses, augmentations); this module imports no torch, so the CLI
and the GUI can build forms and validate settings cheaply.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..errors import DislocError
from ..io.jsonconfig import JsonConfig, is_int, is_num
from .augment import AUGMENTATIONS, DEFAULT_AUGMENTATIONS

SCHEMA_VERSION = 1
ARCHITECTURES = ("unetplusplus", "unet")
# resnet50 is the paper's encoder; the others run at useful speed on a CPU
# (see benchmarks/bench_train.py for figures).
ENCODERS = ("tu-mobilenetv2_100", "resnet18", "tu-efficientnet_b0", "resnet50")
DEFAULT_ENCODER = "tu-mobilenetv2_100"
LOSSES = ("greedy", "hungarian", "hungarian+empty")
# Measured (benchmarks/bench_train.py --compare-losses --synth m2): plain
# Hungarian gave the best length metric; the emptiness term cuts duplicate
# masks several-fold at some cost in metric, more so the larger its weight.
DEFAULT_LOSS = "hungarian"
DEFAULT_EMPTY_WEIGHT = 0.1
DEVICES = ("auto", "cpu", "cuda")  # auto: CUDA when torch sees a GPU, else the CPU
# How frames are scaled before the network (core.learn.model.normalize): zero mean and unit std per frame
# (the paper's models), or a locally flattened background with local contrast equalised (real frames).
NORMALIZATIONS = {"per_image": {"kind": "per_image", "eps": 1e-3},
                  "local": {"kind": "local", "sigma_bg": 12.0, "sigma_std": 24.0, "eps": 0.05}}
PRECISIONS = ("auto", "fp32", "bf16")
SELECTIONS = ("metric", "recall")
LR_SCHEDULES = ("constant", "cosine")  # cosine: lr along half a cosine down to 0 over the run


@dataclass(frozen=True)
class TrainConfig(JsonConfig):
    """Settings of one training run (paths are strings, sizes px, lr per step); saved as config.json.

    Attributes
    ----------
    data, test : tuple of str
        Dataset folders (core/io/dataset.py format) to train on and to test on.
    annotations : tuple of str
        Folders of labelme-annotated real frames (image next to its JSON),
        trained on together with ``data`` (fine-tuning).
    line_width : float
        Width (px) at which labelme line strips are rasterised into masks.
    arch, encoder, encoder_weights, n_masks : network (ignored with ``init``:
        the checkpoint decides).
    epochs, batch_size, lr : optimisation (Adam).
    loss, empty_weight : matching loss name and weight of its emptiness term.
    skeleton_weight : float
        Weight of the skeleton recall term of the matched pairs (0: off).
    image_size : int
        Training crop side (px, multiple of 32); larger frames are cropped
        at random, smaller ones padded.
    augment : tuple of str
        Augmentations to use (subset of ``AUGMENTATIONS``).
    seed : int
        Seeds model init, shuffling and augmentation.
    workers, threads : int
        Data-loader processes (0: in the main process); torch CPU threads
        (None: all cores).
    device, precision : str
        ``auto``/``cpu``/``cuda``; ``auto``/``fp32``/``bf16`` (auto: bf16
        autocast where the hardware supports it).
    init : str or None
        Checkpoint to start from (fine-tuning).
    resume : bool
        Continue from ``last.pt`` of the run folder.
    steps_per_epoch : int or None
        Optimiser steps per epoch (None: one pass over the data). Fewer
        than a pass caps an epoch over a big dataset; more repeats the
        data (a few annotated frames), each time with new crops and
        augmentations.
    test_limit : int or None
        Test on at most this many images per test folder (None: all).
    normalization : str or None
        One of :data:`NORMALIZATIONS`; None: the ``init`` checkpoint's, else per_image.
    select : str
        What chooses best.pt: ``"metric"`` (the test length metric) or
        ``"recall"`` (recall of traced lines in annotated test frames, then
        their length score: :mod:`core.analysis.linescore`).
    max_minutes : float or None
        Stop after the first epoch that ends past this many minutes of the
        run's epochs, training and tests (a time budget instead of a number
        of epochs; a resumed run gets what is left).
    ema : float
        Decay per optimiser step of an exponential moving average of the
        weights (0: none). With it, tests, the choice of best.pt and best.pt
        itself use the averaged weights, which swing less from epoch to
        epoch than the last step's; last.pt keeps both, to resume.
    lr_schedule : str
        ``"constant"`` (``lr`` throughout) or ``"cosine"``: from ``lr`` down
        to nothing along half a cosine over the run, counted in steps of
        ``epochs``, or in seconds of ``max_minutes`` when that is set.
    crop_on_lines : float
        Share (0-1) of training crops placed over a line pixel drawn at
        random instead of anywhere in the frame (0: anywhere). Crowded
        parts of a frame hold most of its line pixels, so they are cropped
        more often.
    """

    LABEL = "train config"

    data: tuple = ()
    test: tuple = ()
    annotations: tuple = ()
    line_width: float = 3.0
    arch: str = "unetplusplus"
    encoder: str = DEFAULT_ENCODER
    encoder_weights: Optional[str] = None
    n_masks: int = 20
    epochs: int = 20
    batch_size: int = 4
    lr: float = 1e-3
    loss: str = DEFAULT_LOSS
    empty_weight: float = DEFAULT_EMPTY_WEIGHT
    skeleton_weight: float = 0.0
    image_size: int = 256
    augment: tuple = DEFAULT_AUGMENTATIONS
    seed: int = 0
    workers: int = 0
    threads: Optional[int] = None
    device: str = "auto"
    precision: str = "auto"
    init: Optional[str] = None
    resume: bool = False
    steps_per_epoch: Optional[int] = None
    test_limit: Optional[int] = None
    normalization: Optional[str] = None
    select: str = "metric"
    max_minutes: Optional[float] = None
    ema: float = 0.0
    lr_schedule: str = "constant"
    crop_on_lines: float = 0.0
    schema_version: int = field(default=SCHEMA_VERSION)

    def __post_init__(self) -> None:
        for name in ("data", "test", "annotations", "augment"):
            v = getattr(self, name)
            if isinstance(v, str):
                v = (v,)
            if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
                raise DislocError(f"train config: {name} must be a list of strings, got {v!r}")
            object.__setattr__(self, name, tuple(str(x) for x in v))

        need = self._need
        need(self.arch in ARCHITECTURES, "arch", f"must be one of {', '.join(ARCHITECTURES)}")
        need(self.encoder in ENCODERS, "encoder", f"must be one of {', '.join(ENCODERS)}")
        need(self.encoder_weights in (None, "imagenet"), "encoder_weights", "must be null or 'imagenet'")
        need(self.loss in LOSSES, "loss", f"must be one of {', '.join(LOSSES)}")
        need(self.device in DEVICES, "device", f"must be one of {', '.join(DEVICES)}")
        need(self.precision in PRECISIONS, "precision", f"must be one of {', '.join(PRECISIONS)}")
        bad = [a for a in self.augment if a not in AUGMENTATIONS]
        need(not bad, "augment", f"may only name {', '.join(AUGMENTATIONS)}")
        need(is_int(self.n_masks) and 1 <= self.n_masks <= 256, "n_masks", "must be an integer from 1 to 256")
        need(is_int(self.epochs) and self.epochs >= 1, "epochs", "must be a positive integer")
        need(is_int(self.batch_size) and self.batch_size >= 1, "batch_size", "must be a positive integer")
        need(is_num(self.lr) and self.lr > 0, "lr", "must be a positive number")
        need(is_num(self.empty_weight) and self.empty_weight >= 0, "empty_weight", "must be >= 0")
        need(is_num(self.skeleton_weight) and self.skeleton_weight >= 0, "skeleton_weight", "must be >= 0 (0: off)")
        need(is_num(self.line_width) and self.line_width > 0, "line_width", "must be a positive number (px)")
        need(is_int(self.image_size) and self.image_size >= 32 and self.image_size % 32 == 0, "image_size",
             "must be a multiple of 32 px (at least 32)")
        need(is_int(self.seed), "seed", "must be an integer")
        need(is_int(self.workers) and self.workers >= 0, "workers", "must be an integer >= 0")
        need(self.threads is None or (is_int(self.threads) and self.threads >= 1), "threads", "must be null or >= 1")
        need(self.init is None or isinstance(self.init, str), "init", "must be null or a checkpoint path")
        need(isinstance(self.resume, bool), "resume", "must be true or false")
        need(self.steps_per_epoch is None or (is_int(self.steps_per_epoch) and self.steps_per_epoch >= 1),
             "steps_per_epoch", "must be null or a positive integer")
        need(self.test_limit is None or (is_int(self.test_limit) and self.test_limit >= 1), "test_limit",
             "must be null or a positive integer")
        need(self.normalization is None or self.normalization in NORMALIZATIONS, "normalization",
             f"must be null or one of {', '.join(NORMALIZATIONS)}")
        need(self.select in SELECTIONS, "select", f"must be one of {', '.join(SELECTIONS)}")
        need(self.max_minutes is None or (is_num(self.max_minutes) and self.max_minutes > 0), "max_minutes",
             "must be null or a positive number of minutes")
        need(is_num(self.ema) and 0 <= self.ema < 1, "ema", "must be a number from 0 (off) to below 1")
        need(is_num(self.crop_on_lines) and 0 <= self.crop_on_lines <= 1, "crop_on_lines",
             "must be a number from 0 (crops anywhere) to 1 (every crop over a line)")
        need(self.lr_schedule in LR_SCHEDULES, "lr_schedule", f"must be one of {', '.join(LR_SCHEDULES)}")
        need(self.select != "recall" or bool(self.test), "select",
             "'recall' needs a test folder of annotated frames (--test)")
        need(self.schema_version == SCHEMA_VERSION, "schema_version",
             f"must be {SCHEMA_VERSION} (written by another version of Dislocation Studio?)")
        if not self.data and not self.annotations:
            raise DislocError("train config: no training data; give at least one --data dataset folder "
                              "or --annotations folder of labelme files")
