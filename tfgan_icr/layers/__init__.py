"""Network building blocks: spectral normalisation, (conditional) batch norm, projection head,
and the Progressive GAN layers (pixel norm, minibatch stddev, equalized learning rate)."""

from tfgan_icr.layers.conditional_bn import BatchNorm, ConditionalBatchNorm
from tfgan_icr.layers.pggan import (
    EqualizedConv2D,
    EqualizedDense,
    MinibatchStdDev,
    PixelNormalization,
)
from tfgan_icr.layers.projection import ProjectionHead
from tfgan_icr.layers.spectral_norm import (
    SNConv2D,
    SNConv2DTranspose,
    SNDense,
    SNEmbedding,
    l2_normalize,
)

__all__ = [
    "BatchNorm",
    "ConditionalBatchNorm",
    "EqualizedConv2D",
    "EqualizedDense",
    "MinibatchStdDev",
    "PixelNormalization",
    "ProjectionHead",
    "SNConv2D",
    "SNConv2DTranspose",
    "SNDense",
    "SNEmbedding",
    "l2_normalize",
]
