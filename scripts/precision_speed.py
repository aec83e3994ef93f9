"""Seconds per iteration, FLOP and utilisation of configs in float32 and in mixed_bfloat16,
interleaved in one process (so a shared machine disturbs both alike):

    python scripts/precision_speed.py sndcgan_cifar10 resnet_cifar10 --iterations=2 --rounds=1

Each precision's row also has this machine's 3x3 convolution rate measured in that
precision right after the config's iterations (`tfgan_icr.training.benchmark.conv_rate`),
and the iteration's rate as a percentage of it; with --own_shapes, also the seconds of the
step's convolutions and matrix products each timed alone at its own shape
(`tfgan_icr.training.benchmark.own_shape_rates`) as a percentage of the step's seconds.
"""

import argparse
import json

from tfgan_icr import config
from tfgan_icr.cli import import_tensorflow_quietly

HEADER = ("| config | precision | FLOP / iteration | s / iteration | GFLOP/s | conv rate (GFLOP/s) "
          "| % of conv rate | speed-up |")
OWN_HEADER = " own shapes (GFLOP/s) | % of own shapes |"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("configs", nargs="+")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--precisions", default="float32,mixed_bfloat16")
    parser.add_argument("--bindings", action="append", default=[], help="extra gin binding, repeatable")
    parser.add_argument("--own_shapes", action="store_true", help="also time the step's dense ops at their own shapes")
    args = parser.parse_args()
    import_tensorflow_quietly()
    from tfgan_icr.training.benchmark import bench
    results = {}
    for _ in range(args.rounds):
        for name in args.configs:
            for precision in args.precisions.split(","):
                config.parse([name], [f"build_gan.precision = '{precision}'", *args.bindings])
                result = bench(args.iterations, args.warmup, measure_conv_rate=True,
                               measure_own_shapes=args.own_shapes)
                results.setdefault((name, precision), []).append(result)
                print(json.dumps({"config": name, **result}), flush=True)
    header = HEADER + (OWN_HEADER if args.own_shapes else "")
    print(header + "\n" + "|---" * header.count(" | ") + "|---|")
    for name in args.configs:
        base = None
        for precision in args.precisions.split(","):
            best = min(results[(name, precision)], key=lambda r: r["seconds_per_iteration"])
            seconds = best["seconds_per_iteration"]
            base = base or seconds
            print(f"| `{name}` | {precision} | {best['flop_per_iteration'] / 1e12:.3f} T | {seconds:.3f} "
                  f"| {best['gflop_per_second']:.0f} | {best['conv_rate']['gflop_per_second']:.0f} "
                  f"| {100 * best['utilisation_of_conv_rate']:.0f}% | {base / seconds:.2f}x |"
                  + (f" {best['own_shape_rates']['gflop_per_second']:.0f} "
                     f"| {100 * best['utilisation_of_own_shapes']:.0f}% |" if args.own_shapes else ""))


if __name__ == "__main__":
    main()
