"""One frame through the model, with the model kept loaded between frames (Qt-free; call it in a worker).

The Segment panel (F5) and the Annotate panel ("Predict this frame") both
use it, so a frame is predicted the same way in both: the same scale
handling as ``disloc segment`` and the same post-processing and spline fit.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Optional, Union

import numpy as np

from core.analysis.frameview import FrameView, view_from_probs
from core.analysis.postprocess import PostprocessConfig

from .threads import set_torch_threads_once


class FramePredictor:
    """A model loaded once and reloaded when its file changes; :meth:`view` predicts one frame."""

    def __init__(self) -> None:
        self._predictor = None
        self._key: Optional[tuple] = None
        self._lock = threading.Lock()  # two workers (warm-up and a request) must not load it twice at once

    @property
    def loaded_path(self) -> Optional[str]:
        return self._key[0] if self._key else None

    def clear(self) -> None:
        """Forget the loaded model (another project)."""
        with self._lock:
            self._predictor, self._key = None, None

    def get(self, path: Path):
        """The loaded :class:`core.learn.predict.Predictor` for ``path``."""
        from core.analysis.segment import load_predictor

        path = Path(path)
        key = (str(path), path.stat().st_mtime_ns)
        with self._lock:
            if self._key != key:
                set_torch_threads_once()
                self._predictor = load_predictor(path, batch_size=1)
                self._key = key
            return self._predictor

    def view(self, index: int, frame: np.ndarray, path: Path, scale: Union[float, str] = 1.0,
             config: PostprocessConfig = PostprocessConfig()) -> FrameView:
        """Masks and splines of one frame (float (H, W)); ``scale`` a factor or "auto" (measured on this frame)."""
        from core.analysis.scale import LINE_WIDTH_KEY, auto_scale, measure_line_width

        t0 = time.perf_counter()
        predictor = self.get(path)
        factor = scale
        if scale == "auto":  # as segment_video does, measured on this frame alone
            factor = auto_scale(predictor.header.get(LINE_WIDTH_KEY), measure_line_width(frame))
        probs = predictor.predict(frame, scale=factor)[0] if factor != 1.0 else predictor.predict(frame)[0]
        return view_from_probs(index, frame, probs, config, seconds=time.perf_counter() - t0)

    def warm(self, path: Path) -> None:
        """Load the model, and run one short line through post-processing and the spline fit (their libraries load)."""
        self.get(path)
        probs = np.zeros((1, 32, 32), np.float32)
        probs[0, 15:18, 4:28] = 0.9
        view_from_probs(0, np.zeros((32, 32), np.float32), probs)
