"""Command line: python -m tfgan_icr.main [--gin_config=FILE ...] [--gin_bindings=...]
[--model_dir=DIR] [--mode=train|sample|eval|export] [--steps=N] [--num_samples=N] [--export_dir=OUT].
Thin: flags -> tfgan_icr.api (gin, then one job)."""

from absl import flags, logging

from tfgan_icr.cli import exit_on_user_error, import_tensorflow_quietly, run_app

USAGE = """\
usage: python -m tfgan_icr.main [--gin_config=FILE ...] [--gin_bindings='a.b = 1' ...]
                                [--model_dir=DIR] [--mode=train|sample|eval|export] [--steps=N] [--num_samples=N]
                                [--export_dir=OUT] [--checkpoint=STEP]

Trains a GAN configured by gin, or samples from / evaluates a trained run.

modes:
  train   (default) train, resuming from the latest checkpoint in --model_dir
  sample  write a sample grid (and, with --num_samples=N, N single PNGs) from the latest checkpoint
  eval    FID and KID of the latest checkpoint's (EMA) generator against the real test split
  export  the latest checkpoint's (EMA) generator as a SavedModel in --export_dir/<version>/ (TF Serving)
  (sample, eval and export take --checkpoint=STEP for an older checkpoint than the latest)

examples:
  python -m tfgan_icr.main                                   # the quickstart: Fashion-MNIST, 2,000 steps
  python -m tfgan_icr.main --gin_config=resnet_cifar10 --model_dir=runs/resnet --steps=100000
  python -m tfgan_icr.main --steps=4000                      # continue runs/quickstart to step 4,000
  python -m tfgan_icr.main --mode=sample --model_dir=runs/quickstart --num_samples=100
  python -m tfgan_icr.main --mode=eval --model_dir=runs/quickstart --num_samples=2000
  python -m tfgan_icr.main --mode=export --model_dir=runs/quickstart --export_dir=exports/quickstart"""


FLAGS = flags.FLAGS
flags.DEFINE_multi_string("gin_config", [], "gin file or name in gin_configs/, repeatable; default quickstart "
                          "(sample/eval: the run's config.gin)")
flags.DEFINE_multi_string("gin_bindings", [], "extra gin binding, repeatable, e.g. 'train.batch_size = 32'")
flags.DEFINE_string("model_dir", None, "run directory; default runs/<config name>")
flags.DEFINE_enum("mode", "train", ["train", "sample", "eval", "export"], "train, sample, eval or export")
flags.DEFINE_integer("steps", None, "train to this step (overrides train.steps); more than done continues a run")
flags.DEFINE_integer("num_samples", None, "sample: also write N single PNGs; eval: N generated images "
                     "(default Evaluator.num_samples)")
flags.DEFINE_string("export_dir", None, "export: write the SavedModel into OUT/<version>/ "
                    "(version: the next free integer)")
flags.DEFINE_enum("strategy", None, ["default", "mirrored", "multi_worker", "tpu"],
                  "tf.distribute strategy (overrides make_strategy.kind)")
flags.DEFINE_string("tpu", None, "TPU name or address for --strategy=tpu ('local' on a TPU VM)")
flags.DEFINE_string("checkpoint", None, "sample/eval/export: this checkpoint instead of the latest: a step "
                    "(e.g. 1407) or a path prefix (DIR/checkpoints/ckpt-1407)")
flags.DEFINE_string("output_dir", None, "sample/eval: write here instead of into --model_dir "
                    "(for a run you may not or cannot write to)")


def run(argv):
    del argv
    import_tensorflow_quietly()
    logging.set_verbosity(logging.ERROR)
    from tfgan_icr import api
    from tfgan_icr.errors import ConfigError

    if FLAGS.mode == "export" and not FLAGS.export_dir:
        raise ConfigError("--mode=export needs --export_dir=OUT (the SavedModel goes into OUT/<version>/)")
    common = dict(gin_config=FLAGS.gin_config, bindings=FLAGS.gin_bindings)
    if FLAGS.mode == "train":
        api.train(FLAGS.model_dir, steps=FLAGS.steps, strategy=FLAGS.strategy, tpu=FLAGS.tpu, **common)
    elif FLAGS.mode == "sample":
        api.sample(FLAGS.model_dir, num_samples=FLAGS.num_samples or 0, output_dir=FLAGS.output_dir,
                   checkpoint=FLAGS.checkpoint, **common)
    elif FLAGS.mode == "eval":
        api.evaluate(FLAGS.model_dir, num_samples=FLAGS.num_samples, output_dir=FLAGS.output_dir,
                     checkpoint=FLAGS.checkpoint, **common)
    elif FLAGS.mode == "export":
        api.export(FLAGS.model_dir, FLAGS.export_dir, checkpoint=FLAGS.checkpoint, **common)


main = exit_on_user_error(run)


def entry_point():
    run_app(main, USAGE, ["gin_config", "gin_bindings", "model_dir", "mode", "steps", "num_samples",
                            "export_dir", "strategy", "tpu", "checkpoint"])


if __name__ == "__main__":
    entry_point()
