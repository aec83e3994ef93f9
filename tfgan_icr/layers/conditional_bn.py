"""Batch normalisation and conditional batch normalisation (channels last).

``BatchNorm`` is a small batch-norm layer whose moving statistics are created with
``aggregation="mean"``: under ``tf.distribute.MirroredStrategy`` their updates are averaged
over replicas, so every replica keeps the same moving statistics (Keras' own
``BatchNormalization`` uses ``aggregation="none"``, and its replicas drift apart).  Batch
statistics themselves are per replica by default, as in the reference GAN code;
``synchronized=True`` computes them over the global batch instead (BigGAN's cross-replica
"sync BN"): each replica all-reduces its count, sum and sum of squares, so the result equals
plain batch norm on the whole global batch (and is plain batch norm with one replica).

``ConditionalBatchNorm`` computes::

    out = (1 + gamma(c)) * BN(x) + beta(c)

where ``BN`` has no scale/offset of its own and ``gamma``, ``beta`` are linear maps without
bias of a conditioning vector ``c [B, k]`` (one-hot labels for class-conditional models;
``[shared embedding, z chunk]`` for BigGAN).  The "1 +" matters: with the default zero
kernels the layer starts out as plain, non-affine batch normalisation.

Call signature: ``cbn(x, c, training=None)`` with ``x [B, ..., C]`` and ``c [B, k]``.
"""

import keras
from keras import ops

from tfgan_icr.layers.spectral_norm import SNDense


def _replica_context_to_sync():
    """The tf.distribute replica context when there is more than one replica to sum over,
    else None (no strategy, cross-replica context, one replica, or a non-TF backend)."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync <= 1:
        return None
    return context


def batch_moments(x, axes, synchronized):
    """Mean and biased variance of ``x`` over ``axes``; over the global batch of every
    replica when ``synchronized`` (one SUM all-reduce of [count, sum, sum of squares], which
    has a gradient, so the backward pass is synchronised too)."""
    context = _replica_context_to_sync() if synchronized else None
    if context is None:
        return ops.moments(x, axes=axes)
    import tensorflow as tf

    channels = int(x.shape[-1])
    count = ops.cast(tf.size(x) // channels, x.dtype)  # elements per channel
    local = ops.concatenate([ops.reshape(count, (1,)), ops.sum(x, axis=axes),
                             ops.sum(ops.square(x), axis=axes)], axis=0)
    total = context.all_reduce(tf.distribute.ReduceOp.SUM, local)
    mean = total[1:1 + channels] / total[0]
    variance = ops.maximum(total[1 + channels:] / total[0] - ops.square(mean), 0.0)
    return mean, variance


__all__ = ["BatchNorm", "ConditionalBatchNorm", "batch_moments"]

_REGISTER = keras.saving.register_keras_serializable(package="tfgan_icr")


@_REGISTER
class BatchNorm(keras.layers.Layer):
    """Batch normalisation over all axes but the last.

    ``training=True``: normalise with the batch mean / (biased) variance and update
    ``moving = momentum * moving + (1 - momentum) * batch``.  ``training=False``: use the
    moving statistics.  ``center`` / ``scale`` add the usual learned offset ``beta`` and
    scale ``gamma``.  Statistics are computed in float32 (or the variable dtype if wider).
    ``synchronized``: batch statistics over the global batch of all replicas of a
    tf.distribute strategy (see the module docstring).
    Call: ``bn(x, training=None)``.
    """

    #: Training-mode outputs depend on the other samples of the batch.
    MIXES_BATCH = True

    def __init__(self, momentum=0.99, epsilon=1e-5, center=True, scale=True,
                 synchronized=False, **kwargs):
        super().__init__(**kwargs)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.synchronized = bool(synchronized)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        shape = (channels,)
        self.gamma = (self.add_weight(name="gamma", shape=shape, initializer="ones",
                                      trainable=True, autocast=False)
                      if self.scale else None)
        self.beta = (self.add_weight(name="beta", shape=shape, initializer="zeros",
                                     trainable=True, autocast=False)
                     if self.center else None)
        self.moving_mean = self.add_weight(name="moving_mean", shape=shape,
                                           initializer="zeros", trainable=False,
                                           autocast=False, aggregation="mean")
        self.moving_variance = self.add_weight(name="moving_variance", shape=shape,
                                               initializer="ones", trainable=False,
                                               autocast=False, aggregation="mean")

    def call(self, inputs, training=None):
        stat_dtype = self.moving_mean.dtype
        x = ops.cast(inputs, stat_dtype)
        if training:
            axes = list(range(len(x.shape) - 1))
            mean, variance = batch_moments(x, axes, self.synchronized)
            m = self.momentum
            self.moving_mean.assign(m * self.moving_mean + (1.0 - m) * ops.stop_gradient(mean))
            self.moving_variance.assign(
                m * self.moving_variance + (1.0 - m) * ops.stop_gradient(variance))
        else:
            mean = ops.convert_to_tensor(self.moving_mean)
            variance = ops.convert_to_tensor(self.moving_variance)
        inv = ops.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            inv = inv * self.gamma
        y = (x - mean) * inv
        if self.beta is not None:
            y = y + self.beta
        return ops.cast(y, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "epsilon": self.epsilon,
                       "center": self.center, "scale": self.scale,
                       "synchronized": self.synchronized})
        return config


@_REGISTER
class ConditionalBatchNorm(keras.layers.Layer):
    """``(1 + gamma(c)) * BN(x) + beta(c)``; call as ``cbn(x, c, training=None)``.

    Args:
      momentum, epsilon: of the (non-affine) batch normalisation.
      gain_initializer, bias_initializer: of the ``[k, C]`` kernels of ``gamma`` and
        ``beta`` (default zeros: the layer starts as plain BN).
      use_spectral_norm: spectrally normalise the two linear maps (as BigGAN does). Needs
        non-zero initializers (``W / sigma`` is undefined for ``W = 0``).
      synchronized: batch statistics over all replicas (cross-replica BN, as BigGAN).
    """

    #: Training-mode outputs depend on the other samples of the batch.
    MIXES_BATCH = True

    def __init__(self, momentum=0.99, epsilon=1e-5, gain_initializer="zeros",
                 bias_initializer="zeros", use_spectral_norm=False, synchronized=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.gain_initializer = keras.initializers.get(gain_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.use_spectral_norm = bool(use_spectral_norm)
        if self.use_spectral_norm and (
                isinstance(self.gain_initializer, keras.initializers.Zeros)
                or isinstance(self.bias_initializer, keras.initializers.Zeros)):
            raise ValueError("ConditionalBatchNorm(use_spectral_norm=True) needs non-zero "
                             "gain/bias initializers: W / sigma is undefined for W = 0.")
        self.synchronized = bool(synchronized)
        self.bn = BatchNorm(momentum=self.momentum, epsilon=self.epsilon, center=False,
                            scale=False, synchronized=self.synchronized, name="bn")

    def build(self, x_shape, c_shape):
        channels = int(x_shape[-1])
        if c_shape is None or len(c_shape) != 2:
            raise ValueError(f"ConditionalBatchNorm needs c of shape [B, k], got {c_shape}")
        if self.use_spectral_norm:
            self.gain = SNDense(channels, use_bias=False,
                                kernel_initializer=self.gain_initializer, name="gain")
            self.offset = SNDense(channels, use_bias=False,
                                  kernel_initializer=self.bias_initializer, name="offset")
        else:
            self.gain = keras.layers.Dense(channels, use_bias=False,
                                           kernel_initializer=self.gain_initializer,
                                           name="gain")
            self.offset = keras.layers.Dense(channels, use_bias=False,
                                             kernel_initializer=self.bias_initializer,
                                             name="offset")
        self.bn.build(x_shape)
        self.gain.build(c_shape)
        self.offset.build(c_shape)

    def call(self, x, c, training=None):
        training = bool(training)
        normed = self.bn(x, training=training)
        c = ops.cast(c, normed.dtype)
        if self.use_spectral_norm:
            gamma = self.gain(c, training=training)
            beta = self.offset(c, training=training)
        else:
            gamma = self.gain(c)
            beta = self.offset(c)
        # [B, C] -> [B, 1, ..., 1, C]
        bshape = (-1,) + (1,) * (len(x.shape) - 2) + (int(normed.shape[-1]),)
        gamma = ops.reshape(gamma, bshape)
        beta = ops.reshape(beta, bshape)
        return (1.0 + gamma) * normed + beta

    def compute_output_shape(self, x_shape, c_shape):
        return x_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "gain_initializer": keras.initializers.serialize(self.gain_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "use_spectral_norm": self.use_spectral_norm,
            "synchronized": self.synchronized,
        })
        return config
