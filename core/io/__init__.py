"""Files in and out: frames to read, and the folder formats every stage shares.

- :mod:`.frames`: videos, TIFF stacks, image folders, single images and DM3/DM4 as frames
  (``open_frames``), with the private readers ``_tiff``, ``_video``, ``_dm``, ``_units``;
- :mod:`.fileio`: atomic writes (temp file + rename), JSON and image reading;
- :mod:`.dataset`: the dataset folder (images, bit-packed instance masks, params) and mask files;
- :mod:`.labelme`: labelme annotation files, read strictly and written back with unknown keys kept.
"""
