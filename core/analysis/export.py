"""CSV files of a segmentation run: splines.csv and pair_distances.csv.

Plain comma-separated text with one header line, ``.`` as decimal point and
empty fields for unknown values: it loads as is in pandas
(``pd.read_csv``), Excel and Origin.

splines.csv, one row per spline point (50 per dislocation and frame)::

    frame              frame index, 0-based
    time_s             frame / fps in s (empty when the frame rate is unknown)
    dislocation_id     track id, the same for one dislocation in every frame (1, 2, ...)
    point_index        0..49 along the dislocation
    x_px, y_px         position in px (x right, y down; pixel centres at integers)
    arc_length_px      distance along the spline from point 0, px
    tangent_angle_rad  direction of the line at the point, atan2(dy, dx), rad
    curvature_per_px   signed curvature, 1/px (positive = turning clockwise on screen)
    x_nm, y_nm, arc_length_nm, curvature_per_nm
                       the same in nm (only when the pixel size is known)
    mask_index         index of the dislocation's mask in masks/frame_NNNNNN.npz
    flags              ';'-separated notes: split, several_components,
                       branched, loop, merged, joined, several_pieces (empty =
                       clean; branched, loop, several_components and several_pieces
                       are warnings: maybe more than one line)

pair_distances.csv::

    frame, time_s, id_a, id_b, distance_px [, distance_nm]
"""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from ..errors import DislocError
from ..io.fileio import PathLike

SPLINE_COLUMNS = ["frame", "time_s", "dislocation_id", "point_index", "x_px", "y_px", "arc_length_px",
                  "tangent_angle_rad", "curvature_per_px"]
SPLINE_NM_COLUMNS = ["x_nm", "y_nm", "arc_length_nm", "curvature_per_nm"]
SPLINE_TAIL_COLUMNS = ["mask_index", "flags"]
PAIR_COLUMNS = ["frame", "time_s", "id_a", "id_b", "distance_px"]


def spline_columns(with_nm: bool) -> list[str]:
    """Header of splines.csv (nm columns only when a pixel size is known)."""
    return SPLINE_COLUMNS + (SPLINE_NM_COLUMNS if with_nm else []) + SPLINE_TAIL_COLUMNS


def _t(time_s: Optional[float]) -> str:
    return "" if time_s is None else f"{time_s:.6f}"


def spline_rows(frame: int, time_s: Optional[float], dislocation_id: int, spline, mask_index: int,
                pixel_size_nm: Optional[float] = None) -> str:
    """The CSV text (with line ends) of one dislocation's points in one frame."""
    t = _t(time_s)
    tail = f"{mask_index},{';'.join(spline.flags)}"
    p = pixel_size_nm
    lines = []
    for i, (x, y, s, a, k) in enumerate(zip(spline.x, spline.y, spline.arc_length, spline.tangent_angle,
                                            spline.curvature)):
        row = f"{frame},{t},{dislocation_id},{i},{x:.3f},{y:.3f},{s:.3f},{a:.5f},{k:.6g}"
        if p:
            row += f",{x * p:.3f},{y * p:.3f},{s * p:.3f},{k / p:.6g}"
        lines.append(f"{row},{tail}\n")
    return "".join(lines)


class AppendOnlyCsv:
    """A CSV file that grows by whole rows, each batch flushed and fsynced.

    ``size`` is the byte length after the last :meth:`append`; a run records
    it in its state file, and a resumed run :meth:`truncate` s back to it, so
    rows of a frame that was cut off are never duplicated.
    """

    def __init__(self, path: PathLike, header: list[str], resume_size: Optional[int] = None) -> None:
        self.path = Path(path)
        head = (",".join(header) + "\n").encode("utf-8")
        if resume_size is not None and not self.path.exists():
            raise DislocError(f"{self.path}: missing, but the run's state says {resume_size} bytes were written; "
                              "start over with --restart")
        if resume_size is None:
            self._f = open(self.path, "wb")
            self._write(head)
        else:
            actual = self.path.stat().st_size
            if actual < resume_size:
                raise DislocError(f"{self.path}: shorter ({actual} bytes) than the run recorded ({resume_size}); "
                                  "it was changed since; start over with --restart")
            with open(self.path, "rb") as f:
                if f.read(len(head)) != head:
                    raise DislocError(f"{self.path}: its header differs from this run's columns; start over with --restart")
            self._f = open(self.path, "r+b")
            self._f.truncate(resume_size)
            self._f.seek(resume_size)
            self._sync()
        self.size = self._f.tell()

    def _write(self, data: bytes) -> None:
        self._f.write(data)
        self._sync()

    def _sync(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())

    def append(self, text: str) -> None:
        """Append complete rows (text ending in a newline) and make them durable."""
        if text:
            self._write(text.encode("utf-8"))
        self.size = self._f.tell()

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_splines_csv(path: PathLike) -> dict[str, np.ndarray]:
    """Read splines.csv into columns (numbers as float64; ``flags`` as str; empty -> nan)."""
    path = Path(path)
    try:
        f = open(path, newline="", encoding="utf-8")
    except FileNotFoundError:
        raise DislocError(f"{path}: not found; run 'disloc segment' first") from None
    with f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise DislocError(f"{path}: empty file") from None
        missing = [c for c in SPLINE_COLUMNS if c not in header]
        if missing:
            raise DislocError(f"{path}: not a splines.csv (column '{missing[0]}' missing)")
        rows = [r for r in reader if r]
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        vals = [r[j] if j < len(r) else "" for r in rows]
        if name == "flags":
            out[name] = np.array(vals, dtype=object)
        else:
            try:
                out[name] = np.array([float(v) if v != "" else math.nan for v in vals], np.float64)
            except ValueError as e:
                raise DislocError(f"{path}: column '{name}' has a value that is not a number ({e})") from None
    return out


def write_pair_distances(path: PathLike, rows: Iterable[tuple], pixel_size_nm: Optional[float]) -> None:
    """Write pair_distances.csv atomically; rows are (frame, time_s or None, id_a, id_b, distance_px)."""
    from ..io.fileio import atomic_write_text

    header = PAIR_COLUMNS + (["distance_nm"] if pixel_size_nm else [])
    lines = [",".join(header)]
    for frame, t, a, b, d in rows:
        t = None if t is None or (isinstance(t, float) and math.isnan(t)) else t
        line = f"{frame},{_t(t)},{a},{b},{d:.4f}"
        if pixel_size_nm:
            line += f",{d * pixel_size_nm:.4f}"
        lines.append(line)
    atomic_write_text(path, "\n".join(lines) + "\n")


def plot_pair_distances(path: PathLike, rows: list[tuple], pixel_size_nm: Optional[float] = None) -> None:
    """Scatter plot of pair distance against frame number (like the paper's Fig. 15), PNG, atomic."""
    import io

    # A bare Figure renders with Agg without touching pyplot's global backend (the GUI uses Qt).
    from matplotlib.figure import Figure

    from ..colors import PALETTE
    from ..io.fileio import atomic_write_bytes

    fig = Figure(figsize=(7, 4), dpi=120)
    ax = fig.add_subplot()
    scale, unit = (pixel_size_nm, "nm") if pixel_size_nm else (1.0, "px")
    pairs = sorted({(r[2], r[3]) for r in rows})
    for k, (a, b) in enumerate(pairs):
        pts = np.array([(r[0], r[4] * scale) for r in rows if (r[2], r[3]) == (a, b)])
        ax.scatter(pts[:, 0], pts[:, 1], s=6, color=PALETTE[k % len(PALETTE)] / 255.0, label=f"{a}–{b}")
    ax.set_xlabel("frame")
    ax.set_ylabel(f"mean distance ({unit})")
    ax.set_title("Distance between dislocations")
    if pairs:
        ax.legend(title="pair (ids)", fontsize=8, markerscale=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())


def frames_seen(cols: dict) -> dict[int, int]:
    """In how many frames each track (dislocation id) of :func:`read_splines_csv`'s columns appears."""
    pairs = {(int(f), int(t)) for f, t in zip(cols["frame"], cols["dislocation_id"])}
    seen: dict[int, int] = {}
    for _f, t in pairs:
        seen[t] = seen.get(t, 0) + 1
    return seen


def write_splines_in_units(src: PathLike, dst: PathLike, pixel_size_nm: Optional[float],
                           fps: Optional[float], keep_ids: Optional[Iterable[int]] = None) -> None:
    """Copy a splines.csv, its ``time_s`` and nm columns filled from this calibration (atomic).

    For a run segmented before its pixel size or frame rate were known:
    the px columns stay as they are, ``time_s`` becomes frame / fps and
    the nm columns are added (or replaced). Unknown values stay empty.
    ``keep_ids``: only these tracks (the Analyse panel's filter, ``disloc
    track --min-frames``); None keeps all.
    """
    from ..io.fileio import atomic_write_text

    cols = read_splines_csv(src)
    if keep_ids is not None:
        keep = np.isin(cols["dislocation_id"], np.asarray(sorted(int(i) for i in keep_ids), np.float64))
        cols = {k: v[keep] for k, v in cols.items()}
    n = len(cols["frame"])
    with_nm = bool(pixel_size_nm) or all(c in cols for c in SPLINE_NM_COLUMNS)
    p = pixel_size_nm
    out = [",".join(spline_columns(with_nm))]
    for i in range(n):
        f = int(cols["frame"][i])
        t = f / fps if fps else (None if math.isnan(cols["time_s"][i]) else float(cols["time_s"][i]))
        x, y, s, a, k = (float(cols[c][i]) for c in ("x_px", "y_px", "arc_length_px", "tangent_angle_rad",
                                                      "curvature_per_px"))
        row = f"{f},{_t(t)},{int(cols['dislocation_id'][i])},{int(cols['point_index'][i])},{x:.3f},{y:.3f},{s:.3f},{a:.5f},{k:.6g}"
        if p:
            row += f",{x * p:.3f},{y * p:.3f},{s * p:.3f},{k / p:.6g}"
        elif with_nm:
            row += "," + ",".join("" if math.isnan(cols[c][i]) else f"{cols[c][i]:.6g}" for c in SPLINE_NM_COLUMNS)
        mi = cols["mask_index"][i] if "mask_index" in cols else math.nan
        flags = cols["flags"][i] if "flags" in cols else ""
        out.append(f"{row},{'' if math.isnan(mi) else int(mi)},{flags}")
    atomic_write_text(dst, "\n".join(out) + "\n")
