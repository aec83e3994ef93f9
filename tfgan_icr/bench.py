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
                                 [--iterations=N] [--warmup=N]
       python -m tfgan_icr.bench --mode=pipeline --data_dir=DIR [--make_synthetic=N]
                                 [--image_size=128] [--batch_size=64] [--steps=N]

Times a config; the last line printed is one JSON object (iterations_per_second,
images_per_second, seconds_per_iteration, peak_rss_mb, ...).

modes:
  train     (default) N full training iterations on synthetic inputs of the configured shape
  pipeline  the configured input pipeline alone, on the real dataset

examples:
  python -m tfgan_icr.bench --gin_config=quickstart --iterations=20
  python -m tfgan_icr.bench --gin_config=quickstart --gin_bindings='build_gan.jit_compile = True'
  python -m tfgan_icr.bench --gin_config=quickstart --mode=pipeline --iterations=200
  python -m tfgan_icr.bench --mode=pipeline --data_dir=/tmp/synth --make_synthetic=2000 --image_size=128
  python -m tfgan_icr.bench --mode=pipeline --data_dir=/data/imagenet/train --image_size=128 --batch_size=256"""

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("gin_config", [], "gin file or name in gin_configs/, repeatable; default quickstart")
flags.DEFINE_multi_string("gin_bindings", [], "extra gin binding, repeatable, e.g. 'train.batch_size = 32'")
flags.DEFINE_integer("iterations", 20, "timed iterations (train) or batches (pipeline)")
flags.DEFINE_integer("warmup", 3, "untimed iterations first (tracing, autotuning)")
flags.DEFINE_enum("mode", "train", ["train", "pipeline"], "train or pipeline")
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
        result = bench(FLAGS.iterations, FLAGS.warmup)
    else:
        result = bench_pipeline(FLAGS.iterations, FLAGS.warmup)
    print(json.dumps(result))


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
    run_app(main, USAGE, ["gin_config", "gin_bindings", "mode", "iterations", "warmup",
                          "data_dir", "image_size", "batch_size", "steps", "make_synthetic"])


if __name__ == "__main__":
    entry_point()
