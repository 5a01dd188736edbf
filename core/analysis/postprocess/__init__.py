"""Predicted probability masks -> one clean mask per dislocation (paper §6.3).

Per frame, in this order (the module of each step in brackets;
:func:`postprocess` in :mod:`.pipeline` runs them):

1. threshold each of the N predicted masks at 0.5 [pieces];
2. remove specks: connected pieces smaller than ``min_size_px``; drop
   masks covering more than ``max_area_fraction`` of the frame (a line is
   thin: such a blob is a failed prediction, not a dislocation) [pieces];
3. split a mask into its separate pieces: pieces farther apart than
   ``split_gap_px`` (default 1 px: any gap) become masks of their own,
   flagged ``split``; pieces closer than that stay together, flagged
   ``several_components``. One network output often holds two or three
   neighbours of a pileup a few px apart; pieces of one broken line are
   put back together by step 6, which looks at their direction, not just
   their distance (on 80 validation images: 12 px without step 6 scored
   0.756, 1 px with it 0.810) [pieces];
4. merge duplicates: masks whose Dice loss (1 - Dice) is below 0.5 show the
   same dislocation; the one with the higher mean probability is kept (the
   larger one on a tie) and the others are listed in ``merged_from``
   [duplicates];
5. absorb pieces: a mask lying almost wholly (``contain_fraction``) on a
   longer single-line mask is a piece of the same dislocation that the Dice
   rule misses (a quarter of a line has Dice loss 0.6 against the whole
   line); it is merged into the longer mask (see
   :func:`.absorb.absorb_pieces` for what keeps a clean line out of a
   two-line mask) [absorb];
6. join pieces of one line lying end to end: the network often breaks a
   dislocation into two outputs with a gap between them; two single-line
   masks whose ends face each other across at most ``join_gap_px`` (each
   end pointing at the other within ``join_angle_deg``) become one mask,
   the gap bridged, flagged ``joined`` [join]; then compare skeletons: a mask
   tracing the same line as a longer one a few px to the side is a
   duplicate, and two that overlap end to end are joined (see
   :func:`.same_line.same_line`) [same_line]. Then drop masks whose skeleton
   is shorter than ``min_length_px``: network specks in the background, not
   lines [length];
7. flag masks whose skeleton branches (a side branch of at least
   ``splines.BRANCH_MIN_PX``) or closes into a loop: they likely hold more
   than one dislocation [flags].

Then each mask becomes a spline (:func:`core.analysis.splines.mask_to_spline`),
its ends prolonged to the mask's edge (``extend_ends``): a network's mask
thresholded at 0.5 ends short of its line and Lee thinning stops half a
width shorter still. On tem_8um, four fine-tuned models, recall of traced
lines rose 0.023-0.036 and the length score 0.027-0.042; on 80 synthetic
images recall rose 0.016 (m2, default.pt) and 0.005 (realistic,
realistic.pt) and the length score 0.02 (README, "Spline ends").

Splitting goes before merging so that a mask holding two far-apart lines
cannot swallow, as a "duplicate", a clean mask of one of them.

The settings and the result are :class:`PostprocessConfig` and
:class:`FrameMasks` (:mod:`.config`); the steps share the bounding-box
helpers of :mod:`.boxes`.
"""
from .config import FrameMasks, PostprocessConfig
from .duplicates import dice_matrix
from .pipeline import postprocess

__all__ = ["FrameMasks", "PostprocessConfig", "dice_matrix", "postprocess"]
