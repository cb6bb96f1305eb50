"""A drop-in 2-D `conv_general_dilated` for `nnx.Conv` that avoids XLA:CPU's slow convolution paths.

XLA:CPU runs a jitted 3x3 convolution and its gradients at a reasonable speed, but inside a while
loop (a `lax.scan` of training steps, as the runtime runs them) the convolution gradients fall to a
naive loop: on the 2-core CI box one conv [32, 32, 32, 32] x [3, 3, 32, 32] with both gradients
took ~100 ms bare and ~2100 ms per step inside `lax.scan` (the 1-D case: `jaxdiff.networks.conv`).

`conv2d_general_dilated` computes a channel-last 2-D convolution (NHWC x HWIO) as an unfolded
matrix product ("im2col"): pad, stack the kh * kw shifted (strided) views of the input along
channels, and take one dot with the kernel reshaped to [kh * kw * C_in, C_out]:

    y[b, i, j, o] = sum_{u, v, c} x_pad[b, s_h i + u, s_w j + v, c] * w[u, v, c, o]
                  = cols[b, i, j, :] . w.reshape(kh * kw * C_in, C_out),
    cols[b, i, j, (u, v, c)] = x_pad[b, s_h i + u, s_w j + v, c].

Its gradients are a dot (weights) and a dot followed by the sum of kh * kw shifted slices (input),
which XLA:CPU runs at the same speed in and out of loops. Grouped, kernel-dilated and
input-dilated (transposed) convolutions go to `jax.lax.conv_general_dilated` unchanged.

Only on the platforms in `UNFOLD_PLATFORMS` (the CPU): GPUs and TPUs have fast native
convolutions, and the unfolded input is kh * kw times the activation's memory. Pass it as
`nnx.Conv(..., conv_general_dilated=conv2d_general_dilated)`; parameters and results are unchanged
(same kernel layout [kh, kw, C_in, C_out], same SAME/VALID/explicit padding).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

# Backends (`jax.default_backend()` when the convolution is traced) on which plain convolutions are
# unfolded; set to () to use XLA's convolution everywhere.
UNFOLD_PLATFORMS: tuple[str, ...] = ("cpu",)


def _pairs(v, n: int = 2) -> tuple[int, ...]:
  if v is None:
    return (1,) * n
  return tuple(v) if isinstance(v, (tuple, list)) else (int(v),) * n


def _is_plain_channel_last_2d(lhs, rhs, lhs_dilation, rhs_dilation, dimension_numbers,
                              feature_group_count) -> bool:
  if lhs.ndim != 4 or rhs.ndim != 4 or feature_group_count != 1:
    return False
  if _pairs(rhs_dilation) != (1, 1) or _pairs(lhs_dilation) != (1, 1):
    return False
  dn = jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers or
                                      ("NHWC", "HWIO", "NHWC"))
  # channel-last input/output, kernel [H, W, I, O]: flax's layout
  return (tuple(dn.lhs_spec) == (0, 3, 1, 2) and tuple(dn.rhs_spec) == (3, 2, 0, 1)
          and tuple(dn.out_spec) == (0, 3, 1, 2))


def unfold_conv2d(lhs, rhs, strides: tuple[int, int], pads, precision=None,
                  preferred_element_type=None):
  """The same convolution as unfold + one dot: [B, H, W, C] x [kh, kw, C, O] -> [B, H', W', O].

  `pads` is ((lo_h, hi_h), (lo_w, hi_w)); negative pads crop, as in `jax.lax.pad`.
  """
  kh, kw, c_in, c_out = rhs.shape
  (sh, sw), ((lo_h, hi_h), (lo_w, hi_w)) = strides, pads
  if (kh, kw, sh, sw) == (1, 1, 1, 1) and (lo_h, hi_h, lo_w, hi_w) == (0, 0, 0, 0):
    return jnp.dot(lhs, rhs.reshape(c_in, c_out), precision=precision,
                   preferred_element_type=preferred_element_type)
  zero = jnp.zeros((), lhs.dtype)
  xp = jax.lax.pad(lhs, zero, ((0, 0, 0), (lo_h, hi_h, 0), (lo_w, hi_w, 0), (0, 0, 0)))
  out_h = (xp.shape[1] - kh) // sh + 1
  out_w = (xp.shape[2] - kw) // sw + 1
  views = [jax.lax.slice(xp, (0, u, v, 0),
                         (xp.shape[0], u + sh * (out_h - 1) + 1, v + sw * (out_w - 1) + 1, c_in),
                         (1, sh, sw, 1))
           for u in range(kh) for v in range(kw)]
  cols = views[0] if len(views) == 1 else jnp.concatenate(views, axis=-1)
  return jnp.dot(cols, rhs.reshape(kh * kw * c_in, c_out), precision=precision,
                 preferred_element_type=preferred_element_type)


def conv2d_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                           rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                           **kwargs):
  """`jax.lax.conv_general_dilated`, unfolded for plain channel-last 2-D convolutions (docstring).

  On `UNFOLD_PLATFORMS`, any stride and padding is unfolded; grouped, dilated or non-channel-last
  convolutions, and every convolution on other backends, go to XLA's convolution.
  """
  plain = _is_plain_channel_last_2d(lhs, rhs, lhs_dilation, rhs_dilation, dimension_numbers,
                                    feature_group_count)
  if plain and jax.default_backend() in UNFOLD_PLATFORMS:
    strides = _pairs(window_strides)
    if isinstance(padding, str):
      pads = jax.lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], strides, padding)
    else:
      pads = tuple(tuple(p) for p in padding)
    return unfold_conv2d(lhs, rhs, strides, pads, kwargs.get("precision"),
                         kwargs.get("preferred_element_type"))
  return jax.lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation,
                                      rhs_dilation, dimension_numbers, feature_group_count,
                                      **kwargs)
