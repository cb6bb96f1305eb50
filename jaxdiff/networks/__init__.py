"""Denoiser networks (Flax NNX). All take `(x, c_noise, cond=None, s_noise=None)`."""
from jaxdiff.networks.embeddings import FourierFeatures, NoiseEmbedding, sinusoidal_embedding
from jaxdiff.networks.mlp import MLPDenoiser
from jaxdiff.networks.unet1d import ConditionalUnet1D

__all__ = [
    "ConditionalUnet1D", "FourierFeatures", "MLPDenoiser", "NoiseEmbedding", "sinusoidal_embedding",
]
