"""Network building blocks: spectral normalisation, (conditional, optionally cross-replica)
batch norm, projection head, self-attention, and the Progressive GAN layers (pixel norm,
minibatch stddev, equalized learning rate)."""

from tfgan_icr.layers.attention import SelfAttention
from tfgan_icr.layers.conditional_bn import BatchNorm, ConditionalBatchNorm
from tfgan_icr.layers.heads import AuxiliaryClassifierHead, ContrastiveHead
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
    "AuxiliaryClassifierHead",
    "ContrastiveHead",
    "BatchNorm",
    "ConditionalBatchNorm",
    "EqualizedConv2D",
    "EqualizedDense",
    "MinibatchStdDev",
    "PixelNormalization",
    "ProjectionHead",
    "SelfAttention",
    "SNConv2D",
    "SNConv2DTranspose",
    "SNDense",
    "SNEmbedding",
    "l2_normalize",
]
