"""LADiBI forward operators: blur vs scipy, kernel parametrisations, motion kernels, JPEG."""
import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.signal
import skimage.data
from PIL import Image

from jaxdiff import image_metrics
from jaxdiff.ladibi import jpeg, operators

SCIPY_BOUNDARY = {"zero": "fill", "circular": "wrap", "symmetric": "symm"}


def _scipy_blur(x, kernels, padding):
  """Reference: scipy.signal.convolve2d per image and channel; 'reflect' via numpy padding."""
  out = np.zeros_like(x)
  k = kernels.shape[-1]
  lo, hi = k - 1 - (k - 1) // 2, (k - 1) // 2
  for b in range(x.shape[0]):
    for c in range(x.shape[-1]):
      img = x[b, :, :, c]
      if padding == "reflect":
        out[b, :, :, c] = scipy.signal.convolve2d(np.pad(img, ((lo, hi), (lo, hi)), "reflect"),
                                                  kernels[b], mode="valid")
      else:
        out[b, :, :, c] = scipy.signal.convolve2d(img, kernels[b], mode="same",
                                                  boundary=SCIPY_BOUNDARY[padding])
  return out


@pytest.mark.parametrize("size,padding", [(s, p) for s in (4, 5) for p in operators.PADDINGS]
                         + [(1, "reflect"), (8, "zero"), (8, "reflect")])
def test_blur_matches_scipy_convolve2d(size, padding):
  rng = np.random.default_rng(size)
  x = rng.normal(size=(2, 13, 11, 3)).astype(np.float32)
  per_image = rng.uniform(size=(2, size, size)).astype(np.float32)
  blur = jax.jit(operators.blur, static_argnums=2)
  got = np.asarray(blur(jnp.asarray(x), jnp.asarray(per_image), padding))
  np.testing.assert_allclose(got, _scipy_blur(x, per_image, padding), atol=2e-5)
  shared = per_image[0]
  got = np.asarray(blur(jnp.asarray(x), jnp.asarray(shared), padding))
  np.testing.assert_allclose(got, _scipy_blur(x, np.stack([shared] * 2), padding), atol=2e-5)


def test_blur_direct_method_equals_fft_and_delta_is_identity():
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(2, 12, 12, 3)), jnp.float32)
  k = jnp.asarray(rng.uniform(size=(2, 6, 6)), jnp.float32)

  @jax.jit
  def run(x, k):
    deltas = [operators.blur(x, operators.delta_kernel(size)) for size in (1, 4, 7, 64)]
    return operators.blur(x, k, method="direct"), operators.blur(x, k), deltas

  direct, fft, deltas = run(x, k)
  np.testing.assert_allclose(direct, fft, atol=2e-5)
  for d in deltas:
    np.testing.assert_allclose(d, x, atol=1e-5)


def test_gaussian_kernel_closed_form_and_gradient():
  cov = np.array([[4.0, 1.0], [1.0, 2.0]], np.float32)

  @jax.jit
  def run():
    grad = jax.grad(lambda s: operators.gaussian_kernel(11, s)[5, 5])(1.5)
    return (operators.gaussian_kernel(7, 1.3), operators.gaussian_kernel(8, 2.0),
            operators.gaussian_kernel(9, cov=cov), operators.gaussian_kernel(9, cov=2.0 * jnp.eye(2)),
            operators.gaussian_kernel(9, jnp.sqrt(2.0)),
            operators.gaussian_kernel(11, jnp.array([0.5, 1.0, 3.0])), grad)

  k7, k8, kcov, kdiag, kiso, ks, grad = run()
  for k, size, sigma in ((k7, 7, 1.3), (k8, 8, 2.0)):
    d = np.arange(size) - (size - 1) // 2
    ref = np.exp(-(d[:, None] ** 2 + d[None, :] ** 2) / (2 * sigma ** 2))
    np.testing.assert_allclose(k, ref / ref.sum(), rtol=1e-5, atol=1e-7)
  d = np.arange(9.0) - 4
  dd = np.stack(np.meshgrid(d, d, indexing="ij"), -1)
  ref = np.exp(-0.5 * np.einsum("ijk,kl,ijl->ij", dd, np.linalg.inv(cov), dd))
  np.testing.assert_allclose(kcov, ref / ref.sum(), atol=1e-6)
  np.testing.assert_allclose(kdiag, kiso, atol=1e-6)
  assert ks.shape == (3, 11, 11)    # batched sigmas, each summing to 1
  np.testing.assert_allclose(jnp.sum(ks, axis=(1, 2)), 1.0, atol=1e-6)
  assert np.isfinite(grad) and grad < 0    # wider -> less mass at the centre


@pytest.mark.parametrize("kind,aniso", [("softmax", False), ("projected", False),
                                        ("gaussian", False), ("gaussian", True)])
def test_kernel_params_are_non_negative_and_sum_to_one(kind, aniso):
  param = operators.KernelParam(kind, 9, anisotropic=aniso)
  phi0 = param.init(batch=3, sigma=1.2)
  np.testing.assert_allclose(param.kernel(phi0)[0], operators.gaussian_kernel(9, 1.2), atol=1e-4)
  # arbitrary parameters (as an optimiser leaves them) still give valid kernels
  phi = phi0 + 0.5 * jax.random.normal(jax.random.PRNGKey(0), phi0.shape)
  x = jnp.ones((3, 16, 16, 3))
  loss_fn = lambda p: jnp.sum(param.apply(p, x) ** 2)
  (loss, grad), k, y = jax.jit(lambda p: (jax.value_and_grad(loss_fn)(p), param.kernel(p),
                                          param.apply(p, x)))(phi)
  assert k.shape == (3, 9, 9)
  assert float(jnp.min(k)) >= 0.0
  np.testing.assert_allclose(jnp.sum(k, axis=(1, 2)), 1.0, atol=1e-5)
  assert np.isfinite(loss) and bool(jnp.all(jnp.isfinite(grad)))
  np.testing.assert_allclose(y, 1.0, atol=1e-5)   # sum-1 kernels keep a constant image


def test_project_kernel():
  k = jnp.array([[[-1.0, 2.0], [1.0, 1.0]], [[-1.0, -2.0], [0.0, 0.0]]])
  p = operators.project_kernel(k)
  np.testing.assert_allclose(p[0], [[0.0, 0.5], [0.25, 0.25]])
  np.testing.assert_allclose(p[1], operators.delta_kernel(2))


def _spread(ks):
  ks = np.asarray(ks)
  r = np.arange(ks.shape[-1]) - (ks.shape[-1] - 1) // 2
  cy = np.sum(ks.sum(2) * r, 1)
  cx = np.sum(ks.sum(1) * r, 1)
  var = np.sum(ks * ((r[:, None] - cy[:, None, None]) ** 2 + (r[None] - cx[:, None, None]) ** 2),
               axis=(1, 2))
  return np.sqrt(var), cy, cx


def test_motion_kernels_sum_to_one_are_not_deltas_and_grow_with_intensity():
  key = jax.random.PRNGKey(0)
  spreads = []
  for intensity in (0.1, 0.5, 0.9):
    ks = operators.motion_kernels(key, 8, 33, intensity)
    assert ks.shape == (8, 33, 33)
    assert float(jnp.min(ks)) >= 0.0
    np.testing.assert_allclose(jnp.sum(ks, axis=(1, 2)), 1.0, atol=1e-5)
    assert float(jnp.max(ks)) < 0.5        # spread out, not a delta
    s, cy, cx = _spread(ks)
    np.testing.assert_allclose(cy, 0.0, atol=1e-3)   # centred on the kernel centre
    np.testing.assert_allclose(cx, 0.0, atol=1e-3)
    spreads.append(s.mean())
  assert spreads[0] < spreads[1] < spreads[2], spreads
  np.testing.assert_array_equal(operators.motion_kernel(key, 64), operators.motion_kernel(key, 64))
  assert operators.motion_kernel(key, 64).shape == (64, 64)


def test_measure_adds_noise_of_the_given_level():
  x = jnp.zeros((4, 32, 32, 3))
  y = operators.measure(jax.random.PRNGKey(0), x, lambda z: z + 0.5, 0.1)
  assert abs(float(jnp.mean(y)) - 0.5) < 0.01
  assert abs(float(jnp.std(y)) - 0.1) < 0.005


# ----------------------------------------------------------------------------------------------
# JPEG.


def _crops(img, n, size, seed):
  rng = np.random.default_rng(seed)
  i = rng.integers(0, img.shape[0] - size, n)
  j = rng.integers(0, img.shape[1] - size, n)
  return np.stack([img[a:a + size, b:b + size] for a, b in zip(i, j)]).astype(np.float32) / 127.5 - 1


def _pillow(u8, quality):
  buf = io.BytesIO()
  Image.fromarray(u8).save(buf, format="JPEG", quality=quality)
  buf.seek(0)
  im = Image.open(buf)
  return np.asarray(im), im.quantization


def test_jpeg_roundtrip_equals_pillow():
  x = _crops(skimage.data.astronaut(), 3, 24, 0)
  out = jpeg.jpeg_roundtrip(x, [5, 10, 50])
  for i, q in enumerate((5, 10, 50)):
    ref, _ = _pillow(jpeg.to_uint8(x[i]), q)
    np.testing.assert_array_equal(jpeg.to_uint8(out[i]), ref)
    np.testing.assert_allclose(out[i], ref / 127.5 - 1.0, atol=1e-6)
  grey = jpeg.jpeg_roundtrip(x[..., :1], 10)
  ref, _ = _pillow(jpeg.to_uint8(x[0, ..., 0]), 10)
  np.testing.assert_array_equal(jpeg.to_uint8(grey[0, ..., 0]), ref)
  jitted = jax.jit(jpeg.jpeg_roundtrip_jax)(jnp.asarray(x))
  np.testing.assert_allclose(jitted, jpeg.jpeg_roundtrip(x, 10))


def test_jpeg_model_matches_pillow_and_its_tables():
  x = _crops(skimage.data.coffee(), 8, 32, 1)
  for q in (10, 30):
    _, tables = _pillow(jpeg.to_uint8(x[0]), q)
    np.testing.assert_array_equal(jpeg.quant_tables(q)[0].ravel(), tables[0])
    np.testing.assert_array_equal(jpeg.quant_tables(q)[1].ravel(), tables[1])
  # an untrained codec=True JPEGNet is jpeg_model itself (its residual starts at zero): it matches
  # Pillow closely, and learnable tables get gradients
  graphdef, params = jpeg.init_jpeg_net(jax.random.PRNGKey(0), width=4, depth=2, learn_tables=True)
  apply = jpeg.jpeg_net_apply(graphdef)
  out, g = jax.jit(lambda p, x: (apply(p, x), jax.grad(lambda q: jnp.sum(apply(q, x) ** 2))(p)))(
      params, jnp.asarray(x))
  mse = float(jnp.mean(jnp.square(out - jpeg.jpeg_roundtrip(x, 10))))
  assert 10 * np.log10(4.0 / mse) > 40.0, mse
  g = g["log_scale"][...]
  assert bool(jnp.all(jnp.isfinite(g))) and float(jnp.max(jnp.abs(g))) > 0


LEARNT_KW = dict(codec=False, width=16, depth=2, block_width=32)


@pytest.fixture(scope="module")
def learnt_jpeg_net():
  """A codec-free JPEGNet after a short training at quality 10 on crops of three photos."""
  train = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.rocket()]

  def images_fn(key):
    seed = int(jax.random.randint(key, (), 0, 2 ** 30))
    return np.concatenate([_crops(img, 3, 16, seed + i) for i, img in enumerate(train)])

  return jpeg.train_jpeg_net(jax.random.PRNGKey(0), images_fn, 10, steps=400, lr=5e-3,
                             chunk=400, net_kwargs=LEARNT_KW)


@pytest.mark.slow
def test_learnt_jpeg_net_beats_identity_on_held_out_images(learnt_jpeg_net):
  op = jax.jit(jpeg.jpeg_net_apply(jpeg.jpeg_net_graphdef(**LEARNT_KW)))
  x = jpeg.from_uint8(jpeg.to_uint8(_crops(skimage.data.coffee(), 16, 16, 3)))
  y = jnp.asarray(jpeg.jpeg_roundtrip(x, 10))
  net = float(jnp.mean(image_metrics.psnr(op(learnt_jpeg_net, jnp.asarray(x)), y)))
  ident = float(jnp.mean(image_metrics.psnr(jnp.asarray(x), y)))
  print(f"JPEGNet (codec-free, 400 steps) {net:.2f} dB vs identity {ident:.2f} dB")
  assert net > ident + 0.2, (net, ident)


@pytest.mark.slow
def test_jpeg_operator_is_per_image_and_differentiable(learnt_jpeg_net):
  graphdef = jpeg.jpeg_net_graphdef(**LEARNT_KW)
  op = jpeg.jpeg_operator(graphdef)
  x = jnp.asarray(_crops(skimage.data.chelsea(), 2, 16, 2))

  @jax.jit
  def check(params, x):
    shared = jpeg.jpeg_net_apply(graphdef)(params, x)
    phi = jpeg.tile_params(params, 2)
    grads = jax.grad(lambda p, z: jnp.sum(jnp.square(op(p, z) - 0.1)), argnums=(0, 1))(phi, x)
    return shared, op(phi, x), grads

  shared, per_image, (gphi, gx) = check(learnt_jpeg_net, x)
  np.testing.assert_allclose(per_image, shared, atol=1e-5)
  assert all(bool(jnp.all(jnp.isfinite(l))) for l in jax.tree.leaves(gphi))
  assert all(l.shape[0] == 2 for l in jax.tree.leaves(gphi))
  assert bool(jnp.all(jnp.isfinite(gx)))


def test_jpeg_task_true_operator_is_the_codec_and_blind_start_is_another_quality():
  from jaxdiff.ladibi import tasks
  x = _crops(skimage.data.astronaut(), 4, 32, 0)
  y = jpeg.jpeg_roundtrip(x, 10)
  t = tasks.jpeg_task(jnp.asarray(y), jpeg.init_jpeg_net(jax.random.PRNGKey(0), quality=20),
                      jpeg.init_jpeg_net(jax.random.PRNGKey(1), quality=10))
  true_y = t.op_true(t.phi_true, jnp.asarray(x))
  blind_y = t.op(t.phi0, jnp.asarray(x))
  psnr_true = float(jnp.mean(image_metrics.psnr(true_y, jnp.asarray(y))))
  psnr_blind = float(jnp.mean(image_metrics.psnr(blind_y, jnp.asarray(y))))
  assert psnr_true > 40.0                 # the differentiable codec at the true quality
  assert psnr_blind < psnr_true - 5.0     # quality 20 is a visibly different operator
  assert t.kernel_true is None and t.kernel_of is None
  assert jax.tree.leaves(t.phi0)[0].shape[0] == 4   # one network copy per image


def test_motion_blur_task_takes_host_kernels_inside_jit():
  """Motion kernels are drawn by numpy on host; a jitted task takes them as an argument."""
  from jaxdiff.ladibi import tasks
  x = jnp.asarray(_crops(skimage.data.astronaut(), 2, 16, 1))
  kernels = operators.motion_kernels(jax.random.PRNGKey(3), 2, 5, 0.5)
  run = jax.jit(lambda key, x, k: tasks.blur_task(key, x, "motion-deblur", kernel_size=5,
                                                  sigma_y=0.0, kernels=k).y)
  np.testing.assert_allclose(run(jax.random.PRNGKey(0), x, kernels),
                             operators.blur(x, kernels), atol=1e-6)
  with pytest.raises(ValueError, match=r"kernels must be \[2, 5, 5\]"):
    tasks.blur_task(jax.random.PRNGKey(0), x, "motion-deblur", kernel_size=5, sigma_y=0.0,
                    kernels=kernels[:, :3, :3])
