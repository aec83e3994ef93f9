"""Keras callbacks of a training run: progress, metrics log, samples, checkpoints, NaN guard.

`fit` runs one "epoch" of the remaining iterations; each callback counts iterations with
the GAN's own `global_step`, so a resumed run continues the step count.
"""

import contextlib
import json
import math
import os
import signal
import sys
import threading
import time

import keras
import numpy as np
import tensorflow as tf

from tfgan_icr import images as image_io
from tfgan_icr import sampling
from tfgan_icr.files import write_text_atomically


def _step(model):
    return int(model.global_step.numpy())


def _as_floats(logs):
    return {k: float(np.asarray(v)) for k, v in (logs or {}).items()}


def _format_duration(seconds):
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class NaNGuard(keras.callbacks.Callback):
    """Stops training at the first iteration whose logged losses are not finite.

    It runs before the checkpoint callback, so no checkpoint is written after the failure.
    """

    def __init__(self):
        super().__init__()
        self.failure = None
        self.kind = None  # "loss", or "weights" when a save found NaN/inf variables

    def fail(self, kind, description):
        if self.failure is None:
            self.failure = (_step(self.model), description)
            self.kind = kind
        self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        bad = {k: v for k, v in _as_floats(logs).items() if not math.isfinite(v)}
        if bad:
            self.fail("loss", ", ".join(f"{k}={v}" for k, v in sorted(bad.items())))


class GracefulInterrupt(keras.callbacks.Callback):
    """Ctrl-C or SIGTERM asks training to stop after the current iteration, which is then
    saved (a second signal aborts). `signum` records which signal it was.

    The exception is not thrown through TensorFlow and Keras internals (which may swallow or
    half-handle it); the loop ends at an iteration boundary, so the state that is saved next
    is consistent.

    stop_locally=False (multi-worker training) only records the signal: a worker that left
    the loop alone would leave the others waiting in the next collective, so `WorkerPreemption`
    stops all of them at one common iteration instead.
    """

    def __init__(self, stream=None, stop_locally=True):
        super().__init__()
        self.requested = False
        self.signum = None
        self.stream = stream or sys.stdout
        self.stop_locally = stop_locally

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.signum = signum
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        if self.stop_locally:
            print(f"\n{name}: stopping after this iteration and saving (a second signal aborts at once)",
                  file=self.stream, flush=True)
        else:
            print(f"\n{name}: telling the other workers; all of them save at the next common iteration "
                  f"and stop (a second signal aborts at once)", file=self.stream, flush=True)

    @contextlib.contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.signal(sig, self._handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def on_train_batch_end(self, batch, logs=None):
        if self.requested and self.stop_locally:
            self.model.stop_training = True


class WorkerPreemption(keras.callbacks.Callback):
    """Multi-worker training: a SIGTERM or Ctrl-C to any one worker stops every worker at the
    same iteration, after one checkpoint of that iteration.

    TensorFlow's `PreemptionCheckpointHandler` makes the agreement through the cluster's
    coordination service: its termination watcher is `interrupt` (a `GracefulInterrupt` that
    only records the signal); after every iteration each worker asks the handler, which, once
    the signalled worker has told every peer the iteration to stop at, has all of them save at
    that iteration through `checkpointer` (every worker saves, since saving is collective: the
    chief into model_dir, the others into their scratch folders) and then stop. Create it
    outside `strategy.scope()`, in the main thread.
    """

    def __init__(self, strategy, interrupt, checkpointer, scratch_dir):
        super().__init__()
        self.interrupt = interrupt
        self.checkpointer = checkpointer
        self.stopped_at = None  # the step every worker saved and stopped at
        config = tf.distribute.experimental.TerminationConfig(
            termination_watcher_fn=lambda: interrupt.requested, exit_fn=self._stop,
            save_fn=checkpointer.save_now, grace_period=0)
        # The handler's own bookkeeping checkpoint is never written (save_fn replaces it); its
        # folder lies in this worker's scratch space.
        self.handler = tf.distribute.experimental.PreemptionCheckpointHandler(
            strategy.cluster_resolver, tf.train.Checkpoint(),
            checkpoint_dir=os.path.join(scratch_dir, "preemption"), termination_config=config)

    def _stop(self):
        self.stopped_at = _step(self.model)
        self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        if self.stopped_at is None:
            self.handler.save_checkpoint_if_preempted()


class MetricsLogger(keras.callbacks.Callback):
    """Every `every` iterations: a console line, a metrics.jsonl record, TensorBoard scalars."""

    def __init__(self, model_dir, total_steps, global_batch_size, n_dis, every=50, writer=None,
                 stream=None, guard=None):
        super().__init__()
        # model_dir None (a worker other than the chief): the console line only.
        self.path = os.path.join(model_dir, "metrics.jsonl") if model_dir else None
        self.total_steps = total_steps
        self.global_batch_size = global_batch_size
        self.n_dis = n_dis
        self.every = max(1, int(every))
        self.writer = writer
        self.stream = stream or sys.stdout
        self.guard = guard

    def on_train_begin(self, logs=None):
        self._mark = (time.perf_counter(), _step(self.model))
        self._start = self._mark
        self._compiled = False
        print("compiling the training step (the first iteration traces it into one graph; "
              "tens of seconds on a CPU)...", file=self.stream, flush=True)

    def on_train_batch_end(self, batch, logs=None):
        step = _step(self.model)
        if not self._compiled:
            self._compiled = True
            print(f"compiled; the first iteration took {time.perf_counter() - self._start[0]:.0f} s",
                  file=self.stream, flush=True)
        if (self.guard is not None and self.guard.failure) or (step % self.every and step != self.total_steps):
            return
        now = time.perf_counter()
        then, then_step = self._mark
        self._mark = (now, step)
        iterations = step - then_step
        if iterations <= 0:
            return
        it_per_s = iterations / max(now - then, 1e-9)
        done = step - self._start[1]
        overall = done / max(now - self._start[0], 1e-9)
        record = {"step": step, **_as_floats(logs),
                  "iterations_per_second": it_per_s,
                  # images/s counts the real images the discriminator consumes.
                  "images_per_second": it_per_s * self.global_batch_size * self.n_dis,
                  "seconds_per_iteration": 1.0 / it_per_s,
                  "time": time.time()}
        if self.path:
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            with self.writer.as_default(step=step):
                for key, value in record.items():
                    if key not in ("step", "time"):
                        tf.summary.scalar(key, value)
        eta = (self.total_steps - step) / overall if overall > 0 else float("inf")
        losses = "  ".join(f"{k} {record[k]:.4f}" for k in ("d_loss", "g_loss") if k in record)
        print(f"step {step}/{self.total_steps}  {losses}  {record['images_per_second']:.0f} img/s  "
              f"ETA {_format_duration(eta)}", file=self.stream, flush=True)


class SampleGrid(keras.callbacks.Callback):
    """Writes `samples/step_XXXXXXX.png` from a fixed z every `every` iterations.

    Conditional models get one row per class. When the GAN has an EMA generator a second
    grid `..._ema.png` is written from it.
    """

    def __init__(self, model_dir, every=500, per_class=10, unconditional_count=64, seed=0,
                 total_steps=None, writer=None, guard=None):
        super().__init__()
        self.directory = os.path.join(model_dir, "samples")
        self.every = max(1, int(every))
        self.per_class = per_class
        self.unconditional_count = unconditional_count
        self.seed = seed
        self.total_steps = total_steps
        self.writer = writer
        self.guard = guard

    def on_train_begin(self, logs=None):
        self.z, self.labels, self.rows = fixed_sample_inputs(self.model.generator, self.seed,
                                                             self.per_class, self.unconditional_count)

    def on_train_batch_end(self, batch, logs=None):
        step = _step(self.model)
        if self.guard is not None and self.guard.failure:
            return
        if step % self.every == 0 or step == self.total_steps:
            self.write(step)

    def write(self, step):
        paths = []
        variants = [("", self.model.generator)]
        if self.model.ema_generator is not None:
            variants.append(("_ema", self.model.ema_generator))
        for suffix, net in variants:
            images = net(self.z, self.labels, training=False).numpy()
            path = os.path.join(self.directory, f"step_{step:07d}{suffix}.png")
            grid = image_io.make_grid(images, rows=self.rows)
            image_io.write_png(path, grid)
            paths.append(path)
            if self.writer is not None:
                with self.writer.as_default(step=step):
                    tf.summary.image(f"samples{suffix}", grid[None], step=step)
        return paths


def fixed_sample_inputs(generator, seed, per_class=10, unconditional_count=64, truncation=None):
    """The z (and labels) of a run's sample grids: the same for every grid of a run (z
    truncated at `truncation` when set)."""
    if generator.num_classes:
        labels = sampling.grid_labels(generator.num_classes, per_class)
        rows = generator.num_classes
    else:
        labels = tf.zeros([unconditional_count], tf.int32)
        rows = None
    z = sampling.normal_latents(tf.constant([seed, sampling.SALTS["sample_grid"]], tf.int64), tf.shape(labels)[0],
                                generator.z_dim, truncation=truncation)
    return z, labels, rows


class Checkpointer(keras.callbacks.Callback):
    """Saves a checkpoint every `every` iterations and when training ends normally."""

    def __init__(self, store, every=500, guard=None, stream=None):
        super().__init__()
        self.store = store
        self.every = max(1, int(every))
        self.guard = guard
        self.stream = stream or sys.stdout
        self.last_saved_step = None

    def save_now(self):
        if self.guard is not None and self.guard.failure:
            return
        step = _step(self.model)
        if step == self.last_saved_step:
            return
        from tfgan_icr.training.checkpoint import NonFiniteWeights
        try:
            self.store.save()
        except NonFiniteWeights as error:
            # The losses logged at step k come from before step k's update: weights can be
            # NaN/inf while every logged loss is finite. Such a state is never saved.
            if self.guard is None:
                raise
            self.guard.fail("weights", str(error))
            return
        self.last_saved_step = step

    def on_train_batch_end(self, batch, logs=None):
        if _step(self.model) % self.every == 0:
            self.save_now()

    def on_train_end(self, logs=None):
        self.save_now()  # also after a Ctrl-C: training ends at an iteration boundary


BEST_RECORD = "best.json"


class PeriodicEvaluation(keras.callbacks.Callback):
    """Every `every` iterations: FID/KID of the (EMA) generator, logged like `--mode=eval`;
    the checkpoint with the lowest FID so far is kept in `<model_dir>/best/`. FIDs at
    different resolutions (a growing model) do not compare: the first evaluation at a higher
    resolution replaces the best, and lower FIDs at that resolution do after it."""

    def __init__(self, evaluator, every, best_store, model_dir, writer=None, stream=None, guard=None,
                 known_best=None, agree=None):
        """known_best: the best.json to start from (default: the one beside best_store's
        checkpoints; a multi-worker run's other workers read the chief's). agree: int -> int,
        the chief's value on every worker (multi-worker: they save a new best together)."""
        super().__init__()
        self.evaluator = evaluator
        self.every = max(1, int(every))
        self.best_store = best_store
        self.model_dir = model_dir
        self.writer = writer
        self.stream = stream or sys.stdout
        self.guard = guard
        self.agree = agree
        self.best_path = os.path.join(best_store.directory, BEST_RECORD)
        known_best = known_best or self.best_path
        self.best_fid = self.best_resolution = None
        if os.path.exists(known_best):
            with open(known_best) as f:
                best = json.load(f)
            self.best_fid, self.best_resolution = best["fid"], best.get("resolution")

    def _is_better(self, results):
        if self.best_fid is None:
            return True
        resolution = results.get("resolution")
        if resolution is not None and self.best_resolution is not None and resolution != self.best_resolution:
            return resolution > self.best_resolution
        return results["fid"] < self.best_fid

    def on_train_batch_end(self, batch, logs=None):
        step = _step(self.model)
        if (self.guard is not None and self.guard.failure) or step % self.every:
            return
        from tfgan_icr.eval.evaluator import log_results
        with self.model.inference() as (net, truncation):
            results = self.evaluator(net, truncation=truncation)
        log_results(self.model_dir, step, results, writer=self.writer, stream=self.stream)
        better = self._is_better(results)
        if self.agree is not None:
            better = bool(self.agree(int(better)))
        if better:
            from tfgan_icr.training.checkpoint import NonFiniteWeights
            try:
                path = self.best_store.save()
            except NonFiniteWeights as error:
                if self.guard is None:
                    raise
                self.guard.fail("weights", str(error))
                return
            self.best_fid, self.best_resolution = results["fid"], results.get("resolution")
            best = {"step": step, "fid": results["fid"], "label": results["fid_label"], "checkpoint": path,
                    "resolution": self.best_resolution}
            write_text_atomically(self.best_path, json.dumps(best, indent=1))
            print(f"new best {results['fid_label']} = {results['fid']:.3f}: saved {path}",
                  file=self.stream, flush=True)
