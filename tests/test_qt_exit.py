"""Guard: a Python process that showed a pyqtgraph ImageView must exit 0.

PySide6 6.12.0 aborts at interpreter exit (bool_dealloc, exit code 134) once
an ImageView has been shown; pyproject pins 6.11.3. This test fails if an
upgrade brings the abort back.
"""
import os
import subprocess
import sys

from .conftest import ROOT

CODE = r"""
import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets
pg.setConfigOptions(imageAxisOrder="row-major")
app = QtWidgets.QApplication([])
v = pg.ImageView()
v.setImage(np.random.default_rng(0).random((64, 64)).astype(np.float32))
v.show()
QtCore.QTimer.singleShot(100, app.quit)
app.exec()
print("exited cleanly")
"""


def test_imageview_process_exits_zero():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    r = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr[-2000:]}"
    assert "exited cleanly" in r.stdout
