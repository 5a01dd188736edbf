"""A project folder: everything one person works on for one material or experiment.

Layout::

    DIR/project.json      schema_version, name, where the frames are, their pixel size and frame rate
    DIR/annotations/      one labelme JSON per annotated frame (+ the frame as PNG)
    DIR/backgrounds/      background patches cut from real frames (PNG)
    DIR/presets/          generator presets (JSON)
    DIR/datasets/         synthetic datasets
    DIR/runs/             training runs
    DIR/results/          segmentation, splines, tracks, CSV

The frames (a video, a TIFF stack or a folder of images) are *referenced*,
never copied: ``project.json`` stores the path relative to the project when
the frames lie inside it, absolute otherwise. It may also hold the frames'
pixel size (nm per px) and frame rate (1/s) as the user set them; these win
over the file's metadata, and null means "as the file says".

Next to each annotation ``<frame>.json`` we write the frame itself as
``<frame>.png`` (8-bit, once) and point ``imagePath`` at it, so the file opens
in labelme whatever the frames came from (labelme cannot read a video frame)
and the annotations folder is a ready fine-tuning set.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import DislocError
from ..io.dataset import to_uint8
from ..io.fileio import PathLike, atomic_write_json, atomic_write_png, read_json
from ..io.labelme import read_labelme, write_labelme
from .annotation import FrameAnnotations

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
FORMAT = "disloc-project"
PROJECT_FILE = "project.json"
FOLDERS = ("annotations", "backgrounds", "presets", "datasets", "runs", "results")
_KEYS = ("schema_version", "format", "name", "frames", "created", "pixel_size_nm", "fps")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(name: str) -> str:
    """A file-name-safe version of a frame name (``frame 3.tif`` -> ``frame_3``)."""
    stem = Path(str(name)).stem if "." in str(name) else str(name)
    return _SAFE.sub("_", stem).strip("._") or "frame"


@dataclass
class Project:
    """An open project folder.

    Attributes
    ----------
    root : Path
        The project folder.
    name : str
    frames : str or None
        Path of the frames as stored in project.json (relative to ``root`` or absolute).
    created : str
        ISO date-time of creation.
    pixel_size_nm, fps : float or None
        The frames' pixel size (nm per px) and frame rate (1/s) set by the
        user; None: as the frames' file says (:meth:`open_frames`).
    """

    root: Path
    name: str
    frames: Optional[str] = None
    created: str = ""
    pixel_size_nm: Optional[float] = None
    fps: Optional[float] = None
    _backup_before_write: set = field(default_factory=set, repr=False)

    # -- create / open / save -------------------------------------------------
    @classmethod
    def create(cls, root: PathLike, name: Optional[str] = None, frames: Optional[PathLike] = None) -> "Project":
        """Make a new project folder (or adopt an empty/existing non-project folder)."""
        root = Path(root).expanduser().resolve()
        if (root / PROJECT_FILE).exists():
            raise DislocError(f"{root}: already a project; open it instead")
        root.mkdir(parents=True, exist_ok=True)
        p = cls(root=root, name=name or root.name, created=_dt.datetime.now().isoformat(timespec="seconds"))
        if frames is not None:
            p.set_frames(frames, save=False)
        p.save()
        return p

    @classmethod
    def open(cls, root: PathLike) -> "Project":
        """Open a project folder; errors name the file and what to do."""
        root = Path(root).expanduser().resolve()
        f = root / PROJECT_FILE
        if not root.is_dir():
            raise DislocError(f"{root}: project folder not found")
        if not f.exists():
            raise DislocError(f"{root}: not a project folder (no {PROJECT_FILE}); create a new project there")
        d = read_json(f)
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise DislocError(f"{f}: not a Dislocation Studio project file (format should be '{FORMAT}')")
        unknown = sorted(set(d) - set(_KEYS))
        if unknown:
            raise DislocError(f"{f}: unknown key '{unknown[0]}'; remove it or update Dislocation Studio")
        if int(d.get("schema_version", 0)) > SCHEMA_VERSION:
            raise DislocError(f"{f}: written by a newer version (schema {d['schema_version']}); update Dislocation Studio")
        frames = d.get("frames")
        if frames is not None and not isinstance(frames, str):
            raise DislocError(f"{f}: frames: must be a path string or null")
        cal = {k: d.get(k) for k in ("pixel_size_nm", "fps")}
        for k, v in cal.items():
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
                raise DislocError(f"{f}: {k}: must be a positive number or null, got {v!r}")
        p = cls(root=root, name=str(d.get("name") or root.name), frames=frames, created=str(d.get("created", "")),
                pixel_size_nm=cal["pixel_size_nm"], fps=cal["fps"])
        p.ensure_folders()
        return p

    def save(self) -> None:
        """Write project.json atomically and make the sub-folders."""
        self.ensure_folders()
        atomic_write_json(self.root / PROJECT_FILE, {
            "schema_version": SCHEMA_VERSION, "format": FORMAT, "name": self.name,
            "frames": self.frames, "created": self.created, "pixel_size_nm": self.pixel_size_nm, "fps": self.fps})

    def ensure_folders(self) -> None:
        for sub in FOLDERS:
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # -- folders ----------------------------------------------------------------
    @property
    def annotations_dir(self) -> Path:
        return self.root / "annotations"

    @property
    def backgrounds_dir(self) -> Path:
        return self.root / "backgrounds"

    @property
    def presets_dir(self) -> Path:
        return self.root / "presets"

    @property
    def datasets_dir(self) -> Path:
        return self.root / "datasets"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def results_dir(self) -> Path:
        return self.root / "results"

    # -- frames -----------------------------------------------------------------
    def set_frames(self, path: PathLike, save: bool = True) -> None:
        """Reference a video, TIFF stack or image folder (relative when inside the project)."""
        path = Path(path).expanduser().resolve()
        if not path.exists():
            raise DislocError(f"{path}: frames not found; choose an existing video, TIFF stack or image folder")
        try:
            self.frames = path.relative_to(self.root).as_posix()
        except ValueError:
            self.frames = str(path)
        if save:
            self.save()

    @property
    def frames_result_dir(self) -> Optional[Path]:
        """``results/<frames name>``: where the whole-video segmentation of the frames goes (None: no frames).

        The Segment panel writes there, the Analyse panel opens it first, the demo fills it.
        """
        frames = self.frames_path
        return None if frames is None else self.results_dir / safe_name(frames.name)

    @property
    def frames_path(self) -> Optional[Path]:
        """Absolute path of the frames, or None when none are set."""
        if not self.frames:
            return None
        p = Path(self.frames)
        return p if p.is_absolute() else self.root / p

    def open_frames(self):
        """Open the project's frames (a ``core.io`` FrameSource) with the project's pixel size and frame rate.

        Where the project leaves them unset (None), the source keeps what its
        file says (TIFF, DM and video metadata), or None.
        """
        path = self.frames_path
        if path is None:
            raise DislocError(f"{self.root}: the project has no frames yet; choose a video, TIFF stack or image folder")
        if not path.exists():
            raise DislocError(f"{path}: frames not found (moved?); choose them again with File > Set frames")
        from ..io.frames import open_frames

        return open_frames(path, fps=self.fps, pixel_size_nm=self.pixel_size_nm)

    def set_calibration(self, pixel_size_nm: Optional[float], fps: Optional[float]) -> None:
        """Set the frames' pixel size (nm per px) and frame rate (1/s); None: as the file says. Saved at once.

        Raises
        ------
        DislocError
            A value that is not a positive number (nothing is changed).
        """
        for name, v in (("pixel size", pixel_size_nm), ("frame rate", fps)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
                raise DislocError(f"{name}: must be a positive number, got {v!r}")
        self.pixel_size_nm = None if pixel_size_nm is None else float(pixel_size_nm)
        self.fps = None if fps is None else float(fps)
        self.save()

    # -- annotations ------------------------------------------------------------
    def annotation_path(self, frame_name: str) -> Path:
        return self.annotations_dir / f"{safe_name(frame_name)}.json"

    def annotated_frames(self) -> list[str]:
        """Safe names of the frames that have an annotation file, sorted."""
        return sorted(p.stem for p in self.annotations_dir.glob("*.json") if not p.name.startswith("."))

    def load_annotations(self, frame_name: str, height: int, width: int) -> tuple[FrameAnnotations, list[str]]:
        """The annotations of one frame and messages for the user about the file.

        A missing file gives empty annotations. A file that cannot be used
        (not labelme, another image size) gives empty annotations and a
        message; it is moved to ``<name>.json.bak`` before we first write
        over it, so nothing is lost.
        """
        path = self.annotation_path(frame_name)
        if not path.exists():
            return FrameAnnotations(height, width), []
        try:
            lf = read_labelme(path)
        except DislocError as e:
            self._backup_before_write.add(path)
            return FrameAnnotations(height, width), [
                f"{e}. Not loaded; fix the file, or draw anew (the old file is then kept as {path.name}.bak)."]
        if (lf.image_height, lf.image_width) != (height, width):
            self._backup_before_write.add(path)
            return FrameAnnotations(height, width), [
                f"{path}: made for a {lf.image_width}x{lf.image_height} px image but the frame is {width}x{height} px; "
                f"not loaded. Check that the project's frames are the right ones, or draw anew "
                f"(the old file is then kept as {path.name}.bak)."]
        fa = FrameAnnotations.from_labelfile(lf)
        msgs = []
        if fa.other_shapes:
            kinds = ", ".join(fa.unknown_shape_types())
            msgs.append(f"{path}: {len(fa.other_shapes)} shape(s) of type {kinds} are not dislocations; "
                        f"they are kept in the file but not shown. Use linestrip shapes for dislocations.")
        return fa, msgs

    def save_annotations(self, frame_name: str, fa: FrameAnnotations, frame: Optional[np.ndarray] = None) -> Path:
        """Write one frame's annotations as labelme JSON, atomically.

        ``frame`` (float (H, W) in [0, 1]) is written once as ``<name>.png``
        beside the JSON so labelme can open it.
        """
        path = self.annotation_path(frame_name)
        img = path.with_suffix(".png")
        if path in self._backup_before_write and path.exists():
            os.replace(path, path.with_name(path.name + ".bak"))
            self._backup_before_write.discard(path)
        if frame is not None and not img.exists():
            atomic_write_png(img, to_uint8(frame))
        write_labelme(path, fa.to_labelfile(img.name))
        return path

    # -- background patches ----------------------------------------------------------
    def save_background(self, patch: np.ndarray, source: str = "patch") -> Path:
        """Save a background crop (float (h, w) in [0, 1]) as a 16-bit PNG, atomically.

        Returns the new file; names never overwrite an existing patch.
        """
        patch = np.asarray(patch, np.float32)
        if patch.ndim != 2 or min(patch.shape) < 8:
            raise DislocError(f"background patch must be at least 8x8 px, got {patch.shape[::-1]}")
        stem = safe_name(source)
        i = 0
        while True:
            path = self.backgrounds_dir / f"{stem}_{i:03d}.png"
            if not path.exists():
                break
            i += 1
        img16 = np.clip(np.round(patch * 65535.0), 0, 65535).astype(np.uint16)
        atomic_write_png(path, img16)
        return path

    def background_files(self) -> list[Path]:
        exts = {".png", ".tif", ".tiff", ".jpg", ".jpeg"}
        return sorted(p for p in self.backgrounds_dir.iterdir() if p.suffix.lower() in exts and not p.name.startswith("."))

