"""Restoration tasks: the true degradation, its measurement, and the blind operator family.

A task is a true operator applied to clean images x [B, H, W, C] in [-1, 1], giving measurements
y, and a parametric family A_phi that the blind methods search (phi batched per image):

  gaussian-deblur  y = k_sigma * x + sigma_y n, one isotropic Gaussian kernel for every image;
  motion-deblur    y = k_i * x + sigma_y n, a random motion kernel per image (intensity 0.5);
  jpeg             y = JPEG_q(x) (Pillow, on host, no added noise); A_phi is a JPEGNet
                   (jaxdiff.ladibi.jpeg) whose weights start from a net pretrained on Pillow
                   round-trips of a range of qualities; the non-blind bound's operator is the
                   differentiable codec at the true quality (`jpeg_task`).

For the blur tasks A_phi(x) = phi_kernel * x with phi_kernel = softmax(phi) over k x k logits
("softmax") or the projection of phi onto the simplex ("projected"); phi starts as a narrow
Gaussian, the least committal blur. The true phi (non-blind bound) is log(k_true), whose softmax
is k_true exactly.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxdiff.ladibi import operators

Array = jax.Array
BLUR_TASKS = ("gaussian-deblur", "motion-deblur")


@dataclasses.dataclass(frozen=True)
class Task:
  y: Array                      # measurements [B, H, W, C]
  op: Callable[[Any, Array], Array]  # A_phi(x), phi batched
  phi_true: Any                 # phi reproducing the true operator (non-blind bound)
  phi0: Any                     # the blind methods' starting phi
  kernel_true: Array | None     # [B, k, k] for blur tasks
  kernel_of: Callable[[Any], Array] | None  # phi -> [B, k, k] kernels
  op_true: Callable[[Any], Array] | None = None  # the non-blind operator when phi_true is not
                                                 # a point of the blind family (JPEG); else op


def kernel_family(param: str) -> Callable[[Array], Array]:
  if param == "softmax":
    return operators.kernel_from_logits
  if param == "projected":
    return operators.project_kernel
  raise ValueError(f"unknown kernel parametrisation '{param}'; valid: softmax, projected")


def blur_task(key: Array, x: Array, name: str, *, kernel_size: int, sigma_y: float,
              gaussian_sigma: float = 1.5, motion_intensity: float = 0.5,
              kernel_param: str = "softmax", kernel_init_sigma: float = 0.7,
              kernels: Array | None = None) -> Task:
  """The blur task on clean images x; `kernels` [B, k, k] overrides the task's own draw (motion
  kernels are drawn on host, `operators.motion_kernels`, so a jitted caller passes them in)."""
  b = x.shape[0]
  k_kernel, k_noise = jax.random.split(key)
  if kernels is not None:
    if kernels.shape != (b, kernel_size, kernel_size):
      raise ValueError(f"kernels must be [{b}, {kernel_size}, {kernel_size}], got {kernels.shape}")
  elif name == "gaussian-deblur":
    kernels = jnp.broadcast_to(operators.gaussian_kernel(kernel_size, gaussian_sigma),
                               (b, kernel_size, kernel_size))
  elif name == "motion-deblur":
    kernels = operators.motion_kernels(k_kernel, b, kernel_size, motion_intensity)
  else:
    raise ValueError(f"unknown blur task '{name}'; valid: {', '.join(BLUR_TASKS)}")
  y = operators.blur(x, kernels) + sigma_y * jax.random.normal(k_noise, x.shape, x.dtype)
  to_kernel = kernel_family(kernel_param)
  init = jnp.broadcast_to(operators.gaussian_kernel(kernel_size, kernel_init_sigma),
                          kernels.shape)
  if kernel_param == "softmax":
    phi_true, phi0 = jnp.log(kernels + 1e-12), jnp.log(init + 1e-12)
  else:
    phi_true, phi0 = kernels, init

  def op(phi, z):
    return operators.blur(z, to_kernel(phi))

  return Task(y=y, op=op, phi_true=phi_true, phi0=phi0, kernel_true=kernels, kernel_of=to_kernel)


def jpeg_task(y: Array, blind: tuple[Any, Any], true: tuple[Any, Any]) -> Task:
  """The blind JPEG task on measurements y (Pillow round-trips, computed on host).

  blind = (graphdef, params) of the JPEGNet the blind methods adapt (phi0 = one copy per image);
  true = (graphdef, params) of the non-blind operator (the differentiable codec at the true
  quality). phi is the whole network per image (`jaxdiff.ladibi.jpeg.jpeg_operator`).
  """
  from jaxdiff.ladibi import jpeg
  b = y.shape[0]
  return Task(y=y, op=jpeg.jpeg_operator(blind[0]), phi_true=jpeg.tile_params(true[1], b),
              phi0=jpeg.tile_params(blind[1], b), kernel_true=None, kernel_of=None,
              op_true=jpeg.jpeg_operator(true[0]))
