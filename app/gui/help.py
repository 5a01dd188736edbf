"""The Help menu's getting-started page (shipped text; nothing from the network)."""
from __future__ import annotations

from PySide6 import QtWidgets

GETTING_STARTED = """
<h2>Getting started</h2>
<p>The same steps, in the same order, as "What a session looks like" in the README. No data at hand?
<b>Run the demo</b> on the start page (File &gt; Start page): a synthetic in-situ video, segmented and
tracked by the shipped model.</p>
<ol>
<li><b>Open</b> your frames: drop a video, TIFF stack, image folder or DM3/DM4 file on the window, or press
<i>Open video…</i> on the start page. A project folder is made beside them (<i>name</i>-project) for your
annotations, background patches, presets, datasets, training runs and results; the frames are referenced,
not copied. (File &gt; New project, Ctrl+N, and File &gt; Set frames, Ctrl+Shift+O, do the same by hand.)</li>
<li><b>Set the scale</b> (File &gt; Scale and frame rate, Ctrl+K, or click the scale in the status bar):
the pixel size in nm and the frame rate, filled from the file's metadata when it has them. Or draw a line
along a feature of known length (a scale bar burnt into the frame) and give its length. Lengths, speeds,
tables, plots and CSV files are then in nm and s; every image shows a scale bar.</li>
<li><b>Annotate</b> a few frames (Ctrl+2). Press <b>D</b> and click along a dislocation from one slip
trace to the other; the cubic spline follows your clicks; <b>Enter</b> or a double-click finishes it.
Press <b>S</b> to select: drag points, click a selected curve to insert a point, <b>Delete</b> removes
a point or a whole dislocation. <b>Ctrl+Z</b> / <b>Ctrl+Shift+Z</b> undo and redo. Every edit is saved
as labelme JSON in <i>annotations/</i>; labelme opens these files. To annotate by correcting,
press <b>P</b> (Predict this frame): the model's lines appear dashed, apart from yours; drag their points
where they are wrong (that accepts a line), delete false ones, <b>Ctrl+Enter</b> accepts the rest,
<b>Shift+Delete</b> discards them. Green bars under the frame slider mark the annotated frames.
Press <b>B</b> to cut a background patch from a region without dislocations.</li>
<li><b>Design</b> synthetic images that look like your frames (Ctrl+1). Choose a preset (m2, or
<i>realistic</i> for frames with uneven light, straight lines, specks and camera noise), then move the
sliders until the rendered image, its grey-value histogram and the intensity profile across a dislocation
resemble the real frame beside it (drag the red line on both images). Point at a slider to read what it
does. <b>Backgrounds from my frames…</b> cuts dislocation-free crops from your frames and draws on them;
<b>Twin this frame</b> (W) copies the lines of an annotated frame. Save the preset (Ctrl+S).</li>
<li><b>Generate</b> a dataset (Ctrl+G): a few thousand images with one mask per dislocation,
written to the project's <i>datasets/</i>. You can cancel; finished images are kept.</li>
<li><b>Fine-tune</b> (Ctrl+3): with about ten annotated frames, press <b>Fine-tune on annotated
frames</b>. It starts from the project's model (else the shipped model for real frames) within the budget
beside it, holds
about one frame in five back, says what to expect on the rest of your video (the share of your traced
lines found, their length score, the share of its lines on a traced line) and makes the result the
project's model; when it does no better on the held-back frames than the model it started from, that
model is kept, and it says so. To train from scratch on your datasets instead, use the settings below it: Start
training is Ctrl+T, Cancel is Esc.</li>
<li><b>Segment</b> (Ctrl+4) the frame on screen with <b>F5</b> or the whole video with <b>Ctrl+F5</b>.
<i>Scale</i> resamples frames so their lines look as wide as in training ('auto' measures them).
Without a model of your own, <i>Choose model…</i> &gt; <i>Shipped model for real frames</i> finds more in real
micrographs than the default, which was trained on synthetic images only.
After a fine-tune, tick <i>with last.pt</i> to segment the frame and the video with the run's chosen and last
epochs together: more of the lines are found, with a few more false ones, in twice the time.
Click a dislocation for its length and curvature; <b>E</b> turns the prediction into an annotation
to correct and fine-tune on.</li>
<li><b>Analyse</b> (Ctrl+5): a table of every dislocation in the frame on screen (length, mean
curvature, centre, speed, frames seen) that follows the frame slider, tracks seen in too few frames
hidden, and the distances of chosen pairs against time; export CSV files, plots and overlay videos.</li>
</ol>
<p>The status bar shows the pixel under the cursor (x, y, in nm when the scale is known, and the grey
value in [0, 1]) and the scale. <b>Auto</b> and <b>Levels</b> in the corner of every image set its
contrast. Problems with files (unreadable frames, labelme files for another image size, presets with
unknown keys) appear in a strip above the status bar with what to do; the rest of the project stays usable.</p>
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
