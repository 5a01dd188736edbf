"""Batch segmentation of a video or stack: masks, splines, track ids, CSV.

:func:`segment_video` writes a result folder (its files: :mod:`core.analysis.results`).
Frames go through the network in batches; each finished frame's mask file
is written, then its CSV rows are appended (flushed and fsynced), then the
state file is replaced atomically with the frame count, the byte length of
splines.csv and the tracker's state. A run that is killed or stopped starts
again at the first unfinished frame, after cutting splines.csv back to the
recorded length, so no row is ever written twice. Track ids are given
during segmentation (core.analysis.tracking), so the CSV has ``dislocation_id`` as
soon as a frame is done; ``disloc track`` reads them for pair distances.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import DislocError
from ..io.fileio import PathLike, output_error
from ..io.frames import FrameReadError, is_blank, open_frames
from ..learn.predict import DEFAULT_BATCH_SIZE
from ..progress import Progress, ProgressCallback, StopCallback, check_stop
from . import results
from .export import AppendOnlyCsv, spline_columns, spline_rows
from .postprocess import PostprocessConfig, postprocess
from .scale import LINE_WIDTH_KEY, auto_scale, typical_line_width
from .segmentconfig import SegmentConfig
from .splines import Spline, mask_to_spline
from .tracking import Tracker

log = logging.getLogger(__name__)

STAGES = ("read", "model", "postprocess", "splines", "tracking", "write")
_MAX_LISTED = 200  # bad/blank frames listed in the state file (the count is always exact)


@dataclass
class SegmentResult:
    """What a segmentation run did.

    Attributes
    ----------
    frames_done : int
        Frames finished, out of ``n_frames`` (all of them unless stopped).
    bad_frames : list[int]
        Frames that could not be read (no masks, no rows).
    blank_frames : list[int]
        Frames with no contrast (all pixels equal): no dislocations.
    n_tracks : int
        Distinct dislocation ids given so far.
    seconds : dict[str, float]
        Time per stage in this session (read, model, postprocess, splines, tracking, write).
    scale : float
        Factor the frames were resampled by before the network (1: as they are).
    """

    out_dir: Path
    n_frames: int
    frames_done: int
    resumed_from: int = 0
    bad_frames: list[int] = field(default_factory=list)
    blank_frames: list[int] = field(default_factory=list)
    n_tracks: int = 0
    seconds: dict = field(default_factory=dict)
    scale: float = 1.0

    @property
    def finished(self) -> bool:
        return self.frames_done >= self.n_frames


def track_frame(tracker: Tracker, frame: int, splines: list[Optional[Spline]]) -> list[int]:
    """Give ids to the splines of a frame (0 for None) and orient them like their tracks."""
    live = [k for k, s in enumerate(splines) if s is not None]
    ids = tracker.update(frame, [splines[k].xy for k in live])
    out = [0] * len(splines)
    for j, k in enumerate(live):
        out[k] = ids[j]
        if tracker.flips[j]:
            splines[k] = splines[k].reversed()
    return out


def load_predictor(checkpoint, batch_size: int = DEFAULT_BATCH_SIZE, device=None):
    """A :class:`core.learn.predict.Predictor` for ``checkpoint`` (path), or ``checkpoint`` itself if already one."""
    if hasattr(checkpoint, "predict") and hasattr(checkpoint, "n_masks"):
        return checkpoint
    path = Path(checkpoint)
    if not path.is_file():
        raise DislocError(f"{path}: model checkpoint not found; pass --model with a .pt file written by 'disloc train'")
    from ..learn.predict import Predictor

    try:
        return Predictor(path, device=device, batch_size=batch_size)
    except DislocError:
        raise
    except Exception as e:  # anything else from torch while rebuilding the net
        raise DislocError(f"{path}: cannot load the model ({type(e).__name__}: {e})") from None


def segment_video(input_path: PathLike, checkpoint, out_dir: PathLike, config: Optional[SegmentConfig] = None,
                  on_progress: Optional[ProgressCallback] = None,
                  should_stop: Optional[StopCallback] = None) -> SegmentResult:
    """Segment every frame of a video, stack or folder; resumable.

    Parameters
    ----------
    input_path : path
        Anything :func:`core.io.frames.open_frames` reads.
    checkpoint : path or Predictor
        A model checkpoint (``.pt``), or a loaded :class:`core.learn.predict.Predictor`.
    out_dir : path
        Output folder (created). Running again on the same folder resumes.
    config : SegmentConfig, optional
        Batch size, device, calibration overrides, tracking and
        post-processing settings, restart (default: ``SegmentConfig()``).
        Saved into ``out_dir`` as segment_config.json.
    on_progress, should_stop : callables
        Progress reports (frames) and a stop request, checked after every frame;
        a stop raises :class:`~core.errors.Cancelled` with all finished frames saved.

    Returns
    -------
    SegmentResult

    Raises
    ------
    DislocError
        Unreadable input or model, ``out_dir`` holding another run, disk full
        (what was written is kept; free space and run again to resume).
    """
    out = Path(out_dir)
    config = config or SegmentConfig()
    src = open_frames(input_path, fps=config.fps, pixel_size_nm=config.pixel_size_nm)
    try:
        predictor = load_predictor(checkpoint, config.batch_size, None if config.device == "auto" else config.device)
        with results.writer_lock(out):  # one run writes into a folder at a time
            return _run(src, predictor, checkpoint, out, config, on_progress, should_stop)
    finally:
        src.close()


def _identity(src, checkpoint) -> dict:
    st = src.path.stat()
    model = str(Path(checkpoint).resolve()) if isinstance(checkpoint, (str, os.PathLike)) else None
    return {"input": str(src.path.resolve()), "input_bytes": st.st_size if src.path.is_file() else None,
            "n_frames": len(src), "model": model}


def _run(src, predictor, checkpoint, out: Path, config: SegmentConfig, on_progress, should_stop) -> SegmentResult:
    state_path = out / results.STATE_FILE
    ident = _identity(src, checkpoint)
    columns = spline_columns(bool(src.pixel_size_nm))
    cfg, batch_size = config.postprocess, config.batch_size
    state = None
    if not config.restart and state_path.exists():
        state = results.read_raw_state(out)
        _check_same_run(state, ident, state_path)
        _check_same_settings(state, cfg, state_path)
        _check_same_scale(state, config.scale, state_path)
    try:
        if config.restart:
            results.clear(out)
        results.prepare(out)
        # After the checks: a folder that holds another run keeps the settings it was made with.
        results.save_config(out, config)
        if state is None:
            state = results.new_state(ident, src.fps, src.pixel_size_nm, predictor.n_masks, cfg.to_dict(),
                                      Tracker(config.gate_px, config.max_gap).state())
            state["scale_setting"] = config.scale
            state["scale"], state["line_width_px"] = _resolve_scale(src, predictor, config.scale)
        csv = AppendOnlyCsv(results.splines_path(out), columns, resume_size=state["csv_bytes"])
    except OSError as e:
        raise output_error(e, out) from None
    tracker = Tracker.from_state(state["tracker"])
    start = int(state["frames_done"])
    scale = float(state.get("scale", 1.0))
    result = SegmentResult(out, len(src), start, resumed_from=start, n_tracks=tracker.next_id - 1,
                           seconds={k: 0.0 for k in STAGES}, scale=scale)
    state["csv_bytes"] = csv.size
    if start:
        log.info("%s: resuming at frame %d of %d", out, start, len(src))
    sec = result.seconds
    try:
        i = start
        while i < len(src):
            t0 = time.perf_counter()
            batch = []  # (index, frame or None, reason)
            while len(batch) < batch_size and i < len(src):
                try:
                    batch.append((i, src[i], None))
                except FrameReadError as e:
                    batch.append((i, None, str(e)))
                i += 1
            good = [(j, f) for j, f, _ in batch if f is not None and not is_blank(f)]
            t1 = time.perf_counter()
            sec["read"] += t1 - t0
            if not good:
                probs = None
            elif scale != 1.0:
                probs = predictor.predict(np.stack([f for _, f in good]), scale=scale)
            else:
                probs = predictor.predict(np.stack([f for _, f in good]))
            sec["model"] += time.perf_counter() - t1
            pos = {j: b for b, (j, _) in enumerate(good)}
            for j, frame, reason in batch:
                rows = ""
                if frame is None:
                    log.warning("%s", reason)
                    _note(state, "bad_frames", j)
                elif j not in pos:
                    log.warning("%s: frame %d is blank (all pixels equal); no dislocations", src.path, j)
                    _note(state, "blank_frames", j)
                    t = time.perf_counter()
                    results.save_frame_masks(out, j, np.zeros((0, *src.shape), bool))
                    sec["write"] += time.perf_counter() - t
                else:
                    rows = _frame_rows(src, j, probs[pos[j]], cfg, tracker, out, sec)
                t = time.perf_counter()
                csv.append(rows)
                state.update(frames_done=j + 1, csv_bytes=csv.size, tracker=tracker.state(),
                             finished=j + 1 >= len(src))
                results.write_state(out, state)
                sec["write"] += time.perf_counter() - t
                result.frames_done = j + 1
                if on_progress is not None:
                    done = j + 1 - start
                    spent = sum(sec.values())
                    on_progress(Progress(j + 1, len(src), "segmenting",
                                         {"frames/s": round(done / spent, 3) if spent > 0 else 0.0}))
                check_stop(should_stop)
    except OSError as e:
        raise output_error(e, out) from None
    finally:
        csv.close()
        result.bad_frames = list(state["bad_frames"])
        result.blank_frames = list(state["blank_frames"])
        result.n_tracks = tracker.next_id - 1
    if state["n_bad_frames"]:
        log.warning("%s: %d frame(s) could not be read, first: %s", src.path, state["n_bad_frames"],
                    state["bad_frames"][:5])
    return result


def _frame_rows(src, j, probs, cfg, tracker, out, sec) -> str:
    t = time.perf_counter()
    fm = postprocess(probs, cfg)
    t1 = time.perf_counter()
    splines = [mask_to_spline(fm.masks[k], path=fm.paths[k] if fm.paths else None) for k in range(len(fm))]
    t2 = time.perf_counter()
    ids = track_frame(tracker, j, splines)
    t3 = time.perf_counter()
    results.save_frame_masks(out, j, fm.masks)
    time_s = src.frame_time(j)
    rows = "".join(spline_rows(j, time_s, ids[k], sp, k, src.pixel_size_nm)
                   for k, sp in enumerate(splines) if sp is not None)
    sec["postprocess"] += t1 - t
    sec["splines"] += t2 - t1
    sec["tracking"] += t3 - t2
    sec["write"] += time.perf_counter() - t3
    return rows


def _resolve_scale(src, predictor, setting) -> tuple[float, Optional[float]]:
    """The resampling factor of a run, and the frames' measured line width (px) when it was measured.

    ``"auto"`` measures up to five frames spread over the input and compares
    them with the line width the model was trained at (its checkpoint
    header); a model without that record is run at scale 1.
    """
    if setting != "auto":
        return float(setting), None
    model_width = getattr(predictor, "header", {}).get(LINE_WIDTH_KEY)
    picks = sorted({int(round(k)) for k in np.linspace(0, len(src) - 1, min(5, len(src)))}) if len(src) else []
    frames = []
    for k in picks:
        try:
            frames.append(src[k])
        except FrameReadError:
            continue
    width = typical_line_width(frames)
    if not model_width:
        log.warning("the model does not record the line width it was trained at; --scale auto uses 1")
    factor = auto_scale(model_width, width)
    log.info("scale auto: frame lines %s px, model lines %s px -> %.2f", width, model_width, factor)
    return factor, width


def _check_same_scale(state: dict, setting, path: Path) -> None:
    before = state.get("scale_setting", 1.0)
    if before != setting:
        raise DislocError(f"{path.parent}: its frames were segmented with scale {before}, now {setting}; run again "
                          "with the earlier scale to resume, or pass --restart to redo all frames")


def _note(state: dict, key: str, index: int) -> None:
    state["n_" + key] += 1
    if len(state[key]) < _MAX_LISTED:
        state[key].append(int(index))


def _check_same_run(state: dict, ident: dict, path: Path) -> None:
    if not isinstance(state, dict) or state.get("format") != results.STATE_FORMAT:
        raise DislocError(f"{path}: not a segmentation state file; choose another --out folder")
    for key in ("input", "input_bytes", "n_frames", "model"):
        if key == "model" and (state.get(key) is None or ident[key] is None):
            continue
        if state.get(key) != ident[key]:
            raise DislocError(f"{path.parent}: holds results of another run ({key} was {state.get(key)!r}, now "
                              f"{ident[key]!r}); choose another --out folder or pass --restart to overwrite")


# Post-processing settings a user can choose (disloc segment options, Segment panel boxes).
_USER_SETTINGS = {"threshold", "min_length_px", "join_gap_px"}


def _check_same_settings(state: dict, cfg: PostprocessConfig, path: Path) -> None:
    """Resuming with other post-processing settings would mix two kinds of frames in one result: refuse."""
    before = state.get("postprocess")
    if not isinstance(before, dict):
        return
    before = {**PostprocessConfig().to_dict(), **before}  # settings added since that run: their defaults
    now = cfg.to_dict()
    changed = [k for k in now if before.get(k) != now[k]]
    if changed:
        what = ", ".join(f"{k} {before.get(k)} -> {now[k]}" for k in changed)
        if set(changed) <= _USER_SETTINGS:
            hint = "run again with the earlier settings to resume, or pass --restart to redo all frames"
        else:  # a default changed between versions: no option gives the old one back
            hint = "they came from an earlier version; pass --restart to redo all frames"
        raise DislocError(f"{path.parent}: its frames were post-processed with other settings ({what}); {hint}")
