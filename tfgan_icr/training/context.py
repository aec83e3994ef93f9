"""What a loss term sees during one discriminator or generator update."""

import dataclasses
from typing import Any, Optional

import tensorflow as tf

from tfgan_icr.models.base import DiscriminatorOutput
from tfgan_icr.training.terms import term_seed


def planned_output(images):
    """A stand-in for D's output on ``images`` in a planning pass (its values are never used)."""
    return DiscriminatorOutput(logits=tf.zeros(tf.shape(images)[:1]))


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
    # In a planning pass (`planning`): the discriminator passes the terms ask for, as
    # (placeholder output, images, labels); see `GAN.joint_discriminator_call`.
    planned: Optional[list] = None

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
        """The discriminator's training-mode output on other images (e.g. augmented ones). In a
        planning pass the call is only recorded, and a placeholder of zeros stands for its
        output until the joint call has run."""
        if self.planned is not None:
            placeholder = planned_output(images)
            self.planned.append((placeholder, images, labels))
            return placeholder
        return self.gan.discriminate(images, labels, training=True)

    # -- planning the discriminator passes of one joint call -----------------------------
    def planning(self):
        """A copy for a planning pass: the terms that can (`terms.plans_discriminator_passes`)
        run once on it to say which extra D passes they need, so that one D call computes
        them with the real and fake batches. It shares the cache: what the terms compute
        on the way (augmented images, G(z + dz)) is computed once and reused."""
        return dataclasses.replace(self, planned=[], real_output=planned_output(self.real_images),
                                   fake_output=planned_output(self.fake_images))

    def resolve(self, planned, outputs):
        """Put the joint call's ``outputs`` (one per planned pass) where the planning pass
        cached its placeholders, so the terms find them there."""
        by_placeholder = {id(placeholder): output for (placeholder, _, _), output in zip(planned, outputs)}
        for key, value in list(self.cache.items()):
            if id(value) in by_placeholder:
                self.cache[key] = by_placeholder[id(value)]

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
