"""One frame through the model, with the model kept loaded between frames (Qt-free; call it in a worker).

The Segment panel (F5) and the Annotate panel ("Predict this frame") both
use it, so a frame is predicted the same way in both: the same scale
handling as ``disloc segment`` and the same post-processing and spline fit.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from core.analysis.frameview import FrameView, view_from_probs
from core.analysis.postprocess import PostprocessConfig

from .threads import set_torch_threads_once


class FramePredictor:
    """Models loaded once and reloaded when their file changes; :meth:`view` predicts one frame."""

    def __init__(self) -> None:
        self._loaded: dict = {}  # str(path) -> (mtime_ns, Predictor), the models of the latest request
        self._lock = threading.Lock()  # two workers (warm-up and a request) must not load a model twice at once

    @property
    def loaded_paths(self) -> list:
        """The models loaded (str paths), those of the latest request."""
        return list(self._loaded)

    def clear(self) -> None:
        """Forget the loaded models (another project)."""
        with self._lock:
            self._loaded = {}

    def _get(self, paths: list) -> list:
        """The loaded :class:`core.learn.predict.Predictor` of each path (loaded or reloaded as needed)."""
        from core.analysis.segment import load_predictor

        with self._lock:
            kept = {}
            for path in paths:
                mtime = path.stat().st_mtime_ns
                hit = self._loaded.get(str(path))
                if hit is None or hit[0] != mtime:
                    set_torch_threads_once()
                    hit = (mtime, load_predictor(path, batch_size=1))
                kept[str(path)] = hit
            self._loaded = kept  # models no longer asked for are let go
            return [kept[str(p)][1] for p in paths]

    def view(self, index: int, frame: np.ndarray, path: Union[Path, Sequence[Path]], scale: Union[float, str] = 1.0,
             config: PostprocessConfig = PostprocessConfig(), mirrors: int = 1) -> FrameView:
        """Masks and splines of one frame (float (H, W)); ``scale`` a factor or "auto" (measured on this frame).

        ``path`` may be a list of checkpoints: the frame goes through each
        and their lines are pooled, each once, as ``disloc segment`` with
        several ``--model`` does; ``mirrors`` (2, 4 or 8) adds each model's
        look at mirror images (and quarter turns) of the frame, as ``--mirrors`` does.
        """
        from core.analysis.scale import LINE_WIDTH_KEY, auto_scale, measure_line_width
        from core.learn.mirrors import VIEW_WORDS, mirror_predictors

        t0 = time.perf_counter()
        paths = [Path(p) for p in path] if isinstance(path, (list, tuple)) else [Path(path)]
        predictors = self._get(paths)
        if mirrors > 1:
            predictors = mirror_predictors(predictors, paths, mirrors)
        factor = scale
        if scale == "auto":  # as segment_video does (one factor, from the first model), measured on this frame alone
            factor = auto_scale(predictors[0].header.get(LINE_WIDTH_KEY), measure_line_width(frame))
        probs = [p.predict(frame, scale=factor)[0] if factor != 1.0 else p.predict(frame)[0] for p in predictors]
        sources = ()
        if mirrors > 1:  # the inspector says which outputs looked at which mirror image
            one = len(paths) == 1  # then no model name: "as it is", "mirrored left-right", ...
            sources = tuple((VIEW_WORDS[p.mirror] or "as it is") if one else
                            " ".join(filter(None, (paths[k // mirrors].name, VIEW_WORDS[p.mirror])))
                            for k, p in enumerate(predictors))
        return view_from_probs(index, frame, probs if len(probs) > 1 else probs[0], config,
                               seconds=time.perf_counter() - t0, sources=sources)

    def warm(self, path: Union[Path, Sequence[Path]]) -> None:
        """Load the models, and run one short line through post-processing and the spline fit (their libraries load)."""
        self._get([Path(p) for p in path] if isinstance(path, (list, tuple)) else [Path(path)])
        probs = np.zeros((1, 32, 32), np.float32)
        probs[0, 15:18, 4:28] = 0.9
        view_from_probs(0, np.zeros((32, 32), np.float32), probs)
