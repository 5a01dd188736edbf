"""Results per dislocation: length, curvature, centre and speed of every track in every frame.

From the columns of a splines.csv (:func:`core.analysis.export.read_splines_csv`,
or :attr:`core.analysis.results.ResultIndex.cols`), one
:class:`DislocationRow` per dislocation and frame:

- ``length_px``: the spline's arc length;
- ``mean_abs_curvature_per_px``: the mean of |curvature| over its 50 points
  (signs cancel on an S-shaped line, so the magnitude is what tells a bowed
  line from a straight one);
- ``centre_x_px, centre_y_px``: the point halfway along the line (on the
  line, unlike the centroid of a bowed one);
- ``velocity_px_per_frame``: the distance the line moved since the frame it
  was last seen (the symmetric mean curve distance of
  :func:`core.analysis.tracking.pair_distance`, which measures glide across
  the line, not sliding along it), divided by the frames in between; None in
  the first frame of a track;
- ``frames_seen``: the frames of its track.

:func:`write_dislocations_csv` writes them with nm and s columns when the
calibration is known (``dislocations.csv``); :func:`default_min_frames`
chooses how short a track may be before a table hides it as a fragment.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import numpy as np

from ..io.fileio import PathLike, atomic_write_text
from .export import frames_seen
from .tracking import pair_distance
from .units import Units

DISLOCATIONS_CSV = "dislocations.csv"
#: A track seen in fewer frames than this fraction of the longest-lived one is taken for a fragment...
FRAGMENT_FRACTION = 0.2
#: ... but the filter starts at no more than this many frames: real dislocations come and go in long videos.
FRAGMENT_MAX_FRAMES = 3


@dataclass(frozen=True)
class DislocationRow:
    """One dislocation in one frame (px and frames; :class:`Units` converts)."""

    frame: int
    dislocation_id: int
    length_px: float
    mean_abs_curvature_per_px: float
    centre_x_px: float
    centre_y_px: float
    velocity_px_per_frame: Optional[float]
    frames_seen: int


def _midpoint(xy: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """The point at half the arc length of a polyline (xy (n, 2), cumulative arc length s)."""
    if len(xy) == 1 or s[-1] <= 0:
        return float(xy[0, 0]), float(xy[0, 1])
    half = 0.5 * s[-1]
    return float(np.interp(half, s, xy[:, 0])), float(np.interp(half, s, xy[:, 1]))


def measure_dislocations(cols: dict[str, np.ndarray]) -> list[DislocationRow]:
    """One row per dislocation and frame of a splines.csv's columns, by frame then id."""
    frame = np.asarray(cols["frame"]).astype(np.int64)
    if frame.size == 0:
        return []
    tid = np.asarray(cols["dislocation_id"]).astype(np.int64)
    order = np.lexsort((cols["point_index"], tid, frame))
    key = frame[order] * (1 << 32) + tid[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)]
    x, y = cols["x_px"][order], cols["y_px"][order]
    s, k = cols["arc_length_px"][order], cols["curvature_per_px"][order]
    groups = [(int(frame[order[a]]), int(tid[order[a]]), a, b) for a, b in zip(starts, ends)]
    seen = frames_seen(cols)
    last: dict[int, tuple[int, np.ndarray]] = {}
    rows = []
    for f, t, a, b in groups:  # frames ascending: the previous sighting of a track comes first
        xy = np.column_stack([x[a:b], y[a:b]])
        arc = s[a:b]
        v = None
        if t in last:
            f0, xy0 = last[t]
            v = pair_distance(xy, xy0) / max(1, f - f0)
        last[t] = (f, xy)
        kk = k[a:b]
        kk = kk[np.isfinite(kk)]
        cx, cy = _midpoint(xy, arc)
        rows.append(DislocationRow(f, t, float(arc[-1]) if len(arc) else 0.0,
                                   float(np.abs(kk).mean()) if kk.size else math.nan, cx, cy, v, seen[t]))
    return rows


def default_min_frames(frames_seen: Iterable[int]) -> int:
    """Tracks seen in fewer frames than this are fragments (a line found once or twice, a flicker).

    A fifth of the frames of the longest-lived track, rounded up, at least
    2 once that track spans 5 frames or more and at most
    :data:`FRAGMENT_MAX_FRAMES`; 1 (show everything) for short videos and
    single frames. The cap: on the real ``tem_8um`` video (49 frames, a
    fine-tuned model) hiding tracks seen in fewer than 3 frames cost 0 and
    3 of 904 found traced lines and raised the share of lines on a traced
    one by 0.03, while a fifth of its longest track (10 frames) cost 43 and
    13 (README, ``disloc track --splines-out``); in a long video a real
    dislocation may cross the field in a small part of it.
    """
    counts = [int(c) for c in frames_seen]
    longest = max(counts, default=0)
    if longest < 5:
        return 1
    return max(2, min(FRAGMENT_MAX_FRAMES, int(math.ceil(FRAGMENT_FRACTION * longest))))


def columns(units: Units) -> list[str]:
    """Header of dislocations.csv: px and frames always, nm and s where the calibration is known."""
    head = ["frame", "time_s", "dislocation_id", "frames_seen", "length_px", "mean_abs_curvature_per_px",
            "centre_x_px", "centre_y_px", "velocity_px_per_frame"]
    if units.fps:
        head.append("velocity_px_per_s")
    if units.pixel_size_nm:
        head += ["length_nm", "mean_abs_curvature_per_nm", "centre_x_nm", "centre_y_nm"]
        if units.fps:
            head.append("velocity_nm_per_s")
    return head


def _num(v: Optional[float], fmt: str) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def write_dislocations_csv(path: PathLike, rows: Sequence[DislocationRow], units: Units = Units()) -> None:
    """Write per-dislocation rows as CSV, atomically (header: :func:`columns`; unknown values empty)."""
    px, fps = units.pixel_size_nm, units.fps
    lines = [",".join(columns(units))]
    for r in rows:
        v = r.velocity_px_per_frame
        cells = [str(r.frame), _num(units.time_s(r.frame), ".6f"), str(r.dislocation_id), str(r.frames_seen),
                 _num(r.length_px, ".3f"), _num(r.mean_abs_curvature_per_px, ".6g"), _num(r.centre_x_px, ".3f"),
                 _num(r.centre_y_px, ".3f"), _num(v, ".4f")]
        if fps:
            cells.append(_num(None if v is None else v * fps, ".4f"))
        if px:
            cells += [_num(r.length_px * px, ".3f"), _num(r.mean_abs_curvature_per_px / px, ".6g"),
                      _num(r.centre_x_px * px, ".3f"), _num(r.centre_y_px * px, ".3f")]
            if fps:
                cells.append(_num(None if v is None else v * px * fps, ".4f"))
        lines.append(",".join(cells))
    atomic_write_text(path, "\n".join(lines) + "\n")
