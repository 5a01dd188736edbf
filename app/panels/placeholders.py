"""Panels of part 2, announced honestly: what they will do, no fake controls."""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets

COMING = {
    "Train": ("Train a U-Net++ on a synthetic dataset",
              "Choose a dataset made in the Designer, an encoder (small for a laptop CPU, ResNet-50 as in the "
              "paper) and a number of epochs; watch the training and test loss and the length metric; keep "
              "the best checkpoint in the project's runs/. Fine-tune on your annotated frames.\n\n"
              "Until then: disloc train --help"),
    "Segment": ("Segment your frames",
                "Run a trained model on the project's frames: one mask per dislocation, duplicates merged, "
                "a 50-point spline fitted to each, dislocations followed from frame to frame.\n\n"
                "Until then: disloc segment --help"),
    "Analyse": ("Measure and export",
                "Plot the distance between chosen dislocations against frame number and their curvature "
                "along the line, and export positions, curvatures and distances as CSV.\n\n"
                "Until then: disloc analyse --help"),
}


class PlaceholderPanel(QtWidgets.QWidget):
    """A short label saying what the panel will offer in part 2."""

    def __init__(self, name: str, parent=None) -> None:
        super().__init__(parent)
        self.title = name
        head, body = COMING[name]
        lab = QtWidgets.QLabel(f"<h2>{head}</h2><p>This panel is not built yet. It will:</p><p>{body}</p>"
                               .replace("\n\n", "</p><p>"))
        lab.setWordWrap(True)
        lab.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        lab.setMaximumWidth(640)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(40, 30, 40, 30)
        lay.addWidget(lab)
        lay.addStretch(1)

    def menu_actions(self) -> dict:
        return {}

    def set_active(self, active: bool) -> None:
        pass

    def shutdown(self) -> None:
        pass
