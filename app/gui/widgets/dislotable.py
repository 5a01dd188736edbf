"""A table of the dislocations of one frame: length, mean curvature, centre, speed and frames seen, in nm and s."""
from __future__ import annotations

import math
from typing import Optional, Sequence

from PySide6 import QtCore, QtWidgets

from core.analysis.measure import DislocationRow
from core.analysis.units import Units
from core.colors import colour_of

from .spline_editor import make_colour_icon


def _fmt(v: Optional[float], digits: int) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


class DislocationTable(QtWidgets.QTableWidget):
    """One row per dislocation, by id; units follow the calibration (px and frames while unknown).

    Signals
    -------
    picked(int)
        The track id of the row clicked.
    """

    picked = QtCore.Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(0, 6, parent)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.setAlternatingRowColors(True)
        self.horizontalHeader().setStretchLastSection(True)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().lineSpacing() + 6)
        self.cellClicked.connect(lambda row, _c: self.picked.emit(self.ids[row]) if row < len(self.ids) else None)
        self.ids: list[int] = []
        self.set_rows([], Units())

    def set_rows(self, rows: Sequence[DislocationRow], units: Units) -> None:
        """Show these rows (one frame's, already filtered)."""
        u = units
        self.setHorizontalHeaderLabels(["id", f"length ({u.length_unit})", f"mean |κ| (1/{u.length_unit})",
                                        f"centre x, y ({u.length_unit})", f"speed ({u.velocity_unit})", "frames"])
        tips = ["Track id: the same dislocation has the same id in every frame",
                "Length along the line", "Mean curvature: the mean of |curvature| over the line's 50 spline points",
                "Position of the point halfway along the line (x right, y down)",
                "How far the line moved since the frame it was last seen, per " + u.time_unit
                + " (empty in its first frame)", "Frames in which this dislocation was found"]
        for c, tip in enumerate(tips):
            self.horizontalHeaderItem(c).setToolTip(tip)
        self.setRowCount(len(rows))
        self.ids = [r.dislocation_id for r in rows]
        digits = 1 if u.pixel_size_nm is None or u.pixel_size_nm >= 0.1 else 2
        for i, r in enumerate(rows):
            v = None if r.velocity_px_per_frame is None else u.velocity(r.velocity_px_per_frame)
            cx, cy = u.length(r.centre_x_px), u.length(r.centre_y_px)
            c_digits = 0 if max(abs(cx), abs(cy)) >= 100 else digits  # a position to the pixel is enough
            cells = [str(r.dislocation_id), _fmt(u.length(r.length_px), digits),
                     f"{u.curvature(r.mean_abs_curvature_per_px):.3g}", f"{cx:.{c_digits}f}, {cy:.{c_digits}f}",
                     _fmt(v, 1 if v is not None and abs(v) >= 10 else 2), str(r.frames_seen)]
            for c, text in enumerate(cells):
                it = QtWidgets.QTableWidgetItem(text)
                if c:
                    it.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
                self.setItem(i, c, it)
            self.item(i, 0).setIcon(make_colour_icon(colour_of(r.dislocation_id)))
        self.resizeColumnsToContents()

    def column_texts(self, column: int) -> list[str]:
        """The texts of one column, top to bottom (tests read them)."""
        return [self.item(i, column).text() for i in range(self.rowCount())]
