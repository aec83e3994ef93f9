"""Progressive growing (Karras et al. 2018): the schedule in images shown, the fade-in, the
real images blended like the networks, and the drift term of the discriminator loss.

The schedule: at 4x4 `stable_images`; then for every next resolution `transition_images`
of fade-in (alpha linear from 0 to 1) followed by `stable_images`; the last resolution
trains until `train.steps`. Each resolution has its batch size (`batch_sizes`, default
`train.batch_size`) and optionally its learning rate (`learning_rates`, for both optimizers;
default the optimizers' configured rates). Images are converted to steps per resolution at
that resolution's batch (real images shown to D per iteration: n_dis batches), rounding up.

One resolution is one training phase (`training.phases.Phase`, ``stage`` a `Stage`): the
resolution is a Python value, so each phase traces one step that runs only the layers of its
resolution, while alpha is a function of the step computed in the graph, so a phase's one
trace serves its whole fade-in and its stable part. Stage, alpha and images shown are all
functions of the checkpointed step: a run resumed anywhere, mid fade-in included, continues
the schedule exactly.
"""

import math
from typing import NamedTuple

import gin
import tensorflow as tf

from tfgan_icr.errors import ConfigError
from tfgan_icr.models.pggan import downsample, resolutions_to, upsample
from tfgan_icr.training.checkpoint import learning_rates
from tfgan_icr.training.phases import make_phases, phase_at

__all__ = ["ProgressiveGrowth", "Stage", "drift_penalty", "progressive_growth"]


class Stage(NamedTuple):
    """A phase of the growing schedule: its resolution, where its fade-in starts and how many
    steps it lasts (0 at the first resolution: nothing to fade from)."""

    resolution: int
    start_step: int
    transition_steps: int

    def alpha(self, step):
        """The fade-in alpha at ``step`` (a number or an int tensor): 0 at the stage's first
        step, linear to 1 after ``transition_steps``, then 1."""
        if not self.transition_steps:
            return tf.constant(1.0, tf.float32)
        t = (tf.cast(step, tf.float32) - float(self.start_step)) / float(self.transition_steps)
        return tf.clip_by_value(t, 0.0, 1.0)


def _per_resolution(mapping, name, resolutions):
    mapping = dict(mapping or {})
    unknown = sorted(set(int(r) for r in mapping) - set(resolutions))
    if unknown:
        raise ConfigError(f"progressive_growth.{name} names resolution(s) {unknown} outside this "
                          f"model's {resolutions}: use only those")
    return {int(r): v for r, v in mapping.items()}


class ProgressiveGrowth:
    """The growing schedule of a GAN whose networks have a ``level_of_detail``
    (`tfgan_icr.models.pggan`). The training job asks it for the phases, the GAN calls
    `enter` before tracing a phase, `step_hook` at the start of every iteration and
    `real_images` on every real batch."""

    def __init__(self, image_size, stable_images=600_000, transition_images=600_000,
                 batch_sizes=None, learning_rates=None, start_resolution=4):
        all_resolutions = resolutions_to(image_size)
        if int(start_resolution) not in all_resolutions:
            raise ConfigError(f"progressive_growth.start_resolution must be one of {all_resolutions}, "
                              f"got {start_resolution}")
        self.resolutions = [r for r in all_resolutions if r >= int(start_resolution)]
        self.image_size = int(image_size)
        if int(stable_images) < 1 or int(transition_images) < 1:
            raise ConfigError(f"progressive_growth needs stable_images and transition_images >= 1, "
                              f"got {stable_images} and {transition_images}")
        self.stable_images = int(stable_images)
        self.transition_images = int(transition_images)
        self.batch_sizes = {r: int(b) for r, b in
                            _per_resolution(batch_sizes, "batch_sizes", self.resolutions).items()}
        self.learning_rates = {r: float(v) for r, v in
                               _per_resolution(learning_rates, "learning_rates", self.resolutions).items()}
        self.stage = None
        self._configured_rates = {}

    def __repr__(self):
        return (f"ProgressiveGrowth(resolutions={self.resolutions}, stable_images={self.stable_images}, "
                f"transition_images={self.transition_images}, batch_sizes={self.batch_sizes}, "
                f"learning_rates={self.learning_rates})")

    # -- the schedule --------------------------------------------------------------------
    def phases(self, total_steps, batch_size, examples_per_iteration):
        """One `Phase` per resolution (stage a `Stage`); the last runs to `total_steps`."""
        changes, step = [], 0
        for i, resolution in enumerate(self.resolutions):
            batch = self.batch_sizes.get(resolution, int(batch_size))
            shown = examples_per_iteration(batch)
            transition = math.ceil(self.transition_images / shown) if i else 0
            changes.append((step, batch, Stage(resolution, step, transition)))
            step += transition + math.ceil(self.stable_images / shown)
        first = changes[0]
        return make_phases(first[1], changes[1:], total_steps, stage=first[2])

    def stage_at(self, step, batch_size, examples_per_iteration):
        """The `Stage` that trains iteration ``step``."""
        phases = self.phases(step + 1, batch_size, examples_per_iteration)
        return phase_at(phases, step).stage

    # -- the GAN's side ------------------------------------------------------------------
    def attach(self, gan):
        """Called once the GAN is compiled: remembers the configured learning rates."""
        self._configured_rates = learning_rates(gan)

    @staticmethod
    def networks(gan):
        return [net for net in (gan.generator, gan.discriminator, gan.ema_generator)
                if net is not None and hasattr(net, "level_of_detail")]

    def enter(self, gan, stage, step=None):
        """Python-level state of a stage, set before its step is traced: the networks'
        resolution, the learning rates, and alpha at ``step`` (default the stage's start)."""
        self.stage = stage
        alpha = float(stage.alpha(stage.start_step if step is None else step).numpy())
        for net in self.networks(gan):
            net.level_of_detail.set(stage.resolution, alpha)
        rate = self.learning_rates.get(stage.resolution)
        for name, configured in self._configured_rates.items():
            getattr(gan, name)._learning_rate.assign(configured if rate is None else rate)

    def enter_trained_step(self, gan, batch_size):
        """After a restore (sampling, evaluation): the stage and alpha of the last trained
        iteration, as the training run's sample grids saw them."""
        last = max(int(gan.global_step.numpy()) - 1, 0)
        self.enter(gan, self.stage_at(last, batch_size, gan.examples_per_iteration), step=last)

    def step_hook(self, gan):
        """In the graph, first thing of an iteration: alpha for this step."""
        if self.stage is None:
            return
        alpha = self.stage.alpha(gan.global_step)
        for net in self.networks(gan):
            net.level_of_detail.alpha.assign(alpha)

    def real_images(self, gan, images):
        """The real batch as D sees it now: box-downsampled to the stage's resolution, and
        during a fade-in blended with its half-resolution version (upsampled) by alpha, as the
        generator's output is."""
        if self.stage is None:
            return images
        resolution = self.stage.resolution
        factor = int(images.shape[1]) // resolution
        current = downsample(images, factor)
        if not self.stage.transition_steps:
            return current
        alpha = self.networks(gan)[0].level_of_detail.alpha
        coarse = upsample(downsample(current, 2), 2)
        return coarse + (current - coarse) * tf.cast(alpha, current.dtype)


@gin.configurable(denylist=["image_size"])
def progressive_growth(image_size, stable_images=600_000, transition_images=600_000,
                       batch_sizes=None, learning_rates=None, start_resolution=4):
    """The PGGAN schedule for a model growing to ``image_size`` (`ProgressiveGrowth`):
    ``batch_sizes`` / ``learning_rates`` are dicts {resolution: value} (e.g. {4: 128, 8: 128,
    ..., 1024: 4}); missing resolutions use train.batch_size / the optimizers' rates."""
    return ProgressiveGrowth(image_size, stable_images=stable_images,
                             transition_images=transition_images, batch_sizes=batch_sizes,
                             learning_rates=learning_rates, start_resolution=start_resolution)


@gin.configurable
def drift_penalty(ctx, weight=0.001):
    """The PGGAN drift term ``weight * mean(D(real)^2)``: keeps the critic's output near 0."""
    return weight * tf.reduce_mean(tf.square(tf.cast(ctx.real_logits, tf.float32)))
