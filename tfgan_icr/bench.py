"""Benchmark: python -m tfgan_icr.bench --gin_config=FILE [--gin_bindings=...] [--iterations=N]
[--mode=train|pipeline]

train: builds the configured GAN and times N full training iterations (n_dis D updates + one
G update, one graph call each) on synthetic inputs of the configured shape after a warm-up,
so it needs no dataset and works for every config.
pipeline: times the configured input pipeline alone on the real dataset (images/s); with
--data_dir, a folder of class folders of JPEGs instead (ImageNet layout; --make_synthetic=N
first writes N random 256x256 JPEGs in 10 class folders there).
The last line printed is one JSON object.
"""

import json
import os

from absl import flags

from tfgan_icr.cli import exit_on_user_error, import_tensorflow_quietly, run_app

USAGE = """\
usage: python -m tfgan_icr.bench [--gin_config=FILE ...] [--gin_bindings=...] [--mode=train|pipeline]
                                 [--iterations=N] [--warmup=N] [--conv_rate] [--own_shapes] [--breakdown]
                                 [--profile=DIR] [--profile_steps=N] [--noflops]
       python -m tfgan_icr.bench --mode=pipeline --data_dir=DIR [--make_synthetic=N]
                                 [--image_size=128] [--batch_size=64] [--steps=N]

Times a config; the last line printed is one JSON object (iterations_per_second,
images_per_second, seconds_per_iteration, peak_rss_mb, flop_per_iteration, gflop_per_second, ...).
FLOP are counted on the traced step (1 multiply-add = 2 FLOP); --conv_rate also times this
machine's 3x3 convolution in the step's compute dtype, so the step's rate reads as a fraction
of what the device reaches; --own_shapes times each of the step's convolutions and matrix
products alone at its own shape, so the step's seconds read against the config's own ceiling.

modes:
  train     (default) N full training iterations on synthetic inputs of the configured shape
  pipeline  the configured input pipeline alone, on the real dataset

examples:
  python -m tfgan_icr.bench --gin_config=quickstart --iterations=20
  python -m tfgan_icr.bench --gin_config=quickstart --gin_bindings='build_gan.jit_compile = True'
  python -m tfgan_icr.bench --gin_config=resnet_cifar10 --iterations=2 --warmup=1 --conv_rate --breakdown
  python -m tfgan_icr.bench --gin_config=sndcgan_cifar10 --iterations=5 --conv_rate --own_shapes
  python -m tfgan_icr.bench --gin_config=quickstart --profile=/tmp/profile   # then: tensorboard --logdir=/tmp/profile
  python -m tfgan_icr.bench --gin_config=quickstart --mode=pipeline --iterations=200
  python -m tfgan_icr.bench --mode=pipeline --data_dir=/tmp/synth --make_synthetic=2000 --image_size=128
  python -m tfgan_icr.bench --mode=pipeline --data_dir=/data/imagenet/train --image_size=128 --batch_size=256"""

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("gin_config", [], "gin file or name in gin_configs/, repeatable; default quickstart")
flags.DEFINE_multi_string("gin_bindings", [], "extra gin binding, repeatable, e.g. 'train.batch_size = 32'")
flags.DEFINE_integer("iterations", 20, "timed iterations (train) or batches (pipeline)")
flags.DEFINE_integer("warmup", 3, "untimed iterations first (tracing, autotuning)")
flags.DEFINE_enum("mode", "train", ["train", "pipeline"], "train or pipeline")
flags.DEFINE_bool("flops", True, "train mode: count the iteration's FLOP on the traced step "
                  "and report GFLOP/s")
flags.DEFINE_bool("conv_rate", False, "train mode: also measure this machine's 3x3 conv rate "
                  "in the step's compute dtype (gin conv_rate.*) and the step's share of it")
flags.DEFINE_bool("own_shapes", False, "train mode: also time each of the step's convolutions "
                  "and matrix products alone at its own shape (the config's own ceiling)")
flags.DEFINE_bool("breakdown", False, "train mode: also time the iteration's parts apart (G passes "
                  "for D's fake batches, D updates, G update)")
flags.DEFINE_string("profile", None, "train mode: write a TensorBoard profile of --profile_steps "
                    "iterations after the timed ones to this folder")
flags.DEFINE_integer("profile_steps", 2, "iterations in the --profile trace")
flags.DEFINE_string("data_dir", None, "pipeline mode: a folder of class folders of JPEGs "
                    "(instead of the config's source)")
flags.DEFINE_integer("image_size", 128, "pipeline mode with --data_dir: output size")
flags.DEFINE_integer("batch_size", 64, "pipeline mode with --data_dir: batch size")
flags.DEFINE_integer("steps", None, "pipeline mode with --data_dir: timed batches "
                     "(default --iterations)")
flags.DEFINE_integer("make_synthetic", 0, "pipeline mode: first write this many random "
                     "256x256 JPEGs in 10 class folders under --data_dir")


def run(argv):
    del argv
    import_tensorflow_quietly()
    from tfgan_icr import config
    from tfgan_icr.training.benchmark import bench, bench_pipeline

    if FLAGS.mode == "pipeline" and (FLAGS.data_dir or FLAGS.make_synthetic):
        print(json.dumps(_folder_pipeline()))
        return
    config.parse(FLAGS.gin_config or [config.DEFAULT_CONFIG], FLAGS.gin_bindings)
    if FLAGS.mode == "train":
        result = bench(FLAGS.iterations, FLAGS.warmup, count_flops=FLAGS.flops,
                       measure_conv_rate=FLAGS.conv_rate, breakdown=FLAGS.breakdown,
                       profile_dir=FLAGS.profile, profile_steps=FLAGS.profile_steps,
                       measure_own_shapes=FLAGS.own_shapes)
        print(utilisation_summary(result))
    else:
        result = bench_pipeline(FLAGS.iterations, FLAGS.warmup)
    print(json.dumps(result))


def utilisation_summary(result):
    """Human-readable lines of a train-mode result: speed, FLOP, utilisation, breakdown."""
    lines = [f"{result['seconds_per_iteration']:.3f} s/iteration ({result['precision']}, batch "
             f"{result['batch_size']}, n_dis {result['n_dis']}, {result['device']})"]
    if "flop_per_iteration" in result:
        lines.append(f"FLOP per iteration: {result['flop_per_iteration'] / 1e9:.2f} G "
                     f"({result['flop_convention']}); achieved {result['gflop_per_second']:.1f} GFLOP/s")
    if "conv_rate" in result:
        rate = result["conv_rate"]
        line = (f"conv rate ({rate['dtype']}, {rate['shape']}): {rate['gflop_per_second']:.1f} GFLOP/s")
        if "utilisation_of_conv_rate" in result:
            line += f"; the step runs at {100 * result['utilisation_of_conv_rate']:.0f}% of it"
        lines.append(line)
    if "own_shape_rates" in result:
        own = result["own_shape_rates"]
        lines.append(f"own shapes: the step's {own['signatures']} kinds of conv / matmul, each timed alone, "
                     f"take {own['seconds']:.3f} s ({own['gflop_per_second']:.1f} GFLOP/s), "
                     f"{100 * result['utilisation_of_own_shapes']:.0f}% of the step's seconds; the dearest:")
        for op in own["dearest"]:
            lines.append(f"  {100 * op['share_of_seconds']:4.1f}%  {op['gflop_per_second']:6.1f} GFLOP/s  "
                         f"x{op['calls_per_iteration']}  {op['op']}")
    for name, part in result.get("breakdown", {}).items():
        if isinstance(part, dict):
            lines.append(f"  {name} (x{part['calls_per_iteration']}): {part['seconds']:.3f} s, "
                         f"{part['flop'] / 1e9:.2f} GFLOP, {part['gflop_per_second']:.1f} GFLOP/s")
    if "profile" in result:
        lines.append(f"profile of {result['profile']['steps']} iteration(s) in {result['profile']['dir']} "
                     f"(tensorboard --logdir={result['profile']['dir']})")
    return "\n".join(lines)


def _folder_pipeline():
    from tfgan_icr.data import write_synthetic_folder
    from tfgan_icr.errors import DataError
    from tfgan_icr.training.benchmark import bench_folder_pipeline

    if not FLAGS.data_dir:
        raise DataError("--make_synthetic needs --data_dir: the folder to write the JPEGs in")
    if FLAGS.make_synthetic:
        if os.path.isdir(FLAGS.data_dir) and os.listdir(FLAGS.data_dir):
            raise DataError(f"--make_synthetic: {FLAGS.data_dir} is not empty; give a new or "
                            "empty folder, or drop --make_synthetic to bench what is there")
        write_synthetic_folder(FLAGS.data_dir, FLAGS.make_synthetic)
    return bench_folder_pipeline(FLAGS.data_dir, image_size=FLAGS.image_size,
                                 batch_size=FLAGS.batch_size,
                                 batches=FLAGS.steps or FLAGS.iterations, warmup=FLAGS.warmup)


main = exit_on_user_error(run)


def entry_point():
    run_app(main, USAGE, ["gin_config", "gin_bindings", "mode", "iterations", "warmup", "flops",
                          "conv_rate", "own_shapes", "breakdown", "profile", "profile_steps",
                          "data_dir", "image_size", "batch_size", "steps", "make_synthetic"])


if __name__ == "__main__":
    entry_point()
