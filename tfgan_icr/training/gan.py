"""The GAN as a keras.Model: `compile` takes two optimizers and the loss functions,
`train_step` runs one iteration of Algorithm 1 of the ICR paper as one graph call:
`n_dis` discriminator updates on `n_dis` distinct real batches, then one generator update.

Methods differ only in the extra loss terms added to each side (`training.terms`): the step
sums the terms gin lists for each side and never names a method, so a new regulariser is a
new function plus a config line. The discriminator returns a `DiscriminatorOutput` (logits
plus optional embedding, class logits, features); the adversarial losses take its logits and
the terms see all of it through the `StepContext`. Values that follow the step (term weights,
the EMA decay, a fade-in) are schedules computed in the graph (`training.schedules`), and
`step_hooks` run at the start of every iteration for state a network reads (PGGAN's alpha).
"""

from typing import Callable, Sequence

import keras
import tensorflow as tf

from tfgan_icr import sampling
from tfgan_icr.models.base import DiscriminatorOutput
from tfgan_icr.training.context import StepContext
from tfgan_icr.training.schedules import value_at
from tfgan_icr.training.terms import as_terms
from tfgan_icr.training.variables import named_variables, pair_by_name

__all__ = ["GAN", "StepContext"]


def as_discriminator_output(output):
    """A discriminator's output as a `DiscriminatorOutput` (a plain logits tensor is wrapped)."""
    return output if isinstance(output, DiscriminatorOutput) else DiscriminatorOutput(logits=output)


def _trainable_by_name(network):
    return [v for v in named_variables(network).values() if v.trainable]


class GAN(keras.Model):
    """Generator + discriminator trained adversarially with `fit`.

    The dataset yields `(images, labels)` batches of `examples_per_iteration(batch_size)`
    examples (per replica: the global batch divided by the number of replicas); each D update
    takes its own slice, so the D updates of one iteration see distinct real data.

    ema_decay: a number or a schedule of the step (None/0: no EMA update).
    step_hooks: callables ``hook(gan)`` run in the graph at the start of every iteration.
    growth: for networks that grow (PGGAN), an object with ``phases(total_steps, batch_size,
    examples_per_iteration)`` (the training phases, each with its stage), ``enter(gan, stage)``
    (Python-level state of a stage, set before its step is traced), ``step_hook(gan)`` (run
    first in every iteration) and ``real_images(gan, images)`` (the real batch D sees), e.g.
    `tfgan_icr.methods.progressive.ProgressiveGrowth`.
    """

    def __init__(self, generator, discriminator, n_dis=1, ema_generator=None, ema_decay=0.999,
                 ema_start_step=0, seed=0, step_hooks=(), growth=None, **kwargs):
        super().__init__(**kwargs)
        if n_dis < 1:
            raise ValueError(f"n_dis must be >= 1, got {n_dis}")
        self.generator = generator
        self.discriminator = discriminator
        self.ema_generator = ema_generator
        self.ema_decay = ema_decay if callable(ema_decay) else float(ema_decay or 0.0)
        self.ema_start_step = int(ema_start_step)
        self.n_dis = int(n_dis)
        self.seed = int(seed)
        self.step_hooks = list(step_hooks)
        self.growth = growth
        self._ema_pairs = []
        self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step",
                                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

    # -- set-up ---------------------------------------------------------------------------
    def compile(self, g_optimizer, d_optimizer, discriminator_loss, generator_loss,
                d_terms: Sequence[Callable] = (), g_terms: Sequence[Callable] = (), **kwargs):
        """Optimizers, the adversarial losses (functions of logits) and the extra terms of each
        side (callables of a StepContext, or `Term`s; names must be unique per side)."""
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.discriminator_loss = discriminator_loss
        self.generator_loss = generator_loss
        self.d_terms = as_terms(d_terms, "discriminator")
        self.g_terms = as_terms(g_terms, "generator")

    @property
    def num_classes(self):
        return self.generator.num_classes

    def examples_per_iteration(self, batch_size):
        """Real examples one iteration consumes at (global or per-replica) batch `batch_size`."""
        return self.n_dis * int(batch_size)

    def build_all(self, batch_size=2):
        """Create every variable (networks, EMA copy, optimizer slots) before training/restoring.

        The optimizers are built over the variables in name order, so their slots are matched
        by name too. Under a tf.distribute strategy this must run inside `strategy.scope()`.
        """
        z = tf.zeros([batch_size, self.generator.z_dim])
        labels = tf.zeros([batch_size], tf.int32)
        images = self.generator(z, labels, training=False)
        self.discriminator(images, labels, training=False)
        if self.ema_generator is not None:
            self.ema_generator(z, labels, training=False)
            self._ema_pairs = pair_by_name(self.ema_generator, self.generator)
            for target, source in self._ema_pairs:
                target.assign(source)
        self.g_optimizer.build(_trainable_by_name(self.generator))
        self.d_optimizer.build(_trainable_by_name(self.discriminator))
        self.built = True

    def call(self, z, labels=None, training=False):
        return self.generator(z, labels, training=training)

    def enter_phase(self, phase):
        """Before training a phase (`training.phases.Phase`): drop the traced step, so the
        phase traces its own (at its batch size and, for a growing model, its stage)."""
        self.train_function = None
        if self.growth is not None and phase.stage is not None:
            self.growth.enter(self, phase.stage)

    # -- randomness ----------------------------------------------------------------------
    def _seed(self, salt):
        """A stateless seed unique to (run seed, step, salt, replica)."""
        ctx = tf.distribute.get_replica_context()
        replica = ctx.replica_id_in_sync_group if ctx is not None else 0
        seed = tf.stack([tf.constant(self.seed, tf.int64), self.global_step])
        seed = tf.random.experimental.stateless_fold_in(seed, salt)
        return tf.random.experimental.stateless_fold_in(seed, tf.cast(replica, tf.int32))

    def sample_inputs(self, batch_size, salt):
        z = sampling.normal_latents(self._seed(2 * salt), batch_size, self.generator.z_dim)
        labels = sampling.uniform_labels(self._seed(2 * salt + 1), batch_size, self.num_classes)
        return z, labels

    # -- one iteration -------------------------------------------------------------------
    def discriminate(self, images, labels, training=True):
        """The discriminator's `DiscriminatorOutput` on `images`."""
        return as_discriminator_output(self.discriminator(images, labels, training=training))

    def _num_replicas(self):
        return tf.distribute.get_strategy().num_replicas_in_sync

    @staticmethod
    def _with_terms(adversarial, terms, ctx):
        """The adversarial loss plus the side's extra terms; the terms by name, for logging."""
        values = {f"{ctx.side}_{t.name}": t(ctx) for t in terms}
        loss = adversarial + tf.add_n(list(values.values())) if values else adversarial
        return loss, values

    @staticmethod
    def _apply(optimizer, tape, replica_share, variables):
        # apply_gradients SUMS gradients over replicas, so each replica differentiates its
        # share (loss / replicas): the update then equals the single-device one.
        grads = tape.gradient(replica_share, variables)
        optimizer.apply_gradients(zip(grads, variables))

    def _d_update(self, real_images, real_labels, index):
        batch_size = tf.shape(real_images)[0]
        z, fake_labels = self.sample_inputs(batch_size, salt=sampling.SALTS["d_update_inputs"] + index)
        fake_images = self.generator(z, fake_labels, training=True)
        with tf.GradientTape() as tape:
            real_output = self.discriminate(real_images, real_labels)
            fake_output = self.discriminate(fake_images, fake_labels)
            ctx = StepContext(self, "d", real_images, real_labels, fake_images, fake_labels, z,
                              real_output, fake_output,
                              update_seed=self._seed(sampling.SALTS["d_terms"] + index),
                              update_count=self.global_step * self.n_dis + index)
            adversarial = self.discriminator_loss(real_output.logits, fake_output.logits)
            loss, terms = self._with_terms(adversarial, self.d_terms, ctx)
            replica_share = loss / self._num_replicas()
        self._apply(self.d_optimizer, tape, replica_share, self.discriminator.trainable_variables)
        logs = {"d_loss": loss, "d_adversarial": adversarial,
                "d_real_logits": tf.reduce_mean(real_output.logits),
                "d_fake_logits": tf.reduce_mean(fake_output.logits)}
        logs.update(terms)
        return logs

    def _g_update(self, batch_size):
        z, fake_labels = self.sample_inputs(batch_size, salt=self.n_dis)  # SALTS["g_update_inputs"]
        with tf.GradientTape() as tape:
            fake_images = self.generator(z, fake_labels, training=True)
            fake_output = self.discriminate(fake_images, fake_labels)
            ctx = StepContext(self, "g", None, None, fake_images, fake_labels, z, None, fake_output,
                              update_seed=self._seed(sampling.SALTS["g_terms"]),
                              update_count=self.global_step)
            adversarial = self.generator_loss(fake_output.logits)
            loss, terms = self._with_terms(adversarial, self.g_terms, ctx)
            replica_share = loss / self._num_replicas()
        self._apply(self.g_optimizer, tape, replica_share, self.generator.trainable_variables)
        logs = {"g_loss": loss, "g_adversarial": adversarial}
        logs.update(terms)
        return logs

    def _update_ema(self):
        if self.ema_generator is None:
            return
        decay = tf.where(self.global_step >= self.ema_start_step,
                         value_at(self.ema_decay, self.global_step), 0.0)
        for target, source in self._ema_pairs:
            if "float" in str(source.dtype):
                target.assign(decay * target + (1.0 - decay) * source)
            else:
                target.assign(source)

    def train_step(self, data):
        if self.growth is not None:
            self.growth.step_hook(self)
        for hook in self.step_hooks:
            hook(self)
        images, labels = data
        if self.growth is not None:
            images = self.growth.real_images(self, images)
        labels = tf.cast(labels, tf.int32)
        per_update = tf.shape(images)[0] // self.n_dis
        logs = {}
        for i in range(self.n_dis):
            real = images[i * per_update:(i + 1) * per_update]
            real_labels = labels[i * per_update:(i + 1) * per_update]
            logs = self._d_update(real, real_labels, i)  # the last D update's values are logged
        logs.update(self._g_update(per_update))
        self._update_ema()
        self.global_step.assign_add(1)
        ctx = tf.distribute.get_replica_context()
        return {name: ctx.all_reduce("MEAN", tf.cast(value, tf.float32)) for name, value in logs.items()}

    def inference_generator(self, use_ema=True):
        """The network to sample from: the EMA generator when there is one (and use_ema), else G."""
        return self.ema_generator if (use_ema and self.ema_generator is not None) else self.generator

    def generate(self, z, labels=None, use_ema=True):
        return self.inference_generator(use_ema)(z, labels, training=False)
