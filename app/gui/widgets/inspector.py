"""The Segment panel's side: the masks of a frame as a grid, and the selected dislocation in numbers.

It shows a :class:`core.analysis.frameview.FrameView` (masks, splines, flags,
merged duplicates): one tile per clean mask, or with "raw" ticked one tile
per model output with what post-processing did with it; below, the
selected dislocation's length, curvature statistics and curvature plot.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6 import QtCore, QtWidgets

from core.analysis.units import Units
from core.colors import colour_of

from .curves import CurvaturePlot
from .maskgrid import MaskGrid, Tile

GREY = (120, 120, 120)
NO_SELECTION = "Click a dislocation (on the image or a tile) to see its spline and curvature."


def raw_layers(v) -> tuple[np.ndarray, list[tuple[int, int, int]], list[tuple[int, str]]]:
    """The raw N outputs of a view: binarised masks, colours (that of the mask each ended in), fates."""
    raw = v.probs > 0.5
    fates = [v.raw_fate(c) for c in range(len(raw))]
    return raw, [colour_of(v.ids[k]) if k >= 0 else GREY for k, _ in fates], fates


class MaskInspector(QtWidgets.QWidget):
    """Summary, mask grid (clean or raw), selected dislocation's numbers and curvature plot.

    Signals
    -------
    picked(int)
        A tile was clicked (mask index; only in the clean view).
    rawToggled(bool)
    """

    picked = QtCore.Signal(int)
    rawToggled = QtCore.Signal(bool)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.summary = QtWidgets.QLabel("")
        self.summary.setWordWrap(True)
        self.raw_box = QtWidgets.QCheckBox("Show the raw N model outputs")
        self.raw_box.setToolTip("Before merging duplicates and removing specks: one tile per network output (R)")
        self.raw_box.toggled.connect(self.rawToggled)
        self.grid = MaskGrid()
        self.grid.picked.connect(lambda row: None if self.raw else self.picked.emit(row))
        self.info = QtWidgets.QLabel(NO_SELECTION)
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.curv = CurvaturePlot()
        self.curv.setMinimumHeight(170)
        self.edit_btn = QtWidgets.QPushButton("Edit as annotation")
        self.edit_btn.setToolTip("Turn this frame's prediction into its editable annotation (E) and switch to "
                                 "the Annotate panel; correct it, then fine-tune in the Train panel")
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.summary)
        lay.addWidget(self.raw_box)
        lay.addWidget(self.grid, 3)
        lay.addWidget(self.info)
        lay.addWidget(self.curv, 2)
        lay.addWidget(self.edit_btn)

    @property
    def raw(self) -> bool:
        return self.raw_box.isChecked()

    def show_view(self, v) -> None:
        """Fill the grid and summary for a FrameView (None: not segmented yet)."""
        if v is None:
            self.grid.set_tiles(None, [])
            self.summary.setText("Not segmented yet: press F5 (Segment frame), or segment the whole video.")
            return
        if self.raw and v.probs is not None:
            raw, colours, fates = raw_layers(v)
            self.grid.set_tiles(v.image, [
                Tile(raw[c], colours[c], f"output {c}\n{'#' + str(v.ids[k]) + ' ' if k >= 0 else ''}{why}",
                     f"model output {c}: {why}", False, k < 0) for c, (k, why) in enumerate(fates)])
            pooled, ends = "", np.cumsum(v.model_outputs)
            if v.sources:
                pooled = (f", {len(ends)} views of the frame pooled (outputs "
                          + "; ".join(f"{e - n}-{e - 1}: {t}" for n, e, t in zip(v.model_outputs, ends, v.sources))
                          + ")")
            elif v.model_outputs:
                pooled = (f" of {len(ends)} models pooled (outputs "
                          + " and ".join(f"{e - n}-{e - 1}" for n, e in zip(v.model_outputs, ends))
                          + (": the first model's, then the second's)" if len(ends) == 2 else
                             ": one model's after another's)"))
            self.summary.setText(f"<b>{len(raw)}</b> raw model outputs{pooled}; {sum(k >= 0 for k, _ in fates)} kept "
                                 "or merged; a duplicate wears the colour of the mask it was merged into")
            return
        colours = v.colours()
        tiles = []
        for k in range(len(v)):
            cap = f"#{v.ids[k] or '?'}"
            tip = [f"dislocation {v.ids[k]}, mask {k}"]
            notes = []
            if v.merged(k):
                notes.append(f"+{len(v.merged_from[k])} merged" if v.merged_from[k] else "merged")
                tip.append(f"duplicates merged into it: model outputs {', '.join(map(str, v.merged_from[k]))}"
                           if v.merged_from[k] else "duplicate masks or pieces were merged into it")
            if v.flagged(k):
                notes.append("⚠ 2+ lines?")
                tip.append("probably holds more than one dislocation (" + ", ".join(v.flags[k]) + ")")
            cap += "\n" + "\n".join(notes) if notes else ""
            tiles.append(Tile(v.masks[k], colours[k], cap, "; ".join(tip), v.flagged(k)))
        self.grid.set_tiles(v.image, tiles)
        flagged = sum(v.flagged(k) for k in range(len(v)))
        origin = "this frame, segmented now" if v.origin == "frame" else "from the whole-video run"
        self.summary.setText(f"<b>{len(v)}</b> dislocations ({origin}); {v.n_merged()} with merged duplicates"
                             + (f"; <span style='color:#c33'>{flagged} flagged ⚠</span>" if flagged else "")
                             + ("" if v.probs is not None else "<br><i>raw outputs: segment this frame (F5)</i>"))

    def show_dislocation(self, v, k: int, units: Optional[Units] = None) -> None:
        """Numbers and curvature of mask ``k`` of view ``v`` (k < 0: nothing selected), in nm when known."""
        self.grid.select(k if not self.raw else -1)
        u = units or Units()
        if v is None or k < 0:
            self.curv.set_spline(None)
            self.info.setText(NO_SELECTION)
            return
        sp, col = v.splines[k], colour_of(v.ids[k])
        self.curv.set_spline(sp, col, u.pixel_size_nm)
        head = f"<b style='color:rgb{col}'>■</b> <b>dislocation {v.ids[k] or '?'}</b>"
        if sp is None:
            self.info.setText(f"{head}: mask too small for a spline.")
            return
        kap = np.abs(sp.curvature)
        r_min = 1.0 / kap.max() if kap.max() > 0 else float("inf")
        px = f" ({sp.length_px:.0f} px)" if u.pixel_size_nm else ""
        lines = [f"{head}: length <b>{u.fmt_length(sp.length_px)}</b>{px}, {len(sp.x)} spline points",
                 f"mean |curvature| {u.curvature(kap.mean()):.4g} 1/{u.length_unit}; smallest radius of "
                 f"curvature {u.fmt_length(r_min, 0)}"]
        if not u.pixel_size_nm:
            lines.append("<i>in px: set the pixel size (Ctrl+K) for nm</i>")
        if v.flags[k]:
            lines.append("flags: " + ", ".join(v.flags[k]))
        if v.merged_from[k]:
            lines.append(f"merged duplicates: model outputs {', '.join(map(str, v.merged_from[k]))}")
        self.info.setText("<br>".join(lines))
