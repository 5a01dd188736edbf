"""How well predicted splines find traced dislocation lines: recall, length score, on-line share.

The yardstick for real frames, where a microscopist traced some (not
always all) dislocations. The definitions are those of the project's real-data
scorer (``../shared/tools/score_real.py``):

* a traced line is *found* when at least 70 % of its skeleton lies within
  3 px of one predicted spline, splines and lines matched one to one
  (Hungarian, on that coverage);
* the *length score* of a found line is ``1 - |Lp - Lg| / Lg`` (at least 0),
  spline length against skeleton length;
* the *on-line share* is the share of predicted splines with at least 70 % of
  their points within 3 px of some traced line: a lower bound on precision,
  since labels may be partial.

Traced lines come as bool masks (one per line: a label image's connected
components, or labelme line strips rasterised :data:`SCORE_LINE_WIDTH` px
wide, whatever width a model was trained on: on tem_8um's 49 test frames,
strips 3 px wide give the figures of the expert's own 3-5 px masks within
0.01 for three fine-tuned models, strips 5 px wide read the on-line share
up to 0.03 high).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
from scipy import ndimage

TOL_PX = 3.0
SCORE_LINE_WIDTH = 3.0  # px: labelme line strips are scored as masks this wide
COVER = 0.7
MIN_LINE_PX = 5.0  # traced lines shorter than this (skeleton px) are not scored


@dataclass
class LineScore:
    """Counts summed over frames; the three figures are properties."""

    found: int = 0
    lines: int = 0
    on_line: int = 0
    predicted: int = 0
    length_scores: list = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.lines if self.lines else 0.0

    @property
    def length(self) -> float:
        return float(np.mean(self.length_scores)) if self.length_scores else 0.0

    @property
    def on_line_share(self) -> float:
        return self.on_line / self.predicted if self.predicted else 0.0

    def add(self, other: "LineScore") -> "LineScore":
        self.found += other.found
        self.lines += other.lines
        self.on_line += other.on_line
        self.predicted += other.predicted
        self.length_scores.extend(other.length_scores)
        return self

    def summary(self) -> str:
        return (f"recall {self.recall:.3f} ({self.found}/{self.lines} traced lines), length score "
                f"{self.length:.3f}, on-line share {self.on_line_share:.3f} ({self.predicted} predicted)")


def _rasterise_curve(pts: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A predicted spline as a 1-px line through its rounded points (clipped to the frame)."""
    from skimage.draw import line as draw_line

    h, w = shape
    r = np.zeros(shape, bool)
    p = np.rint(np.asarray(pts, np.float64)).astype(int)
    p[:, 0] = p[:, 0].clip(0, w - 1)
    p[:, 1] = p[:, 1].clip(0, h - 1)
    for (x0, y0), (x1, y1) in zip(p[:-1], p[1:]):
        rr, cc = draw_line(y0, x0, y1, x1)
        r[rr, cc] = True
    if len(p) == 1:
        r[p[0, 1], p[0, 0]] = True
    return r


def _near_curve(pts: np.ndarray, shape: tuple[int, int], tol: float):
    """Pixels within ``tol`` px of a curve, as (y0, x0, bool window) around its bounding box."""
    h, w = shape
    p = np.asarray(pts, np.float64)
    m = int(np.ceil(tol)) + 1
    x0 = max(int(np.floor(p[:, 0].min())) - m, 0)
    y0 = max(int(np.floor(p[:, 1].min())) - m, 0)
    x1 = min(int(np.ceil(p[:, 0].max())) + m + 1, w)
    y1 = min(int(np.ceil(p[:, 1].max())) + m + 1, h)
    if x0 >= x1 or y0 >= y1:
        return 0, 0, np.zeros((0, 0), bool)
    r = _rasterise_curve(p - [x0, y0], (y1 - y0, x1 - x0))
    return y0, x0, ndimage.distance_transform_edt(~r) <= tol


def _covered(ys: np.ndarray, xs: np.ndarray, near) -> float:
    """Share of the pixels (ys, xs) inside a curve's near window."""
    y0, x0, win = near
    yy, xx = ys - y0, xs - x0
    ok = (yy >= 0) & (yy < win.shape[0]) & (xx >= 0) & (xx < win.shape[1])
    hit = np.zeros(len(ys), bool)
    hit[ok] = win[yy[ok], xx[ok]]
    return float(hit.mean()) if len(ys) else 0.0


def _curve_length(pts: np.ndarray) -> float:
    p = np.asarray(pts, np.float64)
    return float(np.hypot(*np.diff(p, axis=0).T).sum()) if len(p) > 1 else 0.0


def score_frame(lines: Sequence[np.ndarray], curves: Sequence[np.ndarray], shape: tuple[int, int],
                tol: float = TOL_PX, cover: float = COVER) -> LineScore:
    """Score one frame.

    Parameters
    ----------
    lines : list of bool (H, W)
        One mask per traced line.
    curves : list of (n, 2) float
        Predicted splines, (x, y) px.
    shape : (H, W)
    """
    from scipy.optimize import linear_sum_assignment
    from skimage.morphology import skeletonize

    from ..learn.metrics import skeleton_path_length

    out = LineScore(predicted=len(curves))
    if lines:
        union = np.any(np.stack(lines), axis=0)
        near = ndimage.distance_transform_edt(~union) <= tol
        for c in curves:
            p = np.rint(np.asarray(c, np.float64)).astype(int)
            x, y = p[:, 0].clip(0, shape[1] - 1), p[:, 1].clip(0, shape[0] - 1)
            out.on_line += int(np.mean(near[y, x]) >= cover)
    near_curve = [_near_curve(c, shape, tol) for c in curves]
    skels, lengths = [], []
    for m in lines:
        sk = skeletonize(np.asarray(m, bool))
        L = skeleton_path_length(sk)
        if L < MIN_LINE_PX:
            continue
        skels.append(sk)
        lengths.append(L)
    out.lines = len(skels)
    if skels and curves:
        pts = [np.nonzero(sk) for sk in skels]
        cov = np.array([[_covered(ys, xs, nc) for nc in near_curve] for ys, xs in pts])
        rows, cols = linear_sum_assignment(-cov)
        for r, c in zip(rows, cols):
            if cov[r, c] >= cover:
                out.found += 1
                out.length_scores.append(max(0.0, 1.0 - abs(_curve_length(curves[c]) - lengths[r]) / lengths[r]))
    return out


def lines_from_label_image(label: np.ndarray) -> list[np.ndarray]:
    """Traced lines of a label image: one per 8-connected component of its non-zero pixels."""
    lab = np.asarray(label)
    if lab.ndim == 3:
        lab = lab[..., 0]
    comp, n = ndimage.label(lab > 0, structure=np.ones((3, 3)))
    return [comp == i for i in range(1, n + 1)]


def score_frames(pairs: Iterable[tuple[Sequence[np.ndarray], Sequence[np.ndarray], tuple[int, int]]]) -> LineScore:
    """Sum :func:`score_frame` over ``(lines, curves, shape)`` per frame."""
    total = LineScore()
    for lines, curves, shape in pairs:
        total.add(score_frame(lines, curves, shape))
    return total
