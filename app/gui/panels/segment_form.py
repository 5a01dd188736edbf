"""The Segment panel's settings: scale, mirror images and post-processing boxes -> a SegmentConfig.

The form only collects choices; :class:`core.analysis.segmentconfig.SegmentConfig`
(and the :class:`~core.analysis.postprocess.PostprocessConfig` inside it)
give the defaults and say what is wrong, as they do for ``disloc segment``.
"""
from __future__ import annotations

from typing import Optional, Union

from PySide6 import QtWidgets

from core.analysis.postprocess import PostprocessConfig
from core.analysis.scale import MAX_SCALE, MIN_SCALE
from core.analysis.segmentconfig import SegmentConfig
from core.analysis.units import Units
from core.errors import DislocError
from core.learn.mirrors import MIRRORS

SCALE_CHOICES = ("1", "auto", "0.5", "0.75", "1.5", "2")


class SegmentForm(QtWidgets.QWidget):
    """Scale, mirrors, min length, join gap, threshold and spline-end boxes in one row, starting at core's defaults."""

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
        self.extend_ends = QtWidgets.QCheckBox("Full ends")
        self.extend_ends.setChecked(defaults.extend_ends)
        self.extend_ends.setToolTip(
            "Prolong each spline's two ends to where its mask ends: a thinned mask stops about half a line width "
            "short of the line's ends. Untick to resume a video segmented before this setting existed.")
        self.follow_ridge = QtWidgets.QCheckBox("Follow line")
        self.follow_ridge.setChecked(defaults.follow_ridge)
        self.follow_ridge.setToolTip(
            "Walk each spline's ends on along the frame's own dark line, for as long as it stays as visible as the "
            "rest of the line: where a line turns faint, the network's mask fades before the line does. Untick "
            "to resume a video segmented before this setting existed.")
        self.scale = QtWidgets.QComboBox()
        self.scale.setEditable(True)
        self.scale.addItems(SCALE_CHOICES)
        self.scale.setCurrentText(str(SegmentConfig().scale).rstrip("0").rstrip(".") or "1")
        self.scale.setToolTip(
            "Frames are resampled by this factor before the network, so their lines look as wide as the lines it "
            f"was trained on ({MIN_SCALE:g}-{MAX_SCALE:g}; 'auto' measures the lines of your frames and compares "
            "them with the model's; 1 leaves them as they are). Masks and splines stay in the frame's pixels.")
        self.scale.setMinimumContentsLength(4)
        self.mirrors = QtWidgets.QComboBox()
        self.mirrors.addItems([str(m) for m in MIRRORS])
        self.mirrors.setCurrentText(str(SegmentConfig().mirrors))
        self.mirrors.setToolTip(
            "Views of each frame the model looks at (1: the frame alone; 2: also flipped left-right; 4: also "
            "upside down and both ways; 8: each of these also turned a quarter); their lines are put together, "
            "each once. Without fine-tuning, the shipped model for real frames found 1.5 times as many of a real "
            "video's lines with 4 and twice as many with 8, with more false ones, in 4 and 8 times the time. Only "
            "for the shipped models: a fine-tuned model keeps its video's orientation.")
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for label, w in (("Scale", self.scale), ("Mirrors", self.mirrors), ("Min length", self.min_length),
                         ("Join gaps", self.join_gap), ("Threshold", self.threshold)):
            lab = QtWidgets.QLabel(label)
            lab.setToolTip(w.toolTip())
            row.addWidget(lab)
            row.addWidget(w)
        row.addWidget(self.extend_ends)
        row.addWidget(self.follow_ridge)
        row.addStretch(1)

    def scale_setting(self) -> Union[float, str]:
        """``"auto"`` or the factor typed or chosen (checked by SegmentConfig: a bad value raises DislocError)."""
        text = self.scale.currentText().strip().lower()
        if text == "auto":
            return "auto"
        try:
            return float(text.replace(",", "."))
        except ValueError:
            raise DislocError(f"scale '{text}': type 'auto' or a factor from {MIN_SCALE:g} to {MAX_SCALE:g}") from None

    def mirror_count(self) -> int:
        """Mirror images looked at per frame: 1, 2 or 4."""
        return int(self.mirrors.currentText())

    def postprocess_config(self) -> PostprocessConfig:
        """Post-processing settings from the boxes (the rest: core's defaults)."""
        return PostprocessConfig(threshold=self.threshold.value(), min_length_px=self.min_length.value(),
                                 join_gap_px=self.join_gap.value(), extend_ends=self.extend_ends.isChecked(),
                                 follow_ridge=self.follow_ridge.isChecked())

    def config(self, restart: bool = False, units: Optional[Units] = None) -> SegmentConfig:
        """Whole-video settings: the boxes and the project's calibration, the rest as ``disloc segment``'s defaults.

        The same batch size as the command line gives the same masks, bit for
        bit. Raises DislocError for a scale that is not 'auto' or a factor in range.
        """
        u = units or Units()
        return SegmentConfig(restart=restart, postprocess=self.postprocess_config(), scale=self.scale_setting(),
                             mirrors=self.mirror_count(), pixel_size_nm=u.pixel_size_nm, fps=u.fps)


def _px_spin(maximum: float, value: float, tip: str) -> QtWidgets.QDoubleSpinBox:
    """A whole-pixel spin box from 0 to ``maximum`` px."""
    box = QtWidgets.QDoubleSpinBox()
    box.setRange(0.0, maximum)
    box.setDecimals(0)
    box.setSuffix(" px")
    box.setValue(value)
    box.setToolTip(tip)
    return box
