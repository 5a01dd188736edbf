"""Dislocation Studio core: the headless library (never imports Qt or ``app``).

Rooms by stage, each building on the ones before it:
:mod:`core.io` (files), :mod:`core.synth` (synthetic data), :mod:`core.learn`
(the network) and :mod:`core.analysis` (probabilities to numbers), then
:mod:`core.project` (one person's work); :mod:`core.demo` runs them all.
``tests/test_architecture.py`` checks who imports whom.
"""

__version__ = "0.1.0"
