"""Background crops cut from the user's own frames (method §1b, beyond: harvested automatically).

The paper's best real-data model drew its synthetic lines on crops of real
micrographs that hold no dislocation (170 cut by hand). :func:`harvest_backgrounds`
cuts such crops from a video, stack or image folder:

* in frames that have a labelme annotation (``annotations``), anywhere at
  least ``margin`` px away from every annotated line (the user traced the
  dislocations, so what is left is background: slip traces, boundaries and
  contrast that the model must learn to ignore);
* in other frames, where the ridge response (a dark-line filter at the
  widths dislocations have) stays low, so no line-like feature is inside.

The largest free squares are taken first (so the crops keep the frame's
pixel scale when a generator draws on them), at most ``per_frame`` per
frame and overlapping each other by at most a quarter. Each crop is an
8-bit PNG in ``out``; ``harvest.json`` says where each came from.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from scipy import ndimage

from ..errors import DislocError
from ..io.fileio import PathLike, atomic_write_json, atomic_write_png
from ..progress import Progress, ProgressCallback, StopCallback, check_stop, no_progress

log = logging.getLogger(__name__)

MANIFEST = "harvest.json"
SIZES = (512, 384, 256, 192, 128, 96, 64)  # crop sides tried, largest first (px)
RIDGE_SIGMAS = (1.0, 1.5, 2.5)  # px: dark lines 2-6 px wide
RIDGE_LEVEL = 3.0  # a pixel is "on a line" above the frame's median ridge response + this many robust stds


@dataclass(frozen=True)
class HarvestReport:
    """What :func:`harvest_backgrounds` wrote: crop files, frames used, and by which criterion."""

    files: tuple
    frames: int
    annotated_frames: int
    out: Path


def ridge_mask(frame: np.ndarray, margin: float = 6.0) -> np.ndarray:
    """Pixels within ``margin`` px of a dark line-like feature (bool (H, W)).

    The Sato tubeness filter for dark ridges at 1-2.5 px scales; a pixel is
    on a line where the response exceeds the frame's median by
    :data:`RIDGE_LEVEL` robust standard deviations (1.4826 MAD), so the
    threshold follows the frame's own noise.
    """
    from skimage.filters import sato

    f = frame.astype(np.float32)
    lo, hi = np.percentile(f, (1, 99))
    f = (f - lo) / max(hi - lo, 1e-6)
    r = sato(f, sigmas=RIDGE_SIGMAS, black_ridges=True, mode="reflect")
    med = float(np.median(r))
    mad = float(np.median(np.abs(r - med))) * 1.4826
    on = r > med + RIDGE_LEVEL * max(mad, 1e-6)
    on = ndimage.binary_opening(on, structure=np.ones((2, 2)))  # single noisy pixels are no line
    return ndimage.binary_dilation(on, iterations=int(round(margin))) if margin > 0 else on


def annotation_mask(label_file, margin: float = 8.0) -> np.ndarray:
    """Pixels within ``margin`` px of any annotated line of a labelme file (bool (H, W))."""
    from ..io.labelme import rasterize

    lines = rasterize(label_file, width=2.0 * margin + 1.0)
    return lines.any(axis=0) if len(lines) else np.zeros((label_file.image_height, label_file.image_width), bool)


def free_squares(excluded: np.ndarray, sizes=SIZES, per_frame: int = 4, max_overlap: float = 0.25,
                 stride: int = 8) -> list[tuple[int, int, int]]:
    """Squares ``(x0, y0, side)`` that hold no excluded pixel, largest first, overlapping little.

    An integral image gives every window's count of excluded pixels at
    once; windows are tried at ``stride`` px steps, the free one farthest
    from the excluded pixels (most central in its free region) first.
    """
    h, w = excluded.shape
    ii = np.zeros((h + 1, w + 1), np.int64)
    ii[1:, 1:] = np.cumsum(np.cumsum(excluded, 0), 1)
    clearance = ndimage.distance_transform_edt(~excluded) if excluded.any() else np.full((h, w), float(h + w))
    taken: list[tuple[int, int, int]] = []
    for side in sizes:
        if side > min(h, w):
            continue
        ys = np.arange(0, h - side + 1, stride)
        xs = np.arange(0, w - side + 1, stride)
        Y, X = np.meshgrid(ys, xs, indexing="ij")
        count = ii[Y + side, X + side] - ii[Y, X + side] - ii[Y + side, X] + ii[Y, X]
        cand = np.argwhere(count == 0)
        if not len(cand):
            continue
        score = clearance[Y[tuple(cand.T)] + side // 2, X[tuple(cand.T)] + side // 2]
        for k in np.argsort(-score, kind="stable"):
            y0, x0 = int(Y[tuple(cand[k])]), int(X[tuple(cand[k])])
            if all(_overlap((x0, y0, side), t) <= max_overlap for t in taken):
                taken.append((x0, y0, side))
                if len(taken) >= per_frame:
                    return taken
    return taken


def _overlap(a, b) -> float:
    """Intersection of two squares as a fraction of the smaller one."""
    ax, ay, asz = a
    bx, by, bsz = b
    ix = max(0, min(ax + asz, bx + bsz) - max(ax, bx))
    iy = max(0, min(ay + asz, by + bsz) - max(ay, by))
    return ix * iy / float(min(asz, bsz) ** 2)


def _annotations_by_frame(folder: PathLike) -> dict:
    """labelme files of a folder keyed by the stem of their image (and of the JSON file)."""
    from ..io.labelme import list_annotations, read_labelme

    out = {}
    for f in list_annotations(folder):
        lf = read_labelme(f)
        stem = Path(lf.image_path.replace("\\", "/")).stem if lf.image_path else f.stem
        out[stem] = lf
        out.setdefault(f.stem, lf)
    return out


def harvest_backgrounds(frames: PathLike, out: PathLike, *, annotations: Optional[PathLike] = None,
                        max_frames: int = 30, per_frame: int = 4, margin: float = 8.0,
                        min_size: int = 64, on_progress: ProgressCallback = no_progress,
                        should_stop: Optional[StopCallback] = None) -> HarvestReport:
    """Cut dislocation-free background crops from a video, stack or image folder.

    Parameters
    ----------
    frames : path
        Anything :func:`core.io.open_frames` reads.
    out : path
        Folder for the crops (``bg_<frame>_<k>.png``) and ``harvest.json``; a
        folder for ``background: patches`` (``patch_dir``).
    annotations : path, optional
        Folder of labelme files; their frames are cut away from the
        annotated lines, the others where the ridge response is low.
    max_frames : int
        Frames used at most, evenly spread over the source (annotated ones first).
    per_frame : int
        Crops per frame at most.
    margin : float
        Distance (px) kept from annotated lines and from ridges.
    min_size : int
        Smallest crop side (px).

    Raises
    ------
    DislocError
        Nothing readable, or no free square of ``min_size`` px in any frame
        (the message says what to change).
    """
    from ..io.frames import is_blank, open_frames

    if max_frames < 1 or per_frame < 1:
        raise DislocError("--max-frames and --per-frame must be at least 1")
    if min_size < 16:
        raise DislocError(f"--min-size: crops of {min_size} px are too small to be a background (at least 16)")
    ann = _annotations_by_frame(annotations) if annotations else {}
    out = Path(out)
    sizes = tuple(s for s in SIZES if s >= min_size) or (min_size,)
    written: list[dict] = []
    with open_frames(frames) as src:
        n = len(src)
        if n == 0:
            raise DislocError(f"{frames}: no frames to cut backgrounds from")
        names = [src.name(i) for i in range(n)]
        annotated = [i for i in range(n) if names[i] in ann]
        rest = [i for i in range(n) if names[i] not in ann]
        pick = annotated[:max_frames]
        left = max_frames - len(pick)
        if left > 0 and rest:
            pick += [rest[int(round(j))] for j in np.linspace(0, len(rest) - 1, min(left, len(rest)))]
        on_progress(Progress(0, len(pick), "cutting backgrounds"))
        for done, i in enumerate(pick, 1):
            check_stop(should_stop)
            frame = src[i]
            if is_blank(frame):
                continue
            lf = ann.get(names[i])
            if lf is not None and (lf.image_height, lf.image_width) != frame.shape:
                raise DislocError(f"{annotations}: the annotation of {names[i]} is {lf.image_width}x"
                                  f"{lf.image_height} px but the frame is {frame.shape[1]}x{frame.shape[0]} px")
            excluded = annotation_mask(lf, margin) if lf is not None else ridge_mask(frame, margin)
            for k, (x0, y0, side) in enumerate(free_squares(excluded, sizes, per_frame)):
                crop = frame[y0:y0 + side, x0:x0 + side]
                name = f"bg_{names[i]}_{k}.png"
                atomic_write_png(out / name, np.clip(np.rint(crop * 255), 0, 255).astype(np.uint8))
                written.append({"file": name, "frame": i, "frame_name": names[i], "box": [x0, y0, side, side],
                                "criterion": "annotation" if lf is not None else "ridge"})
            on_progress(Progress(done, len(pick), "cutting backgrounds", {"crops": len(written)}))
    if not written:
        raise DislocError(f"{frames}: no dislocation-free square of {min_size} px or more found; annotate a frame "
                          "or two (lines traced, the rest is background) or lower --min-size / --margin")
    atomic_write_json(out / MANIFEST, {"format": "disloc-background-crops", "source": str(frames),
                                       "annotations": str(annotations) if annotations else None,
                                       "margin_px": margin, "crops": written})
    return HarvestReport(tuple(out / w["file"] for w in written), len(pick), len(annotated[:max_frames]), out)
