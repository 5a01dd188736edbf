"""Identity of dislocations across frames, and distances between them.

Tracking: the dislocations of a frame are matched to the live tracks by
curve distance (symmetric mean nearest-point distance between the 50-point
curves) with the Hungarian method (``scipy.optimize.linear_sum_assignment``).
A match farther than ``gate_px`` is refused: the track ends (after
``max_gap`` frames without a match) and the dislocation starts a new track
with a new id. Each track is compared with both its last curve and that
curve moved by the track's last displacement (constant velocity), and the
closer of the two counts, so steady glide and jerky motion both match.

Pair distance (paper §6.4, Fig. 15): for dislocations a and b, the mean
over the 50 points of a of the distance to the nearest point of b's curve
(the polyline through its 50 points), and the same from b to a; we report
the mean of the two (symmetric), so the pair (a, b) and (b, a) agree.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from ..errors import DislocError

DEFAULT_GATE_PX = 20.0
DEFAULT_MAX_GAP = 2


def mean_nearest_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over the points of ``a`` (P, 2) of the distance to the nearest point of ``b`` (Q, 2), px."""
    d = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    return float(d.min(axis=1).mean())


def curve_distance_matrix(curves_a: Sequence[np.ndarray], curves_b: Sequence[np.ndarray],
                          gate: Optional[float] = None) -> np.ndarray:
    """Symmetric mean nearest-point distance between every curve of a and every curve of b.

    Parameters
    ----------
    curves_a, curves_b : sequences of (n, 2) arrays, all with the same n
    gate : float, optional
        Pairs whose bounding boxes are farther apart than this (px) are not
        measured and get ``inf`` (their distance is surely above the gate).

    Returns
    -------
    ndarray float64 (len(a), len(b)), px
    """
    ka, kb = len(curves_a), len(curves_b)
    out = np.full((ka, kb), np.inf)
    if not ka or not kb:
        return out
    A = np.stack(curves_a).astype(np.float64)  # (Ka, n, 2)
    B = np.stack(curves_b).astype(np.float64)  # (Kb, m, 2)
    if gate is None:
        ia, ib = np.divmod(np.arange(ka * kb), kb)
    else:
        lo_a, hi_a, lo_b, hi_b = A.min(1), A.max(1), B.min(1), B.max(1)
        gap = np.maximum(lo_b[None] - hi_a[:, None], lo_a[:, None] - hi_b[None]).max(-1)  # (Ka, Kb) box gap
        ia, ib = np.nonzero(gap <= gate)
    if ia.size:
        # Squared distances as |a|^2 + |b|^2 - 2 a.b (one batched product, no (P, n, m, 2) array);
        # the square root only of the nearest ones.
        Aa, Bb = A[ia], B[ib]
        d2 = (Aa ** 2).sum(-1)[:, :, None] + (Bb ** 2).sum(-1)[:, None, :] - 2.0 * np.matmul(Aa, Bb.transpose(0, 2, 1))
        np.maximum(d2, 0.0, out=d2)
        out[ia, ib] = 0.5 * (np.sqrt(d2.min(axis=2)).mean(axis=1) + np.sqrt(d2.min(axis=1)).mean(axis=1))
    return out


def point_to_curve_distances(points: np.ndarray, curve: np.ndarray) -> np.ndarray:
    """Distance of each point (P, 2) to the polyline ``curve`` (Q, 2), px."""
    p = points[:, None, :]
    a, b = curve[None, :-1, :], curve[None, 1:, :]
    ab = b - a
    L2 = (ab ** 2).sum(-1)
    t = np.clip(((p - a) * ab).sum(-1) / np.where(L2 > 0, L2, 1.0), 0.0, 1.0)
    proj = a + t[..., None] * ab
    return np.sqrt(((p - proj) ** 2).sum(-1)).min(axis=1)


def pair_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric mean distance between two dislocation curves (n, 2) in px.

    Mean of (mean over points of a of the distance to curve b) and the same
    from b to a. Distances are to the curve (between its points), so the
    50-point sampling adds no bias for parallel lines.
    """
    return 0.5 * float(point_to_curve_distances(a, b).mean() + point_to_curve_distances(b, a).mean())


@dataclass
class _Track:
    id: int
    curve: np.ndarray
    shift: np.ndarray = field(default_factory=lambda: np.zeros(2))
    last_frame: int = 0


class Tracker:
    """Gives each dislocation an id that stays the same from frame to frame.

    Parameters
    ----------
    gate_px : float
        Largest curve distance (px) accepted as the same dislocation in the next frame.
    max_gap : int
        Frames a track may go unmatched (a missed detection) before it ends.
    """

    def __init__(self, gate_px: float = DEFAULT_GATE_PX, max_gap: int = DEFAULT_MAX_GAP) -> None:
        if not gate_px > 0:
            raise DislocError(f"tracking gate must be > 0 px, got {gate_px}")
        if max_gap < 0:
            raise DislocError(f"tracking max_gap must be >= 0, got {max_gap}")
        self.gate_px = float(gate_px)
        self.max_gap = int(max_gap)
        self.tracks: list[_Track] = []
        self.next_id = 1
        self.flips: list[bool] = []  # per curve of the last update: runs opposite to its track

    def update(self, frame: int, curves: Sequence[np.ndarray]) -> list[int]:
        """Assign ids to the curves (n, 2) of ``frame``; returns one id per curve.

        Afterwards ``flips[c]`` is True when curve ``c`` runs end to end
        opposite to its track's previous curve; the track keeps the curve in
        its own direction, so reverse those curves (``Spline.reversed``) to
        keep tangent angles and curvature signs consistent along a track.
        """
        from scipy.optimize import linear_sum_assignment

        self.tracks = [t for t in self.tracks if frame - t.last_frame <= self.max_gap + 1]
        ids = [0] * len(curves)
        self.flips = [False] * len(curves)
        if self.tracks and len(curves):
            last = [t.curve for t in self.tracks]
            moved = [t.curve + t.shift for t in self.tracks]
            g = self.gate_px
            cost = np.minimum(curve_distance_matrix(last, curves, g), curve_distance_matrix(moved, curves, g))
            big = 1e6
            rows, cols = linear_sum_assignment(np.where(cost <= self.gate_px, cost, big))
            for r, c in zip(rows, cols):
                if cost[r, c] > self.gate_px:
                    continue
                t = self.tracks[r]
                new = np.asarray(curves[c], np.float64)
                if _runs_opposite(new, t.curve):
                    new = new[::-1]
                    self.flips[c] = True
                steps = max(frame - t.last_frame, 1)
                t.shift = (new.mean(axis=0) - t.curve.mean(axis=0)) / steps
                t.curve, t.last_frame = new, frame
                ids[c] = t.id
        for c, cur in enumerate(curves):
            if ids[c] == 0:
                t = _Track(self.next_id, np.asarray(cur, np.float64), last_frame=frame)
                self.next_id += 1
                self.tracks.append(t)
                ids[c] = t.id
        return ids

    def reference(self, track_id: int) -> Optional[np.ndarray]:
        """Last curve (n, 2) of a track, to orient the next frame's curve the same way."""
        for t in self.tracks:
            if t.id == track_id:
                return t.curve
        return None

    def state(self) -> dict:
        """JSON-able state, to resume tracking after a restart."""
        return {"gate_px": self.gate_px, "max_gap": self.max_gap, "next_id": self.next_id,
                "tracks": [{"id": t.id, "last_frame": t.last_frame, "shift": [round(float(v), 4) for v in t.shift],
                            "curve": np.round(t.curve, 4).tolist()} for t in self.tracks]}

    @classmethod
    def from_state(cls, d: dict) -> "Tracker":
        tr = cls(gate_px=d["gate_px"], max_gap=d["max_gap"])
        tr.next_id = int(d["next_id"])
        tr.tracks = [_Track(int(t["id"]), np.asarray(t["curve"], np.float64), np.asarray(t["shift"], np.float64),
                            int(t["last_frame"])) for t in d["tracks"]]
        return tr


def _runs_opposite(new: np.ndarray, old: np.ndarray) -> bool:
    same = np.hypot(*(new[0] - old[0])) + np.hypot(*(new[-1] - old[-1]))
    flip = np.hypot(*(new[0] - old[-1])) + np.hypot(*(new[-1] - old[0]))
    return bool(flip < same)


def auto_pairs(curves: dict[int, dict[int, np.ndarray]], n_frames: int, n_lead: int = 3,
               link_px: float = 80.0) -> list[tuple[int, int]]:
    """Pairs of the leading ``n_lead`` dislocations of the largest pileup.

    Rule: (1) keep tracks present in at least half as many frames as the
    longest-lived one; (2) link two tracks when their median pair distance
    over the frames they share is at most ``link_px``; the largest linked
    group is "the largest pileup" (ties: the one seen in more frames);
    (3) order its members along the pileup (the principal axis of their mean
    positions); the leading end is the one where neighbours are closest
    (dislocations crowd at the obstacle that holds a pileup); (4) the first
    ``n_lead`` give the consecutive pairs (1, 2), (2, 3).

    Parameters
    ----------
    curves : {track id: {frame: (n, 2) curve}}
    n_frames : int
        Frames in the run (for reporting only).

    Returns
    -------
    list of (id_a, id_b), leading first; empty when fewer than two tracks qualify.
    """
    if not curves:
        return []
    life = {tid: len(fr) for tid, fr in curves.items()}
    longest = max(life.values())
    cand = sorted((t for t, n in life.items() if n >= 0.5 * longest), key=lambda t: (-life[t], t))[:20]
    if len(cand) < 2:
        return []
    med = {}
    for i, a in enumerate(cand):
        for b in cand[i + 1:]:
            shared = sorted(set(curves[a]) & set(curves[b]))
            if not shared:
                continue
            step = max(1, len(shared) // 50)  # 50 frames are plenty for a median
            med[(a, b)] = float(np.median([pair_distance(curves[a][f], curves[b][f]) for f in shared[::step]]))
    from scipy.cluster.hierarchy import DisjointSet

    linked = DisjointSet(cand)
    for (a, b), d in med.items():
        if d <= link_px:
            linked.merge(a, b)
    groups: dict[int, list[int]] = {}
    for t in cand:
        groups.setdefault(linked[t], []).append(t)
    group = max(groups.values(), key=lambda g: (len(g), sum(life[t] for t in g)))
    if len(group) < 2:
        return []
    centres = np.array([np.mean([c.mean(axis=0) for c in curves[t].values()], axis=0) for t in group])
    centred = centres - centres.mean(axis=0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0] if len(group) > 1 else np.array([1.0, 0.0])
    order = [group[i] for i in np.argsort(centred @ axis)]

    def gap(a, b):
        return med.get((a, b), med.get((b, a), np.inf))

    if len(order) >= 3 and gap(order[-1], order[-2]) < gap(order[0], order[1]):
        order = order[::-1]
    lead = order[:n_lead]
    return [(lead[i], lead[i + 1]) for i in range(len(lead) - 1)]


def parse_pairs(text: str) -> Optional[list[tuple[int, int]]]:
    """``"auto"`` -> None; ``"1:2,2:3"`` -> [(1, 2), (2, 3)]."""
    text = text.strip()
    if text == "auto":
        return None
    pairs = []
    for part in text.split(","):
        try:
            a, b = (int(v) for v in part.strip().split(":"))
        except ValueError:
            raise DislocError(f"--pairs: '{part.strip()}' is not ID:ID (use e.g. 1:2,2:3 or auto)") from None
        if a == b:
            raise DislocError(f"--pairs: '{part.strip()}' pairs a dislocation with itself")
        pairs.append((a, b))
    if not pairs:
        raise DislocError("--pairs: give auto or ID:ID pairs such as 1:2,2:3")
    return pairs


def pair_distance_rows(curves: dict[int, dict[int, np.ndarray]], times: dict[int, float],
                       pairs: Sequence[tuple[int, int]]) -> list[tuple]:
    """(frame, time_s, id_a, id_b, distance_px) for every frame where both of a pair exist, by frame."""
    rows = []
    for a, b in pairs:
        if a not in curves or b not in curves:
            missing = a if a not in curves else b
            raise DislocError(f"dislocation id {missing} does not occur in splines.csv; "
                              f"ids present: {', '.join(map(str, sorted(curves)[:30]))}")
        for f in sorted(set(curves[a]) & set(curves[b])):
            rows.append((f, times.get(f), a, b, pair_distance(curves[a][f], curves[b][f])))
    rows.sort(key=lambda r: (r[0], r[2], r[3]))
    return rows
