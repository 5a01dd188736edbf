"""Scoring trained models on datasets: the paper's Fig. 9a table and Fig. 9b curve.

:func:`score_source` runs one model over one folder (dataset or labelme
annotations) and scores every image; :func:`evaluate` does it for every
model x folder pair, and :func:`write_reports` writes the CSV files and
plots.

Files written by :func:`write_reports`:

``table.csv``
    model, dataset, n_images, metric, duplicates, iou, metric_clean,
    duplicates_clean, iou_clean, recall, length_score, on_line (one row per
    pair; the last three for folders of annotated frames: traced lines
    found, :mod:`core.analysis.linescore`).
``per_image.csv``
    model, dataset, sample, n_true, n_pred, metric, duplicates, iou,
    n_clean, metric_clean, duplicates_clean.
``metric_vs_count.csv``
    model, dataset, masks, n_dislocations, n_images, mean, median, q25, q75,
    min, max.

Two sets of scores: ``raw`` scores the network's N masks as they come out
(the paper's protocol, §4); ``clean`` (the ``*_clean`` columns) scores the
masks after :func:`core.analysis.postprocess.postprocess` (split, merge duplicates,
absorb pieces, drop specks), i.e. what ``disloc segment`` and the app export.
``metric_vs_count.png``, ``table.png``
    Box plots of the metric per number of true dislocations; the table as a heat map.
"""
from __future__ import annotations

import csv
import io
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import DislocError
from ..io.fileio import PathLike, atomic_write_bytes, atomic_write_text
from ..progress import Progress, ProgressCallback, StopCallback, check_stop, no_progress
from .metrics import ImageScore, evaluate_image, score_by_count, summarize
from .predict import DEFAULT_BATCH_SIZE
from .traindata import Source, keep_longest, load_item, open_source

log = logging.getLogger(__name__)


@dataclass
class SourceScores:
    """Scores of one model on one folder."""

    keys: list = field(default_factory=list)
    scores: list = field(default_factory=list)  # ImageScore per image
    clean: list = field(default_factory=list)  # ImageScore per image, post-processed masks
    losses: list = field(default_factory=list)  # matching loss per image (when asked for)
    lines: Optional[object] = None  # core.analysis.linescore.LineScore (when asked for)

    def summary(self) -> dict:
        s = summarize(self.scores)
        s["loss"] = float(np.mean(self.losses)) if self.losses else float("nan")
        return s


def score_source(predictor, source: Source, *, line_width: float = 3.0, limit: Optional[int] = None,
                 loss: Optional[str] = None, empty_weight: float = 0.1, matching: str = "greedy",
                 postprocess=None, lines: bool = False, should_stop: Optional[StopCallback] = None,
                 on_image: Optional[ProgressCallback] = None) -> SourceScores:
    """Predict and score every image of a folder (whole frames, no crop).

    Parameters
    ----------
    predictor : core.learn.predict.Predictor
    source : Source
        From :func:`core.learn.traindata.open_source`.
    limit : int, optional
        Score only the first ``limit`` images.
    loss : str, optional
        Also compute this matching loss per image (true masks capped at N, as in training).
    matching : str
        How the metric matches predictions to true masks ("greedy" as in the paper, or "hungarian").
    postprocess : core.analysis.postprocess.PostprocessConfig, optional
        Also score the post-processed masks (``SourceScores.clean``).
    lines : bool
        Also score the splines that ``disloc segment`` would export against
        the true masks as traced lines (``SourceScores.lines``: recall,
        length score, on-line share; :mod:`core.analysis.linescore`).
        Labelme strips are then scored
        :data:`~core.analysis.linescore.SCORE_LINE_WIDTH` px wide, whatever
        ``line_width`` the masks of the metric and loss are drawn at.
    """
    keys = list(source.keys[:limit] if limit else source.keys)
    out = SourceScores()
    if lines:
        from ..analysis.frameview import analyse_probs
        from ..analysis.linescore import LineScore, score_frame
        from ..analysis.postprocess import PostprocessConfig

        out.lines = LineScore()
    i = 0
    while i < len(keys):
        check_stop(should_stop)
        # Frames of one size go through the network together.
        batch = [(keys[i], *load_item(source, keys[i], line_width))]
        i += 1
        while i < len(keys) and len(batch) < predictor.batch_size:
            item = (keys[i], *load_item(source, keys[i], line_width))
            if item[1].shape != batch[0][1].shape:
                break
            batch.append(item)
            i += 1
        probs = predictor.predict(np.stack([b[1] for b in batch]))
        for (key, image, masks), p in zip(batch, probs):
            out.keys.append(str(key))
            out.scores.append(evaluate_image(p, masks, matching=matching))
            if postprocess is not None:
                out.clean.append(_clean_score(p, masks, postprocess, matching))
            if loss:
                out.losses.append(_image_loss(p, masks, predictor.n_masks, loss, empty_weight))
            if lines:
                _, splines = analyse_probs(p, postprocess or PostprocessConfig(), image=image)
                out.lines.add(score_frame(_scored_lines(source, key, masks), [sp.xy for sp in splines if sp is not None],
                                          masks.shape[1:]))
        if on_image is not None:
            on_image(Progress(i, len(keys), f"scoring {Path(source.path).name}"))
    return out


def score_lines(predictors: Sequence, source: Source, *, postprocess=None, line_width: float = 3.0,
                should_stop: Optional[StopCallback] = None, on_image: Optional[ProgressCallback] = None):
    """Traced-line scores of the splines ``disloc segment`` writes with these models pooled.

    Each frame goes through every model; their splines are put together,
    each line once (:func:`core.analysis.pool.pool_keep`, as ``disloc segment``
    with several ``--model``), and scored against the folder's lines as
    :func:`score_source` does with ``lines=True``.

    Returns
    -------
    core.analysis.linescore.LineScore
    """
    from ..analysis.frameview import view_from_probs
    from ..analysis.linescore import LineScore, score_frame
    from ..analysis.postprocess import PostprocessConfig

    cfg = postprocess or PostprocessConfig()
    out = LineScore()
    for i, key in enumerate(source.keys):
        check_stop(should_stop)
        image, masks = load_item(source, key, line_width)
        probs = [predictor.predict(image[None])[0] for predictor in predictors]
        view = view_from_probs(i, image, probs if len(probs) > 1 else probs[0], cfg)
        curves = [c for c in view.curves() if c is not None]
        out.add(score_frame(_scored_lines(source, key, masks), curves, masks.shape[1:]))
        if on_image is not None:
            on_image(Progress(i + 1, len(source.keys), f"scoring {Path(source.path).name}"))
    return out


def _scored_lines(source: Source, key, masks: np.ndarray) -> list:
    """The traced lines a frame's splines are scored against.

    Labelme line strips are rasterised :data:`~core.analysis.linescore.SCORE_LINE_WIDTH`
    px wide, not at the training width (``masks``): the estimate must read as
    ``score_real.py`` does against an expert's masks, whatever width the
    model learnt.
    """
    if source.kind != "annotations":
        return list(masks)
    from ..analysis.linescore import SCORE_LINE_WIDTH
    from ..io.labelme import rasterize, read_labelme

    return list(rasterize(read_labelme(Path(key)), SCORE_LINE_WIDTH))


def _clean_score(probs: np.ndarray, masks: np.ndarray, config, matching: str) -> ImageScore:
    from ..analysis.postprocess import postprocess

    return evaluate_image(postprocess(probs, config).masks.astype(np.float32), masks, matching=matching)


def _image_loss(probs: np.ndarray, masks: np.ndarray, n: int, method: str, empty_weight: float) -> float:
    import torch

    from .losses import matching_dice_loss

    kept, _ = keep_longest(masks, n)
    if not len(kept):
        kept = np.zeros((1, *masks.shape[1:]), bool)
        valid = torch.zeros(1, 1, dtype=torch.bool)
    else:
        valid = torch.ones(1, len(kept), dtype=torch.bool)
    loss, _ = matching_dice_loss(torch.from_numpy(probs)[None], torch.from_numpy(kept)[None], valid,
                                 method=method, empty_weight=empty_weight)
    return float(loss)


@dataclass
class EvalResult:
    """Everything :func:`evaluate` measured."""

    models: list
    datasets: list
    table: list  # dicts: model, dataset, n_images, metric, duplicates, iou, *_clean
    per_image: list  # dicts: model, dataset, sample, n_true, n_pred, metric, duplicates, iou, *_clean
    by_count: list  # dicts: model, dataset, masks, n_dislocations, n_images, mean, median, q25, q75, min, max
    scores: dict  # (model, dataset) -> list of ImageScore (raw network masks)
    clean: dict = field(default_factory=dict)  # (model, dataset) -> list of ImageScore (post-processed)


def evaluate(models: Sequence[PathLike], datasets: Sequence[PathLike], *, device=None,
             batch_size: int = DEFAULT_BATCH_SIZE, limit: Optional[int] = None, line_width: float = 3.0,
             matching: str = "greedy", precision: str = "auto", postprocess=None,
             on_progress: ProgressCallback = no_progress, should_stop: Optional[StopCallback] = None) -> EvalResult:
    """Score every model on every folder.

    Parameters
    ----------
    models : paths
        Checkpoints (``.pt``).
    datasets : paths
        Dataset folders or labelme annotation folders.
    limit : int, optional
        Images per folder (the first ones).
    postprocess : core.analysis.postprocess.PostprocessConfig, optional
        Settings for the ``clean`` scores (default: the app's defaults).
    """
    from ..analysis.postprocess import PostprocessConfig
    from .predict import Predictor

    postprocess = postprocess or PostprocessConfig()

    if not models:
        raise DislocError("no model given; name at least one checkpoint with --model")
    if not datasets:
        raise DislocError("no data given; name at least one dataset folder with --data")
    sources = [open_source(d) for d in datasets]
    n_img = [min(len(s.keys), limit) if limit else len(s.keys) for s in sources]
    total, done = len(models) * sum(n_img), 0
    table, per_image, by_count, scores, clean = [], [], [], {}, {}
    mnames = _names([str(m) for m in models])
    dnames = _names([s.path for s in sources])
    for mpath, mname in zip(models, mnames):
        pred = Predictor(mpath, device=device, batch_size=batch_size, precision=precision)
        for src, dname, n in zip(sources, dnames, n_img):
            def tick(p: Progress, base=done) -> None:
                on_progress(Progress(base + p.step, total, f"{mname} on {dname}"))

            ss = score_source(pred, src, line_width=line_width, limit=limit, matching=matching,
                              postprocess=postprocess, lines=src.kind == "annotations", should_stop=should_stop,
                              on_image=tick)
            done += n
            scores[(mname, dname)] = ss.scores
            clean[(mname, dname)] = ss.clean
            s, c = summarize(ss.scores), summarize(ss.clean)
            table.append({"model": mname, "dataset": dname, "n_images": s["n_images"], "metric": s["metric"],
                          "duplicates": s["duplicates"], "iou": s["iou"], "metric_clean": c["metric"],
                          "duplicates_clean": c["duplicates"], "iou_clean": c["iou"],
                          **_line_columns(ss.lines)})
            for key, sc, cc in zip(ss.keys, ss.scores, ss.clean):
                per_image.append({"model": mname, "dataset": dname, "sample": Path(key).stem, "n_true": sc.n_true,
                                  "n_pred": sc.n_pred, "metric": sc.score, "duplicates": sc.duplicates,
                                  "iou": sc.iou, "n_clean": cc.n_pred, "metric_clean": cc.score,
                                  "duplicates_clean": cc.duplicates})
            for masks, sc in (("raw", ss.scores), ("clean", ss.clean)):
                for row in score_by_count(sc):
                    by_count.append({"model": mname, "dataset": dname, "masks": masks, **row})
    return EvalResult(list(mnames), list(dnames), table, per_image, by_count, scores, clean)


def _line_columns(lines) -> dict:
    """recall, length_score, on_line of traced lines (annotated frames; NaN for synthetic datasets)."""
    nan = float("nan")
    if lines is None:
        return {"recall": nan, "length_score": nan, "on_line": nan}
    return {"recall": lines.recall, "length_score": lines.length, "on_line": lines.on_line_share}


def _names(paths: list[str]) -> list[str]:
    """Short unique labels for paths: the file/folder name, with its parent when names repeat."""
    def short(p: str, depth: int) -> str:
        parts = Path(p).resolve().parts
        return "/".join(parts[-depth:])

    for depth in (1, 2, 3):
        names = [short(p, depth) if depth > 1 else (Path(p).stem if Path(p).suffix == ".pt" else Path(p).name)
                 for p in paths]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in paths]


def _fmt(v) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4f}"
    return str(v)


def format_table(result: EvalResult, key: str = "metric") -> str:
    """The models x datasets table of one figure (``metric``, ``duplicates`` or ``iou``) as text."""
    cell = {(r["model"], r["dataset"]): r[key] for r in result.table}
    w0 = max([len(key)] + [len(m) for m in result.models]) + 2
    ws = [max(8, len(d)) + 2 for d in result.datasets]
    lines = [key.ljust(w0) + "".join(d.rjust(w) for d, w in zip(result.datasets, ws))]
    for m in result.models:
        lines.append(m.ljust(w0) + "".join(_fmt(cell[(m, d)]).rjust(w) for d, w in zip(result.datasets, ws)))
    return "\n".join(lines)


def _csv(rows: list[dict], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _fmt(r[k]) if isinstance(r[k], float) else r[k] for k in columns})
    return buf.getvalue()


def write_reports(result: EvalResult, out_dir: PathLike) -> list[Path]:
    """Write table.csv, per_image.csv, metric_vs_count.csv and the two PNG plots; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "table.csv": _csv(result.table, ["model", "dataset", "n_images", "metric", "duplicates", "iou",
                                         "metric_clean", "duplicates_clean", "iou_clean", "recall", "length_score",
                                         "on_line"]),
        "per_image.csv": _csv(result.per_image, ["model", "dataset", "sample", "n_true", "n_pred", "metric",
                                                 "duplicates", "iou", "n_clean", "metric_clean",
                                                 "duplicates_clean"]),
        "metric_vs_count.csv": _csv(result.by_count, ["model", "dataset", "masks", "n_dislocations", "n_images",
                                                      "mean", "median", "q25", "q75", "min", "max"]),
    }
    paths = []
    for name, text in files.items():
        atomic_write_text(out / name, text)
        paths.append(out / name)
    paths.append(_plot_by_count(result, out / "metric_vs_count.png"))
    paths.append(_plot_table(result, out / "table.png"))
    return paths


def _figure():
    # A bare Figure renders PNG through Agg without pyplot, so no GUI backend
    # is chosen or changed (the desktop app may already use Qt's).
    from matplotlib.figure import Figure

    return Figure


def _save(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _plot_by_count(result: EvalResult, path: Path) -> Path:
    Figure = _figure()
    pairs = list(result.scores)
    fig = Figure(figsize=(6.4, 3.2 * len(pairs)), layout="constrained")
    axes = fig.subplots(len(pairs), 1, squeeze=False)[:, 0]
    for ax, (m, d) in zip(axes, pairs):
        counts: set[int] = set()
        sets = [("network masks (paper)", result.scores[(m, d)], -0.2, "C0"),
                ("after post-processing", result.clean.get((m, d), []), 0.2, "C1")]
        for label, scores, shift, color in sets:
            by: dict[int, list[float]] = {}
            for s in scores:
                if not math.isnan(s.score):
                    by.setdefault(s.n_true, []).append(s.score)
            if not by:
                continue
            cs = sorted(by)
            counts.update(cs)
            bp = ax.boxplot([by[c] for c in cs], positions=[c + shift for c in cs], widths=0.35,
                            patch_artist=True, manage_ticks=False)
            for box in bp["boxes"]:
                box.set(facecolor=color, alpha=0.5)
            ax.plot([], [], color=color, lw=6, alpha=0.5, label=label)
        if counts:
            ax.set_xticks(sorted(counts), [str(c) for c in sorted(counts)])
            ax.legend(fontsize=8, loc="lower left")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("dislocations per image")
        ax.set_ylabel("length metric")
        ax.set_title(f"{m} on {d}", fontsize=9)
    return _save(fig, path)


def _plot_table(result: EvalResult, path: Path) -> Path:
    Figure = _figure()
    cell = {(r["model"], r["dataset"]): r["metric"] for r in result.table}
    a = np.array([[cell[(m, d)] for d in result.datasets] for m in result.models], float)
    fig = Figure(figsize=(1.6 + 1.4 * len(result.datasets), 1.2 + 0.6 * len(result.models)), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(np.nan_to_num(a, nan=0.0), vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(result.datasets)), result.datasets, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(result.models)), result.models, fontsize=8)
    for (i, j), v in np.ndenumerate(a):
        ax.text(j, i, _fmt(float(v))[:5], ha="center", va="center", color="w" if v < 0.6 else "k", fontsize=8)
    ax.set_xlabel("dataset")
    ax.set_ylabel("model")
    fig.colorbar(im, ax=ax, label="length metric")
    return _save(fig, path)


__all__ = ["score_source", "evaluate", "write_reports", "format_table", "EvalResult", "SourceScores", "ImageScore"]
