"""The segmentation result folder: the one module that knows its files.

:func:`core.analysis.segment.segment_video` (``disloc segment``, the Segment
panel) writes it; ``disloc track``, the demo and the Segment and Analyse
panels read it, all through this module::

    OUT/segment_config.json       the SegmentConfig of the last session that wrote here
    OUT/segment_state.json        progress, for resuming; input, model, fps, pixel size, tracker state
    OUT/masks/frame_000123.npz    clean masks of frame 123, sparse: shape (K, H, W), boxes (K, 4) and the
                                  bits of each mask's crop (core.analysis.sparse.pack); folders written
                                  before hold dense files (core.io.dataset.save_masks), still read
    OUT/splines.csv               50 spline points per dislocation and frame (format: core.analysis.export)
    OUT/pair_distances.csv, .png  distances of chosen pairs against frame number
    OUT/.segment.lock             held while a run writes (a second run on the folder is refused)

:class:`ResultIndex` reads a folder once (state, splines and ids per frame,
curves per track); :func:`track_run` writes its pair distances and
:func:`write_overlays` its frames with coloured masks.
"""
from __future__ import annotations

import contextlib
import os
import socket
from functools import cached_property
from pathlib import Path
from typing import Optional

import numpy as np

from ..colors import overlay_by_id
from ..errors import DislocError
from ..io.dataset import load_masks
from ..io.fileio import PathLike, atomic_write_json, atomic_write_npz, atomic_write_png, output_error, read_json
from ..progress import Progress, check_stop
from .export import plot_pair_distances, read_splines_csv, write_pair_distances
from .frameview import FrameView
from . import sparse
from .segmentconfig import SegmentConfig
from .sparse import SparseMask
from .splines import Spline

STATE_FILE = "segment_state.json"
CONFIG_FILE = "segment_config.json"
SPLINES_CSV = "splines.csv"
MASK_DIR = "masks"
PAIRS_CSV = "pair_distances.csv"
LOCK_FILE = ".segment.lock"
STATE_FORMAT = "disloc-segment-state"
STATE_SCHEMA = 1


# ---------------------------------------------------------------- paths
def mask_path(out_dir: PathLike, frame: int) -> Path:
    """Where the masks of ``frame`` are saved."""
    return Path(out_dir) / MASK_DIR / f"frame_{int(frame):06d}.npz"


def splines_path(out_dir: PathLike) -> Path:
    """The folder's splines.csv."""
    return Path(out_dir) / SPLINES_CSV


def is_result(folder: PathLike) -> bool:
    """Whether ``folder`` holds a segmentation result (it has a splines.csv)."""
    return splines_path(folder).exists()


def list_results(parent: PathLike) -> list[Path]:
    """The result folders directly inside ``parent`` (a project's results/), sorted by name."""
    parent = Path(parent)
    if not parent.is_dir():
        return []
    return sorted(d for d in parent.iterdir() if is_result(d))


# ---------------------------------------------------------------- writing (segment_video)
@contextlib.contextmanager
def writer_lock(out_dir: PathLike):
    """Hold the folder's lock while a run writes into it; a second run on the same folder is refused.

    An OS lock on ``.segment.lock`` (``flock``): the system releases it when
    the process ends in any way, killed included, so a stale lock never
    blocks a resume. The file itself stays (removing it could let two runs
    lock two different files).

    Raises
    ------
    DislocError
        Another run holds the lock, or the folder cannot be written.
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        f = open(out / LOCK_FILE, "a+", encoding="utf-8")
    except OSError as e:
        raise output_error(e, out) from None
    try:
        if not _try_lock(f):
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise DislocError(f"{out}: another segmentation is writing into this folder ({holder}); wait until it "
                              "ends, or choose another --out")
        try:
            f.seek(0)
            f.truncate()
            f.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
            f.flush()
        except OSError:  # a full disk: the lock holds all the same
            pass
        yield
    finally:
        f.close()  # releases the lock


def _try_lock(f) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows: a byte-range lock instead
        import msvcrt

        try:
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # a file system without locks (some network drives): go on unguarded, as before locks
        pass
    return True


def prepare(out_dir: PathLike) -> None:
    """Create the folder and its masks/ subfolder."""
    (Path(out_dir) / MASK_DIR).mkdir(parents=True, exist_ok=True)


def new_state(identity: dict, fps: Optional[float], pixel_size_nm: Optional[float], n_masks: int,
              postprocess: dict, tracker: dict) -> dict:
    """The state of a run that has done no frame yet.

    Parameters
    ----------
    identity : dict
        ``input`` (path), ``input_bytes``, ``n_frames`` and ``model`` (path or None): what a
        resumed run must match.
    fps, pixel_size_nm : float or None
        Frame rate (1/s) and pixel size (nm) of the input.
    n_masks : int
        Outputs of the network.
    postprocess, tracker : dict
        Post-processing settings and the tracker's state.
    """
    return {"schema_version": STATE_SCHEMA, "format": STATE_FORMAT, **identity,
            "fps": fps, "pixel_size_nm": pixel_size_nm, "n_masks": int(n_masks),
            "postprocess": postprocess, "frames_done": 0, "csv_bytes": None, "finished": False,
            "bad_frames": [], "n_bad_frames": 0, "blank_frames": [], "n_blank_frames": 0,
            "tracker": tracker}


def read_raw_state(out_dir: PathLike):
    """The state file's content as written, unchecked (a resuming run checks it against itself)."""
    return read_json(Path(out_dir) / STATE_FILE)


def write_state(out_dir: PathLike, state: dict) -> None:
    """Replace the state file atomically (after a frame's masks and rows are safe on disk)."""
    atomic_write_json(Path(out_dir) / STATE_FILE, state)


def save_config(out_dir: PathLike, config: SegmentConfig) -> None:
    """Record the settings a session segments with (segment_config.json)."""
    config.save(Path(out_dir) / CONFIG_FILE)


def save_frame_masks(out_dir: PathLike, frame: int, masks, shape: Optional[tuple[int, int]] = None) -> None:
    """Save the clean masks of ``frame``: a bool stack (K, H, W), or sparse masks with the frame's ``shape`` (H, W)."""
    if isinstance(masks, np.ndarray):
        shape = masks.shape[1:]
        masks = sparse.from_stack(masks)
    if shape is None:
        raise ValueError("sparse masks need the frame's shape")
    atomic_write_npz(mask_path(out_dir, frame), **sparse.pack(list(masks), tuple(shape)))


def clear(out_dir: PathLike) -> None:
    """Delete the results of an earlier run (state, splines.csv, masks) before starting over."""
    out = Path(out_dir)
    for p in (out / STATE_FILE, out / SPLINES_CSV):
        if p.exists():
            p.unlink()
    if (out / MASK_DIR).is_dir():
        for p in (out / MASK_DIR).glob("frame_*.npz"):
            p.unlink()


# ---------------------------------------------------------------- reading
def read_state(out_dir: PathLike) -> dict:
    """The state file of a segmentation folder (fps, pixel size, progress)."""
    path = Path(out_dir) / STATE_FILE
    if not path.exists():
        raise DislocError(f"{out_dir}: no {STATE_FILE}; run 'disloc segment INPUT --out {out_dir}' first")
    state = read_json(path)
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise DislocError(f"{path}: not a segmentation state file")
    return state


def read_config(out_dir: PathLike) -> Optional[SegmentConfig]:
    """The settings the folder was last segmented with (None for results written before they were kept)."""
    path = Path(out_dir) / CONFIG_FILE
    return SegmentConfig.load(path) if path.exists() else None


def load_frame_masks(out_dir: PathLike, frame: int) -> np.ndarray:
    """The clean masks (K, H, W) bool of ``frame`` (dense: for frames that fit in memory many times over)."""
    shape, masks = load_frame_masks_sparse(out_dir, frame)
    return sparse.to_stack(masks, shape)


def load_frame_masks_sparse(out_dir: PathLike, frame: int) -> tuple[tuple[int, int], list[SparseMask]]:
    """The frame's shape (H, W) and its clean masks, each as box and crop (any frame size)."""
    path = mask_path(out_dir, frame)
    try:
        with np.load(path) as z:
            if "boxes" in z.files:
                return sparse.unpack(z)
    except FileNotFoundError:
        raise DislocError(f"{path}: mask file not found") from None
    except Exception as e:  # zip/format errors from a damaged file
        raise DislocError(f"{path}: not a readable mask file ({e})") from None
    dense = load_masks(path)  # written before masks were kept sparse
    return dense.shape[1:], sparse.from_stack(dense)


def curves_by_track(cols: dict[str, np.ndarray]) -> tuple[dict[int, dict[int, np.ndarray]], dict[int, float]]:
    """({track id: {frame: (n, 2) curve px}}, {frame: time_s}) from splines.csv columns."""
    frame = cols["frame"].astype(np.int64)
    if frame.size == 0:  # a run that found no dislocation at all
        return {}, {}
    tid = cols["dislocation_id"].astype(np.int64)
    order = np.lexsort((cols["point_index"], tid, frame))
    frame, tid = frame[order], tid[order]
    x, y, t = cols["x_px"][order], cols["y_px"][order], cols["time_s"][order]
    key = frame * (1 << 32) + tid
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)]
    curves: dict[int, dict[int, np.ndarray]] = {}
    times: dict[int, float] = {}
    for s, e in zip(starts, ends):
        curves.setdefault(int(tid[s]), {})[int(frame[s])] = np.column_stack([x[s:e], y[s:e]])
        times[int(frame[s])] = float(t[s])
    return curves, times


class ResultIndex:
    """A batch segmentation folder read once: splines and ids per frame, curves per track.

    Parameters
    ----------
    out_dir : path
        A folder written by :func:`core.analysis.segment.segment_video` (GUI or ``disloc segment``).

    Attributes
    ----------
    curves : {track id: {frame: (n, 2) curve px}}
    times : {frame: time_s or None}
        Time of each frame with dislocations, s (None when the frame rate is unknown).

    Raises
    ------
    DislocError
        No state file or splines.csv (the message says to segment first).
    """

    def __init__(self, out_dir: PathLike) -> None:
        self.out = Path(out_dir)
        self.state = read_state(self.out)
        csv_path = splines_path(self.out)
        self.cols = read_splines_csv(csv_path)
        self.curves, times = curves_by_track(self.cols)
        self.times = {f: (None if t != t else t) for f, t in times.items()}
        self.n_frames = int(self.state.get("n_frames") or 0)
        self.frames_done = int(self.state.get("frames_done") or 0)
        self.pixel_size_nm = self.state.get("pixel_size_nm")
        self.fps = self.state.get("fps")
        self.input = self.state.get("input")
        self.mtime = csv_path.stat().st_mtime

    @cached_property
    def _by_frame(self) -> dict[int, list[tuple[int, int, Spline]]]:
        """(mask index, id, spline) per frame; built on first use (pair distances need only the curves)."""
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

    @property
    def splines_csv(self) -> Path:
        return splines_path(self.out)

    def has_frame(self, index: int) -> bool:
        return index < self.frames_done and mask_path(self.out, index).exists()

    def masks(self, index: int) -> np.ndarray:
        """The clean masks (K, H, W) bool of frame ``index``."""
        return load_frame_masks(self.out, index)

    def view(self, index: int, image: np.ndarray) -> FrameView:
        """The stored result of frame ``index`` (masks from its npz, splines and ids from splines.csv)."""
        masks = self.masks(index)
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


# ---------------------------------------------------------------- pair distances and overlays
def write_pairs(csv_path: PathLike, rows: list[tuple], pixel_size_nm: Optional[float], plot: bool = True) -> Path:
    """Write pair distances as CSV and, with ``plot``, the plot beside it (same name, .png); atomic.

    ``rows`` are (frame, time_s or None, id_a, id_b, distance_px) from
    :func:`core.analysis.tracking.pair_distance_rows`. Returns the CSV path.
    """
    csv_path = Path(csv_path)
    write_pair_distances(csv_path, rows, pixel_size_nm)
    if plot:
        plot_pair_distances(csv_path.with_suffix(".png"), rows, pixel_size_nm)
    return csv_path


def write_kept_splines(out_dir: PathLike, dst: PathLike, min_frames: int) -> tuple[int, int]:
    """Write the spline points of the tracks seen in at least ``min_frames`` frames to ``dst`` (atomic).

    The Analyse panel's track filter, for scripts: a dislocation found in
    one or two frames of a video is more often a false line than a short-lived
    one (on the real ``tem_8um`` frames, leaving out tracks seen in fewer
    than 3 of 49 frames raised the share of splines on a traced line by
    0.031-0.034 for four fine-tuned models and lost at most 3 of 904 found
    lines; README). Returns
    (tracks kept, tracks left out).
    """
    from .export import frames_seen, write_splines_in_units

    if int(min_frames) < 1:
        raise DislocError(f"--min-frames must be 1 or more, got {min_frames}")
    src = Path(out_dir) / SPLINES_CSV
    seen = frames_seen(read_splines_csv(src))
    keep = {t for t, n in seen.items() if n >= int(min_frames)}
    try:
        write_splines_in_units(src, dst, None, None, keep_ids=keep)
    except OSError as e:
        raise output_error(e, Path(dst).parent, "--splines-out") from None
    return len(keep), len(seen) - len(keep)


def track_run(out_dir: PathLike, pairs: str = "auto", plot: bool = True) -> tuple[list[tuple[int, int]], Path]:
    """Pair distances of a segmentation folder: writes pair_distances.csv (and .png).

    Parameters
    ----------
    out_dir : path
        A folder written by :func:`core.analysis.segment.segment_video`.
    pairs : str
        ``"auto"`` (see :func:`core.analysis.tracking.auto_pairs`) or ``"ID:ID,ID:ID"``.
    plot : bool
        Also draw distance against frame number (pair_distances.png).

    Returns
    -------
    (pairs used, path of pair_distances.csv)
    """
    from .tracking import auto_pairs, pair_distance_rows, parse_pairs

    index = ResultIndex(out_dir)
    chosen = parse_pairs(pairs)
    if chosen is None:
        chosen = auto_pairs(index.curves, index.n_frames)
        if not chosen:
            raise DislocError(f"{index.out}: --pairs auto found no pileup with two or more long-lived dislocations; "
                              "give pairs by id, e.g. --pairs 1:2")
    rows = pair_distance_rows(index.curves, index.times, chosen)
    try:
        return chosen, write_pairs(index.out / PAIRS_CSV, rows, index.pixel_size_nm, plot)
    except OSError as e:
        raise output_error(e, index.out, "DIR") from None


def write_overlays(index: ResultIndex, folder: Optional[PathLike] = None, video: Optional[PathLike] = None,
                   on_progress=None, should_stop=None) -> int:
    """Overlay frames of a batch result as PNG files (``overlay_NNNNNN.png``) and/or an MP4 video.

    Frames are read again from the run's input (``segment_state.json``);
    masks come from ``masks/``; colours follow the track ids as in the app.
    Returns the number of frames written; a stop keeps the finished PNGs
    (the video is only renamed into place when complete).
    """
    from ..io.frames import open_frames

    if folder is None and video is None:
        raise DislocError("choose a folder for the overlay frames or a file for the video")
    if not index.input or not Path(index.input).exists():
        raise DislocError(f"{index.out / STATE_FILE}: the segmented input {index.input} is missing; "
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
