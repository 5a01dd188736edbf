"""The one-command demo: a synthetic in-situ video, segmented, tracked, measured.

``disloc demo`` builds a demo project folder::

    PROJECT/project.json
    PROJECT/frames/demo_video.tif        30 frames, 8-bit TIFF stack (ImageJ fps metadata)
    PROJECT/frames/truth/                 ground truth: masks per frame + centre lines (JSON)
    PROJECT/results/demo_video/           masks/, splines.csv, pair_distances.csv/.png
    PROJECT/results/demo_video/agreement.json   measured agreement with the ground truth

and reports how well the shipped model recovered the truth: the length
metric of method §2 on every frame and the error of the pair distances
(px) against distances computed from the true centre lines.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import DislocError
from .io.dataset import save_masks, to_uint8
from .io.fileio import PathLike, atomic_write_bytes, atomic_write_json
from .progress import Progress, ProgressCallback, no_progress

log = logging.getLogger(__name__)

VIDEO_NAME = "demo_video.tif"
RESULT_NAME = "demo_video"  # results/<frames name>, where the app's Segment and Analyse panels look


@dataclass(frozen=True)
class DemoReport:
    """What the demo measured.

    Attributes
    ----------
    length_metric : float
        Mean length metric over all frames (method §2; 1 is perfect).
    duplicates : float
        Mean predicted masks beyond the true count, per frame.
    iou : float
        Mean union IoU of all dislocations, per frame.
    pair_error_px : float
        Mean absolute error (px) of the distances between neighbouring true
        dislocations of the pileup, measured from the tracks that lie on
        them, against the distances of the true centre lines.
    pairs : list
        The pairs measured (track ids).
    n_frames : int
    seconds : float
        Wall time of the whole demo (s).
    seconds_per_frame : float
        Segmentation time per frame (read, model, post-processing, splines, CSV) (s).
    """

    length_metric: float
    duplicates: float
    iou: float
    pair_error_px: float
    pairs: list
    n_frames: int
    seconds: float
    seconds_per_frame: float


def write_video(frames, path: Path, fps: float) -> None:
    """Write gray float frames as an 8-bit multi-page TIFF with ImageJ frame rate metadata."""
    import io

    import tifffile

    stack = np.stack([to_uint8(f) for f in frames])
    buf = io.BytesIO()
    tifffile.imwrite(buf, stack, imagej=True, metadata={"axes": "TYX", "fps": float(fps), "finterval": 1.0 / fps})
    atomic_write_bytes(path, buf.getvalue())


def true_curves(samples) -> dict[int, dict[int, np.ndarray]]:
    """{true dislocation identity: {frame: 50-point centre line}} of a glide video."""
    from .analysis.splines import resample_polyline

    out: dict[int, dict[int, np.ndarray]] = {}
    for f, s in enumerate(samples):
        kept = s.record.get("kept", list(range(len(s.polylines))))
        for k, line in enumerate(s.polylines):
            out.setdefault(int(kept[k]), {})[f] = resample_polyline(np.asarray(line, float))
    return out


def match_tracks_to_truth(measured: dict[int, dict[int, np.ndarray]],
                          truth: dict[int, dict[int, np.ndarray]], gate_px: float = 6.0) -> dict[int, int]:
    """Track id -> true identity whose centre line the track lies on.

    Each track goes to the true dislocation with the smallest mean distance
    from the track's points to its line over the frames they share (a piece
    of a dislocation lies on its line too, so several tracks may map to one
    truth); tracks farther than ``gate_px`` from every line are left out.
    """
    from .analysis.tracking import mean_nearest_distance

    out = {}
    for t, fr in measured.items():
        best, best_d = None, gate_px
        for g, gfr in truth.items():
            common = set(fr) & set(gfr)
            if common:
                d = float(np.mean([mean_nearest_distance(fr[f], gfr[f]) for f in common]))
                if d < best_d:
                    best, best_d = g, d
        if best is not None:
            out[t] = best
    return out


def run_demo(project_dir: PathLike, model: Optional[PathLike] = None, n_frames: int = 30, size: int = 512,
             seed: int = 2024, shift_px: float = 2.0, fps: float = 10.0, batch_size: int = 2,
             on_progress: ProgressCallback = no_progress, should_stop=None) -> DemoReport:
    """Build the demo project, segment and track its video, and measure against the truth.

    Parameters
    ----------
    project_dir : path
        Folder of the demo project (created; an earlier demo there is replaced).
    model : path, optional
        Checkpoint; default: the shipped model (:func:`core.shipped.default_model_path`).
    n_frames, size, seed, shift_px, fps
        The synthetic video: frames, frame size (px), random seed, mean glide
        per frame (px), frame rate (1/s).
    """
    from .analysis.results import ResultIndex, load_frame_masks, track_run
    from .analysis.segment import segment_video
    from .analysis.segmentconfig import SegmentConfig
    from .analysis.tracking import pair_distance
    from .learn.metrics import evaluate_image, summarize
    from .project.folder import PROJECT_FILE, Project
    from .synth.video import make_glide_video

    t0 = time.monotonic()
    model = Path(model) if model else _default_model()
    root = Path(project_dir).expanduser().resolve()
    proj = Project.open(root) if (root / PROJECT_FILE).exists() else Project.create(root, name="demo")
    frames_dir = proj.root / "frames"
    truth_dir = frames_dir / "truth"
    video = frames_dir / VIDEO_NAME

    on_progress(Progress(0, n_frames, "rendering the synthetic video"))
    samples = make_glide_video(n_frames=n_frames, seed=seed, size=size, shift_px=shift_px)
    write_video([s.image for s in samples], video, fps)
    for f, s in enumerate(samples):
        save_masks(truth_dir / f"frame_{f:06d}.npz", s.masks)
    truth = true_curves(samples)
    atomic_write_json(truth_dir / "centre_lines.json",
                      {str(g): {str(f): c.round(3).tolist() for f, c in fr.items()} for g, fr in truth.items()})
    proj.set_frames(video)

    out = proj.results_dir / RESULT_NAME
    t_seg = time.monotonic()
    res = segment_video(video, model, out, SegmentConfig(batch_size=batch_size, restart=True), on_progress,
                        should_stop)
    seg_s = time.monotonic() - t_seg
    if res.bad_frames:
        raise DislocError(f"{video}: frames {res.bad_frames} could not be read")

    # Length metric per frame: the saved (merged, cleaned) masks against the truth.
    scores = []
    for f, s in enumerate(samples):
        pred = load_frame_masks(out, f).astype(np.float32)  # (0, H, W) when none
        scores.append(evaluate_image(pred, s.masks))
    summary = summarize(scores)

    # Pair distances: measured pairs against the same pairs of true centre lines.
    try:
        pairs, _ = track_run(out, "auto")
    except DislocError as e:
        log.warning("no pair distances: %s", e)
        pairs = []
    measured = ResultIndex(out).curves
    to_truth = match_tracks_to_truth(measured, truth)
    # The auto pairs may be pieces of one dislocation when the model breaks
    # lines; measure the distances of neighbouring true dislocations instead,
    # each represented by the longest-lived track lying on it.
    by_truth: dict[int, int] = {}
    for t, g in to_truth.items():
        if g not in by_truth or len(measured[t]) > len(measured[by_truth[g]]):
            by_truth[g] = t
    order = sorted(by_truth)
    errors = []
    for ga, gb in zip(order[:-1], order[1:]):
        a, b = by_truth[ga], by_truth[gb]
        for f in set(measured[a]) & set(measured[b]) & set(truth[ga]) & set(truth[gb]):
            d_meas = pair_distance(measured[a][f], measured[b][f])
            d_true = pair_distance(truth[ga][f], truth[gb][f])
            errors.append(abs(d_meas - d_true))
    report = DemoReport(
        length_metric=float(summary["metric"]),
        duplicates=float(summary["duplicates"]),
        iou=float(summary["iou"]),
        pair_error_px=float(np.mean(errors)) if errors else float("nan"),
        pairs=[list(p) for p in pairs],
        n_frames=n_frames,
        seconds=time.monotonic() - t0,
        seconds_per_frame=seg_s / max(n_frames, 1),
    )
    atomic_write_json(out / "agreement.json", {**asdict(report), "model": str(model), "seed": seed,
                                               "size": size, "shift_px": shift_px})
    return report


def _default_model() -> Path:
    from .shipped import default_model_path

    p = default_model_path()
    if not p.is_file():
        raise DislocError(f"{p}: the shipped model is missing; reinstall, or pass --model with a checkpoint "
                          "from 'disloc train'")
    return p
