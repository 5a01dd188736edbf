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

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import DislocError
from ..io.fileio import PathLike, atomic_write_json, read_json
from ..learn.predict import DEFAULT_BATCH_SIZE
from ..learn.trainconfig import DEVICES
from .postprocess import PostprocessConfig
from .tracking import DEFAULT_GATE_PX, DEFAULT_MAX_GAP

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class SegmentConfig:
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
    restart : bool
        Discard earlier results in the output folder and start at frame 0
        (otherwise a run resumes where the last one stopped).
    postprocess : PostprocessConfig
        From probabilities to one clean mask per dislocation.
    """

    batch_size: int = DEFAULT_BATCH_SIZE
    device: str = "auto"
    pixel_size_nm: Optional[float] = None
    fps: Optional[float] = None
    gate_px: float = DEFAULT_GATE_PX
    max_gap: int = DEFAULT_MAX_GAP
    restart: bool = False
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        def need(ok: bool, name: str, what: str) -> None:
            if not ok:
                raise DislocError(f"segment config: {name} {what}, got {getattr(self, name)!r}")

        def is_int(x: Any) -> bool:
            return isinstance(x, int) and not isinstance(x, bool)

        def is_num(x: Any) -> bool:
            return isinstance(x, (int, float)) and not isinstance(x, bool)

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
        need(isinstance(self.restart, bool), "restart", "must be true or false")
        need(isinstance(self.postprocess, PostprocessConfig), "postprocess", "must be post-processing settings")
        need(self.schema_version == SCHEMA_VERSION, "schema_version",
             f"must be {SCHEMA_VERSION} (written by another version of Dislocation Studio?)")

    def replace(self, **changes: Any) -> "SegmentConfig":
        """A copy with some settings changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain JSON-able settings; ``postprocess`` as a nested object."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["postprocess"] = self.postprocess.to_dict()
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: Any, source: str = "segment config") -> "SegmentConfig":
        """Settings from a JSON object; an unknown key is an error that names it."""
        if not isinstance(d, dict):
            raise DislocError(f"{source}: must be a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        for k in d:
            if k not in names:
                raise DislocError(f"{source}: unknown key {k!r} (known: {', '.join(sorted(names))})")
        if isinstance(d.get("postprocess"), dict):
            pp = d["postprocess"]
            known = {f.name for f in dataclasses.fields(PostprocessConfig)}
            for k in pp:
                if k not in known:
                    raise DislocError(f"{source}: unknown key 'postprocess.{k}' (known: {', '.join(sorted(known))})")
        try:
            return cls(**d)
        except DislocError as e:
            raise DislocError(str(e).replace("segment config:", f"{source}:", 1)) from None
        except TypeError as e:  # a value of the wrong kind where a comparison needs a number
            raise DislocError(f"{source}: {e}") from None

    @classmethod
    def from_json(cls, text: str, source: str = "segment config") -> "SegmentConfig":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise DislocError(f"{source}: not valid JSON ({e.msg}, line {e.lineno})") from None
        return cls.from_dict(d, source)

    def save(self, path: PathLike) -> None:
        """Write the settings as JSON, atomically."""
        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: PathLike) -> "SegmentConfig":
        return cls.from_dict(read_json(path), str(path))
