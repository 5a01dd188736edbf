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

A resumed run is the same, byte for byte, as one that was never stopped:
batches are aligned to multiples of the batch size from frame 0 (a resume
inside a batch runs the whole batch again and keeps its later frames), and
the bf16/fp32 decision of the first run is kept in the state file and
reused (:class:`_Precision`). Several models (a list of checkpoints) are
pooled: every frame goes through each, and their splines are put together,
each line kept once (:mod:`core.analysis.pool`). Frames above 1024 px (or every frame, with
``SegmentConfig.tile_px``) go through :mod:`core.analysis.tiled`, one frame
at a time, tile by tile, in bounded memory. One run writes into a folder at
a time (:func:`core.analysis.results.writer_lock`).
"""
from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import DislocError
from ..io.fileio import PathLike, output_error
from ..io.frames import FrameReadError, is_blank, open_frames
from ..learn.mirrors import mirror_predictors
from ..learn.predict import DEFAULT_BATCH_SIZE
from ..progress import Progress, ProgressCallback, StopCallback, check_stop
from . import results
from .export import AppendOnlyCsv, spline_columns, spline_rows
from .pool import pool_keep
from .postprocess import PostprocessConfig, postprocess
from .ridgeends import ridge_map
from .scale import LINE_WIDTH_KEY, auto_scale, typical_line_width
from .segmentconfig import SegmentConfig
from .splines import Spline, mask_to_spline
from .tiled import segment_tiled, tile_plan
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
    checkpoint : path or Predictor, or a list of them
        A model checkpoint (``.pt``), or a loaded :class:`core.learn.predict.Predictor`.
        Several: the models are pooled (each frame through each; their
        splines put together, each line once: :func:`core.analysis.pool.pool_keep`).
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
    checkpoints = list(checkpoint) if isinstance(checkpoint, (list, tuple)) else [checkpoint]
    if not checkpoints:
        raise DislocError("no model given; pass --model with a .pt file written by 'disloc train'")
    src = open_frames(input_path, fps=config.fps, pixel_size_nm=config.pixel_size_nm)
    try:
        device = None if config.device == "auto" else config.device
        predictors = [load_predictor(c, config.batch_size, device) for c in checkpoints]
        if config.mirrors > 1:
            predictors = mirror_predictors(predictors, checkpoints, config.mirrors)
        with results.writer_lock(out):  # one run writes into a folder at a time
            return _run(src, predictors, checkpoints, out, config, on_progress, should_stop)
    finally:
        src.close()


def _identity(src, checkpoints: list) -> dict:
    """What a run is of: the input, and its model (a path) or pooled models (a list of paths)."""
    st = src.path.stat()
    models = [str(Path(c).resolve()) if isinstance(c, (str, os.PathLike)) else None for c in checkpoints]
    model = models[0] if len(models) == 1 else (None if None in models else models)
    return {"input": str(src.path.resolve()), "input_bytes": st.st_size if src.path.is_file() else None,
            "n_frames": len(src), "model": model}


def _run(src, predictors, checkpoints, out: Path, config: SegmentConfig, on_progress,
         should_stop) -> SegmentResult:
    state_path = out / results.STATE_FILE
    ident = _identity(src, checkpoints)
    predictor = predictors[0]
    columns = spline_columns(bool(src.pixel_size_nm))
    cfg, batch_size = config.postprocess, config.batch_size
    state = None
    if not config.restart and state_path.exists():
        state = results.read_raw_state(out)
        _check_same_run(state, ident, state_path)
        _check_same_settings(state, cfg, state_path)
        _check_same_scale(state, config.scale, state_path)
        for key, flag, before in (("mirrors", "--mirrors", 1), ("tile_px", "--tile", 0)):  # 'before': older runs
            if int(state.get(key, before)) != getattr(config, key):
                raise DislocError(f"{out}: its frames were segmented with {flag} {state.get(key, before)}, now "
                                  f"{getattr(config, key)}; run again with the earlier {flag} to resume, or pass "
                                  "--restart to redo all frames")
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
    state.setdefault("tile_px", config.tile_px)
    state.setdefault("mirrors", config.mirrors)
    tileable = all(hasattr(p, "iter_tiles") for p in predictors)
    tiles = tile_plan(src.shape, config.tile_px, scale) if tileable else None
    if config.tile_px and tiles is None:
        raise DislocError(f"--tile: this predictor ({type(predictor).__name__}) cannot run on tiles")
    # one bf16/fp32 decision per model, each kept in the state file ("precision", "precision_1", ...)
    precisions = [_Precision(p, state, "precision" if k == 0 else f"precision_{k}")
                  for k, p in enumerate(predictors)]
    if start:
        log.info("%s: resuming at frame %d of %d", out, start, len(src))
    sec = result.seconds
    try:
        i = start
        while i < len(src):
            t0 = time.perf_counter()
            # Batches are aligned to multiples of the batch size from frame 0 (a tiled frame is its own batch),
            # so a resumed run puts every frame through the network in the same company as an uninterrupted
            # run: the same floating-point sums, the same masks, byte for byte.
            w0, w1 = (i, i + 1) if tiles else ((i // batch_size) * batch_size, min((i // batch_size + 1) * batch_size,
                                                                                    len(src)))
            batch = []  # (index, frame or None, reason)
            for j in range(w0, w1):
                try:
                    batch.append((j, src[j], None))
                except FrameReadError as e:
                    batch.append((j, None, str(e)))
            good = [(j, f) for j, f, _ in batch if f is not None and not is_blank(f)]
            t1 = time.perf_counter()
            sec["read"] += t1 - t0
            found = {}  # frame -> one (masks as a dense stack or sparse list, flags, paths) per model
            for predictor, precision in zip(predictors, precisions):
                if good and tiles:
                    with precision.window(w0, w1):
                        found.setdefault(good[0][0], []).append(
                            _tiled_masks(predictor, good[0][1], cfg, tiles, scale, sec))
                elif good:
                    t = time.perf_counter()
                    with precision.window(w0, w1):
                        frames = np.stack([f for _, f in good])
                        probs = predictor.predict(frames, scale=scale) if scale != 1.0 else predictor.predict(frames)
                    sec["model"] += time.perf_counter() - t
                    for b, (j, _) in enumerate(good):
                        if j >= i:
                            t = time.perf_counter()
                            fm = postprocess(probs[b], cfg)
                            sec["postprocess"] += time.perf_counter() - t
                            found.setdefault(j, []).append((fm.masks, fm.flags, fm.paths))
                    del probs
            for j, frame, reason in batch:
                if j < i:
                    continue  # done before a resume: only in the batch for the network's sake
                rows = ""
                if frame is None:
                    log.warning("%s", reason)
                    _note(state, "bad_frames", j)
                elif j not in found:
                    log.warning("%s: frame %d is blank (all pixels equal); no dislocations", src.path, j)
                    _note(state, "blank_frames", j)
                    t = time.perf_counter()
                    results.save_frame_masks(out, j, [], src.shape)
                    sec["write"] += time.perf_counter() - t
                else:
                    rows = _frame_rows(src, j, found.pop(j), tracker, out, sec, cfg, frame)
                t = time.perf_counter()
                csv.append(rows)
                state.update(frames_done=j + 1, csv_bytes=csv.size, tracker=tracker.state(),
                             finished=j + 1 >= len(src))
                for precision in precisions:
                    precision.record()
                results.write_state(out, state)
                sec["write"] += time.perf_counter() - t
                result.frames_done = j + 1
                if on_progress is not None:
                    done = j + 1 - start
                    spent = sum(sec.values())
                    on_progress(Progress(j + 1, len(src), "segmenting",
                                         {"frames/s": round(done / spent, 3) if spent > 0 else 0.0}))
                check_stop(should_stop)
            i = w1
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


def _tiled_masks(predictor, frame, cfg, tiles, scale, sec):
    """Masks of one frame segmented tile by tile (model and post-processing interleave: timed together)."""
    t = time.perf_counter()
    found = segment_tiled(predictor, frame, cfg, tiles[0], tiles[1], scale)
    sec["model"] += time.perf_counter() - t
    return [f.mask for f in found], [f.flags for f in found], [f.path for f in found]


def _frame_rows(src, j, found, tracker, out, sec, cfg: PostprocessConfig, frame: np.ndarray) -> str:
    """Splines, track ids, the mask file and the CSV rows of frame ``j`` from its masks (one set per model)."""
    masks, flags, paths = _together(found)
    t1 = time.perf_counter()
    extend_ends = cfg.extend_ends
    ridge = ridge_map(frame) if cfg.follow_ridge and len(masks) else None
    if isinstance(masks, np.ndarray):
        splines = [mask_to_spline(masks[k], path=paths[k] if paths else None, extend_ends=extend_ends, ridge=ridge)
                   for k in range(len(masks))]
    else:  # sparse: the crop is all the spline fit needs (the path is in frame px, the crop at its box)
        splines = [mask_to_spline(m.crop, path=p if p is not None else m.path(src.shape), extend_ends=extend_ends,
                                  origin=(m.y0, m.x0), ridge=ridge) for m, p in zip(masks, paths)]
    if len(found) > 1:  # pooled models: each line once
        keep = pool_keep([s.xy if s is not None else None for s in splines])
        masks = masks[keep] if isinstance(masks, np.ndarray) else [masks[k] for k in keep]
        splines, flags = [splines[k] for k in keep], [flags[k] for k in keep]
    t2 = time.perf_counter()
    ids = track_frame(tracker, j, splines)
    t3 = time.perf_counter()
    results.save_frame_masks(out, j, masks, src.shape)
    time_s = src.frame_time(j)
    # post-processing's flags (merged, joined, split...) before the spline's, as in the app's one-frame view
    rows = "".join(spline_rows(j, time_s, ids[k], replace(sp, flags=tuple(dict.fromkeys((*flags[k], *sp.flags)))),
                               k, src.pixel_size_nm)
                   for k, sp in enumerate(splines) if sp is not None)
    sec["splines"] += t2 - t1
    sec["tracking"] += t3 - t2
    sec["write"] += time.perf_counter() - t3
    return rows


def _together(found: list) -> tuple:
    """One model's (masks, flags, paths), or several models' put one after the other."""
    if len(found) == 1:
        return found[0]
    if all(isinstance(f[0], np.ndarray) for f in found):
        masks = np.concatenate([f[0] for f in found])
    else:  # tiled frames: sparse masks
        masks = [m for f in found for m in f[0]]
    flags = [fl for f in found for fl in f[1]]
    paths = [p for f in found for p in (f[2] if f[2] else [None] * len(f[0]))]
    return masks, flags, paths


class _Precision:
    """The predictor's bf16/fp32 decision, kept in the state file so a resumed run reuses it.

    A fresh run checks bf16 against fp32 on its first batch (and keeps the
    fp32 result of that batch); a resumed run takes the recorded decision
    and, for that first batch, the fp32 result again, as the first run did.
    """

    def __init__(self, predictor, state: dict, key: str = "precision") -> None:
        self.predictor, self.state, self.key = predictor, state, key
        self.usable = hasattr(predictor, "use_precision")
        rec = state.get(key)
        if self.usable and isinstance(rec, dict) and rec.get("used") in ("fp32", "bf16"):
            predictor.use_precision(rec["used"])
        self.window_seen: Optional[list[int]] = None

    @contextmanager
    def window(self, w0: int, w1: int):
        p = self.predictor
        rec = self.state.get(self.key)
        fp32_again = self.usable and isinstance(rec, dict) and rec.get("check_window") == [w0, w1]
        deciding = self.usable and p.precision_used == "check"
        before = p.precision_used if self.usable else None
        if fp32_again:
            p.use_precision("fp32")
        try:
            yield
        finally:
            if fp32_again:
                p.use_precision(before)
        if deciding and p.precision_used != "check":
            self.window_seen = [w0, w1]

    def record(self) -> None:
        """Note the decision in the state (before it is written) once the predictor has made it."""
        p = self.predictor
        if not self.usable or self.key in self.state or p.precision_used == "check":
            return
        check = getattr(p, "bf16_check", None)
        self.state[self.key] = {"used": p.precision_used, "check_window": self.window_seen if check else None,
                                   "bf16_check": check}


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
_USER_SETTINGS = {"threshold", "min_length_px", "join_gap_px", "extend_ends", "follow_ridge"}
# Settings added later whose default changed what a run writes: runs from before them did this.
_EARLIER_BEHAVIOUR = {"extend_ends": False, "follow_ridge": False}


# The user's settings in words that name both the option and the Segment panel's box.
_SETTING_WORDS = {"threshold": ("threshold", ""), "min_length_px": ("min length", " px"),
                  "join_gap_px": ("join gap", " px"), "extend_ends": ("extended spline ends", ""),
                  "follow_ridge": ("ends that follow the line", "")}


def _say_change(key: str, old, new) -> str:
    """``min length 20 px -> 5 px``; settings a user never chooses keep their field name."""
    name, unit = _SETTING_WORDS.get(key, (key, ""))

    def say(v):
        if isinstance(v, bool):
            return "yes" if v else "no"
        return f"{v:g}{unit}" if isinstance(v, (int, float)) else repr(v)
    return f"{name} {say(old)} -> {say(new)}"


def _check_same_settings(state: dict, cfg: PostprocessConfig, path: Path) -> None:
    """Resuming with other post-processing settings would mix two kinds of frames in one result: refuse."""
    before = state.get("postprocess")
    if not isinstance(before, dict):
        return
    # settings added since that run: what that version did (where it differs from the default), else the default
    before = {**PostprocessConfig().to_dict(), **_EARLIER_BEHAVIOUR, **before}
    now = cfg.to_dict()
    changed = [k for k in now if before.get(k) != now[k]]
    if changed:
        what = ", ".join(_say_change(k, before.get(k), now[k]) for k in changed)
        if set(changed) <= _USER_SETTINGS:
            hint = "run again with the earlier settings to resume, or pass --restart to redo all frames"
        else:  # a default changed between versions: no option gives the old one back
            hint = "they came from an earlier version; pass --restart to redo all frames"
        raise DislocError(f"{path.parent}: its frames were post-processed with other settings ({what}); {hint}")
