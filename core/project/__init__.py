"""The project: one person's work on one material or experiment, kept in one folder.

- :mod:`.folder`: the project folder (project.json, the frames it refers to, annotations/,
  backgrounds/, presets/, datasets/, runs/, results/);
- :mod:`.annotation`: the editable annotation of a frame (Qt-free, with undo), saved as labelme;
- :mod:`.runs`: the training runs of a project and the model it segments with.
"""
