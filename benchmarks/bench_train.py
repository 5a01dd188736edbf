"""Training and inference speed per encoder, the loss matrix, and a loss comparison.

Run from the repository root::

    .venv/bin/python benchmarks/bench_train.py                  # speed, ~4 min on 2 cores
    .venv/bin/python benchmarks/bench_train.py --compare-losses # greedy vs hungarian vs hungarian+empty
    .venv/bin/python benchmarks/bench_train.py --compare-losses --synth m2 --size 128 --loss-steps 240

Speed part, for each encoder (each in its own process, so peak memory is
its own): training images/s at batch 4 x 256 x 256 (fp32 and bf16
autocast), inference ms per 512 x 512 frame (fp32 and bf16), peak resident
memory (``ru_maxrss``). Then the batched M x N Dice-loss matrix against a
per-pair Python loop. The machine may be shared: figures are noisy, the
ratios less so.

Loss comparison: the same small synthetic set, seed, steps and network
trained with each loss; prints the length metric, duplicates per image and
union IoU on a held-out set.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _timed(fn, repeat: int) -> float:
    fn()  # warm-up: oneDNN picks kernels on the first call
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


def one_encoder(encoder: str, steps: int, threads: int) -> dict:
    import torch

    from core.learn.losses import MatchingDiceLoss
    from core.learn.model import create_model, normalize
    from core.learn.predict import bf16_supported

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = create_model("unetplusplus", encoder, 20).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    loss_fn = MatchingDiceLoss("hungarian+empty")
    x = normalize(torch.rand(4, 1, 256, 256)).contiguous(memory_format=torch.channels_last)
    masks = (torch.rand(4, 6, 256, 256) > 0.98).to(torch.uint8)
    out = {"encoder": encoder, "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 2)}
    bf16 = bf16_supported(torch.device("cpu"))

    def step(use_bf16: bool):
        def f():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
                logits = model(x)
            loss = loss_fn(logits, masks)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return f

    model.train()
    out["train_img_s_fp32"] = round(4 / _timed(step(False), steps), 2)
    if bf16:
        out["train_img_s_bf16"] = round(4 / _timed(step(True), steps), 2)
    model.eval()
    frame = normalize(torch.rand(1, 1, 512, 512)).contiguous(memory_format=torch.channels_last)

    def infer(use_bf16: bool):
        def f():
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
                model(frame)
        return f

    out["infer_ms_fp32"] = round(1000 * _timed(infer(False), 3), 1)
    if bf16:
        out["infer_ms_bf16"] = round(1000 * _timed(infer(True), 3), 1)
    out["peak_rss_MB"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0)
    return out


def loss_matrix_bench() -> dict:
    import torch

    from core.learn.losses import dice_loss_matrix, dice_loss_pairwise_loop, matching_dice_loss

    torch.manual_seed(0)
    pred = torch.rand(4, 20, 256, 256)
    true = (torch.rand(4, 10, 256, 256) > 0.97).float()
    t_loop = _timed(lambda: dice_loss_pairwise_loop(pred, true), 1)
    t_mat = _timed(lambda: dice_loss_matrix(pred, true), 5)
    err = float((dice_loss_matrix(pred, true) - dice_loss_pairwise_loop(pred, true)).abs().max())
    t_greedy = _timed(lambda: matching_dice_loss(pred, true, method="greedy"), 5)
    t_hung = _timed(lambda: matching_dice_loss(pred, true, method="hungarian+empty"), 5)
    return {"shape": "B=4 M=10 N=20 256x256", "loop_ms": round(1000 * t_loop, 1), "batched_ms": round(1000 * t_mat, 2),
            "speedup": round(t_loop / t_mat, 1), "max_abs_diff": err,
            "greedy_loss_total_ms": round(1000 * t_greedy, 2), "hungarian_empty_loss_total_ms": round(1000 * t_hung, 2)}


def speed(encoders: list[str], steps: int, threads: int) -> None:
    print(f"CPU: {os.cpu_count()} cores, {threads} threads; figures on a shared machine are noisy")
    for enc in encoders:
        r = subprocess.run([sys.executable, __file__, "--one", enc, "--steps", str(steps), "--threads", str(threads)],
                           capture_output=True, text=True, cwd=ROOT)
        if r.returncode:
            print(f"{enc}: failed\n{r.stderr[-2000:]}")
            continue
        res = json.loads(r.stdout.strip().splitlines()[-1])
        print(json.dumps(res))
        if "infer_ms_bf16" in res:
            print(f"  bf16/fp32 speed-up: inference {res['infer_ms_fp32'] / res['infer_ms_bf16']:.2f}x, "
                  f"training {res['train_img_s_bf16'] / res['train_img_s_fp32']:.2f}x")
    m = loss_matrix_bench()
    print("loss matrix:", json.dumps(m))
    print(f"  batched matrix is {m['speedup']}x faster than the per-pair Python loop (target >= 10x)")


def compare_losses(steps: int, threads: int, size: int, weights: list[float], losses: list[str],
                   precision: str, preset: str | None, keep: bool = False) -> None:
    """Train the same network on the same data with each loss and score it on held-out images."""
    import torch

    from core.learn.evaluate import score_source
    from core.learn.metrics import summarize
    from core.learn.model import load_checkpoint
    from core.learn.predict import Predictor
    from core.learn.runfolder import last_path
    from core.learn.train import train
    from core.learn.trainconfig import TrainConfig
    from core.learn.traindata import open_source
    from tests._lines import make_line_dataset

    torch.set_num_threads(threads)
    tmp = Path(tempfile.mkdtemp(prefix="disloc-losses-"))
    if preset:  # the project's generator: disloc synth
        tr, te = tmp / "train", tmp / "test"
        for out, n, seed in ((tr, 64, 0), (te, 24, 1)):
            subprocess.run([sys.executable, "-m", "app", "synth", "--preset", preset, "--n", str(n), "--out", str(out),
                            "--seed", str(seed), "--size", str(size)], check=True, cwd=ROOT, capture_output=True)
        n_masks, what = 20, f"disloc synth --preset {preset}"
    else:
        tr = make_line_dataset(tmp / "train", n=64, size=size, lines=(1, 5), seed=0)
        te = make_line_dataset(tmp / "test", n=24, size=size, lines=(1, 5), seed=1)
        n_masks, what = 8, "tests/_lines.py, 1-5 lines each"
    bs = 8
    epochs = max(1, steps // (64 // bs))
    runs = [(name, 0.0) for name in losses if name != "hungarian+empty"]
    runs += [("hungarian+empty", w) for w in weights] if "hungarian+empty" in losses else []
    print(f"data: 64 train / 24 test images of {size} px ({what}); tu-mobilenetv2_100, N={n_masks}, "
          f"batch {bs}, {epochs} epochs x {64 // bs} steps, lr 3e-3, seed 0, precision {precision}")
    rows = []
    for loss, w in runs:
        cfg = TrainConfig(data=(str(tr),), image_size=size, n_masks=n_masks, batch_size=bs, epochs=epochs, lr=3e-3,
                          loss=loss, empty_weight=w if w else 0.5, threads=threads, seed=0,
                          precision=precision)
        t0 = time.perf_counter()
        out = tmp / f"run-{loss}-{w}"
        train(cfg, out)
        secs = time.perf_counter() - t0
        model, header = load_checkpoint(last_path(out))
        pred = Predictor((model, header), precision="fp32")
        res = {}
        for matching in ("greedy", "hungarian"):
            s = summarize(score_source(pred, open_source(te), matching=matching).scores)
            res[matching] = s
        row = {"loss": loss if not w else f"{loss} (w={w})", "metric_greedy": round(res["greedy"]["metric"], 4),
               "metric_hungarian": round(res["hungarian"]["metric"], 4),
               "duplicates": round(res["greedy"]["duplicates"], 3), "iou": round(res["greedy"]["iou"], 4),
               "train_s": round(secs, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if keep:
        print(f"(data and runs in {tmp})")
    else:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoders", nargs="*", default=["tu-mobilenetv2_100", "resnet18", "tu-efficientnet_b0",
                                                      "resnet50"])
    ap.add_argument("--steps", type=int, default=2, help="timed training steps per encoder")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--compare-losses", action="store_true")
    ap.add_argument("--loss-steps", type=int, default=160)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--empty-weights", type=float, nargs="*", default=[0.1, 0.5])
    ap.add_argument("--losses", nargs="*", default=["greedy", "hungarian", "hungarian+empty"])
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    ap.add_argument("--keep", action="store_true", help="keep the loss comparison's data and runs")
    ap.add_argument("--synth", metavar="PRESET", help="compare on 'disloc synth --preset PRESET' data instead")
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one_encoder(a.one, a.steps, a.threads)))
    elif a.compare_losses:
        compare_losses(a.loss_steps, a.threads, a.size, a.empty_weights, a.losses, a.precision, a.synth, a.keep)
    else:
        speed(a.encoders, a.steps, a.threads)


if __name__ == "__main__":
    main()
