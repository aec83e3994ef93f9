"""The training job: build the config's GAN, resume from model_dir, fit phase by phase."""

import contextlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time

import gin
import keras
import tensorflow as tf

from tfgan_icr.data import make_dataset
from tfgan_icr.data.sources import find_undecodable
from tfgan_icr.errors import (CheckpointError, ConfigError, DataError, Interrupted, TrainingDiverged, WorkerLost,
                              first_line)
from tfgan_icr.files import write_text_atomically
from tfgan_icr.training import callbacks as cb
from tfgan_icr.training import run_dir
from tfgan_icr.training.monitors import discriminator_monitor
from tfgan_icr.training.builder import FULL_CONFIG, MODEL_SPEC, OPERATIVE_CONFIG, build_gan
from tfgan_icr.training.checkpoint import (BEST_SUBDIR, CHECKPOINT_SUBDIR, CheckpointStore,
                                           DamagedCheckpoint, apply_learning_rates, checkpoint_step,
                                           learning_rates)
from tfgan_icr.training.distribute import (chief_value, is_multi_worker, is_peer_failure, make_strategy,
                                          worker_role)
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
               checkpoint_every, eval_every, writer, stream, source=None, role=None, scratch_dir=None,
               strategy=None):
    """The run's callbacks. Under multi-worker training every worker runs all of them at the
    same iterations: calling a network outside the train step can be collective (reading a
    sync-on-read variable such as spectral norm's u all-reduces over the workers), and so is
    saving. A worker other than the chief (`role`) writes what they write into its
    `scratch_dir` (removed at the end), logs to its console only and has no TensorBoard."""
    chief = role is None or role.is_chief
    out_dir = model_dir if chief else scratch_dir
    multi_worker = strategy is not None and is_multi_worker(strategy)
    guard = cb.NaNGuard()
    interrupt = cb.GracefulInterrupt(stream=stream, stop_locally=not multi_worker)
    logger = cb.MetricsLogger(model_dir if chief else None, steps, batch_size, gan.n_dis, every=log_every,
                              writer=writer, stream=stream, guard=guard)
    callbacks = [guard, interrupt, logger,
                 cb.SampleGrid(out_dir, every=sample_every, seed=seed, total_steps=steps, writer=writer,
                               guard=guard)]
    if eval_every:
        from tfgan_icr.eval.evaluator import Evaluator
        best = CheckpointStore(out_dir, gan, max_to_keep=1, subdir=BEST_SUBDIR)
        # The chief decides what is a new best (the workers' FIDs could differ in the last bit
        # on other hardware; saving it is collective, so all must agree).
        agree = (lambda value: chief_value(strategy, value)) if multi_worker else None
        callbacks.append(cb.PeriodicEvaluation(
            Evaluator(stream=stream), eval_every, best, out_dir, writer=writer, stream=stream, guard=guard,
            known_best=os.path.join(model_dir, BEST_SUBDIR, cb.BEST_RECORD), agree=agree))
    monitor = discriminator_monitor(out_dir, source, writer=writer, stream=stream, guard=guard)
    if monitor is not None:
        callbacks.append(monitor)
    checkpointer = cb.Checkpointer(store, every=checkpoint_every, guard=guard)
    callbacks.append(checkpointer)
    preemption = None
    if multi_worker:
        preemption = cb.WorkerPreemption(strategy, interrupt, checkpointer, scratch_dir)
        callbacks.append(preemption)
    return callbacks, guard, interrupt, logger, preemption


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
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = strategy_fn()
    role = worker_role(strategy)
    # One writer per model_dir, held before anything there is read or written: the chief.
    # The other workers of a multi-worker run take no lock there and save into a scratch
    # folder of their own, removed at the end (TensorFlow's multi-worker convention).
    with contextlib.ExitStack() as stack:
        if role.is_chief:
            stack.enter_context(run_dir.RunLock(model_dir, stream=stream))
        scratch = stack.enter_context(_scratch_dir(role)) if role.num_workers > 1 else None
        try:
            return _train(model_dir, source, steps, batch_size, batch_size_schedule, seed, conditional,
                          log_every, sample_every, checkpoint_every, keep_checkpoints,
                          steps_per_execution, eval_every, strategy, role, scratch, stream)
        except OSError as error:
            if error.filename and os.path.abspath(str(error.filename)).startswith(os.path.abspath(model_dir)):
                raise run_dir.writable_dir_error(model_dir, error) from None
            raise
        except tf.errors.OpError as error:
            if role.num_workers == 1 or not is_peer_failure(error):
                raise
            # A peer is gone (it failed, or was killed): collectives abort here instead of waiting.
            raise WorkerLost(f"{role.name}: lost the other workers ({_peer_reason(error)}); see their output, "
                             f"then start every worker again with the same command (training resumes "
                             f"from the chief's latest checkpoint)") from None


def _peer_reason(error):
    """The line of a collective's error that says what happened ("Graph execution error:"
    alone, its first line, says nothing)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    telling = [line for line in lines if re.search(r"aborted|closed|unavailable|connect|peer", line, re.I)]
    return (telling or [first_line(error)])[0][:300]


@contextlib.contextmanager
def _scratch_dir(role):
    """A multi-worker process's own temporary folder (under $TMPDIR), removed when training
    ends: the preemption handler's bookkeeping and, on the workers other than the chief,
    their checkpoints."""
    path = tempfile.mkdtemp(prefix=f"tfgan_icr-{role.task_type}{role.task_id}-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _restore(model_dir, gan, store, strategy, role, keep_checkpoints, stream):
    """Resume from model_dir's newest good checkpoint; returns the step (0: a fresh start).

    Damaged checkpoints are passed over (and moved to checkpoints/damaged/); a checkpoint of
    another model raises before anything in model_dir is written. Under multi-worker training
    restoring is collective (sync-on-read variables), so every worker restores the same files
    of model_dir (a folder they must all read) in the same order; the chief checks that they
    agree before it repairs anything."""
    if not is_multi_worker(strategy):
        start = store.restore(repair=True) or 0
        restored = store.restored
    else:
        reader = store if role.is_chief else CheckpointStore(model_dir, gan, max_to_keep=keep_checkpoints)
        candidates = reader.candidates()
        _agree(strategy, role, checkpoint_step(candidates[0]) if candidates else 0,
               lambda theirs, mine: f"the chief's newest checkpoint in {reader.directory} is step {theirs}, "
                                    f"{role.name} sees {mine or 'none'} there: --model_dir must be a folder "
                                    f"every worker reads (a shared file system)")
        start = reader.restore() or 0
        restored = reader.restored
        _agree(strategy, role, start, lambda theirs, mine: f"the chief restored step {theirs}, {role.name} "
                                                           f"step {mine} from {reader.directory}")
        if role.is_chief:
            store.repair()
    if start:
        print(f"resuming from {restored} at step {start}", file=stream, flush=True)
    return start


def _agree(strategy, role, value, describe):
    """Every worker calls this with its `value`; the workers other than the chief raise a
    CheckpointError (`describe(chief's, mine)`) when theirs differs."""
    chiefs = chief_value(strategy, value)
    if chiefs != value:
        raise CheckpointError(describe(chiefs, value))


def _train(model_dir, source, steps, batch_size, batch_size_schedule, seed, conditional, log_every,
           sample_every, checkpoint_every, keep_checkpoints, steps_per_execution, eval_every, strategy,
           role, scratch_dir, stream):
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

    # The chief saves into model_dir; another worker (whose saves only take part in the
    # collective) keeps its latest one in its scratch folder.
    store = (CheckpointStore(model_dir, gan, max_to_keep=keep_checkpoints) if role.is_chief
             else CheckpointStore(scratch_dir, gan, max_to_keep=1))
    configured_rates = learning_rates(gan)
    start = _restore(model_dir, gan, store, strategy, role, keep_checkpoints, stream)
    if start:
        # The config in force is what runs: its learning rates replace the checkpoint's.
        apply_learning_rates(gan, configured_rates, stream)
    if start >= steps:
        print(f"already trained to step {start} (train.steps={steps}); nothing to do. To train further, "
              f"run again with a larger --steps, e.g. --steps={start + max(steps, 1)}", file=stream)
        return {"step": start, "checkpoint": store.latest}

    writer = None
    if role.is_chief:
        _write_run_files(model_dir, spec, start, stream)
        writer = tf.summary.create_file_writer(os.path.join(model_dir, "tensorboard"))
    callbacks, guard, interrupt, logger, preemption = _callbacks(
        model_dir, gan, store, steps, batch_size, seed, log_every, sample_every, checkpoint_every,
        eval_every, writer, stream, source=source, role=role, scratch_dir=scratch_dir, strategy=strategy)
    where = f"writing to {model_dir}"
    if role.num_workers > 1:
        where = (f"{role.name} of {role.num_workers} workers, the chief: {where}" if role.is_chief else
                 f"{role.name} of {role.num_workers} workers: the chief writes to {model_dir}, this one nothing there")
    print(f"training {steps - start} iterations (step {start} -> {steps}), batch {batch_size}, "
          f"n_dis {gan.n_dis}, {replicas} replica(s); {where}", file=stream, flush=True)
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
                dataset = _phase_dataset(strategy, source, per_iteration, seed,
                                         examples_before(phases, first, gan.examples_per_iteration))
                try:
                    gan.fit(dataset, epochs=1, steps_per_epoch=last - first, verbose=0,
                            callbacks=callbacks, shuffle=False)
                except tf.errors.InvalidArgumentError:
                    _name_undecodable_file(source)
                    raise
                if _stopped(interrupt, preemption) or guard.failure:
                    break
    finally:
        if writer is not None:
            writer.flush()
    return _report(gan, store, guard, interrupt, preemption, role, model_dir, started, stream)


def _phase_dataset(strategy, source, global_batch, seed, start_example):
    """The input of one phase, from global example `start_example` on. Under a strategy with
    several replicas each input pipeline (one per worker) reads only its share of every global
    batch and batches it per replica (`make_dataset`'s input_context contract), so no two
    workers read the same examples and resume stays exact; on one device, the plain pipeline."""
    if strategy.num_replicas_in_sync == 1 and not is_multi_worker(strategy):
        return make_dataset(source, batch_size=global_batch, seed=seed, start_example=start_example)
    return strategy.distribute_datasets_from_function(
        lambda context: make_dataset(source, batch_size=global_batch, seed=seed, start_example=start_example,
                                     input_context=context))


def _stopped(interrupt, preemption):
    """Training was asked to stop: by a signal here, or (multi-worker) on some worker."""
    return preemption.stopped_at is not None if preemption is not None else interrupt.requested


def _name_undecodable_file(source):
    """A decode error inside tf.data does not name the file: find it and raise a DataError."""
    if getattr(source, "kind", None) != "files":
        return
    found = find_undecodable(source)
    if found:
        raise DataError(f"corrupt image file {found[0]}: TensorFlow cannot decode it ({found[1]}); "
                        f"re-create or remove it") from None


def _report(gan, store, guard, interrupt, preemption, role, model_dir, started, stream):
    step = int(gan.global_step.numpy())
    # Under multi-worker training every worker prints its weights' digest: equal digests,
    # equal weights. The checkpoint to name is the chief's, in model_dir.
    digest = f"; weights {store.weights_digest()}" if role.num_workers > 1 else ""
    saved = store.latest if role.is_chief else os.path.join(model_dir, CHECKPOINT_SUBDIR, f"ckpt-{step}")
    if _stopped(interrupt, preemption) and not guard.failure:
        if preemption is None:
            print(f"interrupted at step {step}; saved {saved}. Run the same command to resume.",
                  file=stream, flush=True)
        else:
            print(f"interrupted at step {step} with every worker (a worker was signalled); saved {saved}"
                  f"{digest}. Run the same command on every worker to resume.", file=stream, flush=True)
        # The exit code says which signal: 130 after Ctrl-C, 143 after SIGTERM (also on the
        # workers that stopped because another one was signalled).
        raise Interrupted(interrupt.signum or (signal.SIGINT if preemption is None else signal.SIGTERM))
    if guard.failure:
        step, values = guard.failure
        what = "weights" if guard.kind == "weights" else "loss"
        raise TrainingDiverged(
            f"{what} became NaN/inf at step {step} ({values}); training stopped, the last good checkpoint "
            f"is {(store.latest or 'none') if role.is_chief else 'the newest in ' + os.path.join(model_dir, CHECKPOINT_SUBDIR)}"
            f": lower the learning rates or change the loss, then resume")
    elapsed = time.perf_counter() - started
    print(f"done: step {step} in {elapsed:.0f} s; checkpoint {saved}{digest}", file=stream, flush=True)
    return {"step": step, "checkpoint": saved, "seconds": elapsed}
