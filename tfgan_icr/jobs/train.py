"""The training job: build the config's GAN, resume from model_dir, fit phase by phase."""

import json
import os
import signal
import sys
import time

import gin
import keras
import tensorflow as tf

from tfgan_icr.data import make_dataset
from tfgan_icr.data.sources import find_undecodable
from tfgan_icr.errors import ConfigError, DataError, Interrupted, TrainingDiverged
from tfgan_icr.files import write_text_atomically
from tfgan_icr.training import callbacks as cb
from tfgan_icr.training import run_dir
from tfgan_icr.training.monitors import discriminator_monitor
from tfgan_icr.training.builder import FULL_CONFIG, MODEL_SPEC, OPERATIVE_CONFIG, build_gan
from tfgan_icr.training.checkpoint import (BEST_SUBDIR, CheckpointStore, apply_learning_rates,
                                           learning_rates)
from tfgan_icr.training.distribute import make_strategy
from tfgan_icr.training.phases import examples_before, make_phases


def _data_spec(source, batch_size, seed, conditional):
    # Shapes come from the data: build the pipeline lazily once to read them.
    probe = make_dataset(source, batch_size=batch_size, seed=seed)
    image_shape = probe.element_spec[0].shape
    return dict(num_classes=int(source.num_classes) if conditional else 0,
                image_size=int(image_shape[1]), channels=int(image_shape[3]), seed=int(seed))


def _check_settings(**settings):
    """Each integer setting of `train` is an int (not a string, float or bool) in range."""
    for name, (value, minimum) in settings.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"train.{name} must be an integer >= {minimum}, got {value!r}"
                              + (" (from --steps)" if name == "steps" else ""))


def _write_run_files(model_dir, spec, start, stream):
    # The files at the top describe the latest start; config_history/ keeps every start's.
    run_dir.record_start(model_dir, start, spec, gin.operative_config_str(), stream=stream)
    write_text_atomically(os.path.join(model_dir, MODEL_SPEC), json.dumps(spec, indent=2) + "\n")
    write_text_atomically(os.path.join(model_dir, OPERATIVE_CONFIG), gin.operative_config_str())
    # Every binding as given (also those of jobs not run yet, such as evaluation): what
    # --mode=sample/eval re-read.
    write_text_atomically(os.path.join(model_dir, FULL_CONFIG), gin.config_str())


def _callbacks(model_dir, gan, store, steps, batch_size, seed, log_every, sample_every,
               checkpoint_every, eval_every, writer, stream, source=None):
    guard = cb.NaNGuard()
    interrupt = cb.GracefulInterrupt(stream=stream)
    logger = cb.MetricsLogger(model_dir, steps, batch_size, gan.n_dis, every=log_every, writer=writer,
                              stream=stream, guard=guard)
    callbacks = [guard, interrupt, logger,
                 cb.SampleGrid(model_dir, every=sample_every, seed=seed, total_steps=steps,
                               writer=writer, guard=guard)]
    if eval_every:
        from tfgan_icr.eval.evaluator import Evaluator
        best = CheckpointStore(model_dir, gan, max_to_keep=1, subdir=BEST_SUBDIR)
        callbacks.append(cb.PeriodicEvaluation(Evaluator(stream=stream), eval_every, best, model_dir,
                                               writer=writer, stream=stream, guard=guard))
    monitor = discriminator_monitor(model_dir, source, writer=writer, stream=stream, guard=guard)
    if monitor is not None:
        callbacks.append(monitor)
    callbacks.append(cb.Checkpointer(store, every=checkpoint_every, guard=guard))
    return callbacks, guard, interrupt, logger


@gin.configurable(denylist=["model_dir", "stream"])
def train(model_dir, source=gin.REQUIRED, steps=10000, batch_size=64, batch_size_schedule=(),
          seed=0, conditional=True, log_every=50, sample_every=500, checkpoint_every=500,
          keep_checkpoints=3, steps_per_execution=1, deterministic=False, eval_every=0,
          strategy_fn=make_strategy, stream=None):
    """Train (or resume) a GAN in `model_dir`.

    source: a data source (e.g. @fashion_mnist()); batch_size: the global batch of each D and G
    update; batch_size_schedule: ((start_step, batch_size), ...) for phases with other batch
    sizes (exact resume holds across them); steps: iterations (each is n_dis D updates + one
    G update); conditional: feed class labels to G and D when the data has them. The run writes
    checkpoints, samples/, metrics.jsonl, TensorBoard events and operative_config.gin into
    model_dir and resumes from the latest checkpoint there. eval_every > 0 evaluates FID/KID
    (the `Evaluator` settings) at that interval and keeps the best checkpoint by FID in
    model_dir/best.
    """
    stream = stream or sys.stdout
    _check_settings(steps=(steps, 1), batch_size=(batch_size, 1), seed=(seed, 0), log_every=(log_every, 1),
                    sample_every=(sample_every, 1), checkpoint_every=(checkpoint_every, 1),
                    keep_checkpoints=(keep_checkpoints, 1), steps_per_execution=(steps_per_execution, 1),
                    eval_every=(eval_every, 0))
    # One writer per model_dir, held before anything there is read or written.
    with run_dir.RunLock(model_dir, stream=stream):
        try:
            return _train(model_dir, source, steps, batch_size, batch_size_schedule, seed, conditional,
                          log_every, sample_every, checkpoint_every, keep_checkpoints,
                          steps_per_execution, deterministic, eval_every, strategy_fn, stream)
        except OSError as error:
            if error.filename and os.path.abspath(str(error.filename)).startswith(os.path.abspath(model_dir)):
                raise run_dir.writable_dir_error(model_dir, error) from None
            raise


def _train(model_dir, source, steps, batch_size, batch_size_schedule, seed, conditional, log_every,
           sample_every, checkpoint_every, keep_checkpoints, steps_per_execution, deterministic,
           eval_every, strategy_fn, stream):
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = strategy_fn()
    replicas = strategy.num_replicas_in_sync
    try:
        phases = make_phases(batch_size, batch_size_schedule, steps)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"train.batch_size_schedule: {error}") from None

    spec = _data_spec(source, batch_size, seed, conditional)
    keras.utils.set_random_seed(seed)  # initial weights are a function of the seed
    with strategy.scope():
        gan = build_gan(seed=seed, **{k: spec[k] for k in ("num_classes", "image_size", "channels")})
        gan.build_all()
    if gan.growth is not None:  # a growing model's phases come from its schedule
        if batch_size_schedule:
            raise ConfigError("train.batch_size_schedule cannot be combined with a growth schedule: set "
                              "the batch size per resolution with progressive_growth.batch_sizes")
        phases = gan.growth.phases(steps, batch_size, gan.examples_per_iteration)
    for phase in phases:
        if (phase.batch_size // replicas) % gan.accumulation_steps:
            raise ConfigError(f"batch size {phase.batch_size} (from step {phase.start_step}) over {replicas} "
                              f"replica(s) does not split into build_gan.accumulation_steps="
                              f"{gan.accumulation_steps} micro-batches: make the per-replica batch a multiple")
    spec.update(z_dim=int(gan.generator.z_dim), n_dis=gan.n_dis, batch_size=batch_size,
                batch_size_schedule=[list(map(int, p)) for p in batch_size_schedule],
                has_ema=gan.ema_generator is not None)
    if steps_per_execution != 1:
        gan.steps_per_execution = steps_per_execution

    store = CheckpointStore(model_dir, gan, max_to_keep=keep_checkpoints)
    configured_rates = learning_rates(gan)
    # Falls back past damaged checkpoints (moved to checkpoints/damaged/); raises before
    # anything in model_dir is written when the checkpoint is of another model.
    start = store.restore(repair=True) or 0
    if start:
        print(f"resuming from {store.restored} at step {start}", file=stream, flush=True)
        # The config in force is what runs: its learning rates replace the checkpoint's.
        apply_learning_rates(gan, configured_rates, stream)
    if start >= steps:
        print(f"already trained to step {start} (train.steps={steps}); nothing to do. To train further, "
              f"run again with a larger --steps, e.g. --steps={start + max(steps, 1)}", file=stream)
        return {"step": start, "checkpoint": store.latest}

    _write_run_files(model_dir, spec, start, stream)
    writer = tf.summary.create_file_writer(os.path.join(model_dir, "tensorboard"))
    callbacks, guard, interrupt, logger = _callbacks(
        model_dir, gan, store, steps, batch_size, seed, log_every, sample_every, checkpoint_every,
        eval_every, writer, stream, source=source)
    print(f"training {steps - start} iterations (step {start} -> {steps}), batch {batch_size}, "
          f"n_dis {gan.n_dis}, {replicas} replica(s); writing to {model_dir}", file=stream, flush=True)
    started = time.perf_counter()
    try:
        with interrupt.installed():
            for phase in phases:
                first, last = max(start, phase.start_step), min(steps, phase.end_step)
                if last <= first:
                    continue
                logger.global_batch_size = phase.batch_size
                # A fresh trace per phase: Keras' cached step would relax the batch dimension
                # to None on the new shape, and that graph rounds differently from the one a
                # run resumed in this phase traces (so resume would not be bit for bit).
                # A growing model also sets its stage (resolution) here, before the trace.
                gan.enter_phase(phase)
                if phase.stage is not None:
                    print(f"step {first}: {phase.stage}, batch {phase.batch_size}", file=stream, flush=True)
                per_iteration = gan.examples_per_iteration(phase.batch_size)
                dataset = make_dataset(source, batch_size=per_iteration, seed=seed,
                                       start_example=examples_before(phases, first,
                                                                     gan.examples_per_iteration))
                try:
                    gan.fit(dataset, epochs=1, steps_per_epoch=last - first, verbose=0,
                            callbacks=callbacks, shuffle=False)
                except tf.errors.InvalidArgumentError:
                    _name_undecodable_file(source)
                    raise
                if interrupt.requested or guard.failure:
                    break
    finally:
        writer.flush()
    return _report(gan, store, guard, interrupt, started, stream)


def _name_undecodable_file(source):
    """A decode error inside tf.data does not name the file: find it and raise a DataError."""
    if getattr(source, "kind", None) != "files":
        return
    found = find_undecodable(source)
    if found:
        raise DataError(f"corrupt image file {found[0]}: TensorFlow cannot decode it ({found[1]}); "
                        f"re-create or remove it") from None


def _report(gan, store, guard, interrupt, started, stream):
    if interrupt.requested and not guard.failure:
        print(f"interrupted at step {int(gan.global_step.numpy())}; saved {store.latest}. Run the same "
              f"command to resume.", file=stream, flush=True)
        # The exit code says which signal: 130 after Ctrl-C, 143 after SIGTERM.
        raise Interrupted(interrupt.signum or signal.SIGINT)
    if guard.failure:
        step, values = guard.failure
        what = "weights" if guard.kind == "weights" else "loss"
        raise TrainingDiverged(
            f"{what} became NaN/inf at step {step} ({values}); training stopped, the last good checkpoint "
            f"is {store.latest or 'none'}: lower the learning rates or change the loss, then resume")
    elapsed = time.perf_counter() - started
    step = int(gan.global_step.numpy())
    print(f"done: step {step} in {elapsed:.0f} s; checkpoint {store.latest}", file=stream, flush=True)
    return {"step": step, "checkpoint": store.latest, "seconds": elapsed}
