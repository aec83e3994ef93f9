"""Discriminator heads with outputs beyond the adversarial logit.

* `ContrastiveHead` (ContraGAN, Kang & Park 2020, as StudioGAN v0.4's ContraGAN
  discriminators): an unconditional adversarial logit ``SNDense(1)(h)`` (no projection
  term: the class enters through the 2C loss only), an embedding ``SNDense(E)(h)`` and the
  class proxy ``SNEmbedding(num_classes, E)(y)``, both L2-normalised.
  ``head(h, y) -> (logits [B], embedding [B, E], proxy [B, E])``.
* `AuxiliaryClassifierHead` (ACGAN, Odena et al. 2017): ``SNDense(1)(h)`` and a class
  classifier ``SNDense(num_classes)(h)``. ``head(h) -> (logits [B], class_logits [B, K])``.
"""

import keras
from keras import ops

from tfgan_icr.layers.spectral_norm import SNDense, SNEmbedding

__all__ = ["AuxiliaryClassifierHead", "ContrastiveHead", "normalize_rows"]


def normalize_rows(x, epsilon=1e-12):
    """Each row of ``x`` [B, E] divided by its L2 norm (at least ``epsilon``)."""
    norm = ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))
    return x / ops.maximum(norm, epsilon)


def _check_features(name, h_shape):
    if len(h_shape) != 2:
        raise ValueError(f"{name} expects features [B, C], got {h_shape}")


@keras.saving.register_keras_serializable(package="tfgan_icr")
class ContrastiveHead(keras.layers.Layer):
    """ContraGAN's head: unconditional logit, normalised embedding and class proxy."""

    def __init__(self, num_classes, embedding_dim=512, kernel_initializer="glorot_uniform",
                 embeddings_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        self.embedding_dim = int(embedding_dim)
        if self.num_classes < 1:
            raise ValueError(f"ContrastiveHead needs num_classes >= 1, got {num_classes}")
        if self.embedding_dim < 1:
            raise ValueError(f"ContrastiveHead needs embedding_dim >= 1, got {embedding_dim}")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.linear = SNDense(1, kernel_initializer=self.kernel_initializer, name="linear")
        self.projection = SNDense(self.embedding_dim, kernel_initializer=self.kernel_initializer,
                                  name="projection")
        self.proxies = SNEmbedding(self.num_classes, self.embedding_dim,
                                   embeddings_initializer=self.embeddings_initializer,
                                   name="proxies")

    def build(self, h_shape, y_shape):
        _check_features("ContrastiveHead", h_shape)
        self.linear.build(h_shape)
        self.projection.build(h_shape)
        self.proxies.build(y_shape)

    def call(self, h, y, training=None):
        training = bool(training)
        logits = ops.squeeze(self.linear(h, training=training), axis=-1)
        embedding = normalize_rows(ops.cast(self.projection(h, training=training), "float32"))
        proxy = normalize_rows(ops.cast(self.proxies(ops.cast(y, "int32"), training=training),
                                      "float32"))
        return logits, embedding, proxy

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_classes": self.num_classes,
            "embedding_dim": self.embedding_dim,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
        })
        return config


@keras.saving.register_keras_serializable(package="tfgan_icr")
class AuxiliaryClassifierHead(keras.layers.Layer):
    """ACGAN's head: adversarial logit and an SN linear class classifier."""

    def __init__(self, num_classes, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        if self.num_classes < 1:
            raise ValueError(f"AuxiliaryClassifierHead needs num_classes >= 1, got {num_classes}")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.linear = SNDense(1, kernel_initializer=self.kernel_initializer, name="linear")
        self.classifier = SNDense(self.num_classes, kernel_initializer=self.kernel_initializer,
                                  name="classifier")

    def build(self, h_shape):
        _check_features("AuxiliaryClassifierHead", h_shape)
        self.linear.build(h_shape)
        self.classifier.build(h_shape)

    def call(self, h, training=None):
        training = bool(training)
        logits = ops.squeeze(self.linear(h, training=training), axis=-1)
        return logits, self.classifier(h, training=training)

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_classes": self.num_classes,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        })
        return config
