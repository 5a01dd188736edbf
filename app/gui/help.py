"""The Help menu's getting-started page (shipped text; nothing from the network)."""
from __future__ import annotations

from PySide6 import QtWidgets

GETTING_STARTED = """
<h2>Getting started</h2>
<ol>
<li><b>Make a project</b> (File &gt; New project, Ctrl+N): a folder that holds your annotations,
background patches, presets, datasets, training runs and results.</li>
<li><b>Choose your frames</b> (File &gt; Set frames, Ctrl+Shift+O): a video, a TIFF stack or a folder of
images. They are referenced, not copied.</li>
<li><b>Annotate</b> a few frames (Ctrl+2). Press <b>D</b> and click along a dislocation from one slip
trace to the other; the cubic spline follows your clicks; <b>Enter</b> or a double-click finishes it.
Press <b>S</b> to select: drag points, click a selected curve to insert a point, <b>Delete</b> removes
a point or a whole dislocation. <b>Ctrl+Z</b> / <b>Ctrl+Shift+Z</b> undo and redo. Every edit is saved
as labelme JSON in <i>annotations/</i>; labelme opens these files.
Press <b>B</b> to cut a background patch from a region without dislocations.</li>
<li><b>Design</b> synthetic images that look like your frames (Ctrl+1). Move the sliders until the
rendered image, its grey-value histogram and the intensity profile across a dislocation resemble
the real frame beside it (draw the profile line on both images). <b>Twin this frame</b> (T) copies
the geometry of an annotated frame. Save the preset (Ctrl+S).</li>
<li><b>Generate a dataset</b> (Ctrl+G): a few thousand images with one mask per dislocation,
written to the project's <i>datasets/</i>. You can cancel; finished images are kept.</li>
<li><b>Train</b> (Ctrl+3) on your datasets and annotated frames (fine-tune from the shipped model),
<b>Segment</b> (Ctrl+4) one frame with <b>F5</b> or the whole video, and <b>Analyse</b> (Ctrl+5) the
distances between dislocations against time; export CSV files and plots.</li>
</ol>
<p>The status bar shows the pixel under the cursor (x, y, grey value in [0, 1]).
Problems with files (unreadable frames, labelme files for another image size, presets with unknown
keys) appear in a strip above the status bar with what to do; the rest of the project stays usable.</p>
"""


def show_getting_started(parent) -> QtWidgets.QDialog:
    """A non-modal window with the getting-started text."""
    dlg = QtWidgets.QDialog(parent)
    dlg.setWindowTitle("Getting started — Dislocation Studio")
    text = QtWidgets.QTextBrowser()
    text.setHtml(GETTING_STARTED)
    text.setOpenExternalLinks(False)
    lay = QtWidgets.QVBoxLayout(dlg)
    lay.addWidget(text)
    btn = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
    btn.rejected.connect(dlg.close)
    lay.addWidget(btn)
    dlg.resize(640, 560)
    dlg.show()
    return dlg
