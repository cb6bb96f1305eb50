"""Degraded training images with the degradation named in the caption, inside jit.

LADiBI steers a text-to-image prior with a negative prompt describing the degradation ("blurry",
"jpeg artifacts"); Stable Diffusion learned such words from web captions. A prior trained here
learns them only if some of its training images are degraded and say so: `degrade_batch` degrades
a `fraction` of a batch -- split equally between Gaussian blur (sigma uniform in a range), motion
blur (a kernel drawn from a precomputed bank) and JPEG (a precomputed bank of real Pillow
round-trips replacing the image, with that bank image's caption) -- and appends the kind's words
to those captions (`jaxdiff.images.captions.degrade_ids`).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxdiff.images import captions
from jaxdiff.ladibi import operators

Array = jax.Array
GAUSSIAN = captions.DEGRADATION_KINDS.index("gaussian_blur")
MOTION = captions.DEGRADATION_KINDS.index("motion_blur")
JPEG = captions.DEGRADATION_KINDS.index("jpeg")


class Banks(NamedTuple):
  """Device-resident degradation material: motion kernels [M, k, k]; JPEG pairs (the JPEG'd
  images [J, H, W, C] and their clean captions' ids [J, L]); J = 0 disables JPEG."""
  motion: Array
  jpeg_images: Array
  jpeg_ids: Array


def degrade_batch(key: Array, images: Array, ids: Array, banks: Banks, *, fraction: float,
                  blur_sigma: tuple[float, float]) -> tuple[Array, Array, Array]:
  """Returns (images, ids, kinds [B]: -1 clean, else a DEGRADATION_KINDS index)."""
  b = images.shape[0]
  k_pick, k_kind, k_sigma, k_motion, k_jpeg = jax.random.split(key, 5)
  use_jpeg = banks.jpeg_images.shape[0] > 0
  kinds_avail = jnp.array([GAUSSIAN, MOTION] + ([JPEG] if use_jpeg else []), jnp.int32)
  kind = kinds_avail[jax.random.randint(k_kind, (b,), 0, kinds_avail.shape[0])]
  kind = jnp.where(jax.random.uniform(k_pick, (b,)) < fraction, kind, -1)

  size = banks.motion.shape[-1]
  sigma = jax.random.uniform(k_sigma, (b,), minval=blur_sigma[0], maxval=blur_sigma[1])
  gauss = operators.gaussian_kernel(size, sigma)
  motion = banks.motion[jax.random.randint(k_motion, (b,), 0, banks.motion.shape[0])]
  kernel = jnp.where((kind == MOTION)[:, None, None], motion, gauss)
  blurred = operators.blur(images, kernel)
  is_blur = ((kind == GAUSSIAN) | (kind == MOTION))[:, None, None, None]
  out = jnp.where(is_blur, blurred, images)
  if use_jpeg:
    j = jax.random.randint(k_jpeg, (b,), 0, banks.jpeg_images.shape[0])
    is_jpeg = kind == JPEG
    out = jnp.where(is_jpeg[:, None, None, None], banks.jpeg_images[j], out)
    ids = jnp.where(is_jpeg[:, None], banks.jpeg_ids[j][:, :ids.shape[1]], ids)
  return out, captions.degrade_ids(ids, kind), kind
