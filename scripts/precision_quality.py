"""Does mixed precision keep the quality? The quickstart trained in float32 and in
mixed_bfloat16 (or mixed_float16) with the same seeds and budget, each evaluated with the
standard FID network; prints FID per precision and seed with mean and std, and writes the
table to <out>/precision_quality.json.

    scripts/python scripts/precision_quality.py --steps=2000 --seeds=0,1,2 --num_samples=1000

Every run is an ordinary `python -m tfgan_icr.main` run of gin_configs/quickstart.gin in
<out>/<precision>_seed<s>; an existing finished run is reused, so the script can be resumed.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from icr_ablation import arguments, study  # noqa: E402

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def main():
    args = arguments(__doc__.split("\n\n")[0], "float32,mixed_bfloat16", "precision_quality",
                     default_samples=1000)
    variants = {p: ("quickstart", [f"build_gan.precision = '{p}'"]) for p in PRECISIONS}
    study(variants, args, "precision_quality.json")


if __name__ == "__main__":
    main()
