"""The Segment panel's settings: post-processing boxes -> a SegmentConfig.

The form only collects choices; :class:`core.analysis.segmentconfig.SegmentConfig`
(and the :class:`~core.analysis.postprocess.PostprocessConfig` inside it)
give the defaults and say what is wrong, as they do for ``disloc segment``.
"""
from __future__ import annotations

from PySide6 import QtWidgets

from core.analysis.postprocess import PostprocessConfig
from core.analysis.segmentconfig import SegmentConfig


class SegmentForm(QtWidgets.QWidget):
    """Min length, join gap and threshold boxes in one row, starting at core's defaults."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        defaults = SegmentConfig().postprocess
        self.min_length = _px_spin(500.0, defaults.min_length_px,
                                   "Shortest dislocation kept: masks whose skeleton is shorter are dropped as "
                                   "specks (0 keeps all). Applies to the next frame or video you segment.")
        self.join_gap = _px_spin(200.0, defaults.join_gap_px,
                                 "Two masks that continue one line end to end across a gap up to this wide "
                                 "become one dislocation (0 never joins). Applies to the next frame or video "
                                 "you segment.")
        self.threshold = QtWidgets.QDoubleSpinBox()
        self.threshold.setRange(0.05, 0.95)
        self.threshold.setSingleStep(0.05)
        self.threshold.setValue(defaults.threshold)
        self.threshold.setToolTip("Probability above which a pixel belongs to a mask (0.5 as in the paper); "
                                  "lower finds faint lines, higher cuts noise")
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for label, w in (("Min length", self.min_length), ("Join gaps", self.join_gap),
                         ("Threshold", self.threshold)):
            row.addWidget(QtWidgets.QLabel(label))
            row.addWidget(w)

    def postprocess_config(self) -> PostprocessConfig:
        """Post-processing settings from the boxes (the rest: core's defaults)."""
        return PostprocessConfig(threshold=self.threshold.value(), min_length_px=self.min_length.value(),
                                 join_gap_px=self.join_gap.value())

    def config(self, restart: bool = False) -> SegmentConfig:
        """Whole-video settings: the boxes, the rest as ``disloc segment``'s defaults.

        The same batch size as the command line gives the same masks, bit for bit.
        """
        return SegmentConfig(restart=restart, postprocess=self.postprocess_config())


def _px_spin(maximum: float, value: float, tip: str) -> QtWidgets.QDoubleSpinBox:
    """A whole-pixel spin box from 0 to ``maximum`` px."""
    box = QtWidgets.QDoubleSpinBox()
    box.setRange(0.0, maximum)
    box.setDecimals(0)
    box.setSuffix(" px")
    box.setValue(value)
    box.setToolTip(tip)
    return box
