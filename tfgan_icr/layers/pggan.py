"""The layers of Progressive GAN (Karras et al. 2018): pixelwise feature normalisation,
minibatch standard deviation, and dense / convolution layers with an equalized learning rate.

All are channels last and serializable (``get_config``, registered under "tfgan_icr").
"""

import math

import keras
from keras import ops

__all__ = ["EqualizedConv2D", "EqualizedDense", "MinibatchStdDev", "PixelNormalization",
           "he_scale"]

_REGISTER = keras.saving.register_keras_serializable(package="tfgan_icr")


def he_scale(fan_in, gain=math.sqrt(2.0)):
    """The run-time weight multiplier of an equalized layer: ``gain / sqrt(fan_in)``."""
    return float(gain) / math.sqrt(float(fan_in))


@_REGISTER
class PixelNormalization(keras.layers.Layer):
    """``x / sqrt(mean(x^2 over channels) + epsilon)`` at every pixel (the last axis)."""

    def __init__(self, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, x):
        return x * ops.rsqrt(ops.mean(ops.square(x), axis=-1, keepdims=True) + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def _group_size_for(batch, group_size):
    """The largest group size <= ``group_size`` that divides ``batch`` (static batch)."""
    size = max(1, min(int(group_size), int(batch)))
    while batch % size:
        size -= 1
    return size


@_REGISTER
class MinibatchStdDev(keras.layers.Layer):
    """Appends one feature map: the standard deviation of each feature over a group of
    samples, averaged over features and pixels, and broadcast over the group's pixels.

    Groups follow the reference's reshape ``[N] -> [group_size, N / group_size]``: sample ``n``
    belongs to group ``n mod (N / group_size)``. When ``group_size`` does not divide the batch
    the largest size below it that does is used (1 gives a zero map).
    """

    #: Its output depends on the other samples of the batch.
    MIXES_BATCH = True

    def __init__(self, group_size=4, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        if int(group_size) < 1:
            raise ValueError(f"MinibatchStdDev group_size must be >= 1, got {group_size}")
        self.group_size = int(group_size)
        self.epsilon = float(epsilon)

    def call(self, x):
        batch = x.shape[0]
        if batch is None:
            raise ValueError("MinibatchStdDev needs a static batch size (trace with a fixed batch)")
        group = _group_size_for(batch, self.group_size)
        _, height, width, channels = x.shape
        y = ops.reshape(ops.cast(x, "float32"), (group, batch // group, height, width, channels))
        y = y - ops.mean(y, axis=0, keepdims=True)
        std = ops.sqrt(ops.mean(ops.square(y), axis=0) + self.epsilon)       # [M, H, W, C]
        std = ops.mean(std, axis=(1, 2, 3), keepdims=True)                  # [M, 1, 1, 1]
        std = ops.tile(std, (group, height, width, 1))                      # sample n: group n mod M
        return ops.concatenate([x, ops.cast(std, x.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size, "epsilon": self.epsilon}


class _Equalized(keras.layers.Layer):
    """Weights drawn from N(0, 1) and multiplied at run time by ``gain / sqrt(fan_in)``, so
    Adam's per-parameter step sizes act alike on every layer (the paper's equalized learning
    rate); biases start at zero."""

    def __init__(self, gain=math.sqrt(2.0), use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.gain = float(gain)
        self.use_bias = bool(use_bias)
        self.scale = None

    def _make_weights(self, kernel_shape, fan_in, units):
        self.scale = he_scale(fan_in, self.gain)
        self.kernel = self.add_weight(name="kernel", shape=kernel_shape,
                                      initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self.bias = self.add_weight(name="bias", shape=(units,), initializer="zeros") \
            if self.use_bias else None

    def effective_kernel(self):
        """The kernel the layer applies: the stored one times the He constant."""
        return self.kernel * ops.cast(self.scale, self.kernel.dtype)

    def _add_bias(self, y):
        return y + ops.cast(self.bias, y.dtype) if self.bias is not None else y

    def get_config(self):
        return {**super().get_config(), "gain": self.gain, "use_bias": self.use_bias}


@_REGISTER
class EqualizedDense(_Equalized):
    """A dense layer with an equalized learning rate (``gain``: sqrt(2) before a leaky ReLU)."""

    def __init__(self, units, gain=math.sqrt(2.0), use_bias=True, **kwargs):
        super().__init__(gain=gain, use_bias=use_bias, **kwargs)
        self.units = int(units)

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self._make_weights((fan_in, self.units), fan_in, self.units)

    def call(self, x):
        return self._add_bias(ops.matmul(x, ops.cast(self.effective_kernel(), x.dtype)))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@_REGISTER
class EqualizedConv2D(_Equalized):
    """A stride-1 "same" convolution with an equalized learning rate (channels last)."""

    def __init__(self, filters, kernel_size=3, gain=math.sqrt(2.0), use_bias=True, **kwargs):
        super().__init__(gain=gain, use_bias=use_bias, **kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        k = self.kernel_size
        self._make_weights((k, k, channels, self.filters), k * k * channels, self.filters)

    def call(self, x):
        y = ops.conv(x, ops.cast(self.effective_kernel(), x.dtype), strides=1, padding="same")
        return self._add_bias(y)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size}
