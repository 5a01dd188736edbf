"""Analysis: from the network's probabilities to numbers, frame after frame.

- :mod:`.postprocess`: one clean mask per dislocation (a package, one module per step);
- :mod:`.splines`: a 50-point spline with curvature per mask;
- :mod:`.tracking`: ids that follow each dislocation across frames, and distances between dislocations;
- :mod:`.segment`: the whole video, resumable; :mod:`.export`: splines.csv and pair_distances.csv.
"""
