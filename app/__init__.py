"""Dislocation Studio desktop app: a thin Qt view over ``core``.

Importing the package configures pyqtgraph once: images are indexed
(row, column) like numpy arrays everywhere in the app.
"""
import pyqtgraph as pg

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
