"""Copy a trained checkpoint into resources/models/ (default.pt, or realistic.pt with --out).

    .venv/bin/python packaging/ship_model.py RUN/best.pt
    .venv/bin/python packaging/ship_model.py RUN/best.pt --out resources/models/realistic.pt --half

Keeps the header (config, history, training data) and the weights (float32,
or float16 with --half: half the file), drops optimiser state, and checks
that the copy predicts what the original predicts on a generated image
(exactly; with --half: fewer than 1 pixel in 1,000 on the other side of 0.5).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from core.learn.model import load_checkpoint, save_checkpoint  # noqa: E402
from core.learn.predict import Predictor  # noqa: E402
from core.shipped import default_model_path  # noqa: E402
from core.synth import generate, sample_params  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--out", default=str(default_model_path()))
    ap.add_argument("--half", action="store_true", help="store the weights as float16 (half the file size)")
    args = ap.parse_args()
    model, header = load_checkpoint(args.checkpoint)
    header = {**header, "shipped_from": Path(args.checkpoint).name}
    save_checkpoint(args.out, model, header, half=args.half)
    img = generate(sample_params("m2", seed=99, size=256), 99).image
    a = Predictor(args.checkpoint, precision="fp32").predict(img)
    b = Predictor(args.out, precision="fp32").predict(img)
    flipped = float(np.mean((a > 0.5) != (b > 0.5)))
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1e6:.1f} MB); max prediction difference "
          f"{np.abs(a - b).max():.2e}, pixels across 0.5 {flipped:.1e}")
    return 0 if (flipped < 1e-3 if args.half else np.array_equal(a, b)) else 1


if __name__ == "__main__":
    sys.exit(main())
