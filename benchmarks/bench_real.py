"""Real-data quality: segment a real in-situ TEM video and score it against traced lines.

Segments ``../shared/realdata/tem_8um`` (59 frames of a real straining video
with expert-traced dislocation lines; see its README) with each model given,
exactly as a user would (``disloc segment FRAMES --model CKPT --out DIR``),
then scores the result with ``../shared/tools/score_real.py``: recall of
traced lines, length score on the lines found, and the share of predicted
splines that lie on a traced line. Models are compared in the same run, the
shipped ones (default.pt, realistic.pt) first unless ``--no-shipped``.

The frames are only read from ``../shared``; nothing made from them is kept
(``--keep DIR`` keeps the segmentation folders for a look, outside the project).

    .venv/bin/python benchmarks/bench_real.py [--model CKPT ...] [--segment-args "--scale auto"]
"""
from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "realdata" / "tem_8um"
SCORER = SHARED / "tools" / "score_real.py"


def disloc() -> list[str]:
    """The ``disloc`` command of this interpreter's environment."""
    exe = Path(sys.executable).with_name("disloc")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "app"]


def score(model: str, seg_dir: Path, extra: list[str]) -> dict:
    t0 = time.perf_counter()
    r = subprocess.run(disloc() + ["segment", str(DATA / "frames"), "--model", model, "--out", str(seg_dir),
                                   "--restart"] + extra, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"disloc segment failed for {model}:\n{r.stderr[-2000:]}")
    s = subprocess.run([sys.executable, str(SCORER), str(DATA / "labels"), str(seg_dir)], capture_output=True,
                       text=True)
    line = s.stdout.strip().splitlines()[-1] if s.stdout.strip() else s.stderr
    m = re.search(r"recall ([\d.]+) \((\d+)/(\d+).*length score ([\d.]+).*on-line share of predictions ([\d.]+) "
                  r"\((\d+) predicted\)", line)
    if not m:
        raise SystemExit(f"could not read the scorer's output: {line}")
    return {"model": model, "recall": float(m[1]), "found": int(m[2]), "lines": int(m[3]),
            "length": float(m[4]), "on_line": float(m[5]), "predicted": int(m[6]), "seconds": seconds}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", default=[], help="checkpoint to score (repeatable)")
    ap.add_argument("--no-shipped", action="store_true", help="leave out the shipped models")
    ap.add_argument("--segment-args", default="", help="extra options for disloc segment, quoted")
    ap.add_argument("--keep", metavar="DIR", help="keep the segmentation folders here (outside the project)")
    args = ap.parse_args()
    if not (DATA / "frames").is_dir() or not SCORER.is_file():
        print(f"bench_real: {DATA} or {SCORER} is absent; nothing to score (the real frames are not shipped)")
        return 0
    shipped = [str(ROOT / "resources" / "models" / n) for n in ("default.pt", "realistic.pt")]
    models = ([] if args.no_shipped else shipped) + args.model
    extra = shlex.split(args.segment_args)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        for k, m in enumerate(models):
            rows.append(score(m, base / f"seg{k}", extra))
            r = rows[-1]
            print(f"{m}: recall {r['recall']:.3f} ({r['found']}/{r['lines']}), length score {r['length']:.3f}, "
                  f"on-line share {r['on_line']:.3f} ({r['predicted']} predicted), segment {r['seconds']:.0f} s",
                  flush=True)
    print("\n| model | recall | length score | on-line share | predicted splines | segment time (s) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {Path(r['model']).name} | {r['recall']:.3f} | {r['length']:.3f} | {r['on_line']:.3f} | "
              f"{r['predicted']} | {r['seconds']:.0f} |")
    print(f"\n{DATA.name}: {rows[0]['lines']} traced lines in 59 frames; target recall >= 0.50, "
          "length score >= 0.75, on-line share >= 0.30")
    return 0


if __name__ == "__main__":
    sys.exit(main())
