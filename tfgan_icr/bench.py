"""Benchmark: python -m tfgan_icr.bench --gin_config=FILE [--gin_bindings=...] [--iterations=N]
[--mode=train|pipeline]

train: builds the configured GAN and times N full training iterations (n_dis D updates + one
G update, one graph call each) on synthetic inputs of the configured shape after a warm-up,
so it needs no dataset and works for every config.
pipeline: times the configured input pipeline alone on the real dataset (images/s).
The last line printed is one JSON object.
"""

import json
import os

from absl import flags

from tfgan_icr.cli import exit_on_user_error, import_tensorflow_quietly, run_app

USAGE = """\
usage: python -m tfgan_icr.bench [--gin_config=FILE ...] [--gin_bindings=...] [--mode=train|pipeline]
                                 [--iterations=N] [--warmup=N]

Times a config; the last line printed is one JSON object (iterations_per_second,
images_per_second, seconds_per_iteration, peak_rss_mb, ...).

modes:
  train     (default) N full training iterations on synthetic inputs of the configured shape
  pipeline  the configured input pipeline alone, on the real dataset

examples:
  python -m tfgan_icr.bench --gin_config=quickstart --iterations=20
  python -m tfgan_icr.bench --gin_config=quickstart --gin_bindings='build_gan.jit_compile = True'
  python -m tfgan_icr.bench --gin_config=quickstart --mode=pipeline --iterations=200"""

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("gin_config", [], "gin file or name in gin_configs/, repeatable; default quickstart")
flags.DEFINE_multi_string("gin_bindings", [], "extra gin binding, repeatable, e.g. 'train.batch_size = 32'")
flags.DEFINE_integer("iterations", 20, "timed iterations (train) or batches (pipeline)")
flags.DEFINE_integer("warmup", 3, "untimed iterations first (tracing, autotuning)")
flags.DEFINE_enum("mode", "train", ["train", "pipeline"], "train or pipeline")


def run(argv):
    del argv
    import_tensorflow_quietly()
    from tfgan_icr import config
    from tfgan_icr.training.benchmark import bench, bench_pipeline

    config.parse(FLAGS.gin_config or [config.DEFAULT_CONFIG], FLAGS.gin_bindings)
    if FLAGS.mode == "train":
        result = bench(FLAGS.iterations, FLAGS.warmup)
    else:
        result = bench_pipeline(FLAGS.iterations, FLAGS.warmup)
    print(json.dumps(result))


main = exit_on_user_error(run)


def entry_point():
    run_app(main, USAGE, ["gin_config", "gin_bindings", "mode", "iterations", "warmup"])


if __name__ == "__main__":
    entry_point()
