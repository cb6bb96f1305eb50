"""jaxdiff: diffusion and consistency models in JAX / Flax NNX.

Modules (pure functions and NNX modules, no orchestration):
  edm       Karras noise grid, preconditioning, denoiser wrapper, EDM loss (EDMConfig).
  samplers  Euler / Heun PF-ODE samplers as lax.scan, NFE counts.
  ode       diffrax PF-ODE sampler (adaptive or fixed step), NFE from solver stats.
  ctm       Consistency Trajectory Models: G parameterisation, CTM and DSM losses, gamma-sampling.
  networks  MLPDenoiser, ConditionalUnet1D (temporal U-Net), noise embeddings.
  metrics   sliced Wasserstein distance, moment comparisons.
  toy       Gaussian mixtures with exact samples, density, score and denoiser.
  guidance  classifier-free guidance with positive / negative prompts, prompt dropout.
  text      caption tokenizer and the small text encoder of text-conditioned priors.
  image_metrics  PSNR, SSIM, a perceptual stand-in for LPIPS, kernel errors.
  images    captioned image datasets: procedural scenes, bundled photos, a user's folder.
  ladibi    LADiBI: operators, JPEG, classical baselines, tasks, Algorithms 1 and 2.

`ode` imports diffrax; import it explicitly (`from jaxdiff import ode`).
"""
from jaxdiff import ctm, edm, metrics, networks, samplers, toy

__all__ = ["ctm", "edm", "metrics", "networks", "samplers", "toy"]
