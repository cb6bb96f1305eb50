"""A drop-in `conv_general_dilated` for `nnx.Conv` that avoids XLA:CPU's slow short-sequence path.

On XLA:CPU a stride-1 1-D convolution whose input is not longer than its kernel (the innermost
U-Net level: horizon 16 / 4 = length 4 against kernel 5) falls off the fast convolution path: at
batch 256 and 128 channels one such conv took 152 ms against 3.5 ms for the same arithmetic as a
matrix product (2-core CI box). Strided and transposed (input-dilated) convolutions and their
gradients are slow there too. `conv1d_general_dilated` computes those cases by unfolding: pad
(inserting zeros between inputs for a transposed conv), stack the k shifted (strided) views along
channels, one dot with the kernel reshaped to [k * C_in, C_out]. Stride-1 convolutions over longer
inputs go to `jax.lax.conv_general_dilated`.

Pass it as `nnx.Conv(..., conv_general_dilated=conv1d_general_dilated)`; parameters and results
are unchanged (same kernel layout [k, C_in, C_out], same SAME/explicit padding).
"""
from __future__ import annotations

import flax.nnx as nnx
import jax
import jax.numpy as jnp


# XLA:CPU's weight-gradient convolution inside a while loop (lax.scan of training steps, as the
# runtime runs them) or under a sharding constraint falls to a naive loop: 2.6 ms bare became
# 313 ms per step inside lax.scan for [256, 16, 64] x [5, 64, 64] on the CI box. The unfolded
# form's gradients are plain dots, so every 1-D channel-last convolution is unfolded.
UNFOLD_ALWAYS = True


def _as_tuple(v) -> tuple[int, ...]:
  if v is None:
    return (1,)
  return tuple(v) if isinstance(v, (tuple, list)) else (int(v),)


def _is_channel_last_1d(lhs, rhs, rhs_dilation, dimension_numbers, feature_group_count) -> bool:
  if lhs.ndim != 3 or rhs.ndim != 3 or feature_group_count != 1:
    return False
  if _as_tuple(rhs_dilation) != (1,):
    return False
  dn = jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers or
                                      ("NWC", "WIO", "NWC"))
  # channel-last input/output, kernel [W, I, O]: flax's layout
  return (tuple(dn.lhs_spec) == (0, 2, 1) and tuple(dn.rhs_spec) == (2, 1, 0)
          and tuple(dn.out_spec) == (0, 2, 1))


def unfold_conv1d(lhs, rhs, stride: int, pads: tuple[int, int], lhs_dilation: int = 1,
                  precision=None, preferred_element_type=None):
  """The same convolution as unfold + one dot: [B, L, C] x [k, C, O] -> [B, L_out, O]."""
  k, c_in, c_out = rhs.shape
  lo, hi = pads
  zero = jnp.zeros((), lhs.dtype)
  xp = jax.lax.pad(lhs, zero, ((0, 0, 0), (lo, hi, lhs_dilation - 1), (0, 0, 0)))
  out_len = (xp.shape[1] - k) // stride + 1
  cols = jnp.concatenate(
      [jax.lax.slice_in_dim(xp, i, i + stride * (out_len - 1) + 1, stride, axis=1)
       for i in range(k)], axis=-1)
  return jnp.dot(cols, rhs.reshape(k * c_in, c_out), precision=precision,
                 preferred_element_type=preferred_element_type)


def conv1d_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                           rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                           **kwargs):
  """`jax.lax.conv_general_dilated`, unfolded for the 1-D cases XLA:CPU is slow at (docstring).

  Unfolded: strided or input-dilated (transposed) convolutions, and inputs no longer than the
  kernel. Stride-1 convolutions over longer inputs stay on XLA's convolution.
  """
  if _is_channel_last_1d(lhs, rhs, rhs_dilation, dimension_numbers, feature_group_count):
    (stride,), (dil,) = _as_tuple(window_strides), _as_tuple(lhs_dilation)
    k = rhs.shape[0]
    if UNFOLD_ALWAYS or stride != 1 or dil != 1 or lhs.shape[1] <= k:
      if isinstance(padding, str):
        dilated_len = (lhs.shape[1] - 1) * dil + 1
        (pads,) = jax.lax.padtype_to_pads((dilated_len,), (k,), (stride,), padding)
      else:
        (pads,) = padding
      return unfold_conv1d(lhs, rhs, stride, tuple(pads), dil, kwargs.get("precision"),
                           kwargs.get("preferred_element_type"))
  return jax.lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation,
                                      rhs_dilation, dimension_numbers, feature_group_count,
                                      **kwargs)


def conv_transpose_pads(kernel: int, stride: int, padding: str) -> tuple[int, int]:
  """Padding of the input-dilated conv that `jax.lax.conv_transpose` uses (1-D, no rhs dilation)."""
  if padding == "SAME":
    pad_len = kernel + stride - 2
    pad_a = kernel - 1 if stride > kernel - 1 else -(-pad_len // 2)
  elif padding == "VALID":
    pad_len = kernel + stride - 2 + max(kernel - stride, 0)
    pad_a = kernel - 1
  else:
    raise ValueError(f"padding {padding!r}: 'SAME' or 'VALID'")
  return pad_a, pad_len - pad_a


class ConvTranspose1d(nnx.ConvTranspose):
  """`nnx.ConvTranspose` (same parameters, same results) computed by `unfold_conv1d` for 1-D
  channel-last inputs with SAME/VALID padding; other settings fall back to the parent."""

  def __call__(self, inputs):
    plain = (inputs.ndim == 3 and self.mask is None and not self.transpose_kernel
             and self.padding in ("SAME", "VALID")
             and _as_tuple(self.kernel_dilation) == (1,))
    if not plain:
      return super().__call__(inputs)
    (stride,) = _as_tuple(self.strides)
    kernel = self.kernel[...]
    bias = self.bias[...] if self.bias is not None else None
    inputs, kernel, bias = self.promote_dtype((inputs, kernel, bias), dtype=self.dtype)
    pads = conv_transpose_pads(kernel.shape[0], stride, self.padding)
    y = unfold_conv1d(inputs, kernel, 1, pads, stride, self.precision,
                      self.preferred_element_type)
    return y + bias if bias is not None else y
