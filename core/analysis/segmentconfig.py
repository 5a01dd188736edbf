"""SegmentConfig: every setting of a segmentation run, validated, saved as JSON in the result folder.

The counterpart of :class:`core.learn.trainconfig.TrainConfig`: a frozen
dataclass checked on construction, so a wrong value fails before any frame
is read, with a message that names the setting. ``disloc segment`` builds
its flags and the Segment panel its boxes from these fields and their
defaults, and :func:`core.analysis.segment.segment_video` writes the config
as ``segment_config.json`` beside its results, so a result says how it was
made. This module imports no torch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

from ..io.jsonconfig import JsonConfig, is_int, is_num
from ..learn.mirrors import MIRRORS
from ..learn.predict import DEFAULT_BATCH_SIZE
from ..learn.trainconfig import DEVICES
from .postprocess import PostprocessConfig
from .scale import MAX_SCALE, MIN_SCALE
from .tiled import MAX_TILE_PX, MIN_TILE_PX
from .tracking import DEFAULT_GATE_PX, DEFAULT_MAX_GAP

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class SegmentConfig(JsonConfig):
    """Settings of one segmentation run (px are image pixels).

    Attributes
    ----------
    batch_size : int
        Frames per forward pass. The same batches give the same masks bit
        for bit; other batch sizes may move a mask edge by a pixel.
    device : str
        ``auto``, ``cpu`` or ``cuda``.
    pixel_size_nm : float or None
        Pixel size (nm per px) instead of the file's calibration; None: from
        the file's metadata. Known, it adds the ``_nm`` columns to splines.csv.
    fps : float or None
        Frame rate (1/s) instead of the file's; None: from the file. Known, it
        fills ``time_s``.
    gate_px : float
        Largest move (px, curve distance) between frames of one dislocation.
    max_gap : int
        Frames a dislocation may go unseen before its track ends.
    scale : float or "auto"
        Resample frames by this factor before the network (masks and
        splines stay in the frame's pixels). ``"auto"``: the model's line
        width over the frame's, measured (:func:`core.analysis.scale.auto_scale`);
        1: as they are.
    tile_px : int
        0: frames are predicted whole, except those above 1024 px a side
        (after ``scale``), which are cut into 512 px tiles. A number: every
        frame is cut into tiles of this side (px as the network sees them, a
        multiple of 32 from 128 to 4096, overlapping by an eighth and at least
        64 px); each tile has its own N masks, and a dislocation crossing
        tile borders is joined into one mask (:mod:`core.analysis.tiled`).
    mirrors : int
        1: each frame as it is. 2, 4 or 8: the network also looks at the
        frame flipped left-right (2), and upside down and both ways (4), and
        each of these turned a quarter and mirrored (8: all the symmetries
        of a square); the views' splines are pooled, each line once (more
        lines found, more false ones too, 2-8 times the network's time).
        Only for models trained on flipped (and for 8, quarter-turned)
        frames, not for a fine-tuned model.
    restart : bool
        Discard earlier results in the output folder and start at frame 0
        (otherwise a run resumes where the last one stopped).
    postprocess : PostprocessConfig
        From probabilities to one clean mask per dislocation.
    """

    LABEL = "segment config"

    batch_size: int = DEFAULT_BATCH_SIZE
    device: str = "auto"
    pixel_size_nm: Optional[float] = None
    fps: Optional[float] = None
    gate_px: float = DEFAULT_GATE_PX
    max_gap: int = DEFAULT_MAX_GAP
    scale: Union[float, str] = 1.0
    tile_px: int = 0
    mirrors: int = 1
    restart: bool = False
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        need = self._need
        if isinstance(self.postprocess, dict):  # as read from JSON
            object.__setattr__(self, "postprocess", PostprocessConfig.from_dict(self.postprocess))
        need(is_int(self.batch_size) and self.batch_size >= 1, "batch_size", "must be a positive integer")
        need(self.device in DEVICES, "device", f"must be one of {', '.join(DEVICES)}")
        need(self.pixel_size_nm is None or (is_num(self.pixel_size_nm) and self.pixel_size_nm > 0),
             "pixel_size_nm", "must be null or a positive number (nm per px)")
        need(self.fps is None or (is_num(self.fps) and self.fps > 0), "fps",
             "must be null or a positive number (frames per second)")
        need(is_num(self.gate_px) and self.gate_px > 0, "gate_px", "must be a positive number (px)")
        need(is_int(self.max_gap) and self.max_gap >= 0, "max_gap", "must be an integer >= 0")
        need(self.scale == "auto" or (is_num(self.scale) and MIN_SCALE <= self.scale <= MAX_SCALE), "scale",
             f"must be 'auto' or a number from {MIN_SCALE:g} to {MAX_SCALE:g}")
        if is_num(self.scale):
            object.__setattr__(self, "scale", float(self.scale))
        need(is_int(self.tile_px) and (self.tile_px == 0 or (MIN_TILE_PX <= self.tile_px <= MAX_TILE_PX
                                                          and self.tile_px % 32 == 0)), "tile_px",
             f"must be 0 (tile only frames above 1024 px) or a multiple of 32 from {MIN_TILE_PX} to {MAX_TILE_PX} px")
        need(is_int(self.mirrors) and self.mirrors in MIRRORS, "mirrors",
             "must be 1, 2, 4 or 8 (views of each frame: mirror images, and with 8 quarter turns)")
        need(isinstance(self.restart, bool), "restart", "must be true or false")
        need(isinstance(self.postprocess, PostprocessConfig), "postprocess", "must be post-processing settings")
        need(self.schema_version == SCHEMA_VERSION, "schema_version",
             f"must be {SCHEMA_VERSION} (written by another version of Dislocation Studio?)")
