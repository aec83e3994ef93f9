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

import contextlib
from typing import Callable, Sequence

import keras
import tensorflow as tf

from tfgan_icr import sampling
from tfgan_icr.errors import ConfigError
from tfgan_icr.models.base import DiscriminatorOutput
from tfgan_icr.training.context import StepContext
from tfgan_icr.training.distribute import is_multi_worker
from tfgan_icr.training.precision import DynamicLossScale, check_precision, policy_scope
from tfgan_icr.training.schedules import value_at
from tfgan_icr.training.terms import as_terms
from tfgan_icr.training.variables import named_variables, pair_by_name

__all__ = ["GAN", "StepContext"]


def as_discriminator_output(output):
    """A discriminator's output as a `DiscriminatorOutput` (a plain logits tensor is wrapped)."""
    return output if isinstance(output, DiscriminatorOutput) else DiscriminatorOutput(logits=output)


def mixes_batch(network):
    """The name of a layer of `network` whose training-mode output depends on the other
    samples of its batch (batch norm, minibatch stddev: `MIXES_BATCH`), or None."""
    for layer in network._flatten_layers(include_self=False):
        if getattr(layer, "MIXES_BATCH", False) or isinstance(layer, keras.layers.BatchNormalization):
            return layer.name
    return None


def _trainable_by_name(network):
    return [v for v in named_variables(network).values() if v.trainable]


def _batch_size(tensor):
    """The batch dimension of ``tensor``: a Python int when the trace knows it (XLA needs the
    shapes of the random draws inside the accumulation loop as constants), else a tensor."""
    return tensor.shape[0] if tensor.shape[0] is not None else tf.shape(tensor)[0]


def _micro_slice(tensor, micro, size):
    """Micro-batch ``micro`` (a tensor index) of ``size`` samples of ``tensor``. A slice of
    fixed size at a moving start (XLA: a dynamic slice of static shape, where a strided
    slice with tensor bounds would be padded to the whole batch)."""
    rank = len(tensor.shape)
    start = tf.cast(micro, tf.int32) * size
    return tf.slice(tensor, tf.stack([start] + [0] * (rank - 1)), [size] + [-1] * (rank - 1))


class GAN(keras.Model):
    """Generator + discriminator trained adversarially with `fit`.

    The dataset yields `(images, labels)` batches of `examples_per_iteration(batch_size)`
    examples (per replica: the global batch divided by the number of replicas); each D update
    takes its own slice, so the D updates of one iteration see distinct real data.

    ema_decay: a number or a schedule of the step (None/0: no EMA update).
    step_hooks: callables ``hook(gan)`` run in the graph at the start of every iteration.
    accumulation_steps: split each update's batch into this many micro-batches and sum their
    gradients before one optimizer step (BigGAN-PyTorch's num_D/G_accumulations), so a small
    device takes the step of a large batch. The gradient is the full batch's mean gradient,
    except where a batch statistic couples the samples: G's batch norm, and batch-level terms
    (the 2C loss, minibatch stddev) then see one micro-batch at a time.
    growth: for networks that grow (PGGAN), an object with ``phases(total_steps, batch_size,
    examples_per_iteration)`` (the training phases, each with its stage), ``enter(gan, stage)``
    (Python-level state of a stage, set before its step is traced), ``step_hook(gan)`` (run
    first in every iteration) and ``real_images(gan, images)`` (the real batch D sees), e.g.
    `tfgan_icr.methods.progressive.ProgressiveGrowth`.
    """

    def __init__(self, generator, discriminator, n_dis=1, ema_generator=None, ema_decay=0.999,
                 ema_start_step=0, seed=0, step_hooks=(), accumulation_steps=1,
                 precision="float32", growth=None, joint_discriminator_call=False, **kwargs):
        super().__init__(**kwargs)
        if n_dis < 1:
            raise ValueError(f"n_dis must be >= 1, got {n_dis}")
        if accumulation_steps < 1:
            raise ValueError(f"accumulation_steps must be >= 1, got {accumulation_steps}")
        self.accumulation_steps = int(accumulation_steps)
        self.generator = generator
        self.discriminator = discriminator
        self.ema_generator = ema_generator
        self.ema_decay = ema_decay if callable(ema_decay) else float(ema_decay or 0.0)
        self.ema_start_step = int(ema_start_step)
        self.n_dis = int(n_dis)
        self.seed = int(seed)
        self.step_hooks = list(step_hooks)
        self.growth = growth
        self.joint_discriminator_call = bool(joint_discriminator_call)
        self._ema_pairs = []
        # The networks keep the dtype policy they were created with; this is the policy
        # build_all builds them under (sub-layers made in build()), and float16 turns on loss
        # scaling.
        self.precision = check_precision(precision)
        self.loss_scales = ({"d": DynamicLossScale("d"), "g": DynamicLossScale("g")}
                            if precision == "mixed_float16" else {})
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
        with policy_scope(self.precision):
            images = self.generator(z, labels, training=False)
            self.discriminator(images, labels, training=False)
            if self.ema_generator is not None:
                self.ema_generator(z, labels, training=False)
        if self.ema_generator is not None:
            self._ema_pairs = pair_by_name(self.ema_generator, self.generator)
            for target, source in self._ema_pairs:
                target.assign(source)
        if self.joint_discriminator_call:
            mixing = mixes_batch(self.discriminator)
            if mixing:
                raise ConfigError(f"build_gan.joint_discriminator_call needs a discriminator whose outputs do not "
                                  f"depend on the rest of the batch, but {mixing} does: set it to False")
        self.g_optimizer.build(_trainable_by_name(self.generator))
        self.d_optimizer.build(_trainable_by_name(self.discriminator))
        self.built = True

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # `fit` under a strategy first builds the model symbolically from one batch, reduced
        # across replicas with `strategy.reduce` on the whole (images, labels) structure,
        # which MultiWorkerMirroredStrategy refuses ("Attempt to convert a value (PerReplica
        # ...) to a Tensor"; keras-team/keras#20585). `build_all` has created every variable
        # already, so there is nothing to build.
        if self.built and self.g_optimizer.built and self.d_optimizer.built:
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def call(self, z, labels=None, training=False):
        return self.generator(z, labels, training=training)

    def enter_phase(self, phase):
        """Before training a phase (`training.phases.Phase`): drop the traced step, so the
        phase traces its own (at its batch size and, for a growing model, its stage)."""
        self.train_function = None
        if self.growth is not None and phase.stage is not None:
            self.growth.enter(self, phase.stage)

    # -- randomness ----------------------------------------------------------------------
    def _seed(self, salt, micro=0):
        """A stateless seed unique to (run seed, step, salt, replica, micro-batch); micro-batch
        0 (the only one without accumulation) adds nothing."""
        ctx = tf.distribute.get_replica_context()
        replica = ctx.replica_id_in_sync_group if ctx is not None else 0
        seed = tf.stack([tf.constant(self.seed, tf.int64), self.global_step])
        seed = tf.random.experimental.stateless_fold_in(seed, salt)
        seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(replica, tf.int32))
        if isinstance(micro, int) and micro == 0:
            return seed
        return tf.random.experimental.stateless_fold_in(seed, tf.cast(micro, tf.int32))

    def sample_inputs(self, batch_size, salt, micro=0):
        z = sampling.normal_latents(self._seed(2 * salt, micro), batch_size, self.generator.z_dim)
        labels = sampling.uniform_labels(self._seed(2 * salt + 1, micro), batch_size, self.num_classes)
        return z, labels

    # -- one iteration -------------------------------------------------------------------
    def discriminate(self, images, labels, training=True):
        """The discriminator's `DiscriminatorOutput` on `images`."""
        return as_discriminator_output(self.discriminator(images, labels, training=training))

    def discriminate_joint(self, batches):
        """D's outputs on each ``(images, labels)`` of ``batches`` from one call on all of them
        concatenated."""
        dtype = batches[0][0].dtype
        images = tf.concat([tf.cast(x, dtype) for x, _ in batches], axis=0)
        labels = tf.concat([tf.cast(y, tf.int32) for _, y in batches], axis=0)
        sizes = [_batch_size(x) for x, _ in batches]
        both = self.discriminate(images, labels)
        split = [None if f is None else tf.split(f, sizes, axis=0) for f in both]
        return [DiscriminatorOutput(*[None if f is None else f[i] for f in split]) for i in range(len(batches))]

    def _d_outputs(self, ctx):
        """D's outputs on the update's real and fake batches: two calls, or with
        `joint_discriminator_call` one call on both batches concatenated (as compare_gan does;
        fewer kernel launches, and one spectral-norm power iteration per update instead of
        two, so the numbers differ slightly from two calls). The terms are then first planned
        (`training.terms.Term.plan`): the extra passes they need (CR's augmented batches, zCR's
        G(z + dz)) join the same D call, and their outputs wait in the context's cache."""
        if not self.joint_discriminator_call:
            return (self.discriminate(ctx.real_images, ctx.real_labels),
                    self.discriminate(ctx.fake_images, ctx.fake_labels))
        planning = ctx.planning()
        for term in self.d_terms:
            term.plan(planning)
        outputs = self.discriminate_joint([(ctx.real_images, ctx.real_labels), (ctx.fake_images, ctx.fake_labels)]
                                          + [(images, labels) for _, images, labels in planning.planned])
        ctx.resolve(planning.planned, outputs[2:])
        return outputs[0], outputs[1]

    def _num_replicas(self):
        return tf.distribute.get_strategy().num_replicas_in_sync

    @staticmethod
    def _with_terms(adversarial, terms, ctx):
        """The adversarial loss plus the side's extra terms; the terms by name, for logging."""
        values = {f"{ctx.side}_{t.name}": t(ctx) for t in terms}
        loss = adversarial + tf.add_n(list(values.values())) if values else adversarial
        return loss, values

    def _accumulated(self, micro_update, batch_size, variables):
        """Gradients and logs of one update: ``micro_update(j, micro_batch_size)`` returns the
        gradients and logs of micro-batch j; with accumulation the gradients are averaged over
        the micro-batches (each is a micro-batch mean, so their mean is the batch mean) in a
        graph loop, so the step's graph does not grow with accumulation_steps. Under a
        distribution strategy the loop is unrolled instead: the replicas' synchronised state
        updates (batch-norm statistics, sync BN) may not sit inside a graph loop."""
        k = self.accumulation_steps
        if k == 1:
            return micro_update(0, batch_size)
        micro_size = batch_size // k
        grads, logs = micro_update(0, micro_size)
        grads = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g) for g, v in zip(grads, variables)]
        logs = {name: tf.cast(value, tf.float32) for name, value in logs.items()}

        def body(j, grad_sums, log_sums):
            more, more_logs = micro_update(j, micro_size)
            grad_sums = [a if g is None else a + g for a, g in zip(grad_sums, more)]
            log_sums = {name: log_sums[name] + tf.cast(more_logs[name], tf.float32) for name in log_sums}
            return j + 1, grad_sums, log_sums

        if tf.distribute.has_strategy():
            for j in range(1, k):
                _, grads, logs = body(j, grads, logs)
        else:
            _, grads, logs = tf.while_loop(lambda j, *_: j < k, body, (tf.constant(1), grads, logs))
        return [g / k for g in grads], {name: value / k for name, value in logs.items()}

    def _scaled(self, loss, side):
        """The loss to differentiate: float16 scales it (see `training.precision`)."""
        return self.loss_scales[side].scale(loss) if self.loss_scales else loss

    def _apply(self, optimizer, side, grads, variables, logs):
        """The one place an update's gradients reach its optimizer. With float16 loss scaling
        the gradients are unscaled there and an update that overflowed is skipped."""
        # Layers a step does not use (a growing network's higher resolutions) have no
        # gradient; Keras would drop them too, with a warning at every trace.
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        grads, variables = [g for g, _ in pairs], [v for _, v in pairs]
        if not self.loss_scales:
            optimizer.apply_gradients(zip(grads, variables))
            return logs
        loss_scale = self.loss_scales[side]
        scale = tf.identity(loss_scale.value)
        finite = loss_scale.apply(optimizer, grads, variables)
        return dict(logs, **{f"{side}_loss_scale": scale,
                             f"{side}_update_skipped": 1.0 - tf.cast(finite, tf.float32)})

    def _check_divisible(self, batch_size):
        if self.accumulation_steps > 1:
            tf.debugging.assert_equal(
                batch_size % self.accumulation_steps, 0,
                message=f"the per-replica batch of each update must be a multiple of "
                        f"accumulation_steps={self.accumulation_steps}")

    def _d_update(self, real_images, real_labels, index):
        variables = self.discriminator.trainable_variables
        batch_size = _batch_size(real_images)
        self._check_divisible(batch_size)

        def micro_update(micro, size):
            real = real_images if self.accumulation_steps == 1 else _micro_slice(real_images, micro, size)
            labels = real_labels if self.accumulation_steps == 1 else _micro_slice(real_labels, micro, size)
            return self._d_micro_update(real, labels, index, micro, variables)

        grads, logs = self._accumulated(micro_update, batch_size, variables)
        return self._apply(self.d_optimizer, "d", grads, variables, logs)

    def _d_micro_update(self, real_images, real_labels, index, micro, variables):
        # apply_gradients SUMS gradients over replicas, so each replica differentiates its
        # share (loss / replicas): the update then equals the single-device one.
        batch_size = _batch_size(real_images)
        z, fake_labels = self.sample_inputs(batch_size, salt=sampling.SALTS["d_update_inputs"] + index,
                                            micro=micro)
        fake_images = self.generator(z, fake_labels, training=True)
        return self._d_gradients(real_images, real_labels, fake_images, fake_labels, z, index, micro,
                                 variables)

    def _d_gradients(self, real_images, real_labels, fake_images, fake_labels, z, index, micro, variables):
        """D's gradients and logs on a real batch and the fake batch G made from ``z``: the D
        update without its generator pass (the benchmark times the two apart)."""
        with tf.GradientTape() as tape:
            ctx = StepContext(self, "d", real_images, real_labels, fake_images, fake_labels, z,
                              None, None,
                              update_seed=self._seed(sampling.SALTS["d_terms"] + index, micro),
                              update_count=self.global_step * self.n_dis + index)
            real_output, fake_output = self._d_outputs(ctx)
            ctx.real_output, ctx.fake_output = real_output, fake_output
            adversarial = self.discriminator_loss(real_output.logits, fake_output.logits)
            loss, terms = self._with_terms(adversarial, self.d_terms, ctx)
            replica_share = self._scaled(loss / self._num_replicas(), "d")
        logs = {"d_loss": loss, "d_adversarial": adversarial,
                "d_real_logits": tf.reduce_mean(real_output.logits),
                "d_fake_logits": tf.reduce_mean(fake_output.logits)}
        logs.update(terms)
        return tape.gradient(replica_share, variables), logs

    def _g_update(self, batch_size):
        variables = self.generator.trainable_variables
        self._check_divisible(batch_size)

        def micro_update(micro, size):
            return self._g_micro_update(size, micro, variables)

        grads, logs = self._accumulated(micro_update, batch_size, variables)
        return self._apply(self.g_optimizer, "g", grads, variables, logs)

    def _g_micro_update(self, batch_size, micro, variables):
        z, fake_labels = self.sample_inputs(batch_size, salt=self.n_dis, micro=micro)  # SALTS["g_update_inputs"]
        with tf.GradientTape() as tape:
            fake_images = self.generator(z, fake_labels, training=True)
            fake_output = self.discriminate(fake_images, fake_labels)
            ctx = StepContext(self, "g", None, None, fake_images, fake_labels, z, None, fake_output,
                              update_seed=self._seed(sampling.SALTS["g_terms"], micro),
                              update_count=self.global_step)
            adversarial = self.generator_loss(fake_output.logits)
            loss, terms = self._with_terms(adversarial, self.g_terms, ctx)
            replica_share = self._scaled(loss / self._num_replicas(), "g")
        logs = {"g_loss": loss, "g_adversarial": adversarial}
        logs.update(terms)
        return tape.gradient(replica_share, variables), logs

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
        per_update = _batch_size(images) // self.n_dis
        logs = {}
        for i in range(self.n_dis):
            real = images[i * per_update:(i + 1) * per_update]
            real_labels = labels[i * per_update:(i + 1) * per_update]
            logs = self._d_update(real, real_labels, i)  # the last D update's values are logged
        logs.update(self._g_update(per_update))
        self._update_ema()
        self.global_step.assign_add(1)
        ctx = tf.distribute.get_replica_context()
        logs = {name: ctx.all_reduce("MEAN", tf.cast(value, tf.float32)) for name, value in logs.items()}
        if is_multi_worker(tf.distribute.get_strategy()):
            # Keras reduces each log over workers with `strategy.reduce("MEAN", v, axis=0)`,
            # which refuses scalars: give it vectors of one (the same value on every replica).
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs

    def inference_generator(self, use_ema=True):
        """The network to sample from: the EMA generator when there is one (and use_ema), else G."""
        return self.ema_generator if (use_ema and self.ema_generator is not None) else self.generator

    @contextlib.contextmanager
    def inference(self, use_ema=True, options=None):
        """``with gan.inference() as (net, truncation):`` the network to sample from and the
        truncation of its z, as `sampling.inference_options` (gin `inference.*`) says; with
        standing statistics, net's batch norms use them inside the block only."""
        options = options or sampling.inference_options()
        net = self.inference_generator(use_ema)
        if not options["standing_statistics"]:
            yield net, options["truncation"]
            return
        from tfgan_icr.training.standing_stats import standing_statistics
        with standing_statistics(net, options["standing_batches"], options["standing_batch_size"],
                                 options["seed"], options["truncation"]) as standing:
            yield standing, options["truncation"]

    def generate(self, z, labels=None, use_ema=True):
        return self.inference_generator(use_ema)(z, labels, training=False)
