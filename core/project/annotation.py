"""The annotation model of one frame: dislocations as splines, with undo/redo.

Qt-free on purpose: the GUI draws a :class:`FrameAnnotations` and calls its
methods; it never owns the data. A dislocation is stored as its *support
points* (the clicks of the person annotating); what is displayed, measured
and rasterised is the cubic spline through them (:func:`spline_points`).

On disk a frame's annotations are one labelme JSON file; each dislocation is
a ``linestrip`` shape whose points are the support points. We write the
support points rather than the densified spline because they are what a
person edits: labelme shows them as draggable vertices, and reading the file
back gives exactly the spline that was drawn. Shapes we do not treat as
dislocations (points, rectangles, circles, ...) are kept and written back
unchanged, and so is every dislocation shape nobody edited (a polygon stays
a polygon, a ``line`` a ``line``), all in the file's order: saving a file
without an edit gives back the same bytes.
"""
from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ..io.labelme import LINE_SHAPES, LabelFile, Shape

#: Undo steps kept per frame; older ones are forgotten first.
UNDO_LIMIT = 200

# One number per label file read, so a dislocation knows which file's shape it came from
# (dislocations copied from another frame's file are new shapes in this one).
_FILE_TOKENS = itertools.count(1)


def _clean(points: np.ndarray) -> np.ndarray:
    """Drop consecutive duplicate points (a zero chord breaks the parametrisation)."""
    p = np.asarray(points, np.float64).reshape(-1, 2)
    if len(p) < 2:
        return p
    keep = np.ones(len(p), bool)
    keep[1:] = np.any(np.abs(np.diff(p, axis=0)) > 1e-9, axis=1)
    return p[keep]


def spline_points(points: np.ndarray, per_segment: int = 16) -> np.ndarray:
    """The cubic spline through support points, densely sampled.

    Parameters
    ----------
    points : ndarray (P, 2)
        Support points (x, y) in px.
    per_segment : int
        Samples between two support points.

    Returns
    -------
    ndarray (N, 2)
        Points (x, y) in px along the curve, starting and ending at the first
        and last support point. Two points give a straight segment; three or
        more a natural cubic spline parametrised by chord length (so unevenly
        spaced clicks do not make loops).
    """
    p = _clean(points)
    if len(p) < 3:
        if len(p) < 2:
            return p.copy()
        t = np.linspace(0.0, 1.0, per_segment + 1)[:, None]
        return p[0] + t * (p[1] - p[0])
    from scipy.interpolate import CubicSpline

    chord = np.r_[0.0, np.cumsum(np.hypot(*np.diff(p, axis=0).T))]
    cs = CubicSpline(chord, p, bc_type="natural", axis=0)
    n = per_segment * (len(p) - 1) + 1
    # Sample each knot interval evenly so the support points lie on the output.
    t = np.concatenate([np.linspace(a, b, per_segment, endpoint=False) for a, b in zip(chord[:-1], chord[1:])]
                       + [chord[-1:]])
    assert len(t) == n
    return cs(t)


def polyline_length(points: np.ndarray) -> float:
    """Length in px of a polyline (N, 2)."""
    p = np.asarray(points, np.float64).reshape(-1, 2)
    return float(np.hypot(*np.diff(p, axis=0).T).sum()) if len(p) > 1 else 0.0


def _point_segment_distance(q: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance from q to each segment a[i]-b[i], and the foot parameter in [0, 1]."""
    d = b - a
    L2 = np.einsum("ij,ij->i", d, d)
    t = np.where(L2 > 0, np.einsum("ij,ij->i", q - a, d) / np.where(L2 > 0, L2, 1), 0.0)
    t = np.clip(t, 0.0, 1.0)
    foot = a + t[:, None] * d
    return np.hypot(*(q - foot).T), t


@dataclass
class Dislocation:
    """One dislocation: its support points and what its labelme shape carried.

    Attributes
    ----------
    points : ndarray (P, 2)
        Support points (x, y) in px, in drawing order.
    label : str
        The labelme label (``"dislocation"`` unless the file said otherwise).
    meta : dict
        Everything else of the labelme shape (group_id, flags, unknown keys),
        written back unchanged.
    predicted : bool
        Put there by the model and not yet accepted: shown apart, never
        written to the labelme file. An edit of its points accepts it (the
        pure edits below return an accepted line).
    """

    points: np.ndarray
    label: str = "dislocation"
    meta: dict = field(default_factory=dict)
    predicted: bool = False

    def __post_init__(self) -> None:
        self.points = np.array(self.points, np.float64).reshape(-1, 2)

    def copy(self) -> "Dislocation":
        return Dislocation(self.points.copy(), self.label, copy.deepcopy(self.meta), self.predicted)

    def curve(self, per_segment: int = 16) -> np.ndarray:
        """The displayed cubic spline (N, 2) in px."""
        return spline_points(self.points, per_segment)

    def length(self) -> float:
        """Length of the spline in px."""
        return polyline_length(self.curve())

    # Pure edits: each returns a new Dislocation and leaves this one unchanged.
    def insert_point(self, index: int, xy) -> "Dislocation":
        """A copy with ``xy`` inserted before support point ``index``."""
        pts = np.insert(self.points, index, np.asarray(xy, np.float64).reshape(2), axis=0)
        return Dislocation(pts, self.label, copy.deepcopy(self.meta))

    def move_point(self, index: int, xy) -> "Dislocation":
        """A copy with support point ``index`` moved to ``xy``."""
        pts = self.points.copy()
        pts[index] = np.asarray(xy, np.float64).reshape(2)
        return Dislocation(pts, self.label, copy.deepcopy(self.meta))

    def remove_point(self, index: int) -> "Dislocation":
        """A copy without support point ``index``."""
        return Dislocation(np.delete(self.points, index, axis=0), self.label, copy.deepcopy(self.meta))

    def nearest_point(self, xy) -> tuple[int, float]:
        """(index, distance in px) of the support point nearest to ``xy``."""
        if len(self.points) == 0:
            return -1, float("inf")
        d = np.hypot(*(self.points - np.asarray(xy, np.float64)).T)
        i = int(np.argmin(d))
        return i, float(d[i])

    def insertion_index(self, xy, per_segment: int = 16) -> tuple[int, float]:
        """Where a click at ``xy`` on the curve inserts a support point.

        Returns (index for :meth:`insert_point`, distance in px from the curve).
        The curve is sampled ``per_segment`` times between support points, so
        the sample index tells which pair of support points the click lies between.
        """
        if len(self.points) < 2:
            return len(self.points), float("inf")
        pts = _clean(self.points)
        if len(pts) != len(self.points):  # duplicates: fall back to the straight polyline
            c, step = self.points, 1
        else:
            c, step = spline_points(self.points, per_segment), per_segment
        dist, _ = _point_segment_distance(np.asarray(xy, np.float64), c[:-1], c[1:])
        k = int(np.argmin(dist))
        return k // step + 1, float(dist[k])

    def to_shape(self) -> Shape:
        """The labelme shape: the shape as read when its points and label are unchanged, else a linestrip."""
        m = copy.deepcopy(self.meta)
        orig = m.pop("shape", None)
        m.pop("source", None)
        gid, flags, extra = m.pop("group_id", None), m.pop("flags", {}) or {}, m.pop("extra", {})
        if orig is not None and self.label == (orig.label or "dislocation") and \
                np.array_equal(self.points, Dislocation.from_shape(orig).points):
            orig.group_id, orig.flags, orig.extra = gid, flags, extra
            return orig
        stype = "line" if orig is not None and orig.shape_type == "line" and len(self.points) == 2 else "linestrip"
        s = Shape(points=self.points.copy(), label=self.label, shape_type=stype, group_id=gid, flags=flags,
                  extra=extra)
        if orig is not None:  # edited: the new points and type, the rest (key order, unknown keys) as read
            s.raw, s.read_as = orig.raw, orig.read_as
        return s

    @classmethod
    def from_shape(cls, s: Shape, source: Optional[tuple] = None) -> "Dislocation":
        """A dislocation from a labelme shape; ``source`` (file token, shape index) places it on saving."""
        pts = s.points
        if s.shape_type == "polygon" and len(pts) >= 3:
            pts = s.polyline()  # a closed outline becomes an open line through all its corners
        meta = {"group_id": s.group_id, "flags": copy.deepcopy(s.flags), "extra": copy.deepcopy(s.extra)}
        if source is not None:
            meta.update(shape=copy.deepcopy(s), source=source)
        return cls(pts, s.label or "dislocation", meta)


State = tuple  # tuple[Dislocation, ...], never mutated once stored


class FrameAnnotations:
    """The dislocations of one frame, with bounded undo/redo.

    Every edit is one undo step; a drag is one step too: call
    :meth:`begin_drag`, then :meth:`drag_point` as often as the mouse moves,
    then :meth:`end_drag` (which records the step only if something moved).
    A new edit clears the redo stack. ``listeners`` are called with no
    arguments after every recorded change, undo and redo (the GUI autosaves
    and redraws there).

    Parameters
    ----------
    height, width : int
        Image size in px.
    dislocations : list of Dislocation
    other_shapes : list of Shape
        labelme shapes that are not dislocations; kept and written back.
    """

    def __init__(self, height: int, width: int, dislocations=(), other_shapes=(), limit: int = UNDO_LIMIT,
                 label_file: Optional[LabelFile] = None) -> None:
        self.height, self.width = int(height), int(width)
        self._items: list[Dislocation] = [d.copy() for d in dislocations]
        self.other_shapes = list(other_shapes)
        self.limit = int(limit)
        self._undo: list[State] = []
        self._redo: list[State] = []
        self._drag_start: Optional[State] = None
        self._template = label_file  # top-level keys to write back
        self._token: Optional[int] = None  # set by from_labelfile: which file the shapes came from
        self._other_at: list[int] = []  # the file position of each of other_shapes
        self.listeners: list[Callable[[], None]] = []

    # -- reading ---------------------------------------------------------
    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i: int) -> Dislocation:
        return self._items[i]

    def __iter__(self):
        return iter(self._items)

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def lengths(self) -> list[float]:
        """Spline length in px of each dislocation."""
        return [d.length() for d in self._items]

    # -- history ---------------------------------------------------------
    def _state(self) -> State:
        return tuple(d.copy() for d in self._items)

    def _record(self, before: State) -> None:
        self._undo.append(before)
        del self._undo[: max(0, len(self._undo) - self.limit)]
        self._redo.clear()
        self._notify()

    def _notify(self) -> None:
        for f in list(self.listeners):
            f()

    def _edit(self, fn) -> None:
        before = self._state()
        fn()
        self._record(before)

    def undo(self) -> bool:
        """Go one step back; False when there is nothing to undo."""
        if self._drag_start is not None:
            self.end_drag()
        if not self._undo:
            return False
        self._redo.append(self._state())
        self._items = [d.copy() for d in self._undo.pop()]
        self._notify()
        return True

    def redo(self) -> bool:
        """Go one step forward again; False when there is nothing to redo."""
        if not self._redo:
            return False
        self._undo.append(self._state())
        self._items = [d.copy() for d in self._redo.pop()]
        self._notify()
        return True

    # -- edits (each one undo step) ---------------------------------------
    def add(self, points) -> int:
        """Add a dislocation through ``points`` (P >= 2); returns its index."""
        d = Dislocation(points)
        if len(d.points) < 2:
            raise ValueError("a dislocation needs at least 2 support points")
        self._edit(lambda: self._items.append(d))
        return len(self._items) - 1

    def remove(self, i: int) -> None:
        """Delete dislocation ``i``."""
        self._edit(lambda: self._items.pop(i))

    def insert_point(self, i: int, index: int, xy) -> None:
        self._edit(lambda: self._items.__setitem__(i, self._items[i].insert_point(index, xy)))

    def move_point(self, i: int, index: int, xy) -> None:
        self._edit(lambda: self._items.__setitem__(i, self._items[i].move_point(index, xy)))

    def remove_point(self, i: int, index: int) -> None:
        """Delete one support point; a dislocation left with one point is deleted."""
        def go():
            d = self._items[i].remove_point(index)
            if len(d.points) < 2:
                self._items.pop(i)
            else:
                self._items[i] = d
        self._edit(go)

    def replace_all(self, dislocations) -> None:
        """Replace every dislocation (e.g. copy the previous frame's) as one step."""
        new = [Dislocation(d.points, d.label, copy.deepcopy(d.meta)) if isinstance(d, Dislocation) else Dislocation(d)
               for d in dislocations]
        self._edit(lambda: setattr(self, "_items", new))

    # -- predicted lines: the model's proposal, kept apart until accepted ------------
    @property
    def n_predicted(self) -> int:
        return sum(d.predicted for d in self._items)

    def set_predicted(self, lines, near_px: float = 4.0) -> int:
        """Put the model's lines (support points (P, 2) px each) on the frame as predicted, as one step.

        Earlier predicted lines are replaced; annotated lines stay, and a
        line whose spline lies (80 % of it) within ``near_px`` of an annotated
        line is left out: that dislocation is traced already. Returns how many were put.
        """
        drawn = [d.curve() for d in self._items if not d.predicted]
        done = np.concatenate(drawn) if drawn else np.zeros((0, 2))

        def traced(c: np.ndarray) -> bool:
            if not len(done):
                return False
            gap = np.hypot(c[:, None, 0] - done[None, :, 0], c[:, None, 1] - done[None, :, 1]).min(1)
            return float(np.mean(gap <= near_px)) >= 0.8

        new = [d for d in (Dislocation(p, predicted=True) for p in lines if len(_clean(p)) >= 2)
               if not traced(d.curve(4))]
        self._edit(lambda: setattr(self, "_items", [d for d in self._items if not d.predicted] + new))
        return len(new)

    def accept_predicted(self) -> int:
        """Make every predicted line an annotated one (one step); returns how many."""
        n = self.n_predicted
        if n:
            self._edit(lambda: setattr(self, "_items", [Dislocation(d.points, d.label, d.meta) for d in self._items]))
        return n

    def discard_predicted(self) -> int:
        """Remove every predicted line (one step); returns how many."""
        n = self.n_predicted
        if n:
            self._edit(lambda: setattr(self, "_items", [d for d in self._items if not d.predicted]))
        return n

    # -- drags ------------------------------------------------------------
    def begin_drag(self) -> None:
        """Start a drag; moves until :meth:`end_drag` make one undo step."""
        if self._drag_start is None:
            self._drag_start = self._state()

    def drag_point(self, i: int, index: int, xy) -> None:
        """Move a point during a drag (no undo step, no listeners called)."""
        if self._drag_start is None:
            self.begin_drag()
        self._items[i] = self._items[i].move_point(index, xy)

    def end_drag(self) -> bool:
        """Finish a drag; True when it changed something (and was recorded)."""
        before, self._drag_start = self._drag_start, None
        if before is None:
            return False
        changed = len(before) != len(self._items) or any(
            a.points.shape != b.points.shape or not np.array_equal(a.points, b.points) or a.predicted != b.predicted
            for a, b in zip(before, self._items))
        if changed:
            self._record(before)
        return changed

    @property
    def dragging(self) -> bool:
        return self._drag_start is not None

    # -- labelme ------------------------------------------------------------
    def to_labelfile(self, image_path: str) -> LabelFile:
        """The labelme content: one linestrip of support points per new or edited dislocation.

        Predicted lines not yet accepted are left out. Shapes read from a file keep their places and, unless edited, their
        exact content; new dislocations follow the last dislocation of the
        file (or go first, when it had none), deleted ones are left out.
        """
        t = self._template
        shapes = self._ordered_shapes()
        lf = LabelFile(image_path=image_path, image_height=self.height, image_width=self.width, shapes=shapes)
        if t is not None:
            lf.version, lf.flags, lf.extra = t.version, copy.deepcopy(t.flags), copy.deepcopy(t.extra)
            lf.image_data = t.image_data
            lf.raw, lf.read_as = t.raw, t.read_as
            lf.ensure_ascii, lf.final_newline = t.ensure_ascii, t.final_newline
        return lf

    def _ordered_shapes(self) -> list[Shape]:
        placed: dict[int, Shape] = {}  # file position -> shape of a dislocation read from this file
        new: list[Shape] = []
        for d in self._items:
            if d.predicted:
                continue
            src = d.meta.get("source")
            if self._token is not None and src is not None and src[0] == self._token and src[1] not in placed:
                placed[src[1]] = d.to_shape()
            else:
                new.append(d.to_shape())
        others = dict(zip(self._other_at, self.other_shapes))
        positions = sorted(set(placed) | set(others))
        last_line = max(placed, default=-1)
        out: list[Shape] = [] if placed else list(new)
        for k in positions:
            out.append(placed[k] if k in placed else copy.deepcopy(others[k]))
            if k == last_line:
                out.extend(new)
        out.extend(copy.deepcopy(s) for s in self.other_shapes[len(self._other_at):])  # added since reading
        return out

    @classmethod
    def from_labelfile(cls, lf: LabelFile, limit: int = UNDO_LIMIT) -> "FrameAnnotations":
        """Line strips, lines and polygons become dislocations; other shapes are kept aside."""
        token = next(_FILE_TOKENS)
        dis, other, other_at = [], [], []
        for k, s in enumerate(lf.shapes):
            if s.shape_type in LINE_SHAPES and len(s.points) >= 2:
                dis.append(Dislocation.from_shape(s, (token, k)))
            else:
                other.append(s)
                other_at.append(k)
        fa = cls(lf.image_height, lf.image_width, dis, other, limit, lf)
        fa._token, fa._other_at = token, other_at
        return fa

    def unknown_shape_types(self) -> list[str]:
        """Types of the kept non-dislocation shapes (for a message to the user)."""
        return sorted({s.shape_type for s in self.other_shapes})
