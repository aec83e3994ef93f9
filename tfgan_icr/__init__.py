"""tfgan_icr: a GAN model zoo for TensorFlow 2 and Keras 3."""

__version__ = "0.1.0"
