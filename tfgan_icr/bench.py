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

from absl import app, flags

from tfgan_icr.cli import exit_on_user_error

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("gin_config", [], "gin config file(s) or names from gin_configs/")
flags.DEFINE_multi_string("gin_bindings", [], "extra gin bindings")
flags.DEFINE_integer("iterations", 20, "timed iterations (train) or batches (pipeline)")
flags.DEFINE_integer("warmup", 3, "untimed iterations first (tracing, autotuning)")
flags.DEFINE_enum("mode", "train", ["train", "pipeline"], "what to measure")


def run(argv):
    del argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
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
    app.run(main)


if __name__ == "__main__":
    entry_point()
