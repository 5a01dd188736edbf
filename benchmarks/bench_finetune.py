"""Ten annotated frames -> the whole video: the few-shot protocol on a real in-situ TEM video.

The protocol of ``../shared/realdata/tem_8um/README.md``: frames 0, 6, ..., 54
(in sorted order) are "annotated" (their traced lines written as labelme line
strips by ``masks_to_labelme.py``), ``disloc finetune`` runs on them with its
default budget, ``disloc segment`` runs the fine-tuned model on the other 49
frames, and ``score_real.py`` scores those against their traced lines. For
each starting model it prints recall, length score, on-line share, the
held-out estimate ``disloc finetune`` printed, and the wall time of the
fine-tuning; and, as the reference, the starting model without fine-tuning.
With ``--pool`` it also segments with the run's chosen and last epochs pooled
(``disloc segment --model best.pt --model last.pt``) and scores that.
A run folder already in ``--keep DIR`` (its best.pt written) is scored again,
not fine-tuned again: its wall time and estimate then read "-".

The frames are only read from ``../shared``; everything made from them lives
in a temporary folder (or ``--keep DIR``, outside the project).

    .venv/bin/python benchmarks/bench_finetune.py [--model CKPT ...] [--minutes M] [--seed S ...] [--pool]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "realdata" / "tem_8um"
TOOLS = SHARED / "tools"
ANNOTATED = [str(i) for i in range(0, 55, 6)]


def disloc() -> list[str]:
    exe = Path(sys.executable).with_name("disloc")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "app"]


def run(cmd: list[str]) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return r.stdout


def score(model, test: Path, testlab: Path, seg: Path) -> dict:
    """Segment ``test`` with a model (a path) or several pooled (a list) and score it with score_real.py."""
    models = [model] if isinstance(model, str) else list(model)
    run(disloc() + ["segment", str(test)] + [a for m in models for a in ("--model", m)] + ["--out", str(seg),
                                                                                         "--restart"])
    line = run([sys.executable, str(TOOLS / "score_real.py"), str(testlab), str(seg)]).strip().splitlines()[-1]
    m = re.search(r"recall ([\d.]+) \((\d+)/(\d+).*length score ([\d.]+).*share of predictions ([\d.]+) \((\d+)", line)
    if not m:
        raise SystemExit(f"could not read the scorer's output: {line}")
    return {"recall": float(m[1]), "found": int(m[2]), "lines": int(m[3]), "length": float(m[4]),
            "on_line": float(m[5]), "predicted": int(m[6])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", default=[], help="starting checkpoint (repeatable; default: both shipped models)")
    ap.add_argument("--minutes", type=float, help="fine-tuning budget (default: disloc finetune's)")
    ap.add_argument("--seed", type=int, action="append", default=[],
                    help="fine-tuning seed (repeatable: one run per seed and model, and their mean; default 0). "
                         "Runs differ by several hundredths: where the budget ends and which epoch two "
                         "held-out frames pick move the result")
    ap.add_argument("--no-baseline", action="store_true", help="skip scoring the starting models as they are")
    ap.add_argument("--pool", action="store_true",
                    help="also score each run's best.pt and last.pt pooled (disloc segment with both --model)")
    ap.add_argument("--keep", metavar="DIR", help="keep the work folders here (outside the project)")
    args = ap.parse_args()
    if not (DATA / "frames").is_dir() or not (TOOLS / "score_real.py").is_file():
        print(f"bench_finetune: {DATA} or its tools are absent; nothing to measure (the real frames are not shipped)")
        return 0
    models = args.model or [str(ROOT / "resources" / "models" / n) for n in ("realistic.pt", "default.pt")]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        ann, test, testlab = base / "annotated", base / "test", base / "testlab"
        if not ann.is_dir():
            run([sys.executable, str(TOOLS / "masks_to_labelme.py"), str(DATA / "frames"), str(DATA / "labels"),
                 str(ann)] + ANNOTATED)
            run([sys.executable, str(TOOLS / "split_frames.py"), str(DATA / "frames"), str(DATA / "labels"),
                 str(test), str(testlab)] + ANNOTATED)
        rows = []
        for k, m in enumerate(models):
            name = Path(m).name
            if not args.no_baseline:
                r = score(m, test, testlab, base / f"seg_base{k}")
                rows.append((f"{name} as it is", r, None, None))
                print(f"{name} as it is: recall {r['recall']:.3f}, length {r['length']:.3f}, on-line {r['on_line']:.3f}",
                      flush=True)
            seeds = args.seed or [0]
            runs, pools = [], []
            for seed in seeds:
                out = base / f"ft{k}_s{seed}"
                cmd = disloc() + ["finetune", str(ann), "--out", str(out), "--model", m, "--seed", str(seed)]
                if args.minutes:
                    cmd += ["--minutes", str(args.minutes)]
                if args.keep and (out / "best.pt").is_file():  # fine-tuned before: score it again
                    text, wall = "", None
                    print(f"{out}: fine-tuned before; scoring it again", flush=True)
                else:
                    t0 = time.perf_counter()
                    text = run(cmd)
                    wall = time.perf_counter() - t0
                est = re.search(r"recall ([\d.]+) of your traced lines, length score ([\d.]+), on-line share ([\d.]+)",
                                text)
                t0 = time.perf_counter()
                r = score(str(out / "best.pt"), test, testlab, base / f"seg_ft{k}_s{seed}")
                seg_s = time.perf_counter() - t0
                runs.append(r)
                rows.append((f"{name} fine-tuned, seed {seed}", r, est, wall))
                took = f"{wall / 60:.1f} min" if wall else "reused"
                print(f"{name} fine-tuned, seed {seed} ({took}): recall {r['recall']:.3f}, "
                      f"length {r['length']:.3f}, on-line {r['on_line']:.3f}; held-out estimate "
                      f"{est.groups() if est else None} (segmenting and scoring {seg_s:.0f} s)", flush=True)
                if args.pool and (out / "last.pt").is_file():
                    t0 = time.perf_counter()
                    r = score([str(out / "best.pt"), str(out / "last.pt")], test, testlab,
                              base / f"seg_ft{k}_s{seed}_pool")
                    pools.append(r)
                    rows.append((f"{name} fine-tuned, seed {seed}, best.pt and last.pt pooled", r, None, None))
                    print(f"{name} fine-tuned, seed {seed}, pooled with last.pt: recall {r['recall']:.3f}, length "
                          f"{r['length']:.3f}, on-line {r['on_line']:.3f} (segmenting and scoring "
                          f"{time.perf_counter() - t0:.0f} s)", flush=True)
            for what, rs in (("", runs), (", pooled with last.pt", pools)):
                if len(rs) > 1:
                    mean = {key: sum(x[key] for x in rs) / len(rs) for key in ("recall", "length", "on_line")}
                    mean.update(found=round(sum(x["found"] for x in rs) / len(rs)), lines=rs[0]["lines"])
                    lo, hi = min(x["recall"] for x in rs), max(x["recall"] for x in rs)
                    rows.append((f"{name} fine-tuned{what}, mean of {len(rs)} seeds (recall {lo:.3f}-{hi:.3f})",
                                 mean, None, None))
    print("\n| model | recall | length score | on-line share | held-out estimate (recall / length / on-line) "
          "| fine-tune wall time |")
    print("|---|---|---|---|---|---|")
    for name, r, est, wall in rows:
        e = " / ".join(est.groups()) if est else "-"
        w = f"{wall / 60:.1f} min" if wall else "-"
        print(f"| {name} | {r['recall']:.3f} ({r['found']}/{r['lines']}) | {r['length']:.3f} | {r['on_line']:.3f} "
              f"| {e} | {w} |")
    print("\ntargets (issue 15): recall >= 0.70, length score >= 0.80, on-line share >= 0.50 on the other 49 frames, "
          "fine-tuning <= 10 min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
