"""What a loss term sees during one discriminator or generator update."""

import dataclasses
from typing import Any, Optional

import tensorflow as tf

from tfgan_icr.training.terms import term_seed


@dataclasses.dataclass
class StepContext:
    """One update's tensors and the networks, for the loss terms of its side.

    ``real_output`` / ``fake_output`` are the discriminator's full outputs
    (`tfgan_icr.models.DiscriminatorOutput`: logits plus whatever its head adds, such as an
    embedding); ``real_output`` is None in the generator update. ``seed`` is the term's own
    stateless seed; ``update_seed`` the update's, shared by all terms (for passes they share).
    Forward passes that several terms need go through `shared`, so they run once per update.
    """

    gan: Any
    side: str  # "d" or "g"
    real_images: Optional[tf.Tensor]
    real_labels: Optional[tf.Tensor]
    fake_images: tf.Tensor
    fake_labels: tf.Tensor
    z: tf.Tensor
    real_output: Any
    fake_output: Any
    update_seed: tf.Tensor
    update_count: tf.Tensor  # how many updates of this side came before this one
    seed: Optional[tf.Tensor] = None
    cache: dict = dataclasses.field(default_factory=dict)

    @property
    def real_logits(self):
        return None if self.real_output is None else self.real_output.logits

    @property
    def fake_logits(self):
        return self.fake_output.logits

    @property
    def generator(self):
        return self.gan.generator

    @property
    def discriminator(self):
        return self.gan.discriminator

    @property
    def step(self):
        return self.gan.global_step

    # -- for the Term wrapper ------------------------------------------------------------
    def for_term(self, name):
        """This context with the term's own random stream (the cache stays shared)."""
        return dataclasses.replace(self, seed=term_seed(self.update_seed, name))

    def isolated(self):
        """A copy whose new cache entries stay its own (for a term inside a tf.cond branch)."""
        return dataclasses.replace(self, cache=dict(self.cache))

    # -- shared forward passes -----------------------------------------------------------
    def shared(self, key, compute):
        """``compute()`` once per update for ``key``; later calls return the same tensors."""
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]

    def shared_seed(self, key):
        """A seed for a shared pass: a function of the update and ``key``, not of the term."""
        return term_seed(self.update_seed, f"shared:{key}")

    def discriminate(self, images, labels):
        """The discriminator's training-mode output on other images (e.g. augmented ones)."""
        return self.gan.discriminate(images, labels, training=True)

    def generate(self, z, labels):
        """The generator's training-mode output on other latents (e.g. perturbed ones)."""
        return self.gan.generator(z, labels, training=True)

    # -- under a strategy ----------------------------------------------------------------
    @staticmethod
    def gather(tensor):
        """``tensor`` concatenated over the replicas along axis 0 (itself on one device); for
        terms that compare samples across the global batch, such as a contrastive loss."""
        replica = tf.distribute.get_replica_context()
        if replica is None or replica.num_replicas_in_sync == 1:
            return tensor
        return replica.all_gather(tensor, axis=0)

    @staticmethod
    def num_replicas():
        return tf.distribute.get_strategy().num_replicas_in_sync
