"""The text-conditioned image U-Net (jaxdiff.networks.unet2d), its unfolded convolution and its
PyTorch twin (experiments/bench/torch_unet2d.py).

Shape and error checks use `jax.eval_shape` (no compilation); one perturbed text model is
compiled once per input shape and shared by the numerical checks.
"""
import functools

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdiff.networks import ImageUNet, conv2d_general_dilated
from jaxdiff.networks.unet2d import GroupNorm
from tests.jaxdiff.helpers import FAST_COMPILE, init_split

TINY = dict(channels=(8, 16), num_res_blocks=1, attn_levels=(-1,), emb_dim=16, num_heads=2,
            num_groups=4)
TEXT = dict(TINY, text_vocab_size=12, text_len=6, text_dim=8, text_layers=1)
TEXT1 = dict(TEXT, channels=(8,))  # one level, attention at 8x8: the cheapest text model to compile
RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 8, 8, 3)).astype(np.float32)
C_NOISE = np.array([-1.0, 0.2, 0.7], np.float32)
IDS = np.array([[3, 4, 5, 0, 0, 0], [0, 0, 0, 0, 0, 0], [7, 0, 0, 0, 0, 0]], np.int32)
# rows: a caption, the null prompt, one word (right-padded to text_len)


@functools.cache
def _abstract_model(cfg_items: tuple, dtype=None):
  """(graphdef, abstract state) of ImageUNet(3, **cfg): built once per config, no arrays."""
  return nnx.split(nnx.eval_shape(lambda: ImageUNet(3, **dict(cfg_items), dtype=dtype,
                                                    rngs=nnx.Rngs(0))))


def _abstract(cfg, *args, dtype=None):
  graphdef, state = _abstract_model(tuple(sorted(cfg.items())), dtype)
  return jax.eval_shape(lambda s, *a: nnx.merge(graphdef, s)(*a), state, *args)


def _spec(shape, dtype=jnp.float32):
  return jax.ShapeDtypeStruct(shape, dtype)


def _random_params(state, rng, scale=0.3):
  """Random values for every parameter (no initialiser to compile): kernels ~ N(0, 1/fan_in)
  (non-zero output conv included), norm scales 1 + N(0, scale^2), everything else N(0, scale^2)."""
  def fill(path, v):
    name = [k.key for k in path if isinstance(k, jax.tree_util.DictKey)][-1]
    shape = v.shape
    if name == "kernel":
      x = rng.normal(size=shape) / np.sqrt(np.prod(shape[:-1]))
    elif name == "scale":
      x = 1 + scale * rng.normal(size=shape)
    else:
      x = scale * rng.normal(size=shape)
    return jnp.asarray(x, v.dtype)
  return jax.tree_util.tree_map_with_path(fill, state)


def _jit_apply(graphdef):
  return jax.jit(lambda s, *a: nnx.merge(graphdef, s)(*a), compiler_options=FAST_COMPILE)


@pytest.fixture(scope="module")
def text_net():
  """(model, apply(x, c_noise, ids)) of a text model with random parameters."""
  graphdef, state = _abstract_model(tuple(sorted(TEXT1.items())))
  state = _random_params(state, np.random.default_rng(1))
  apply = _jit_apply(graphdef)
  return nnx.merge(graphdef, state), lambda *a: apply(state, *a)


@pytest.fixture(scope="module")
def uncond_net():
  """(graphdef, initial state, apply(state, x, c_noise, cond)) of an unconditional model."""
  graphdef, state = init_split(lambda: ImageUNet(3, **TINY, rngs=nnx.Rngs(0)))
  return graphdef, state, _jit_apply(graphdef)


@pytest.mark.parametrize("cfg,shape,dtype", [
    (TINY, (2, 8, 8, 3), None),
    (dict(TEXT, channels=(8, 8, 16), attn_levels=(0, 2)), (2, 16, 12, 4), None),
    (TEXT, (2, 8, 8, 3), jnp.bfloat16)])
def test_output_shape_and_dtype(cfg, shape, dtype):
  ids = _spec((2, 4), jnp.int32) if cfg.get("text_vocab_size") else None
  graphdef, state = nnx.split(nnx.eval_shape(lambda: ImageUNet(
      shape[-1], **cfg, dtype=dtype, rngs=nnx.Rngs(0))))
  out = jax.eval_shape(lambda s, *a: nnx.merge(graphdef, s)(*a), state, _spec(shape),
                       _spec((2,)), ids)
  assert out.shape == shape and out.dtype == (dtype or jnp.float32)


def test_zero_initialised_output(uncond_net):
  """F = 0 at initialisation, so the EDM denoiser starts as D(x; sigma) = c_skip(sigma) x."""
  _, state, apply = uncond_net
  np.testing.assert_array_equal(apply(state, X, C_NOISE, None), 0.0)


def test_null_prompt_and_pads(text_net):
  _, apply = text_net
  out = np.asarray(apply(X, C_NOISE, IDS))
  assert np.all(np.isfinite(out)) and np.abs(out).max() > 1e-2
  # pads (here: fewer of them) change nothing
  np.testing.assert_allclose(apply(X, C_NOISE, IDS[:, :3]), out, atol=1e-5)
  # a different caption changes its own example only
  other = IDS.copy()
  other[0, 1] = 9
  out_other = np.asarray(apply(X, C_NOISE, other))
  assert np.abs(out_other[0] - out[0]).max() > 1e-3
  np.testing.assert_allclose(out_other[1:], out[1:], atol=1e-6)
  # (that the null row's text features are the learned null vector: tests/jaxdiff/test_text.py)


def test_gradient_reaches_text_encoder():
  graphdef, state = _abstract_model(tuple(sorted(TEXT1.items())))
  model = nnx.merge(graphdef, _random_params(state, np.random.default_rng(3)))
  # differentiate the text side only (the image weights' gradients would only add compile time)
  text_side = lambda path, v: isinstance(v, nnx.Param) and bool({"text", "text_proj", "cross"}
                                                                & set(map(str, path)))
  graphdef, params, rest = nnx.split(model, text_side, ...)

  @jax.jit(compiler_options=FAST_COMPILE)
  def grads(p, rest):
    return jax.grad(lambda p: jnp.mean(nnx.merge(graphdef, p, rest)(X, C_NOISE, IDS) ** 2))(p)

  g = grads(params, rest)
  assert all(np.all(np.isfinite(v)) for v in jax.tree.leaves(g))
  cross = g["mid"][0]["attn"]["cross"]
  for leaf in (g["text"]["embed"]["embedding"], g["text"]["null"], g["text"]["pos"],
               g["text"]["layers"][0]["attn"]["query"]["kernel"], g["text_proj"]["kernel"],
               cross["key"]["kernel"], cross["value"]["kernel"]):
    assert float(jnp.abs(leaf[...]).max()) > 0


def test_shape_and_config_errors():
  with pytest.raises(ValueError, match=r"\[12\] are not divisible by num_groups=8"):
    nnx.eval_shape(lambda: ImageUNet(3, channels=(16, 12), num_groups=8, rngs=nnx.Rngs(0)))
  with pytest.raises(ValueError, match="attn_levels entry 2 is out of range"):
    nnx.eval_shape(lambda: ImageUNet(3, **dict(TINY, attn_levels=(2,)), rngs=nnx.Rngs(0)))
  with pytest.raises(ValueError, match="not divisible by num_heads=3"):
    nnx.eval_shape(lambda: ImageUNet(3, **dict(TINY, num_heads=3), rngs=nnx.Rngs(0)))
  x, c = _spec((2, 8, 8, 3)), _spec((2,))
  with pytest.raises(ValueError, match="image size 8x7 must be divisible by 2"):
    _abstract(TEXT, _spec((2, 8, 7, 3)), c)
  with pytest.raises(ValueError, match=r"\[batch, height, width, 3\]"):
    _abstract(TEXT, _spec((2, 8, 8, 1)), c)
  with pytest.raises(ValueError, match="unconditional"):
    _abstract(TINY, x, c, _spec((2, 4), jnp.int32))
  with pytest.raises(ValueError, match="integer token ids"):
    _abstract(TEXT, x, c, _spec((2, 4)))
  with pytest.raises(ValueError, match="6 positions"):
    _abstract(TEXT, x, c, _spec((2, 7), jnp.int32))
  with pytest.raises(ValueError, match="c_noise"):
    _abstract(TEXT, x, _spec((3,)), _spec((2, 4), jnp.int32))


def test_group_norm_matches_flax():
  x = RNG.normal(loc=0.5, size=(2, 4, 6, 8)).astype(np.float32)
  ours, theirs = GroupNorm(8, 4), nnx.GroupNorm(8, num_groups=4, rngs=nnx.Rngs(0))
  scale, bias = RNG.normal(size=8).astype(np.float32), RNG.normal(size=8).astype(np.float32)
  for m in (ours, theirs):
    m.scale[...], m.bias[...] = scale, bias
  f = jax.jit(lambda x: (ours(x), theirs(x)), compiler_options=FAST_COMPILE)
  a, b = f(x)
  np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("kernel,strides,padding", [
    ((3, 3), (1, 1), ((1, 1), (1, 1))), ((3, 3), (2, 2), ((1, 1), (1, 1))),
    ((3, 2), (1, 2), "SAME"), ((1, 1), (1, 1), "VALID")])
def test_unfolded_conv_matches_lax(kernel, strides, padding):
  x = RNG.normal(size=(2, 8, 6, 3)).astype(np.float32)
  w = RNG.normal(size=kernel + (3, 5)).astype(np.float32)
  dn = ("NHWC", "HWIO", "NHWC")

  def outputs_and_grads(conv):
    def loss(x, w):
      return jnp.sum(jnp.sin(conv(x, w, strides, padding, dimension_numbers=dn)))
    return jax.value_and_grad(loss, argnums=(0, 1))(x, w)

  ours, ref = jax.jit(lambda: (outputs_and_grads(conv2d_general_dilated),
                               outputs_and_grads(jax.lax.conv_general_dilated)))()
  for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("text", [False, True])
def test_torch_forward_parity(text, text_net, uncond_net):
  torch = pytest.importorskip("torch")
  from experiments.bench.torch_unet2d import TorchImageUNet, load_jax_params

  if text:
    model, apply = text_net
  else:
    graphdef, state, apply_state = uncond_net
    state = _random_params(state, np.random.default_rng(2))   # same shapes: no recompile
    model = nnx.merge(graphdef, state)
    apply = lambda *a: apply_state(state, *a)
  assert float(jnp.abs(model.conv_out.kernel[...]).max()) > 0   # non-zero: the test can fail
  cfg = TEXT1 if text else TINY
  ref = TorchImageUNet(3, **cfg).eval()
  load_jax_params(ref, model)
  assert (sum(p.numel() for p in ref.parameters())
          == sum(p.size for p in jax.tree.leaves(nnx.state(model, nnx.Param))))
  ids = IDS if text else None
  out = np.asarray(apply(X, C_NOISE, ids))
  with torch.no_grad():
    out_t = ref(torch.from_numpy(X), torch.from_numpy(C_NOISE),
                torch.from_numpy(ids) if text else None).numpy()
  assert np.abs(out).max() > 1e-1
  np.testing.assert_allclose(out_t, out, atol=1e-4, rtol=1e-4)
