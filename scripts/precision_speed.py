"""Seconds per iteration of one config in float32 and in mixed_bfloat16, interleaved in one
process (so a shared machine disturbs both alike):

    python scripts/precision_speed.py sndcgan_cifar10 --iterations=3 --rounds=2
"""

import argparse
import json

from tfgan_icr import config
from tfgan_icr.cli import import_tensorflow_quietly


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--precisions", default="float32,mixed_bfloat16")
    args = parser.parse_args()
    import_tensorflow_quietly()
    from tfgan_icr.training.benchmark import bench
    times = {}
    for _ in range(args.rounds):
        for precision in args.precisions.split(","):
            config.parse([args.config], [f"build_gan.precision = '{precision}'"])
            result = bench(args.iterations, 1)
            times.setdefault(precision, []).append(result["seconds_per_iteration"])
    best = {p: min(t) for p, t in times.items()}
    base = best.get("float32")
    for precision, seconds in best.items():
        speedup = f"{base / seconds:.2f}x" if base else "-"
        print(f"| `{args.config}` | {precision} | {seconds:.3f} | {speedup} |")
    print(json.dumps({"config": args.config, "seconds_per_iteration": times}))


if __name__ == "__main__":
    main()
