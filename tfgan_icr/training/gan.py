"""The GAN as a keras.Model: `compile` takes two optimizers and the loss functions,
`train_step` runs one iteration of Algorithm 1 of the ICR paper as one graph call:
`n_dis` discriminator updates on `n_dis` distinct real batches, then one generator update.

Methods differ only in the extra loss terms added to each side. A term is a callable
``term(ctx) -> scalar`` of a `StepContext`; the step sums the terms gin lists for each
side and never names a method, so a new regulariser is a new function plus a config line.
"""

import dataclasses
from typing import Any, Callable, Optional, Sequence

import keras
import tensorflow as tf

from tfgan_icr import sampling


@dataclasses.dataclass
class StepContext:
    """What a loss term may look at during one D or G update."""

    gan: Any
    real_images: Optional[tf.Tensor]
    real_labels: Optional[tf.Tensor]
    fake_images: tf.Tensor
    fake_labels: tf.Tensor
    z: tf.Tensor
    real_logits: Optional[tf.Tensor]
    fake_logits: tf.Tensor
    seed: tf.Tensor

    @property
    def generator(self):
        return self.gan.generator

    @property
    def discriminator(self):
        return self.gan.discriminator

    @property
    def step(self):
        return self.gan.global_step


def term_name(term: Callable) -> str:
    name = getattr(term, "name", None) or getattr(term, "__name__", None)
    return name or type(term).__name__


class GAN(keras.Model):
    """Generator + discriminator trained adversarially with `fit`.

    The dataset yields `(images, labels)` batches of ``n_dis * batch_size`` examples
    (per replica: the global batch divided by the number of replicas); each D update
    takes its own slice, so the D updates of one iteration see distinct real data.
    """

    def __init__(self, generator, discriminator, n_dis=1, ema_generator=None, ema_decay=0.999,
                 ema_start_step=0, seed=0, **kwargs):
        super().__init__(**kwargs)
        if n_dis < 1:
            raise ValueError(f"n_dis must be >= 1, got {n_dis}")
        self.generator = generator
        self.discriminator = discriminator
        self.ema_generator = ema_generator
        self.ema_decay = float(ema_decay)
        self.ema_start_step = int(ema_start_step)
        self.n_dis = int(n_dis)
        self.seed = int(seed)
        self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step",
                                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

    # -- set-up ---------------------------------------------------------------------------
    def compile(self, g_optimizer, d_optimizer, discriminator_loss, generator_loss,
                d_terms: Sequence[Callable] = (), g_terms: Sequence[Callable] = (), **kwargs):
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.discriminator_loss = discriminator_loss
        self.generator_loss = generator_loss
        self.d_terms = list(d_terms)
        self.g_terms = list(g_terms)

    @property
    def num_classes(self):
        return self.generator.num_classes

    def build_all(self, batch_size=2):
        """Create every variable (networks, EMA copy, optimizer slots) before training/restoring.

        Under a tf.distribute strategy this must run inside `strategy.scope()`.
        """
        z = tf.zeros([batch_size, self.generator.z_dim])
        labels = tf.zeros([batch_size], tf.int32)
        images = self.generator(z, labels, training=False)
        self.discriminator(images, labels, training=False)
        if self.ema_generator is not None:
            self.ema_generator(z, labels, training=False)
            for target, source in zip(self.ema_generator.weights, self.generator.weights):
                target.assign(source)
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.built = True

    def call(self, z, labels=None, training=False):
        return self.generator(z, labels, training=training)

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
    def _num_replicas(self):
        return tf.distribute.get_strategy().num_replicas_in_sync

    @staticmethod
    def _with_terms(adversarial, term_fns, side, ctx):
        """The adversarial loss plus the side's extra terms; the terms by name, for logging."""
        terms = {f"{side}_{term_name(t)}": t(ctx) for t in term_fns}
        loss = adversarial + tf.add_n(list(terms.values())) if terms else adversarial
        return loss, terms

    @staticmethod
    def _apply(optimizer, tape, replica_share, variables):
        # apply_gradients SUMS gradients over replicas, so each replica differentiates its
        # share (loss / replicas): the update then equals the single-device one.
        grads = tape.gradient(replica_share, variables)
        optimizer.apply_gradients(zip(grads, variables))

    def _d_update(self, real_images, real_labels, index):
        batch_size = tf.shape(real_images)[0]
        z, fake_labels = self.sample_inputs(batch_size, salt=index)
        fake_images = self.generator(z, fake_labels, training=True)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(real_images, real_labels, training=True)
            fake_logits = self.discriminator(fake_images, fake_labels, training=True)
            ctx = StepContext(self, real_images, real_labels, fake_images, fake_labels, z,
                              real_logits, fake_logits, self._seed(1000 + index))
            adversarial = self.discriminator_loss(real_logits, fake_logits)
            loss, terms = self._with_terms(adversarial, self.d_terms, "d", ctx)
            replica_share = loss / self._num_replicas()
        self._apply(self.d_optimizer, tape, replica_share, self.discriminator.trainable_variables)
        logs = {"d_loss": loss, "d_adversarial": adversarial,
                "d_real_logits": tf.reduce_mean(real_logits), "d_fake_logits": tf.reduce_mean(fake_logits)}
        logs.update(terms)
        return logs

    def _g_update(self, batch_size):
        z, fake_labels = self.sample_inputs(batch_size, salt=self.n_dis)
        with tf.GradientTape() as tape:
            fake_images = self.generator(z, fake_labels, training=True)
            fake_logits = self.discriminator(fake_images, fake_labels, training=True)
            ctx = StepContext(self, None, None, fake_images, fake_labels, z, None, fake_logits,
                              self._seed(2000))
            adversarial = self.generator_loss(fake_logits)
            loss, terms = self._with_terms(adversarial, self.g_terms, "g", ctx)
            replica_share = loss / self._num_replicas()
        self._apply(self.g_optimizer, tape, replica_share, self.generator.trainable_variables)
        logs = {"g_loss": loss, "g_adversarial": adversarial}
        logs.update(terms)
        return logs

    def _update_ema(self):
        if self.ema_generator is None:
            return
        decay = tf.where(self.global_step >= self.ema_start_step, self.ema_decay, 0.0)
        for target, source in zip(self.ema_generator.weights, self.generator.weights):
            if "float" in str(source.dtype):
                target.assign(decay * target + (1.0 - decay) * source)
            else:
                target.assign(source)

    def train_step(self, data):
        images, labels = data
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
