"""Shapes, conditioning and retracing of the denoiser networks.

Compilation dominates on a shared CPU, so shape checks use `jax.eval_shape` (no compilation) and
one small U-Net is compiled once and reused for the numerical checks.
"""
import chex
import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdiff.networks import ConditionalUnet1D, MLPDenoiser, sinusoidal_embedding
from tests.jaxdiff.helpers import FAST_COMPILE, init_split

SMALL = (8, 16, 32)


def _abstract_apply(model, x, *args):
  graphdef, state = nnx.split(model)
  return jax.eval_shape(lambda s, x, *a: nnx.merge(graphdef, s)(x, *a), state, x, *args)


@pytest.mark.parametrize("horizon,channels,down_dims", [
    (16, 3, SMALL), (32, 17, SMALL), (32, 1, (8, 16, 32, 64)), (16, 5, (512, 1024, 2048))])
def test_unet_output_shapes(horizon, channels, down_dims):
  model = nnx.eval_shape(lambda: ConditionalUnet1D(
      channels, cond_dim=11, down_dims=down_dims, kernel_size=5, stop_time=True,
      rngs=nnx.Rngs(0)))
  x = jax.ShapeDtypeStruct((2, horizon, channels), jnp.float32)
  b = jax.ShapeDtypeStruct((2,), jnp.float32)
  cond = jax.ShapeDtypeStruct((2, 11), jnp.float32)
  out = _abstract_apply(model, x, b, cond, b)
  assert out.shape == (2, horizon, channels) and out.dtype == jnp.float32


def test_unet_conditioning_and_no_retrace():
  graphdef, state = init_split(lambda: ConditionalUnet1D(
      17, cond_dim=5, down_dims=SMALL, emb_dim=8, stop_time=True, rngs=nnx.Rngs(0)))
  chex.clear_trace_counter()

  @jax.jit(compiler_options=FAST_COMPILE)
  @chex.assert_max_traces(n=2)  # one trace per horizon, none on repeated calls
  def apply(state, x, c_noise, cond, s_noise):
    return nnx.merge(graphdef, state)(x, c_noise, cond, s_noise)

  k = jax.random.split(jax.random.key(1), 2)
  c_noise = jnp.array([-1.0, 0.5])
  cond = jax.random.normal(k[1], (2, 5))
  s_noise = jnp.array([-1.5, -1.5])
  for horizon in (16, 32):
    x = jax.random.normal(k[0], (2, horizon, 17))
    out = apply(state, x, c_noise, cond, s_noise)
    assert out.shape == (2, horizon, 17)
    assert np.all(np.isfinite(out))
    # FiLM carries every conditioning input: changing any one of them changes the output, and
    # examples in a batch are independent (changing example 1's cond leaves example 0 alone).
    out_cond = apply(state, x, c_noise, cond.at[1].add(1.0), s_noise)
    out_noise = apply(state, x, c_noise + 0.3, cond, s_noise)
    out_stop = apply(state, x, c_noise, cond, s_noise + 0.3)
    np.testing.assert_allclose(out_cond[0], out[0], rtol=1e-5, atol=1e-6)
    for other in (out_cond[1], out_noise[1], out_stop[1]):
      assert float(jnp.max(jnp.abs(other - out[1]))) > 1e-3
  # Eight calls over two horizons traced twice: assert_max_traces would have raised otherwise.


def test_unet_errors_dtype_and_paper_scale():
  model = nnx.eval_shape(lambda: ConditionalUnet1D(3, down_dims=SMALL, rngs=nnx.Rngs(0)))
  with pytest.raises(ValueError, match="divisible by 4"):
    model(jnp.zeros((1, 18, 3)), jnp.zeros(1))  # raises before any computation
  with pytest.raises(ValueError, match="num_groups"):
    ConditionalUnet1D(3, down_dims=(12, 24), rngs=nnx.Rngs(0))
  # bfloat16 compute with float32 parameters, dropout in the residual blocks (RACTD student).
  bf16 = nnx.eval_shape(lambda: ConditionalUnet1D(4, down_dims=(8, 16), dropout_rate=0.2,
                                                  dtype=jnp.bfloat16, rngs=nnx.Rngs(0, dropout=1)))
  out = _abstract_apply(bf16, jax.ShapeDtypeStruct((2, 8, 4), jnp.float32),
                        jax.ShapeDtypeStruct((2,), jnp.float32))
  assert out.dtype == jnp.bfloat16
  assert all(v.dtype == jnp.float32 for v in jax.tree.leaves(nnx.state(bf16, nnx.Param)))
  # Paper scale (512, 1024, 2048), kernel 5, built abstractly (no memory): ~250M parameters,
  # consistent with Diffusion Policy's ~65M U-Net at (256, 512, 1024) times 4 (widths double).
  abstract = nnx.eval_shape(lambda: ConditionalUnet1D(
      17, cond_dim=11, down_dims=(512, 1024, 2048), kernel_size=5, rngs=nnx.Rngs(0)))
  n_params = sum(x.size for x in jax.tree.leaves(nnx.state(abstract, nnx.Param)))
  assert 2.0e8 < n_params < 3.0e8, n_params


@pytest.mark.parametrize("conditioning,embedding", [("film", "sinusoidal"), ("concat", "fourier")])
def test_mlp_shapes_conditioning_and_dropout(conditioning, embedding):
  graphdef, state = init_split(lambda: MLPDenoiser(
      6, cond_dim=3, hidden_dim=32, num_layers=2, emb_dim=16, conditioning=conditioning,
      embedding=embedding, stop_time=True, dropout_rate=0.2, rngs=nnx.Rngs(0, dropout=1)))

  @jax.jit(static_argnums=5, compiler_options=FAST_COMPILE)
  def apply(state, x, c, cond, s, train):
    model = nnx.merge(graphdef, state)
    model.train() if train else model.eval()
    return model(x, c, cond, s), nnx.state(model)

  x = jax.random.normal(jax.random.key(0), (4, 2, 3))  # trailing axes are flattened to 6
  c, cond, s = jnp.zeros(4), jnp.ones((4, 3)), jnp.full((4,), -1.0)
  out, _ = apply(state, x, c, cond, s, False)
  assert out.shape == x.shape
  for args in ((c + 0.5, cond, s), (c, cond * 2, s), (c, cond, s + 0.5)):
    assert float(jnp.max(jnp.abs(apply(state, x, *args, False)[0] - out))) > 1e-4
  # Training mode: the dropout stream advances between calls, so outputs differ; eval repeats.
  y1, state1 = apply(state, x, c, cond, s, True)
  y2, _ = apply(state1, x, c, cond, s, True)
  assert float(jnp.max(jnp.abs(y1 - y2))) > 0
  np.testing.assert_array_equal(apply(state1, x, c, cond, s, False)[0], out)
  # Fourier frequencies are fixed buffers, not trainable parameters.
  model = nnx.merge(graphdef, state)
  n_all = sum(v.size for v in jax.tree.leaves(nnx.state(model, nnx.Param, nnx.Variable))
              if hasattr(v, "size") and v.dtype == jnp.float32)
  n_par = sum(v.size for v in jax.tree.leaves(nnx.state(model, nnx.Param)))
  assert (n_all > n_par) == (embedding == "fourier")
  with pytest.raises(ValueError, match="s_noise"):
    model(x, c, cond)


def test_sinusoidal_embedding_hand_values():
  e = sinusoidal_embedding(jnp.array([0.0, 0.01]), 4, max_period=100.0, scale=100.0)
  # Frequencies 1 and 1/10; t * scale = 0 and 1.
  np.testing.assert_allclose(e[0], [1, 1, 0, 0], atol=1e-7)
  np.testing.assert_allclose(e[1], [np.cos(1), np.cos(0.1), np.sin(1), np.sin(0.1)], rtol=1e-6)


@pytest.mark.parametrize("length", [2, 4, 8, 16])
def test_unfolded_convolutions_equal_flax_convolutions(length):
  """jaxdiff.networks.conv: the unfold+dot paths give nnx.Conv / nnx.ConvTranspose's numbers."""
  from jaxdiff.networks.conv import ConvTranspose1d, conv1d_general_dilated
  x = jax.random.normal(jax.random.PRNGKey(length), (3, length, 6))
  for k, s, pad in ((4, 2, "SAME"), (3, 2, "SAME"), (4, 2, "VALID"), (2, 2, "SAME")):
    ref = nnx.ConvTranspose(6, 5, k, strides=s, padding=pad, rngs=nnx.Rngs(0))
    ours = ConvTranspose1d(6, 5, k, strides=s, padding=pad, rngs=nnx.Rngs(0))
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(ref(x)), rtol=1e-5, atol=1e-5)
  for k, s, pad in ((5, 1, "SAME"), (3, 2, ((1, 1),)), (3, 1, "VALID"), (1, 1, "SAME")):
    ref = nnx.Conv(6, 5, k, strides=s, padding=pad, rngs=nnx.Rngs(0))
    ours = nnx.Conv(6, 5, k, strides=s, padding=pad, rngs=nnx.Rngs(0),
                    conv_general_dilated=conv1d_general_dilated)
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(ref(x)), rtol=1e-5, atol=1e-5)
