"""Batch segmentation speed per stage, and memory as the video grows.

Run from the repository root::

    .venv/bin/python benchmarks/bench_segment.py            # ~3-5 min on 2 shared cores
    .venv/bin/python benchmarks/bench_segment.py --frames 200 --long 1000 --model-frames 8

What it measures, on a rendered 512 x 512 glide video (a strip of ~20 bowed
dislocations in pileups, ~10 in view, moving 0.5 px per frame, noisy gray
background, H.264 MP4):

1. The model: the shipped model (UNet++ with tu-mobilenetv2_100, N = 20;
   ``--model`` for another checkpoint, ``--model untrained`` for a fresh
   net) through :class:`core.learn.predict.Predictor`, on ``--model-frames`` frames.
2. Everything after the model, on all ``--frames`` frames, through the real
   :func:`core.analysis.segment.segment_video` (read -> post-process -> splines ->
   tracking -> masks + CSV with fsync), with the network replaced by the
   ground-truth masks of each frame (20 outputs: the true masks at p = 0.9
   plus one dilated duplicate per frame for the merger to find). An
   untrained network gives random blobs, so post-processing must be timed
   on realistic masks like these.
3. End-to-end frames/s = 1 / (model s/frame + everything else s/frame), and
   the share of each stage; plus one real end-to-end run of the model on a
   short clip: seconds per frame (target <= 0.5 s on 2 CPU cores).
4. Peak resident memory (ru_maxrss) of stage 2 for ``--frames`` and ``--long``
   frames, each in a fresh process: it must stay flat.

Target: post-processing + splines + tracking <= 20 % of the model's time per frame.

``--huge`` measures one frame of 10000 x 10000 px instead (issue 18): a mosaic
of 20 x 20 synthetic m2 samples (500 px each, every dislocation's mask
known; thousands of dislocations), saved as a PNG and segmented by
``segment_video`` with the shipped model in a child process, tile by tile.
It prints the child's peak resident memory (ru_maxrss; target < 2 GB), the
time, and how many true dislocations a found mask covers.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZE = 512
SPEED = 0.5  # px per frame
N_MASKS = 20
WIDTH = 5.0


def strip_scene(n_frames: int, seed: int = 0):
    """Dense polylines of bowed dislocations across a strip wide enough for the whole glide."""
    rng = np.random.default_rng(seed)
    width = SIZE + int(np.ceil(SPEED * n_frames)) + 2
    lines, x = [], 20.0
    while x < width - 20:
        n_pile = int(rng.integers(3, 6))
        tilt, bow = rng.uniform(-40, 40), rng.uniform(-25, 25)
        for k in range(n_pile):
            s = np.linspace(0, 1, 300)
            xs = x + tilt * s + bow * np.sin(np.pi * s) + rng.normal(0, 1.0) * np.sin(2 * np.pi * s)
            ys = 10 + (SIZE - 20) * s
            lines.append(np.column_stack([xs, ys]))
            x += rng.uniform(14, 30)
        x += rng.uniform(40, 80)
    return lines, width


def render_strip(lines, width: int):
    from core.io.labelme import rasterize_polyline

    yy, xx = np.mgrid[0:SIZE, 0:width].astype(np.float32)
    img = 0.62 + 0.08 * np.sin(xx / 97.0) * np.cos(yy / 131.0)
    masks = []
    for pts in lines:
        x0, x1 = int(max(pts[:, 0].min() - 8, 0)), int(min(pts[:, 0].max() + 9, width))
        sub_x, sub_y = xx[:, x0:x1], yy[:, x0:x1]
        d = np.full(sub_x.shape, np.inf, np.float32)
        for (ax, ay), (bx, by) in zip(pts[:-1:3], pts[3::3]):
            dx, dy = bx - ax, by - ay
            t = np.clip(((sub_x - ax) * dx + (sub_y - ay) * dy) / (dx * dx + dy * dy), 0, 1)
            np.minimum(d, np.hypot(sub_x - ax - t * dx, sub_y - ay - t * dy), out=d)
        img[:, x0:x1] -= 0.3 * np.exp(-0.5 * (d / 1.4) ** 2)
        masks.append(rasterize_polyline(pts, (SIZE, width), WIDTH))
    return img, np.stack(masks)


def offset(t: int) -> int:
    return int(round(SPEED * t))


def write_video(path: Path, n_frames: int) -> None:
    import imageio_ffmpeg

    lines, width = strip_scene(n_frames)
    img, _ = render_strip(lines, width)
    rng = np.random.default_rng(1)
    gen = imageio_ffmpeg.write_frames(str(path), (SIZE, SIZE), pix_fmt_in="gray", fps=25, macro_block_size=16,
                                      ffmpeg_log_level="error", quality=8)
    gen.send(None)
    for t in range(n_frames):
        o = offset(t)
        frame = img[:, o:o + SIZE] + 0.03 * rng.standard_normal((SIZE, SIZE), dtype=np.float32)
        gen.send(np.ascontiguousarray((np.clip(frame, 0, 1) * 255).astype(np.uint8)))
    gen.close()


class GroundTruthNet:
    """Stands in for the network: returns each frame's true masks as 20 probability maps, in frame order.

    Each line's mask is kept only over its own bounding box, so this stand-in
    holds about a megabyte whatever the video length (memory figures stay
    those of the pipeline).
    """

    n_masks = N_MASKS

    def __init__(self, n_frames: int) -> None:
        from scipy import ndimage

        from core.io.labelme import rasterize_polyline

        self._ndi = ndimage
        lines, _ = strip_scene(n_frames)
        self.pieces = []  # (x0, mask over columns x0..x0+w)
        for pts in lines:
            x0 = int(max(np.floor(pts[:, 0].min() - WIDTH), 0))
            x1 = int(np.ceil(pts[:, 0].max() + WIDTH)) + 1
            self.pieces.append((x0, rasterize_polyline(pts - [x0, 0], (SIZE, x1 - x0), WIDTH)))
        self.t = 0

    def nbytes(self) -> int:
        return sum(m.nbytes for _, m in self.pieces)

    def frame_masks(self, t: int) -> list:
        o = offset(t)
        out = []
        for x0, m in self.pieces:
            a, b = max(x0, o), min(x0 + m.shape[1], o + SIZE)
            if a >= b:
                continue
            full = np.zeros((SIZE, SIZE), bool)
            full[:, a - o:b - o] = m[:, a - x0:b - x0]
            if full.sum() >= 30:
                out.append(full)
        return out

    def predict(self, frames):
        out = np.full((len(frames), N_MASKS, SIZE, SIZE), 0.02, np.float32)
        for b in range(len(frames)):
            live = self.frame_masks(self.t)[: N_MASKS - 1]
            for k, m in enumerate(live):
                out[b, k][m] = 0.9
            if live:  # a duplicate: the first mask dilated, less confident
                out[b, len(live)][self._ndi.binary_dilation(live[0], iterations=1)] = 0.7
            self.t += 1
        return out


def run_pipeline(video: Path, n_frames: int, out: Path, follow_ridge: bool = True) -> dict:
    from core.analysis.postprocess import PostprocessConfig
    from core.analysis.segment import segment_video
    from core.analysis.segmentconfig import SegmentConfig

    net = GroundTruthNet(n_frames)
    t0 = time.perf_counter()
    res = segment_video(video, net, out, SegmentConfig(batch_size=4, restart=True,
                                                       postprocess=PostprocessConfig(follow_ridge=follow_ridge)))
    wall = time.perf_counter() - t0
    return {"frames": res.frames_done, "wall_s": wall, "seconds": res.seconds, "n_tracks": res.n_tracks,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "stand_in_mb": net.nbytes() / 1e6}


def model_time(n: int, batch: int, checkpoint=None) -> dict:
    import torch

    from core.learn.model import create_model, make_header
    from core.learn.predict import Predictor

    torch.set_num_threads(2)
    torch.manual_seed(0)
    if checkpoint is not None:
        pred = Predictor(checkpoint, device="cpu", batch_size=batch)
    else:
        net = create_model("unetplusplus", "tu-mobilenetv2_100", N_MASKS)
        header = make_header(arch="unetplusplus", encoder="tu-mobilenetv2_100", n_masks=N_MASKS, input_size=SIZE)
        pred = Predictor((net, header), device="cpu", batch_size=batch)
    rng = np.random.default_rng(0)
    frames = rng.random((batch, SIZE, SIZE)).astype(np.float32)
    pred.predict(frames)  # warm-up (kernel choice, bf16 check)
    t = time.perf_counter()
    done = 0
    while done < n:
        pred.predict(frames)
        done += batch
    return {"s_per_frame": (time.perf_counter() - t) / done, "precision": pred.precision_used, "predictor": pred}


def child(args) -> None:
    print(json.dumps(run_pipeline(Path(args.child_video), args.child_frames, Path(args.child_out),
                                  follow_ridge=not args.child_mask_ends)))


HUGE = 10000
CELL = 500


def write_mosaic(folder: Path, seed: int = 18) -> tuple[Path, Path]:
    """A HUGE x HUGE PNG of 20 x 20 synthetic samples and their true masks (sparse, one npz)."""
    import imageio.v3 as iio

    from core.analysis.sparse import SparseMask, pack
    from core.io.fileio import atomic_write_npz
    from core.synth.presets import load_preset
    from core.synth.writer import make_sample

    preset = load_preset("m2")
    image = np.zeros((HUGE, HUGE), np.uint8)
    truth = []
    n = HUGE // CELL
    for k in range(n * n):
        y, x = (k // n) * CELL, (k % n) * CELL
        s = make_sample(preset, seed, k, 512)
        img = s.image[:CELL, :CELL].astype(np.float64)
        img = 0.5 + 0.12 * (img - img.mean()) / max(img.std(), 1e-6)  # one brightness over the whole mosaic
        image[y:y + CELL, x:x + CELL] = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
        for m in s.masks[:, :CELL, :CELL]:
            if np.count_nonzero(m) >= 30:
                truth.append(SparseMask.from_dense(m, y, x))
    png = folder / "huge.png"
    iio.imwrite(png, image)
    masks = folder / "huge_truth.npz"
    atomic_write_npz(masks, **pack(truth, (HUGE, HUGE)))
    return png, masks


def huge_child(args) -> None:
    from core.analysis.segment import segment_video
    from core.analysis.segmentconfig import SegmentConfig
    from core.shipped import default_model_path

    t0 = time.perf_counter()
    res = segment_video(args.child_huge, args.model or default_model_path(), args.child_out,
                        SegmentConfig(batch_size=args.batch_size, restart=True))
    print(json.dumps({"wall_s": time.perf_counter() - t0, "seconds": res.seconds, "n_tracks": res.n_tracks,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))


def huge(args) -> None:
    from core.analysis.results import load_frame_masks_sparse
    from core.analysis.sparse import unpack

    tmp = Path(tempfile.mkdtemp(prefix="bench_huge_"))
    t = time.perf_counter()
    png, truth_path = write_mosaic(tmp)
    print(f"rendered a {HUGE}x{HUGE} px frame ({png.stat().st_size / 1e6:.0f} MB PNG) in "
          f"{time.perf_counter() - t:.0f} s")
    cmd = [sys.executable, __file__, "--child-huge", str(png), "--child-out", str(tmp / "out"),
           "--batch-size", str(args.batch_size)] + (["--model", args.model] if args.model else [])
    r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    with np.load(truth_path) as z:
        _, truth = unpack(z)
    _, found = load_frame_masks_sparse(tmp / "out", 0)
    covered = np.zeros((HUGE, HUGE), bool)  # found masks, grown by 2 px (the model's lines are a little off)
    for m in found:
        y0, y1, x0, x1 = m.box
        a, b, c, d = max(y0 - 2, 0), min(y1 + 2, HUGE), max(x0 - 2, 0), min(x1 + 2, HUGE)
        from scipy import ndimage

        covered[a:b, c:d] |= ndimage.binary_dilation(m.window(a, b, c, d), iterations=2)
    hit = sum(np.count_nonzero(covered[m.box[0]:m.box[1], m.box[2]:m.box[3]] & m.crop) >= 0.5 * m.area
              for m in truth)
    sec = r["seconds"]
    print(f"\nhuge frame {HUGE}x{HUGE} px, shipped model, tiles of 512 px: {r['wall_s']:.0f} s "
          f"(read {sec['read']:.0f} s, model + post-processing per tile {sec['model']:.0f} s, splines "
          f"{sec['splines']:.0f} s, write {sec['write']:.0f} s)")
    print(f"  peak RSS {r['peak_rss_mb']:.0f} MB (target < 2048 MB)")
    print(f"  {len(truth)} true dislocations, {len(found)} masks found; {hit} ({100 * hit / len(truth):.1f} %) of "
          f"the true ones at least half covered by a found mask; {r['n_tracks']} ids in splines.csv")
    print(f"(outputs in {tmp})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--long", type=int, default=1000, help="frames of the memory run (0: skip)")
    ap.add_argument("--model-frames", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--model", help="checkpoint to time (default: the shipped model; 'untrained' for a fresh net)")
    ap.add_argument("--huge", action="store_true", help="only the 10000 x 10000 px frame: peak RSS and time")
    ap.add_argument("--child-video")
    ap.add_argument("--child-frames", type=int)
    ap.add_argument("--child-out")
    ap.add_argument("--child-huge")
    ap.add_argument("--child-mask-ends", action="store_true")
    args = ap.parse_args()
    if args.child_video:
        return child(args)
    if args.child_huge:
        return huge_child(args)
    if args.huge:
        return huge(args)
    tmp = Path(tempfile.mkdtemp(prefix="bench_segment_"))
    runs = {}
    for n in [args.frames] + ([args.long] if args.long else []):
        video = tmp / f"glide_{n}.mp4"
        t = time.perf_counter()
        write_video(video, n)
        print(f"rendered {n} frames -> {video.name} ({video.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t:.0f} s")
        cmd = [sys.executable, __file__, "--child-video", str(video), "--child-frames", str(n),
               "--child-out", str(tmp / f"out_{n}")]
        runs[n] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    # the reference: spline ends where the masks end (--follow-ridge no), without the frame's ridge map
    cmd = [sys.executable, __file__, "--child-video", str(tmp / f"glide_{args.frames}.mp4"), "--child-frames",
           str(args.frames), "--child-out", str(tmp / "out_mask_ends"), "--child-mask-ends"]
    plain = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    r = runs[args.frames]
    per = {k: v / r["frames"] for k, v in r["seconds"].items() if k != "model"}
    print(f"\npipeline without the model, {r['frames']} frames 512x512, ground-truth masks (~10 per frame):")
    print(f"  {'(gt masks)':12s} {r['seconds']['model'] / r['frames'] * 1e3:8.1f} ms/frame  (making the stand-in "
          "masks; not counted)")
    for k, v in per.items():
        print(f"  {k:12s} {v * 1e3:8.1f} ms/frame")
    wall = r["wall_s"] - r["seconds"]["model"]
    print(f"  wall         {wall / r['frames'] * 1e3:8.1f} ms/frame  ({r['frames'] / wall:.1f} frames/s), "
          f"{r['n_tracks']} tracks")
    ridge_ms = (r["seconds"]["splines"] - plain["seconds"]["splines"]) / r["frames"] * 1e3
    print(f"  splines with ends at the masks (--follow-ridge no): {plain['seconds']['splines'] / r['frames'] * 1e3:.1f} "
          f"ms/frame, so following the frame's line costs {ridge_ms:.1f} ms/frame (ridge map + walk)")

    from core.shipped import default_model_path

    ckpt = None if args.model == "untrained" else (args.model or default_model_path())
    m = model_time(args.model_frames, args.batch_size, ckpt)
    model_s = m["s_per_frame"]
    name = Path(ckpt).name if ckpt else "untrained"
    print(f"\nmodel {name}: UNet++ tu-mobilenetv2_100, N=20, CPU 2 threads, batch {args.batch_size}, {m['precision']}: "
          f"{model_s * 1e3:.0f} ms/frame")
    rest = sum(per.values())
    post = per["postprocess"] + per["splines"] + per["tracking"]
    total = model_s + rest
    print(f"\nend to end (model + pipeline): {1 / total:.2f} frames/s")
    for k, v in [("model", model_s)] + list(per.items()):
        print(f"  {k:12s} {100 * v / total:5.1f} %")
    print(f"post-processing + splines + tracking = {post * 1e3:.1f} ms/frame = {100 * post / model_s:.1f} % of the "
          f"model's time (target <= 20 %): {'OK' if post <= 0.2 * model_s else 'MISSED'}")
    post0 = post - ridge_ms / 1e3
    print(f"  with ends at the masks: {post0 * 1e3:.1f} ms/frame = {100 * post0 / model_s:.1f} %")

    # A real end-to-end run of the model on a short clip of the same video.
    from core.analysis.segment import segment_video
    from core.analysis.segmentconfig import SegmentConfig

    clip = tmp / "clip.mp4"
    write_video(clip, args.model_frames)
    t = time.perf_counter()
    res = segment_video(clip, m["predictor"], tmp / "out_clip", SegmentConfig(batch_size=args.batch_size, restart=True))
    wall = time.perf_counter() - t
    print(f"\nreal end-to-end, {name}, {res.frames_done} frames: {wall / res.frames_done:.3f} s/frame "
          f"(target <= 0.5 s), {res.frames_done / wall:.2f} frames/s; "
          + ", ".join(f"{k} {100 * v / wall:.0f} %" for k, v in res.seconds.items()))

    if args.long:
        a, b = runs[args.frames], runs[args.long]
        print(f"\npeak RSS of read + post-process + splines + tracking + CSV (one process each): "
              f"{a['peak_rss_mb']:.0f} MB at {args.frames} frames, {b['peak_rss_mb']:.0f} MB at {args.long} frames "
              f"(ratio {b['peak_rss_mb'] / a['peak_rss_mb']:.2f}; flat = 1.00; the ground-truth stand-in holds "
              f"{a['stand_in_mb']:.1f} and {b['stand_in_mb']:.1f} MB)")
    print(f"\n(outputs in {tmp})")


if __name__ == "__main__":
    main()
