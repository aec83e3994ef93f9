"""The run-level jobs behind the command line: train, sample. Everything a researcher may
vary is a gin parameter of `build_gan` (the method) or `train` (the run)."""

import json
import os
import sys
import time

import gin
import keras
import tensorflow as tf

from tfgan_icr import images as image_io
from tfgan_icr import losses, sampling
from tfgan_icr.data import make_dataset
from tfgan_icr.errors import CheckpointError, ConfigError, TrainingDiverged
from tfgan_icr.files import write_text_atomically
from tfgan_icr.training import callbacks as cb
from tfgan_icr.training.checkpoint import BEST_SUBDIR, CheckpointStore
from tfgan_icr.training.distribute import make_strategy
from tfgan_icr.training.gan import GAN

MODEL_SPEC = "model_spec.json"
OPERATIVE_CONFIG = "operative_config.gin"
FULL_CONFIG = "config.gin"


@gin.configurable(denylist=["num_classes", "image_size", "channels", "seed"])
def build_gan(num_classes, image_size, channels, seed=0,
              generator_fn=gin.REQUIRED, discriminator_fn=gin.REQUIRED,
              g_optimizer_fn=gin.REQUIRED, d_optimizer_fn=gin.REQUIRED,
              discriminator_loss=losses.hinge_discriminator_loss,
              generator_loss=losses.hinge_generator_loss,
              d_terms=(), g_terms=(), n_dis=1, ema_decay=None, ema_start_step=0, jit_compile=False):
    """Build and compile the GAN of a config. Call inside `strategy.scope()`.

    generator_fn / discriminator_fn: network factories (e.g. @sndcgan_generator) called with
    num_classes, image_size and channels derived from the data.
    g_optimizer_fn / d_optimizer_fn: optimizer factories (e.g. @g/Adam).
    d_terms / g_terms: extra loss terms `term(ctx) -> scalar` added to each side.
    ema_decay: keep an exponential moving average of G's weights (None: no EMA generator).
    jit_compile: XLA for the train step; measure first (slower on CPU, see GUIDE).
    """
    shape = dict(num_classes=num_classes, image_size=image_size, channels=channels)
    generator = generator_fn(**shape)
    discriminator = discriminator_fn(**shape)
    ema_generator = generator_fn(**shape) if ema_decay else None
    gan = GAN(generator, discriminator, n_dis=n_dis, ema_generator=ema_generator,
              ema_decay=ema_decay or 0.0, ema_start_step=ema_start_step, seed=seed)
    gan.compile(g_optimizer=g_optimizer_fn(), d_optimizer=d_optimizer_fn(),
                discriminator_loss=discriminator_loss, generator_loss=generator_loss,
                d_terms=d_terms, g_terms=g_terms, jit_compile=jit_compile)
    return gan


def read_model_spec(model_dir):
    path = os.path.join(model_dir, MODEL_SPEC)
    if not os.path.exists(path):
        raise CheckpointError(f"no trained model in {model_dir} ({MODEL_SPEC} missing): train one first "
                              f"with `python -m tfgan_icr.main --model_dir={model_dir}`")
    with open(path) as f:
        return json.load(f)


def build_from_spec(spec, strategy=None):
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        gan = build_gan(num_classes=spec["num_classes"], image_size=spec["image_size"],
                        channels=spec["channels"], seed=spec.get("seed", 0))
        gan.build_all()
    return gan


def restore_trained(model_dir):
    """Rebuild a trained run's GAN from its spec and restore its latest checkpoint."""
    spec = read_model_spec(model_dir)
    gan = build_from_spec(spec)
    store = CheckpointStore(model_dir, gan)
    if store.restore() is None:
        raise CheckpointError(f"no checkpoint in {store.directory}: train first, or point --model_dir "
                              f"at a run that has one")
    return gan, store


@gin.configurable(denylist=["model_dir", "stream"])
def train(model_dir, source=gin.REQUIRED, steps=10000, batch_size=64, seed=0, conditional=True,
          log_every=50, sample_every=500, checkpoint_every=500, keep_checkpoints=3,
          steps_per_execution=1, deterministic=False, eval_every=0, strategy_fn=make_strategy,
          stream=None):
    """Train (or resume) a GAN in `model_dir`.

    source: a data source (e.g. @fashion_mnist()); batch_size: the global batch of each D and G
    update; steps: iterations (each is n_dis D updates + one G update); conditional: feed class
    labels to G and D when the data has them. The run writes checkpoints, samples/,
    metrics.jsonl, TensorBoard events and operative_config.gin into model_dir and resumes from
    the latest checkpoint there. eval_every > 0 evaluates FID/KID (the `Evaluator` settings)
    at that interval and keeps the best checkpoint by FID in model_dir/best.
    """
    stream = stream or sys.stdout
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = strategy_fn()
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ConfigError(f"train.batch_size={batch_size} is not divisible by the {replicas} replicas")

    # Shapes come from the data: build the pipeline lazily once to read them.
    probe = make_dataset(source, batch_size=batch_size, seed=seed)
    image_shape = probe.element_spec[0].shape
    spec = dict(num_classes=int(source.num_classes) if conditional else 0,
                image_size=int(image_shape[1]), channels=int(image_shape[3]), seed=int(seed))

    keras.utils.set_random_seed(seed)  # initial weights are a function of the seed
    with strategy.scope():
        gan = build_gan(seed=seed, **{k: spec[k] for k in ("num_classes", "image_size", "channels")})
        gan.build_all()
    spec.update(z_dim=int(gan.generator.z_dim), n_dis=gan.n_dis, batch_size=batch_size,
                has_ema=gan.ema_generator is not None)
    if steps_per_execution != 1:
        gan.steps_per_execution = steps_per_execution

    store = CheckpointStore(model_dir, gan, max_to_keep=keep_checkpoints)
    start = store.restore() or 0  # raises before anything in model_dir is written
    if start:
        print(f"resuming from {store.latest} at step {start}", file=stream, flush=True)
    if start >= steps:
        print(f"already trained to step {start} (train.steps={steps}); nothing to do", file=stream)
        return {"step": start, "checkpoint": store.latest}

    os.makedirs(model_dir, exist_ok=True)
    write_text_atomically(os.path.join(model_dir, MODEL_SPEC), json.dumps(spec, indent=2) + "\n")
    write_text_atomically(os.path.join(model_dir, OPERATIVE_CONFIG), gin.operative_config_str())
    # Every binding as given (also those of jobs not run yet, such as evaluation): what
    # --mode=sample/eval re-read.
    write_text_atomically(os.path.join(model_dir, FULL_CONFIG), gin.config_str())

    elements_per_step = gan.n_dis * batch_size
    dataset = make_dataset(source, batch_size=elements_per_step, seed=seed,
                           start_example=start * elements_per_step)
    writer = tf.summary.create_file_writer(os.path.join(model_dir, "tensorboard"))
    guard = cb.NaNGuard()
    checkpointer = cb.Checkpointer(store, every=checkpoint_every, guard=guard)
    callbacks = [
        guard,
        cb.MetricsLogger(model_dir, steps, batch_size, gan.n_dis, every=log_every, writer=writer,
                         stream=stream, guard=guard),
        cb.SampleGrid(model_dir, every=sample_every, seed=seed, total_steps=steps, writer=writer,
                      guard=guard),
        checkpointer,
    ]
    if eval_every:
        from tfgan_icr.eval.evaluator import Evaluator
        best = CheckpointStore(model_dir, gan, max_to_keep=1, subdir=BEST_SUBDIR)
        callbacks.insert(-1, cb.PeriodicEvaluation(Evaluator(stream=stream), eval_every, best, model_dir,
                                                   writer=writer, stream=stream, guard=guard))
    print(f"training {steps - start} iterations (step {start} -> {steps}), batch {batch_size}, "
          f"n_dis {gan.n_dis}, {replicas} replica(s); writing to {model_dir}", file=stream, flush=True)
    started = time.perf_counter()
    interrupt = cb.GracefulInterrupt(stream=stream)
    callbacks.insert(1, interrupt)
    try:
        with interrupt.installed():
            gan.fit(dataset, epochs=1, steps_per_epoch=steps - start, verbose=0, callbacks=callbacks,
                    shuffle=False)
    finally:
        writer.flush()
    if interrupt.requested:
        print(f"interrupted at step {int(gan.global_step.numpy())}; saved {store.latest}. Run the same "
              f"command to resume.", file=stream, flush=True)
        raise KeyboardInterrupt
    if guard.failure:
        step, values = guard.failure
        raise TrainingDiverged(
            f"loss became NaN/inf at step {step} ({values}); training stopped, the last good checkpoint "
            f"is {store.latest or 'none'}: lower the learning rates or change the loss, then resume")
    elapsed = time.perf_counter() - started
    step = int(gan.global_step.numpy())
    print(f"done: step {step} in {elapsed:.0f} s; checkpoint {store.latest}", file=stream, flush=True)
    return {"step": step, "checkpoint": store.latest, "seconds": elapsed}


@gin.configurable(denylist=["model_dir", "num_samples", "stream"])
def sample(model_dir, num_samples=0, use_ema=True, per_class=10, unconditional_count=64, seed=1,
           stream=None):
    """Write a sample grid (one row per class when conditional) and `num_samples` single PNGs
    from the latest checkpoint of `model_dir`."""
    stream = stream or sys.stdout
    gan, store = restore_trained(model_dir)
    step = int(gan.global_step.numpy())
    net = gan.inference_generator(use_ema)
    tag = "ema" if net is gan.ema_generator else "g"
    z, labels, rows = cb.fixed_sample_inputs(gan.generator, seed, per_class, unconditional_count)
    out_dir = os.path.join(model_dir, "samples")
    grid_path = image_io.write_grid(os.path.join(out_dir, f"sample_step_{step:07d}_{tag}.png"),
                                    net(z, labels, training=False).numpy(), rows=rows)
    print(f"wrote {grid_path}", file=stream)
    written = []
    if num_samples:
        single_dir = os.path.join(out_dir, f"individual_step_{step:07d}_{tag}")
        batch = 100
        for start in range(0, num_samples, batch):
            n = min(batch, num_samples - start)
            z, labels = sampling.numbered_inputs(seed, 100003, start, n, gan.generator.z_dim,
                                                 gan.num_classes)
            images = image_io.to_uint8(net(z, labels, training=False).numpy())
            for i, image in enumerate(images):
                label = int(labels[i]) if gan.num_classes else None
                name = f"{start + i:06d}" + (f"_class{label}" if label is not None else "") + ".png"
                written.append(image_io.write_png(os.path.join(single_dir, name), image))
        print(f"wrote {len(written)} images to {single_dir}", file=stream)
    return {"grid": grid_path, "images": written, "step": step}


@gin.configurable(denylist=["model_dir", "num_samples", "stream"])
def evaluate(model_dir, num_samples=None, use_ema=True, stream=None):
    """FID and KID (IS when the network has logits) of the latest checkpoint's generator
    (the EMA generator when there is one), against `Evaluator.reference_source`; the results
    go to metrics.jsonl, TensorBoard and the console."""
    from tfgan_icr.eval.evaluator import Evaluator, log_results
    stream = stream or sys.stdout
    evaluator = Evaluator(stream=stream)  # config errors before the (slow) restore
    gan, _ = restore_trained(model_dir)
    net = gan.inference_generator(use_ema)
    step = int(gan.global_step.numpy())
    results = evaluator(net, num_samples)
    results["generator"] = "ema" if net is gan.ema_generator else "g"
    writer = tf.summary.create_file_writer(os.path.join(model_dir, "tensorboard"))
    log_results(model_dir, step, results, writer=writer, stream=stream)
    return results
