"""The desktop app: a thin Qt view over ``core`` (the main window composes one panel per stage).

Importing the package is the GUI's start-up: it configures pyqtgraph once,
so images are indexed (row, column) like numpy arrays everywhere in the app.
The command line (:mod:`app.cli`) imports it only to open the window.
"""
import pyqtgraph as pg

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
