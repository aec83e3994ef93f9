"""The ICR paper's cutout experiment (its Figure 5 / Table 3) on Fashion-MNIST: train CR and
bCR with a large cutout as the only augmentation, then count the generated samples that
contain a flat square of the cutout's fill value (the generator copying the holes). CR only
asks D to ignore holes in real images, so the holes cost the generator nothing; bCR also makes
D consistent on generated images. The same count on real test images is the baseline.

    python scripts/cutout_experiment.py --steps=2000 --cutout=16 --num_samples=1000

Each run is an ordinary `python -m tfgan_icr.main` run in <out>/<method>; samples come from
`--mode=sample --num_samples` (8-bit PNGs, as a user would look at them).
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tfgan_icr.data.sources import fashion_mnist  # noqa: E402
from tfgan_icr.eval.artifacts import constant_square_fraction  # noqa: E402


def run(*args):
    cmd = [sys.executable, "-m", "tfgan_icr.main", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def load_pngs(folder):
    files = sorted(glob.glob(os.path.join(folder, "*.png")))
    return np.stack([np.asarray(Image.open(f), np.float64) for f in files]) / 127.5 - 1.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--cutout", type=int, default=16, help="side of the cutout square (32x32 images)")
    parser.add_argument("--window", type=int, default=8, help="side of the flat square counted as a hole")
    parser.add_argument("--tolerance", type=float, default=0.1, help="|pixel - fill| counted as flat")
    parser.add_argument("--num_samples", type=int, default=1000)
    parser.add_argument("--out", default=os.path.join(ROOT, "runs", "cutout_experiment"))
    parser.add_argument("--bindings", action="append", default=[], help="extra gin bindings for both runs")
    args = parser.parse_args()
    fill = 0.0
    cutout = ["augment.transforms = [@cutout]", f"cutout.size = {args.cutout}", f"cutout.fill = {fill}"]
    started, results = time.time(), {}
    for method in ("cr", "bcr"):
        model_dir = os.path.join(args.out, method)
        flags = [f"--gin_config=icr/fashion_mnist_{method}", f"--model_dir={model_dir}"]
        flags += [f"--gin_bindings={b}" for b in (*cutout, *args.bindings)]
        run(*flags, f"--steps={args.steps}")
        run("--mode=sample", *flags, f"--num_samples={args.num_samples}")
        folder = sorted(glob.glob(os.path.join(model_dir, "samples", f"individual_step_{args.steps:07d}_*")))[-1]
        results[method] = constant_square_fraction(load_pngs(folder), args.window, fill, args.tolerance)
    real = fashion_mnist(split="test", limit=args.num_samples).images.astype(np.float64)
    real = np.pad(real, ((0, 0), (2, 2), (2, 2), (0, 0))[:real.ndim], constant_values=0) / 127.5 - 1.0
    results["real test images"] = constant_square_fraction(real, args.window, fill, args.tolerance)
    print(f"\nsamples with a flat {args.window}x{args.window} square within {args.tolerance} of the "
          f"cutout fill ({fill}); cutout {args.cutout}x{args.cutout}, {args.steps} iterations, "
          f"{args.num_samples} samples each; {(time.time() - started) / 60:.0f} min wall\n")
    print("| images | fraction |\n|---|---|")
    for name, value in results.items():
        print(f"| {name} | {value:.3f} |")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "cutout.json"), "w") as f:
        json.dump({"steps": args.steps, "cutout": args.cutout, "window": args.window,
                   "tolerance": args.tolerance, "num_samples": args.num_samples, "fractions": results}, f, indent=1)


if __name__ == "__main__":
    main()
