"""Projection discriminator head (Miyato & Koyama, 2018, "cGANs with Projection Discriminator").

Given features ``h [B, C]`` and integer labels ``y [B]``::

    logits = SNDense(1)(h) + sum(SNEmbedding(num_classes, C)(y) * h, axis=-1)      # [B]

Both the linear map and the class embedding are spectrally normalised.
Call signature: ``head(h, y, training=None)``.
"""

import keras
from keras import ops

from tfgan_icr.layers.spectral_norm import SNDense, SNEmbedding

__all__ = ["ProjectionHead"]


@keras.saving.register_keras_serializable(package="tfgan_icr")
class ProjectionHead(keras.layers.Layer):
    """Spectrally normalised projection head returning raw logits of shape ``[B]``."""

    def __init__(self, num_classes, kernel_initializer="glorot_uniform",
                 embeddings_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        if self.num_classes < 1:
            raise ValueError(f"ProjectionHead needs num_classes >= 1, got {num_classes}")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.linear = SNDense(1, kernel_initializer=self.kernel_initializer, name="linear")

    def build(self, h_shape, y_shape):
        if len(h_shape) != 2:
            raise ValueError(f"ProjectionHead expects features [B, C], got {h_shape}")
        self.embedding = SNEmbedding(self.num_classes, int(h_shape[-1]),
                                     embeddings_initializer=self.embeddings_initializer,
                                     name="embedding")
        self.linear.build(h_shape)
        self.embedding.build(y_shape)

    def call(self, h, y, training=None):
        training = bool(training)
        out = ops.squeeze(self.linear(h, training=training), axis=-1)
        emb = self.embedding(ops.cast(y, "int32"), training=training)
        return out + ops.sum(ops.cast(emb, h.dtype) * h, axis=-1)

    def compute_output_shape(self, h_shape, y_shape):
        return (h_shape[0],)

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_classes": self.num_classes,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "embeddings_initializer": keras.initializers.serialize(
                self.embeddings_initializer),
        })
        return config
