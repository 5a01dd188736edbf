"""The Analyse panel's pairs: the leading three of the largest pileup, or two dislocations clicked, and their distances.

A mixin of :class:`app.gui.panels.analyse.AnalysePanel`. Distances come from
:func:`core.analysis.tracking.pair_distance_rows` (what ``disloc track``
writes), with times from the result's calibration.
"""
from __future__ import annotations

from PySide6 import QtWidgets

from core.analysis.results import ResultIndex
from core.errors import DislocError

from ..widgets.spline_editor import make_colour_icon


def pair_colour(k: int) -> tuple[int, int, int]:
    """Colour of the k-th pair in the plot and the list (as in the plot 'disloc track' draws)."""
    from core.colors import color

    return color(k)


class PairChoice:
    """Pairs of track ids and their distance rows; needs the panel's ``result``, ``plot``, ``pair_list``, ``hint``."""

    def _on_pick(self, k: int) -> None:
        if 0 <= k < len(self.frame_ids):
            self._pick_id(self.frame_ids[k])

    def _pick_id(self, tid: int) -> None:
        """First pick: remember; second pick of another id: add the pair."""
        if self._pending is None or self._pending == tid:
            self._pending = tid
            self.hint.setText(f"dislocation {tid} chosen; click a second one to pair it")
            return
        a, self._pending = self._pending, None
        if (a, tid) in self.pairs or (tid, a) in self.pairs:
            self.hint.setText(f"pair {a}–{tid} is already plotted")
            return
        self.set_pairs(self.pairs + [(a, tid)])
        self.hint.setText(f"pair {a}–{tid} added. Click two more dislocations for another pair.")

    def auto_pairs(self) -> None:
        """The leading three of the largest pileup (core.analysis.tracking.auto_pairs)."""
        r = self.result
        if r is None:
            self.ctx.info("open a segmentation result first")
            return
        pairs = self._auto(r)
        if not pairs:
            self.ctx.warn(f"{r.out}: no pileup with two or more long-lived dislocations was found; "
                          "pick pairs by clicking two dislocations")
            return
        self.set_pairs(pairs)

    @staticmethod
    def _auto(r: ResultIndex) -> list[tuple[int, int]]:
        from core.analysis.tracking import auto_pairs

        return auto_pairs(r.curves, r.n_frames)

    def set_pairs(self, pairs) -> None:
        """Plot these pairs (id_a, id_b); distances from core.analysis.tracking.pair_distance_rows."""
        from core.analysis.tracking import pair_distance_rows

        self.pairs = [tuple(int(v) for v in p) for p in pairs]
        self.rows = []
        u = self.units()
        if self.result is not None and self.pairs:
            times = {f: u.time_s(f) for f in self.result.times}
            try:
                self.rows = pair_distance_rows(self.result.curves, times, self.pairs)
            except DislocError as e:
                self.ctx.warn(str(e))
                self.pairs = []
        self.pair_list.clear()
        colours = {p: pair_colour(k) for k, p in enumerate(sorted(self.pairs))}  # as core's PNG colours them
        for p in self.pairs:
            n = sum(1 for r in self.rows if (r[2], r[3]) == p)
            self.pair_list.addItem(QtWidgets.QListWidgetItem(make_colour_icon(colours[p]),
                                                             f"{p[0]} – {p[1]}    ({n} frames)"))
        self.plot.set_rows(self.rows, u, colours)
        if self.index >= 0:
            self.plot.set_cursor(self.index)

    def remove_selected_pair(self) -> None:
        row = self.pair_list.currentRow()
        if 0 <= row < len(self.pairs):
            self.set_pairs(self.pairs[:row] + self.pairs[row + 1:])

