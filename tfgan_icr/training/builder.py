"""The method of a config: `build_gan` builds and compiles the GAN from gin parameters; and
the way back from a run directory to its trained GAN (`restore_trained`)."""

import json
import os

import gin
import tensorflow as tf

from tfgan_icr import losses
from tfgan_icr.errors import CheckpointError
from tfgan_icr.training.checkpoint import CheckpointStore, checkpoint_step
from tfgan_icr.training.gan import GAN
from tfgan_icr.training.precision import policy_scope

MODEL_SPEC = "model_spec.json"
OPERATIVE_CONFIG = "operative_config.gin"
FULL_CONFIG = "config.gin"


@gin.configurable(denylist=["num_classes", "image_size", "channels", "seed"])
def build_gan(num_classes, image_size, channels, seed=0,
              generator_fn=gin.REQUIRED, discriminator_fn=gin.REQUIRED,
              g_optimizer_fn=gin.REQUIRED, d_optimizer_fn=gin.REQUIRED,
              discriminator_loss=losses.hinge_discriminator_loss,
              generator_loss=losses.hinge_generator_loss,
              d_terms=(), g_terms=(), n_dis=1, ema_decay=None, ema_start_step=0, step_hooks=(),
              accumulation_steps=1, jit_compile=False, discriminator_options=None,
              precision="float32", growth_fn=None, joint_discriminator_call=False):
    """Build and compile the GAN of a config. Call inside `strategy.scope()`.

    generator_fn / discriminator_fn: network factories (e.g. @sndcgan_generator) called with
    num_classes, image_size and channels derived from the data.
    g_optimizer_fn / d_optimizer_fn: optimizer factories (e.g. @g/keras.optimizers.Adam).
    discriminator_loss / generator_loss: adversarial losses of logits (e.g. @hinge_discriminator_loss).
    d_terms / g_terms: extra loss terms added to each side: callables of a StepContext, or
    @term() for a name, weight schedule or lazy interval (see tfgan_icr.training.terms).
    ema_decay: keep an exponential moving average of G's weights, with this decay (a number or
    a schedule) from ema_start_step on (None: no EMA generator).
    step_hooks: callables hook(gan) run in the graph at the start of every iteration.
    accumulation_steps: micro-batches per update whose gradients are summed before one
    optimizer step (a large batch on a small device; see GAN).
    growth_fn: for growing networks, a schedule factory called with image_size (e.g.
    @progressive_growth): it sets the training phases, stages and fade-in.
    jit_compile: XLA for the train step; measure first (slower on CPU, see the README).
    discriminator_options: extra keyword arguments of discriminator_fn that do not depend on
    the architecture, e.g. {"head": "contrastive", "embedding_dim": 512} (models.base.HEADS).
    precision: "float32", "mixed_bfloat16" or "mixed_float16" (loss-scaled); variables,
    losses, optimizer state and checkpoints stay float32 (see tfgan_icr.training.precision).
    joint_discriminator_call: one D call on the real and fake batches concatenated, as
    compare_gan does (see GAN._d_outputs); refused for a D with batch statistics.
    """
    shape = dict(num_classes=num_classes, image_size=image_size, channels=channels)
    with policy_scope(precision):
        generator = generator_fn(**shape)
        discriminator = discriminator_fn(**shape, **dict(discriminator_options or {}))
        ema_generator = generator_fn(**shape) if ema_decay else None
    growth = growth_fn(image_size=image_size) if growth_fn else None
    gan = GAN(generator, discriminator, n_dis=n_dis, ema_generator=ema_generator,
              ema_decay=ema_decay or 0.0, ema_start_step=ema_start_step, seed=seed,
              step_hooks=step_hooks, growth=growth, accumulation_steps=accumulation_steps,
              precision=precision, joint_discriminator_call=joint_discriminator_call)
    gan.compile(g_optimizer=g_optimizer_fn(), d_optimizer=d_optimizer_fn(),
                discriminator_loss=discriminator_loss, generator_loss=generator_loss,
                d_terms=d_terms, g_terms=g_terms, jit_compile=jit_compile)
    if growth is not None:
        growth.attach(gan)
    return gan


def read_model_spec(model_dir):
    path = os.path.join(model_dir, MODEL_SPEC)
    if not os.path.exists(path):
        raise CheckpointError(f"no trained model in {model_dir} ({MODEL_SPEC} missing): train one first "
                              f"with `python -m tfgan_icr.main --model_dir={model_dir}`")
    with open(path) as f:
        return json.load(f)


def build_from_spec(spec, strategy=None):
    """The GAN of the parsed config, with the data-derived shapes of a run's model_spec.json."""
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        gan = build_gan(num_classes=spec["num_classes"], image_size=spec["image_size"],
                        channels=spec["channels"], seed=spec.get("seed", 0))
        gan.build_all()
    return gan


def restore_trained(model_dir, checkpoint=None):
    """Rebuild a trained run's GAN from its spec and restore its latest checkpoint, or
    `checkpoint`: a step (``1407``), a name in checkpoints/ (``ckpt-1407``) or a path prefix."""
    spec = read_model_spec(model_dir)
    gan = build_from_spec(spec)
    store = CheckpointStore(model_dir, gan)
    if checkpoint is not None:
        store.restore(_checkpoint_path(store, checkpoint))
    elif store.restore() is None:
        raise CheckpointError(f"no checkpoint in {store.directory}: train first, or point --model_dir "
                              f"at a run that has one")
    if gan.growth is not None:  # sample and evaluate at the resolution trained last
        gan.growth.enter_trained_step(gan, spec["batch_size"])
    return gan, store


def _checkpoint_path(store, checkpoint):
    text = str(checkpoint)
    path = os.path.join(store.directory, f"ckpt-{text}" if text.isdigit() else text)
    if os.path.exists(path + ".index"):
        return path
    if os.path.exists(text + ".index"):
        return text
    steps = ", ".join(str(s) for s in sorted(map(checkpoint_step, store.candidates()))) or "none"
    raise CheckpointError(f"no checkpoint {text!r} in {store.directory}: pass --checkpoint=STEP with one of "
                          f"the steps saved there ({steps})")
