"""Learning: the network, its training on synthetic and annotated frames, and how well it scores.

- :mod:`.model`: U-Net++ and self-describing checkpoints; :mod:`.predict`: a loaded model on frames of any size;
- :mod:`.losses`: the matching Dice loss; :mod:`.metrics`: the length metric, duplicates, IoU;
- :mod:`.trainconfig`: every setting of a run; :mod:`.traindata`: datasets and labelme folders as batches;
  :mod:`.augment`: augmentations; :mod:`.train`: the training loop; :mod:`.runfolder`: a run's folder;
- :mod:`.evaluate`: models x datasets tables (the paper's Fig. 9).
"""
