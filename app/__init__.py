"""Dislocation Studio's two front ends, thin shells over ``core``.

- :mod:`app.cli`: the ``disloc`` command (imports no Qt; ``disloc gui`` and
  ``disloc demo`` open the window through :mod:`app.gui`);
- :mod:`app.gui`: the PySide6 + pyqtgraph desktop app (panels, widgets, workers).
"""
