"""What every generator / discriminator of the model zoo shares.

``Generator`` and ``Discriminator`` hold the common constructor arguments (``z_dim`` /
``num_classes`` / ``image_size`` / ``channels``), validate them, implement the Keras
config and build-config plumbing (``.keras`` files rebuild the variables by one dummy call
before the weights are loaded) and the ``call`` frame:

* ``Generator.call(z, labels=None, training=False)`` one-hot encodes the labels (``None``
  for an unconditional model), runs the subclass's ``synthesize(z, c, training)`` and
  returns ``tanh`` of its result as float32.
* ``Discriminator.call(images, labels=None, training=False)`` checks the labels, runs the
  subclass's ``features(x, training)`` (``[B, F]``) and ends in the head built by
  ``make_head()``: by default a projection head when ``num_classes > 0``, else an SN linear
  layer; ``head="contrastive"`` (ContraGAN) or ``"acgan"`` select the other heads (`HEADS`).

Architectures subclass these and add only their own layers, as attributes, lists or dicts
of layers: checkpoints and the EMA key each variable by its attribute path
(``tfgan_icr.training.variables``), so construction order does not matter. All variables
must exist after the first call (``_build_with_dummy_inputs``).

The classes themselves are not gin-configurable (that breaks Keras 3); each architecture
exposes ``@gin.configurable`` factory functions instead.
"""

from typing import Any, NamedTuple

import keras
from keras import ops

from tfgan_icr.errors import ConfigError
from tfgan_icr.layers import (
    AuxiliaryClassifierHead,
    BatchNorm,
    ConditionalBatchNorm,
    ContrastiveHead,
    ProjectionHead,
    SNDense,
)

__all__ = [
    "BN_EPSILON",
    "BN_MOMENTUM",
    "HEADS",
    "KERNEL_INIT",
    "REGISTER",
    "Discriminator",
    "DiscriminatorOutput",
    "OUTPUT_ACTIVATIONS",
    "Generator",
    "apply_conditioned",
    "class_norm",
    "one_hot",
]

#: Decorator registering a concrete model / layer class for ``.keras`` (de)serialisation.
REGISTER = keras.saving.register_keras_serializable(package="tfgan_icr")
KERNEL_INIT = "glorot_uniform"
#: Default batch-norm settings of the generators (Keras semantics: ``moving = m * moving +
#: (1 - m) * batch``, so PyTorch's momentum 0.1 is 0.9 here). They are this project's defaults,
#: not any reference's: factories that take ``bn_momentum`` / ``bn_epsilon`` (SNDCGAN) get
#: their reference's values from each config (compare_gan 0.999 / 1e-3; PyTorch 0.9 / 1e-5).
BN_MOMENTUM = 0.99
BN_EPSILON = 1e-5

OUTPUT_ACTIVATIONS = {"tanh": ops.tanh, "linear": lambda x: x}


class DiscriminatorOutput(NamedTuple):
    """What every discriminator returns. ``logits`` [B] (float32, before any activation) feed
    the adversarial losses; the other fields are None unless the head provides them."""

    logits: Any
    features: Any = None       # [B, F], the input of the head
    embedding: Any = None      # [B, E], e.g. ContraGAN's projected embedding
    proxy: Any = None          # [B, E], the embedding of each sample's class
    class_logits: Any = None   # [B, num_classes], e.g. an ACGAN classifier


_NEEDS_LABELS = "This model is class-conditional (num_classes > 0): pass labels."


def class_norm(num_classes, name, momentum=BN_MOMENTUM, epsilon=BN_EPSILON):
    """``ConditionalBatchNorm`` when ``num_classes > 0``, else a plain ``BatchNorm``."""
    if num_classes > 0:
        return ConditionalBatchNorm(momentum=momentum, epsilon=epsilon, name=name)
    return BatchNorm(momentum=momentum, epsilon=epsilon, name=name)


def apply_conditioned(layer, x, c, training):
    """``layer(x, c, training=...)``, or ``layer(x, training=...)`` when ``c`` is None.

    For ``class_norm`` layers and for blocks taking an optional condition.
    """
    if c is None:
        return layer(x, training=training)
    return layer(x, c, training=training)


def one_hot(labels, num_classes, dtype):
    """``one_hot(labels)`` as ``dtype``; None for an unconditional model (labels ignored).

    Raises ValueError when the model is conditional and ``labels`` is None.
    """
    if num_classes <= 0:
        return None
    if labels is None:
        raise ValueError(_NEEDS_LABELS)
    return ops.one_hot(ops.cast(labels, "int32"), num_classes, dtype=dtype)


class _ZooModel(keras.Model):
    """Common arguments, validation and (build) config plumbing of G and D."""

    #: Constructor arguments (stored as attributes of the same name) saved by
    #: ``get_config`` before ``num_classes`` / ``image_size`` / ``channels``.
    _LEADING_CONFIG = ()
    #: The architecture's own constructor arguments, saved after ``_LEADING_CONFIG``.
    ARCH_CONFIG = ()

    def __init__(self, num_classes=0, image_size=32, channels=3, **kwargs):
        super().__init__(**kwargs)
        if int(num_classes) < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        if int(channels) < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.validate_image_size(image_size)
        self.num_classes = int(num_classes)
        self.image_size = int(image_size)
        self.channels = int(channels)

    @staticmethod
    def validate_image_size(image_size):
        """Raise ValueError for an image size the architecture does not support."""
        if int(image_size) < 1:
            raise ValueError(f"image_size must be >= 1, got {image_size}")

    def _build_with_dummy_inputs(self):
        raise NotImplementedError

    # .keras files: rebuild the variables by one dummy call before the weights are loaded.
    def get_build_config(self):
        return {"built": True} if self.built else None

    def build_from_config(self, config):
        if config and config.get("built"):
            self._build_with_dummy_inputs()

    def get_config(self):
        keys = (self._LEADING_CONFIG + tuple(self.ARCH_CONFIG)
                + ("num_classes", "image_size", "channels"))
        config = {key: getattr(self, key) for key in keys}
        config["name"] = self.name
        return config


class Generator(_ZooModel):
    """``G(z, labels=None, training=False) -> [B, size, size, channels]``, float32 in [-1, 1].

    Subclasses implement ``synthesize(z, c, training)``: ``z`` already cast to the compute
    dtype, ``c`` the one-hot condition (None when unconditional); it returns the images
    before the output ``tanh``.
    """

    _LEADING_CONFIG = ("z_dim", "output_activation")

    def __init__(self, z_dim=128, num_classes=0, image_size=32, channels=3,
                 output_activation="tanh", **kwargs):
        super().__init__(num_classes=num_classes, image_size=image_size, channels=channels,
                         **kwargs)
        if output_activation not in OUTPUT_ACTIVATIONS:
            raise ValueError(f"output_activation must be one of {sorted(OUTPUT_ACTIVATIONS)}, "
                             f"got {output_activation!r}")
        self.z_dim = int(z_dim)
        self.output_activation = output_activation

    def synthesize(self, z, c, training):
        raise NotImplementedError

    def call(self, z, labels=None, training=False):
        training = bool(training)
        c = one_hot(labels, self.num_classes, self.compute_dtype)
        x = self.synthesize(ops.cast(z, self.compute_dtype), c, training)
        return ops.cast(OUTPUT_ACTIVATIONS[self.output_activation](x), "float32")

    def _build_with_dummy_inputs(self):
        self(ops.zeros((1, self.z_dim)), ops.zeros((1,), "int32"), training=False)


#: The discriminator heads ``Discriminator(head=...)`` builds, and what each adds to the logits.
HEADS = {
    "projection": "projection discriminator when conditional, else an SN linear logit",
    "contrastive": "ContraGAN: unconditional logit + embedding + class proxy (conditional only)",
    "acgan": "ACGAN: logit + SN linear class classifier (conditional only)",
}


def check_head(head, num_classes):
    """Raise ConfigError for an unknown head, or a class head on an unconditional model."""
    if head not in HEADS:
        raise ConfigError(f"unknown discriminator head {head!r}: use one of "
                          f"{', '.join(map(repr, HEADS))}")
    if head != "projection" and int(num_classes) <= 0:
        raise ConfigError(f"discriminator head {head!r} needs class labels: train a "
                          f"class-conditional model (train.conditional = True) on labelled data")
    return head


class Discriminator(_ZooModel):
    """``D(images, labels=None, training=False) -> DiscriminatorOutput`` (logits [B], no activation).

    Subclasses implement ``features(x, training)`` (``x``: the images cast to the compute
    dtype) returning ``[B, F]`` features, and assign ``self.head = self.make_head()`` as
    the last layer of their ``__init__``. ``head`` picks the head (`HEADS`);
    ``embedding_dim`` is the contrastive head's embedding size.
    """

    def __init__(self, num_classes=0, image_size=32, channels=3, head="projection",
                 embedding_dim=512, **kwargs):
        super().__init__(num_classes=num_classes, image_size=image_size, channels=channels,
                         **kwargs)
        self.head_kind = check_head(head, num_classes)
        self.embedding_dim = int(embedding_dim)
        if self.embedding_dim < 1:
            raise ConfigError(f"embedding_dim must be >= 1, got {embedding_dim}")

    def get_config(self):
        config = super().get_config()
        config.update(head=self.head_kind, embedding_dim=self.embedding_dim)
        return config

    def make_head(self):
        """The head chosen by ``head``: the default is a projection head (``num_classes >
        0``) or an SN linear layer to one logit."""
        if self.head_kind == "contrastive":
            return ContrastiveHead(self.num_classes, self.embedding_dim,
                                   kernel_initializer=KERNEL_INIT,
                                   embeddings_initializer=KERNEL_INIT, name="head")
        if self.head_kind == "acgan":
            return AuxiliaryClassifierHead(self.num_classes, kernel_initializer=KERNEL_INIT,
                                           name="head")
        if self.num_classes > 0:
            return ProjectionHead(self.num_classes, kernel_initializer=KERNEL_INIT,
                                  embeddings_initializer=KERNEL_INIT, name="head")
        return SNDense(1, kernel_initializer=KERNEL_INIT, name="head")

    def check_labels(self, labels):
        """Raise ValueError when the model is conditional and ``labels`` is None."""
        if self.num_classes > 0 and labels is None:
            raise ValueError(_NEEDS_LABELS)

    def head_logits(self, h, labels, training):
        """float32 logits ``[B]`` of ``self.head`` on features ``h`` (``labels`` are ignored
        by an unconditional model)."""
        self.check_labels(labels)
        if self.num_classes > 0:
            logits = self.head(h, ops.cast(labels, "int32"), training=training)
        else:
            logits = ops.squeeze(self.head(h, training=training), axis=-1)
        return ops.cast(logits, "float32")

    def head_outputs(self, h, labels, training):
        """The `DiscriminatorOutput` of the head on features ``h`` (logits float32 [B], and
        the embedding / proxy or class logits of the heads that have them)."""
        if self.head_kind == "contrastive":
            self.check_labels(labels)
            logits, embedding, proxy = self.head(h, ops.cast(labels, "int32"), training=training)
            return DiscriminatorOutput(logits=ops.cast(logits, "float32"), features=h,
                                       embedding=embedding, proxy=proxy)
        if self.head_kind == "acgan":
            logits, class_logits = self.head(h, training=training)
            return DiscriminatorOutput(logits=ops.cast(logits, "float32"), features=h,
                                       class_logits=ops.cast(class_logits, "float32"))
        return DiscriminatorOutput(logits=self.head_logits(h, labels, training), features=h)

    def features(self, x, training):
        raise NotImplementedError

    def call(self, images, labels=None, training=False):
        training = bool(training)
        self.check_labels(labels)  # before any layer runs (and updates its state)
        h = self.features(ops.cast(images, self.compute_dtype), training)
        return self.head_outputs(h, labels, training)

    def _build_with_dummy_inputs(self):
        size = self.image_size
        self(ops.zeros((1, size, size, self.channels)), ops.zeros((1,), "int32"),
             training=False)
