"""Mixed precision for the GAN step: ``build_gan.precision = "mixed_bfloat16"`` (TPUs, CPUs with
AVX512-BF16) or ``"mixed_float16"`` (GPUs), default ``"float32"``.

Under a mixed policy the layers compute in the low dtype and keep their variables in float32;
this project's layers already keep what must stay exact in float32 whatever the policy: the
spectral-norm power iteration and ``u``, the batch-norm statistics, the logits the losses see,
the generator's output images. The losses, the EMA, the optimizers (and their slots) therefore
run in float32, and the checkpoints hold float32 variables only, so a run can change precision
when it resumes.

float16 has too little range for small gradients, so it scales each side's loss by a dynamic
factor before differentiating (`DynamicLossScale`): the gradients are unscaled before the
optimizer step, and an update whose gradients overflowed is skipped (no optimizer step, no
slot change) and halves the scale; 2000 finite updates in a row double it. A float16 run's
checkpoints hold its two scales (and their counts of finite updates), so it resumes bit for bit;
a checkpoint without them (another precision) starts float16 from the initial scale, and one
with them restores into another precision with the scales left out
(`training.checkpoint.CheckpointStore`).
"""

import contextlib

import gin
import keras
import tensorflow as tf

from tfgan_icr.errors import ConfigError

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def check_precision(precision):
    if precision not in PRECISIONS:
        raise ConfigError(f"build_gan.precision = {precision!r} is not one of {', '.join(PRECISIONS)}: "
                          f"use one of those")
    return precision


@contextlib.contextmanager
def policy_scope(precision):
    """Layers created inside get the dtype policy ``precision``; the previous global policy is
    restored afterwards (Keras layers keep the policy they were created with)."""
    check_precision(precision)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def compute_dtype(precision):
    return {"float32": "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}[
        check_precision(precision)]


def _replica_variable(value, dtype, name):
    # Updated only in a cross-replica context (or on one device): one value for all replicas.
    return tf.Variable(value, dtype=dtype, trainable=False, name=name,
                       synchronization=tf.VariableSynchronization.ON_WRITE,
                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)


def _values(grad):
    return grad.values if isinstance(grad, tf.IndexedSlices) else grad


def _unscaled(grad, inverse):
    # An embedding's gradient stays sparse (IndexedSlices): the optimizer's sparse update is
    # what the unscaled step would take.
    if grad is None:
        return None
    if isinstance(grad, tf.IndexedSlices):
        return tf.IndexedSlices(grad.values * inverse, grad.indices, grad.dense_shape)
    return grad * inverse


@gin.configurable
class DynamicLossScale(tf.Module):
    """The loss scale of one optimizer: ``scale(loss)`` before differentiating, then
    ``apply(optimizer, grads, variables)`` unscales, and applies the update only when every
    gradient is finite on every replica. A `tf.Module`, so a checkpoint tracks its two
    variables (``value``, ``good_steps``). gin: ``DynamicLossScale.initial_scale``,
    ``DynamicLossScale.growth_interval``."""

    def __init__(self, name, initial_scale=2.0 ** 15, growth_interval=2000):
        super().__init__(name=f"{name}_loss_scale")
        self.initial_scale = float(initial_scale)
        self.growth_interval = int(growth_interval)
        self.value = _replica_variable(self.initial_scale, tf.float32, f"{name}_loss_scale")
        self.good_steps = _replica_variable(0, tf.int64, f"{name}_loss_scale_good_steps")

    def scale(self, loss):
        return loss * tf.cast(self.value, loss.dtype)

    def _grow(self):
        grow = self.good_steps + 1 >= self.growth_interval
        self.value.assign(tf.where(grow, self.value * 2.0, self.value))
        self.good_steps.assign(tf.where(grow, tf.constant(0, tf.int64), self.good_steps + 1))

    def _shrink(self):
        self.value.assign(tf.maximum(self.value * 0.5, 1.0))
        self.good_steps.assign(0)

    def apply(self, optimizer, grads, variables):
        inverse = 1.0 / self.value
        grads = [_unscaled(g, inverse) for g in grads]
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(_values(g))) for g in grads if g is not None])
        replica = tf.distribute.get_replica_context()
        if tf.distribute.has_strategy() and replica is not None and replica.num_replicas_in_sync > 1:
            # Every replica must take the same branch: skip when any of them overflowed.
            finite = replica.all_reduce("MIN", tf.cast(finite, tf.float32)) > 0.5

            def cross_replica(distribution, grads, finite):
                finite = distribution.experimental_local_results(finite)[0]

                def step():
                    distribution.extended.call_for_each_replica(
                        lambda g: optimizer.apply_gradients(zip(g, variables)), args=(grads,))
                    self._grow()

                tf.cond(finite, step, self._shrink)

            replica.merge_call(cross_replica, args=(grads, finite))
            return finite

        def step():
            optimizer.apply_gradients(zip(grads, variables))
            self._grow()

        tf.cond(finite, step, self._shrink)
        return finite
