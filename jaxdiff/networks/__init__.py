"""Denoiser networks (Flax NNX). All take `(x, c_noise, cond=None, s_noise=None)`."""
from jaxdiff.networks.conv2d import conv2d_general_dilated
from jaxdiff.networks.embeddings import FourierFeatures, NoiseEmbedding, sinusoidal_embedding
from jaxdiff.networks.mlp import MLPDenoiser
from jaxdiff.networks.unet1d import ConditionalUnet1D
from jaxdiff.networks.unet2d import ImageUNet

__all__ = [
    "ConditionalUnet1D", "FourierFeatures", "ImageUNet", "MLPDenoiser", "NoiseEmbedding",
    "conv2d_general_dilated", "sinusoidal_embedding",
]
