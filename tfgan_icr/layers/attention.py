"""Self-attention (non-local) block of SAGAN (Zhang et al., 2019) as BigGAN uses it.

For ``x [B, H, W, C]`` (channels last), with four spectrally normalised 1x1 convolutions
without bias::

    theta = conv_theta(x)                 [B, H*W, C/8]      queries, every position
    phi   = maxpool2x(conv_phi(x))        [B, H*W/4, C/8]    keys, on a 2x coarser grid
    g     = maxpool2x(conv_g(x))          [B, H*W/4, C/2]    values, on the coarser grid
    attn  = softmax(theta @ phi^T)        [B, H*W, H*W/4]    over the keys
    out   = x + gamma * conv_out(attn @ g)                   conv_out: C/2 -> C

``gamma`` is a learned scalar that starts at 0, so the block starts as the identity and the
network learns how much non-local evidence to mix in. Max-pooling the keys and values (as
BigGAN does) divides the attention cost by 4. Needs ``C`` divisible by 8 and even ``H``, ``W``.

Call: ``layer(x, training=None)`` (``training`` drives the spectral-norm power iteration).
"""

import keras
from keras import ops

from tfgan_icr.layers.spectral_norm import SNConv2D

__all__ = ["SelfAttention"]


@keras.saving.register_keras_serializable(package="tfgan_icr")
class SelfAttention(keras.layers.Layer):
    """SAGAN / BigGAN self-attention with spectral norm, max-pooled keys/values, gamma = 0 start."""

    def __init__(self, kernel_initializer="orthogonal", **kwargs):
        super().__init__(**kwargs)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"SelfAttention expects [B, H, W, C] inputs, got {input_shape}")
        channels = int(input_shape[-1])
        if channels % 8:
            raise ValueError(f"SelfAttention needs channels divisible by 8, got {channels}")
        height, width = input_shape[1], input_shape[2]
        if (height is not None and height % 2) or (width is not None and width % 2):
            raise ValueError(f"SelfAttention max-pools keys/values 2x: height and width must "
                             f"be even, got {height}x{width}")

        def conv(filters, name):
            return SNConv2D(filters, 1, padding="valid", use_bias=False,
                            kernel_initializer=self.kernel_initializer, name=name)

        self.theta = conv(channels // 8, "theta")
        self.phi = conv(channels // 8, "phi")
        self.g = conv(channels // 2, "g")
        self.out = conv(channels, "out")
        self.theta.build(input_shape)
        self.phi.build(input_shape)
        self.g.build(input_shape)
        self.out.build(tuple(input_shape[:-1]) + (channels // 2,))
        self.gamma = self.add_weight(name="gamma", shape=(), initializer="zeros",
                                     trainable=True)

    def call(self, x, training=None):
        training = bool(training)
        shape = ops.shape(x)
        batch, height, width = shape[0], shape[1], shape[2]
        channels = int(x.shape[-1])

        def pooled(h):
            return ops.max_pool(h, pool_size=2, strides=2, padding="valid")

        theta = ops.reshape(self.theta(x, training=training), (batch, -1, channels // 8))
        phi = ops.reshape(pooled(self.phi(x, training=training)), (batch, -1, channels // 8))
        g = ops.reshape(pooled(self.g(x, training=training)), (batch, -1, channels // 2))
        logits = ops.matmul(theta, ops.transpose(phi, (0, 2, 1)))  # [B, HW, HW/4]
        # softmax in float32: under mixed precision exp() of these logits overflows fp16
        attention = ops.cast(ops.softmax(ops.cast(logits, "float32"), axis=-1), g.dtype)
        mixed = ops.reshape(ops.matmul(attention, g), (batch, height, width, channels // 2))
        return x + ops.cast(self.gamma, x.dtype) * self.out(mixed, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)})
        return config
