"""Segmentation results as the Segment and Analyse panels show them (Qt-free).

A :class:`FrameView` is one frame's dislocations, made either from the
network's probabilities just now (:func:`view_from_probs`, which runs
core's post-processing and spline fit) or from the files of a batch run
(:class:`ResultIndex`, which reads what :func:`core.analysis.segment.segment_video`
wrote: masks/frame_NNNNNN.npz and splines.csv). Nothing is recomputed or
reimplemented here; the exports call core.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from core.colors import PALETTE, overlay_masks
from core.io.dataset import load_masks
from core.errors import DislocError
from core.io.fileio import PathLike, atomic_write_png
from core.analysis.postprocess import PostprocessConfig
from core.progress import Progress, check_stop
from core.analysis.segment import SPLINES_CSV, analyse_probs, mask_path, read_state
from core.analysis.splines import Spline

log = logging.getLogger(__name__)

#: Flags that mean "this mask probably holds more than one dislocation".
MULTI_FLAGS = frozenset({"several_components", "branched", "loop", "several_pieces"})
UNKNOWN_COLOUR = 18  # grey in core.colors.PALETTE, for a mask without a track id


def colour_index(dislocation_id: int) -> int:
    """Palette index of a dislocation id (ids start at 1; 0 = unknown)."""
    return (dislocation_id - 1) % len(PALETTE) if dislocation_id > 0 else UNKNOWN_COLOUR


def colour_of(dislocation_id: int) -> tuple[int, int, int]:
    return tuple(int(v) for v in PALETTE[colour_index(dislocation_id)])


@dataclass
class FrameView:
    """The dislocations of one frame.

    Attributes
    ----------
    index : int
        Frame number (0-based).
    image : ndarray float32 (H, W)
    masks : ndarray bool (K, H, W)
        Clean masks (duplicates merged).
    splines : list of Spline or None
        The 50-point spline of each mask (None: too small to fit).
    ids : list of int
        Track id of each mask (a batch run) or k + 1 (one frame segmented alone).
    flags : list of tuple of str
        Post-processing and spline warnings per mask.
    merged_from : list of list of int
        Model outputs merged into each mask as duplicates.
    channels : list of int
        The model output each mask came from (-1 when read from files).
    probs : ndarray (N, H, W) or None
        The network's raw probabilities (only for a frame segmented now).
    origin : str
        ``"frame"`` (segmented now) or ``"video"`` (read from a batch run).
    seconds : float
        Time the segmentation took (s), model and post-processing.
    """

    index: int
    image: np.ndarray
    masks: np.ndarray
    splines: list
    ids: list
    flags: list
    merged_from: list = field(default_factory=list)
    channels: list = field(default_factory=list)
    probs: Optional[np.ndarray] = None
    origin: str = "frame"
    seconds: float = 0.0

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    def flagged(self, k: int) -> bool:
        """Whether mask ``k`` probably holds more than one dislocation."""
        return bool(MULTI_FLAGS & set(self.flags[k]))

    def colours(self) -> list[tuple[int, int, int]]:
        return [colour_of(i) for i in self.ids]

    def curves(self) -> list[Optional[np.ndarray]]:
        return [None if s is None else s.xy for s in self.splines]

    def raw_fate(self, channel: int) -> tuple[int, str]:
        """What post-processing did with model output ``channel``: (mask index or -1, words)."""
        for k, c in enumerate(self.channels):
            if c == channel:
                return k, "kept"
        for k, m in enumerate(self.merged_from):
            if channel in m:
                return k, "duplicate, merged"
        return -1, "empty, specks or too short"


def view_from_probs(index: int, image: np.ndarray, probs: np.ndarray,
                    config: PostprocessConfig = PostprocessConfig(), seconds: float = 0.0) -> FrameView:
    """Post-process one frame's probabilities (N, H, W) with core and fit the splines."""
    t0 = time.perf_counter()
    fm, splines = analyse_probs(probs, config)
    flags = [tuple(dict.fromkeys(tuple(fm.flags[k]) + (tuple(s.flags) if s is not None else ())))
             for k, s in enumerate(splines)]
    return FrameView(index, np.asarray(image, np.float32), fm.masks, list(splines), list(range(1, len(fm) + 1)),
                     flags, [list(m) for m in fm.merged_from], list(fm.channels), probs, "frame",
                     seconds + time.perf_counter() - t0)


def support_points(spline: Spline, n: Optional[int] = None) -> np.ndarray:
    """Support points (P, 2) px for an editable annotation: 6-10 points evenly spread along the spline.

    Longer lines get more points (about one per 25 px), so the cubic spline
    through them follows the predicted line closely and each point is worth
    dragging.
    """
    if n is None:
        n = int(np.clip(round(spline.length_px / 25.0) + 2, 6, 10))
    idx = np.unique(np.round(np.linspace(0, len(spline.x) - 1, n)).astype(int))
    return spline.xy[idx]


class ResultIndex:
    """A batch segmentation folder read once: splines and ids per frame, curves per track.

    Parameters
    ----------
    out_dir : path
        A folder written by :func:`core.analysis.segment.segment_video` (GUI or ``disloc segment``).

    Raises
    ------
    DislocError
        No state file or splines.csv (the message says to segment first).
    """

    def __init__(self, out_dir: PathLike) -> None:
        from core.analysis.export import curves_by_track, read_splines_csv

        self.out = Path(out_dir)
        self.state = read_state(self.out)
        csv_path = self.out / SPLINES_CSV
        self.cols = read_splines_csv(csv_path)
        self.curves, times = curves_by_track(self.cols)
        self.times = {f: (None if t != t else t) for f, t in times.items()}
        self.n_frames = int(self.state.get("n_frames") or 0)
        self.frames_done = int(self.state.get("frames_done") or 0)
        self.pixel_size_nm = self.state.get("pixel_size_nm")
        self.fps = self.state.get("fps")
        self.input = self.state.get("input")
        self.mtime = csv_path.stat().st_mtime
        self._by_frame = self._group()

    def _group(self) -> dict[int, list[tuple[int, int, Spline]]]:
        c = self.cols
        if not len(c["frame"]):
            return {}
        frame = c["frame"].astype(np.int64)
        mi = c["mask_index"].astype(np.int64) if "mask_index" in c else np.zeros(len(frame), np.int64)
        order = np.lexsort((c["point_index"], mi, frame))
        key = frame[order] * (1 << 20) + mi[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        ends = np.r_[starts[1:], len(key)]
        flags = c.get("flags", np.array([""] * len(frame), dtype=object))
        out: dict[int, list] = {}
        for s, e in zip(starts, ends):
            rows = order[s:e]
            f0 = rows[0]
            fl = tuple(x for x in str(flags[f0]).split(";") if x)
            sp = Spline(c["x_px"][rows], c["y_px"][rows], c["arc_length_px"][rows], c["tangent_angle_rad"][rows],
                        c["curvature_per_px"][rows], fl)
            out.setdefault(int(frame[f0]), []).append((int(mi[f0]), int(c["dislocation_id"][f0]), sp))
        return out

    def has_frame(self, index: int) -> bool:
        return index < self.frames_done and mask_path(self.out, index).exists()

    def view(self, index: int, image: np.ndarray) -> FrameView:
        """The stored result of frame ``index`` (masks from its npz, splines and ids from splines.csv)."""
        masks = load_masks(mask_path(self.out, index))
        entries = {m: (i, sp) for m, i, sp in self._by_frame.get(index, [])}
        ids = [entries[k][0] if k in entries else 0 for k in range(len(masks))]
        splines = [entries[k][1] if k in entries else None for k in range(len(masks))]
        flags = [sp.flags if sp is not None else () for sp in splines]
        return FrameView(index, np.asarray(image, np.float32), masks, splines, ids, flags,
                         [[] for _ in ids], [-1] * len(ids), None, "video")

    def tracks(self) -> list[tuple[int, int, int, int]]:
        """(id, frames present, first frame, last frame) per track, by id."""
        return [(tid, len(fr), min(fr), max(fr)) for tid, fr in sorted(self.curves.items())]

    def frame_curves(self, index: int) -> tuple[list[int], list[np.ndarray]]:
        """Ids and curves (n, 2) px of the dislocations in frame ``index``."""
        ids = sorted(t for t, fr in self.curves.items() if index in fr)
        return ids, [self.curves[t][index] for t in ids]


def overlay_by_id(image: np.ndarray, masks: np.ndarray, ids: list[int]) -> np.ndarray:
    """RGB uint8 overlay with each mask in the colour of its track id (core.colors.overlay_masks)."""
    h, w = image.shape
    stack = np.zeros((len(PALETTE), h, w), bool)
    for m, i in zip(masks, ids):
        stack[colour_index(i)] |= m
    return overlay_masks(stack, image)


def write_overlays(index: ResultIndex, folder: Optional[PathLike] = None, video: Optional[PathLike] = None,
                   on_progress=None, should_stop=None) -> int:
    """Overlay frames of a batch result as PNG files (``overlay_NNNNNN.png``) and/or an MP4 video.

    Frames are read again from the run's input (``segment_state.json``);
    masks come from ``masks/``; colours follow the track ids as in the app.
    Returns the number of frames written; a stop keeps the finished PNGs
    (the video is only renamed into place when complete).
    """
    from core.io.frames import open_frames

    if folder is None and video is None:
        raise DislocError("choose a folder for the overlay frames or a file for the video")
    if not index.input or not Path(index.input).exists():
        raise DislocError(f"{index.out / 'segment_state.json'}: the segmented input {index.input} is missing; "
                          "put it back to export overlays")
    n = index.frames_done
    writer, tmp = None, None
    if folder is not None:
        Path(folder).mkdir(parents=True, exist_ok=True)
    done = 0
    with open_frames(index.input) as src:
        try:
            if video is not None:
                import imageio.v2 as iio2

                video = Path(video)
                tmp = video.with_name(f".{video.stem}.part{video.suffix}")
                writer = iio2.get_writer(str(tmp), fps=float(index.fps or 10.0), codec="libx264", quality=8,
                                         macro_block_size=2, ffmpeg_log_level="error")
            for i in range(n):
                check_stop(should_stop)
                if not mask_path(index.out, i).exists():
                    continue
                view = index.view(i, src[i])
                rgb = overlay_by_id(view.image, view.masks, view.ids)
                if folder is not None:
                    atomic_write_png(Path(folder) / f"overlay_{i:06d}.png", rgb)
                if writer is not None:
                    h, w = rgb.shape[:2]
                    writer.append_data(np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge"))
                done += 1
                if on_progress is not None:
                    on_progress(Progress(i + 1, n, "overlay frames"))
            if writer is not None:
                writer.close()
                writer = None
                os.replace(tmp, video)
        finally:
            if writer is not None:
                writer.close()
            if tmp is not None and tmp.exists():
                tmp.unlink()
    return done
