"""Natural photographs that ship inside the scikit-image wheel, as captioned crops.

Only the images stored in the wheel itself are used (skimage.data files that need a pooch download
are not), so nothing is fetched at run time. Grey images are repeated to RGB. scikit-learn's
sample images are not used: it is not a dependency.

Held-out regions, not held-out images. With 13 photographs, a prior trained on some and tested on
others would be tested on a different kind of picture; instead every photograph keeps a vertical
band at its right edge (HOLDOUT_FRAC of its short side wide) out of training:

  train  random square crops of the rest of the image, side 0.75-1.5x the band width (so the
         test scale is inside the training range), `crops_per_image` per photograph, drawn once
         on host at setup with numpy's Generator(seed);
  val    band-wide square crops from the top half of the band, at a stride of a quarter band;
  test   the same from the bottom half.

Train and held-out crops share no pixel, and neither do val and test. Every crop is resized to
`size` with Pillow's Lanczos filter (antialiased when shrinking) and carries its photograph's
fixed caption ("a photo of a cat"). Crop sides are 90-400 source pixels, so sizes above ~128 are
upsampled and soft; the set is meant for 32-128 pixel priors.

`ArrayDataset` is the jit-side sampler over such a device-resident stack (the folder dataset uses
it too): a pytree whose leaves are the training images and ids, to be passed as an argument of the
jitted step (jit would embed a closed-over stack in the program as a constant).
"""
from __future__ import annotations

import functools
from typing import Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from jaxdiff.images import captions

Array = jax.Array

# name -> (caption, loader from skimage.data). All load from files inside the wheel.
PHOTOS: dict[str, tuple[str, Callable[..., np.ndarray]]] = {
    "astronaut": ("a photo of an astronaut", lambda d: d.astronaut()),
    "chelsea": ("a photo of a cat", lambda d: d.chelsea()),
    "coffee": ("a photo of a cup of coffee", lambda d: d.coffee()),
    "rocket": ("a photo of a rocket on a launch pad", lambda d: d.rocket()),
    "motorcycle": ("a photo of a motorcycle", lambda d: d.stereo_motorcycle()[0]),
    "hubble_deep_field": ("a photo of galaxies in deep space", lambda d: d.hubble_deep_field()),
    "immunohistochemistry": ("a microscope image of stained tissue",
                             lambda d: d.immunohistochemistry()),
    "camera": ("a black and white photo of a man with a camera", lambda d: d.camera()),
    "coins": ("a black and white photo of old coins", lambda d: d.coins()),
    "moon": ("a black and white photo of the surface of the moon", lambda d: d.moon()),
    "brick": ("a black and white photo of a brick wall", lambda d: d.brick()),
    "grass": ("a black and white photo of grass", lambda d: d.grass()),
    "gravel": ("a black and white photo of gravel", lambda d: d.gravel()),
}
HOLDOUT_FRAC = 0.3
SPLITS = ("train", "val", "test")


@functools.lru_cache(maxsize=None)
def load_photo(name: str) -> np.ndarray:
  """The full photograph as uint8 [H, W, 3] (grey repeated to RGB)."""
  if name not in PHOTOS:
    raise ValueError(f"unknown bundled photo {name!r}; use one of {list(PHOTOS)}")
  import skimage.data  # imported here: only this dataset needs scikit-image
  try:
    img = np.asarray(PHOTOS[name][1](skimage.data))
  except Exception as e:  # noqa: BLE001  (a broken install, reported as a user-facing line)
    raise ValueError(f"skimage.data cannot load {name!r} ({type(e).__name__}: {e}); reinstall "
                     "scikit-image (pip install --force-reinstall scikit-image)") from e
  if img.ndim == 2:
    img = np.repeat(img[..., None], 3, axis=-1)
  return np.ascontiguousarray(img[..., :3].astype(np.uint8))


def _resize(crop: np.ndarray, size: int) -> np.ndarray:
  """uint8 [h, w, 3] -> float32 [size, size, 3] in [-1, 1]."""
  out = Image.fromarray(crop).resize((size, size), Image.Resampling.LANCZOS)
  return np.asarray(out, np.float32) / 127.5 - 1.0


def crop_boxes(shape: tuple[int, ...], split: str, rng: np.random.Generator | None = None,
               count: int = 0) -> list[tuple[int, int, int]]:
  """Square crops (top, left, side) of an image of `shape` for `split` (layout: module doc).

  'train' draws `count` random boxes with `rng`; 'val' and 'test' are fixed.
  """
  h, w = shape[:2]
  band = int(round(HOLDOUT_FRAC * min(h, w)))
  if split == "train":
    max_side = min(h, w - band)
    sides = np.minimum(rng.uniform(0.75, 1.5, count) * band, max_side).astype(int)
    tops = (rng.uniform(size=count) * (h - sides + 1)).astype(int)
    lefts = (rng.uniform(size=count) * (w - band - sides + 1)).astype(int)
    return list(zip(tops.tolist(), lefts.tolist(), sides.tolist()))
  half = h // 2
  start = {"val": 0, "test": half}[split]
  stride = max(1, band // 4)
  tops = range(start, start + half - band + 1, stride)
  return [(t, w - band, band) for t in tops]


class HostSplits:
  """Host-side fixed sets {split: (images, ids, texts)}. Hashed by identity, so an ArrayDataset
  holding it can be a static field of a pytree that passes through jit."""

  def __init__(self, splits: dict[str, tuple[np.ndarray, np.ndarray, list[str]]]):
    self.splits = splits

  def get(self, split: str, n: int | None, dataset: str):
    if split not in self.splits:
      raise ValueError(f"unknown split {split!r}; use one of {list(self.splits)}")
    images, ids, texts = self.splits[split]
    if n is None:
      n = len(texts)
    if n > len(texts):
      raise ValueError(f"the {dataset} dataset has {len(texts)} {split} images, fewer than the "
                       f"{n} asked for; ask for n <= {len(texts)} (or n=None for all)")
    return images[:n], ids[:n], list(texts[:n])


@flax.struct.dataclass
class ArrayDataset:
  """Captioned images held on device, sampled inside jit; fixed evaluation sets on host.

  Leaves: the training stack `images` [N, size, size, 3] in [-1, 1] and its `ids` [N, max_len].
  """
  images: Array
  ids: Array
  name: str = flax.struct.field(pytree_node=False)
  size: int = flax.struct.field(pytree_node=False)
  max_len: int = flax.struct.field(pytree_node=False)
  flip: bool = flax.struct.field(pytree_node=False)
  host: HostSplits = flax.struct.field(pytree_node=False)
  unknown_words: tuple[str, ...] = flax.struct.field(pytree_node=False, default=())  # UNK-coded

  def sample(self, key: Array, batch: int) -> tuple[Array, Array]:
    """(images [batch, size, size, 3], ids [batch, max_len]) uniformly from the training stack,
    mirrored left-right with probability 1/2 when `flip`."""
    k_idx, k_flip = jax.random.split(key)
    idx = jax.random.randint(k_idx, (batch,), 0, self.images.shape[0])
    images = self.images[idx]
    if self.flip:
      mirror = jax.random.bernoulli(k_flip, 0.5, (batch,))[:, None, None, None]
      images = jnp.where(mirror, images[:, :, ::-1], images)
    return images, self.ids[idx]

  def fixed_set(self, split: str, n: int | None = None
                ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The first `n` (all if None) images of `split` on host: (images, ids, texts)."""
    return self.host.get(split, n, self.name)


def make_array_dataset(name: str, size: int, splits: dict[str, tuple[np.ndarray, list[str]]],
                       max_len: int, flip: bool) -> ArrayDataset:
  """An ArrayDataset from host {split: (images, texts)}; 'train' becomes the device stack."""
  host = {s: (imgs, captions.encode(texts, max_len), list(texts))
          for s, (imgs, texts) in splits.items()}
  images, ids, _ = host["train"]
  unknown = sorted({w for _, texts in splits.values() for t in texts for w in captions.words(t)
                    if w not in captions.WORD_IDS})
  return ArrayDataset(jnp.asarray(images), jnp.asarray(ids), name, size, max_len, flip,
                      HostSplits(host), tuple(unknown))


def caption_max_len(texts: list[str]) -> int:
  """max_len for these captions: the longest, plus room for any degradation words."""
  return max(captions.num_tokens(t) for t in texts) + captions.MAX_DEGRADATION_LEN


def build_splits(size: int, seed: int = 0, crops_per_image: int = 64,
                 photos: tuple[str, ...] = tuple(PHOTOS)
                 ) -> dict[str, tuple[np.ndarray, list[str]]]:
  """{split: (images [n, size, size, 3] float32, captions)} on host, deterministic in `seed`.

  val/test crops are ordered round-robin over the photographs, so a prefix covers many of them;
  the train crops are shuffled once with the seed.
  """
  rng = np.random.default_rng(seed)
  out = {}
  for split in SPLITS:
    per_photo = []
    for name in photos:
      img = load_photo(name)
      boxes = crop_boxes(img.shape, split, rng, crops_per_image)
      per_photo.append([(_resize(img[t:t + s, l:l + s], size), PHOTOS[name][0])
                        for t, l, s in boxes])
    if split == "train":
      items = [it for p in per_photo for it in p]
      items = [items[i] for i in rng.permutation(len(items))]
    else:
      depth = max(len(p) for p in per_photo)
      items = [p[j] for j in range(depth) for p in per_photo if j < len(p)]
    out[split] = (np.stack([im for im, _ in items]), [c for _, c in items])
  return out


def bundled_dataset(size: int, seed: int = 0, crops_per_image: int = 64,
                    photos: tuple[str, ...] = tuple(PHOTOS), flip: bool = True) -> ArrayDataset:
  """The bundled photographs as an ArrayDataset (train: `crops_per_image` crops per photo).

  Memory: 13 * crops_per_image * size^2 * 12 bytes, e.g. 41 MB at size 64 with the defaults.
  """
  for p in photos:
    if p not in PHOTOS:
      raise ValueError(f"unknown bundled photo {p!r}; use some of {list(PHOTOS)}")
  splits = build_splits(size, seed, crops_per_image, tuple(photos))
  max_len = caption_max_len([PHOTOS[p][0] for p in photos])
  return make_array_dataset("bundled", size, splits, max_len, flip)

