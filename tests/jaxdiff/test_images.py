"""Image datasets for text-conditioned priors: shapes scenes, bundled photos, user folders.

Jitted programs are built once per module (fixtures) and reused: compilation dominates the cost of
these tests on a small CPU.
"""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxdiff import images
from jaxdiff.images import bundled, captions, folder, shapes

SIZE = 32


@pytest.fixture(scope="module")
def shapes_ds():
  return images.get_dataset("shapes", SIZE, seed=0)


@pytest.fixture(scope="module")
def sample_fn():
  return jax.jit(lambda ds, key: ds.sample(key, 64))


@pytest.fixture(scope="module")
def bundled_ds():
  return images.get_dataset("bundled", 16, seed=0, crops_per_image=4)


def _check_images(x, n, size):
  x = np.asarray(x)
  assert x.shape == (n, size, size, 3) and x.dtype == np.float32
  assert x.min() >= -1.0 and x.max() <= 1.0 and np.isfinite(x).all()


# --------------------------------------------------------------------------------------------
# Vocabulary and degradation captions


def test_vocab_is_unique_lower_case_and_covers_every_caption():
  assert len(set(captions.VOCAB)) == len(captions.VOCAB)
  assert all(w == w.lower() and captions.words(w) == [w] for w in captions.VOCAB)
  used = set(shapes.caption_vocabulary())
  used |= {w for c, _ in bundled.PHOTOS.values() for w in captions.words(c)}
  used |= {w for p in captions.DEGRADATION_PROMPTS.values() for w in captions.words(", " + p)}
  used |= set(captions.words(folder.DEFAULT_PROMPT))
  assert used <= set(captions.VOCAB), used - set(captions.VOCAB)


def test_encode_convention_and_degradation_ids_match_host_captions():
  ids = captions.encode(["A cat, blurry.", "a zebra"], 8)
  v = captions.VOCAB.index
  np.testing.assert_array_equal(ids[0], [v(w) + 2 for w in ("a", "cat", ",", "blurry", ".")]
                                + [0, 0, 0])
  np.testing.assert_array_equal(ids[1], [v("a") + 2, captions.UNK] + [0] * 6)
  assert captions.decode(ids[0]) == "a cat , blurry ."

  base = "a photo of a cat"
  kinds = list(range(len(captions.DEGRADATION_KINDS))) + [-1]
  max_len = captions.num_tokens(base) + captions.MAX_DEGRADATION_LEN
  base_ids = jnp.asarray(captions.encode([base] * len(kinds), max_len))
  got = np.asarray(jax.jit(captions.degrade_ids)(base_ids, jnp.array(kinds)))
  want = [captions.degrade_caption(base, captions.DEGRADATION_KINDS[k]) if k >= 0 else base
          for k in kinds]
  assert want[0] == "a photo of a cat, blurry, out of focus"
  np.testing.assert_array_equal(got, captions.encode(want, max_len))
  with pytest.raises(ValueError, match="unknown degradation kind 'haze'; use one of"):
    captions.degrade_caption(base, "haze")


# --------------------------------------------------------------------------------------------
# Shapes


def test_shapes_sample_shapes_range_determinism_and_captions(shapes_ds, sample_fn):
  key = jax.random.key(3)
  x, ids = sample_fn(shapes_ds, key)
  x2, ids2 = sample_fn(shapes_ds, key)
  x3, _ = sample_fn(shapes_ds, jax.random.key(4))
  _check_images(x, 64, SIZE)
  assert ids.shape == (64, shapes_ds.max_len) and ids.dtype == jnp.int32
  np.testing.assert_array_equal(x, x2)
  np.testing.assert_array_equal(ids, ids2)
  assert not np.allclose(x, x3)

  # jnp caption ids == the host caption text, tokenised, over a batch covering every attribute.
  @jax.jit
  def scenes(key):
    scene = shapes.sample_scene(key, 512)
    return scene, shapes.caption_words(scene)

  scene, words = scenes(jax.random.key(0))
  texts = shapes.caption_text(scene)
  np.testing.assert_array_equal(words, captions.encode(texts, shapes.CAPTION_LEN))
  assert int(np.max(np.sum(np.asarray(words) != 0, -1))) <= shapes.CAPTION_LEN
  assert {w for t in texts for w in t.split()} == shapes.caption_vocabulary()
  for field, n in (("bg_kind", 4), ("shape", 5), ("color", 8), ("region", 9), ("size", 2),
                   ("num_objects", 3)):
    assert len(np.unique(np.asarray(getattr(scene, field)))) == n, field
  # Distinct regions per scene; objects never share a background colour.
  region, color = np.asarray(scene.region), np.asarray(scene.color)
  assert all(len(set(r)) == 3 for r in region)
  bg = np.asarray(scene.bg_colors)
  plain = np.asarray(scene.bg_kind) == 0
  assert not np.any(color == bg[:, :1])
  assert not np.any((color == bg[:, 1:]) & ~plain[:, None])


def test_shapes_splits_are_disjoint_prefix_stable_and_keyed(shapes_ds, sample_fn):
  sets = {s: shapes_ds.fixed_set(s, 24) for s in ("train", "val", "test")}
  for imgs, ids, texts in sets.values():
    _check_images(imgs, 24, SIZE)
    assert ids.shape == (24, shapes_ds.max_len) and len(texts) == 24
    np.testing.assert_array_equal(ids, captions.encode(texts, shapes_ds.max_len))
  train, _ = sample_fn(shapes_ds, jax.random.key(0))
  flat = [np.asarray(a).reshape(len(a), -1) for a in
          [sets["train"][0], sets["val"][0], sets["test"][0], train]]
  a = np.concatenate(flat).astype(np.float64)
  sq = np.sum(a * a, -1)
  msd = (sq[:, None] + sq[None] - 2 * a @ a.T) / a.shape[1]  # mean squared pixel distance
  np.fill_diagonal(msd, np.inf)
  assert msd.min() > 1e-3  # no image repeats within or across splits
  # Prefix-stable, and scene i is the scene of scene_key(seed, split, i).
  imgs8, _, texts8 = shapes.fixed_set("val", 8, SIZE, seed=0)
  np.testing.assert_array_equal(imgs8, sets["val"][0][:8])
  scene = jax.jit(shapes.sample_scene_keys)(jnp.stack([shapes.scene_key(0, "val", 5)]))
  assert shapes.caption_text(scene) == [texts8[5]]
  assert not np.array_equal(shapes.fixed_set("val", 2, SIZE, seed=1)[0], imgs8[:2])
  with pytest.raises(ValueError, match="unknown split 'dev'; use one of"):
    shapes_ds.fixed_set("dev", 2)


def test_shapes_edges_are_antialiased_and_interiors_flat():
  # One large object of each shape, centred, on a flat noise-free background.
  n = 5

  @jax.jit
  def draw(key):
    scene = shapes.sample_scene(key, n).replace(
        num_objects=jnp.ones((n,), jnp.int32), shape=jnp.tile(jnp.arange(5)[:, None], (1, 3)),
        center=jnp.full((n, 3, 2), 0.5), radius=jnp.full((n, 3), 0.3), angle=jnp.zeros((n, 3)),
        rgb=jnp.broadcast_to(jnp.array([0.9, 0.1, 0.1]), (n, 3, 3)),
        bg_kind=jnp.zeros((n,), jnp.int32),
        bg_rgb=jnp.broadcast_to(jnp.array([0.1, 0.2, 0.8]), (n, 2, 3)),
        noise_std=jnp.zeros((n,)))
    return shapes.render(scene, 48)

  x = (np.asarray(draw(jax.random.key(0))) + 1) / 2
  fg, bg = np.array([0.9, 0.1, 0.1]), np.array([0.1, 0.2, 0.8])
  for i, name in enumerate(shapes.SHAPE_NAMES):
    img = x[i]
    is_fg = np.all(np.abs(img - fg) < 1e-6, -1)
    is_bg = np.all(np.abs(img - bg) < 1e-6, -1)
    mixed = ~is_fg & ~is_bg
    # Every pixel is object, background or a convex blend of the two (the one-pixel edge).
    t = (img[..., 0] - bg[0]) / (fg[0] - bg[0])
    np.testing.assert_allclose(img, bg + t[..., None] * (fg - bg), atol=1e-5, err_msg=name)
    assert np.all((t[mixed] > 0) & (t[mixed] < 1)), name
    # Flat interior and a non-trivial anti-aliased rim, ~ one pixel wide along the outline.
    assert is_fg.sum() > 100 and mixed.sum() > 20, (name, is_fg.sum(), mixed.sum())
    # Rim pixels touch both sides: each has an object or background neighbour within 1 pixel.
    pad = np.pad(is_fg, 1)
    near_fg = np.zeros_like(is_fg)
    for dy in (-1, 0, 1):
      for dx in (-1, 0, 1):
        near_fg |= pad[1 + dy:1 + dy + 48, 1 + dx:1 + dx + 48]
    assert np.mean(near_fg[mixed]) > 0.9, name


# --------------------------------------------------------------------------------------------
# Bundled photographs


def test_bundled_crops_splits_and_jit_sampling(bundled_ds, sample_fn):
  ds = bundled_ds
  assert ds.name == "bundled" and ds.size == 16 and not ds.unknown_words
  x, ids = sample_fn(ds, jax.random.key(0))
  _check_images(x, 64, 16)
  assert ids.shape == (64, ds.max_len)
  np.testing.assert_array_equal(x, sample_fn(ds, jax.random.key(0))[0])
  valid_ids = {tuple(r) for r in captions.encode([c for c, _ in bundled.PHOTOS.values()],
                                                  ds.max_len)}
  assert {tuple(r) for r in np.asarray(ids)} <= valid_ids
  for split in ("train", "val", "test"):
    imgs, ids, texts = ds.fixed_set(split)
    _check_images(imgs, len(texts), 16)
    np.testing.assert_array_equal(ids, captions.encode(texts, ds.max_len))
    assert set(texts) == {c for c, _ in bundled.PHOTOS.values()}
  assert len(ds.fixed_set("train")[2]) == 4 * len(bundled.PHOTOS)
  assert len(ds.fixed_set("test", 5)[2]) == 5
  with pytest.raises(ValueError, match=r"fewer than the 10000 asked for; ask for n <= \d+"):
    ds.fixed_set("test", 10000)

  # Train boxes stay left of the held-out band; val above test inside it; no pixel shared.
  for name in bundled.PHOTOS:
    h, w = bundled.load_photo(name).shape[:2]
    band = int(round(bundled.HOLDOUT_FRAC * min(h, w)))
    train = bundled.crop_boxes((h, w), "train", np.random.default_rng(0), 200)
    assert all(l + s <= w - band and t + s <= h and s > 0.7 * band for t, l, s in train), name
    val, test = bundled.crop_boxes((h, w), "val"), bundled.crop_boxes((h, w), "test")
    assert val and test
    assert all(l == w - band and t + s <= h // 2 for t, l, s in val), name
    assert all(l == w - band and t >= h // 2 and t + s <= h for t, l, s in test), name


# --------------------------------------------------------------------------------------------
# Folders


def _write_folder(root, colors=((255, 0, 0), (0, 255, 0), (0, 0, 255))):
  root.mkdir(exist_ok=True)
  for i, c in enumerate(colors):
    img = np.zeros((30, 50, 3), np.uint8)
    img[:] = c
    img[:, :10] = 255 - np.array(c)  # outside the center square: cropped away
    Image.fromarray(img).save(root / f"img{i}.png")
  return root


def test_folder_loader_center_crops_captions_and_splits(tmp_path, sample_fn):
  root = _write_folder(tmp_path / "imgs")
  (tmp_path / "caps.txt").write_text("# name<TAB>caption\nimg0.png\tA red square.\n"
                                     "img1\ta green zebra\n\n")
  ds = images.get_dataset("folder", 8, seed=0, path=str(root),
                          caption_file=str(tmp_path / "caps.txt"), prompt="a blue photo")
  assert ds.name == "folder" and ds.unknown_words == ("zebra",)
  got = {}
  for split in ("train", "val", "test"):
    imgs, ids, texts = ds.fixed_set(split)
    _check_images(imgs, 1, 8)
    np.testing.assert_array_equal(ids, captions.encode(texts, ds.max_len))
    got[texts[0]] = imgs[0]
  colors = {"A red square.": (1, -1, -1), "a green zebra": (-1, 1, -1),
            "a blue photo": (-1, -1, 1)}
  assert set(got) == set(colors)
  for text, c in colors.items():  # flat colour: the inverted strip was cropped away
    np.testing.assert_allclose(got[text], np.broadcast_to(c, (8, 8, 3)), atol=1e-6)
  x, ids = sample_fn(ds, jax.random.key(0))
  _check_images(x, 64, 8)
  np.testing.assert_array_equal(x[0], ds.fixed_set("train")[0][0])

  every = folder.folder_dataset(str(root), 8, holdout=0.0)
  assert [len(every.fixed_set(s)[2]) for s in ("train", "val", "test")] == [3, 3, 3]
  assert every.fixed_set("test")[2] == ["a photo"] * 3


def test_folder_and_get_dataset_errors_name_the_fix(tmp_path):
  root = _write_folder(tmp_path / "imgs")
  cases = [
      (dict(path=str(tmp_path / "nope")), r"image folder .*nope' does not exist .*; pass path="),
      (dict(path=str(tmp_path)), r"no \.png/\.jpg/\.jpeg images in .*; put images there"),
      (dict(path=str(root), caption_file=str(tmp_path / "missing.txt")),
       r"caption file .*missing\.txt' does not exist; pass caption_file="),
  ]
  (tmp_path / "bad.txt").write_text("img0.png\tok\nimg1.png a caption without a tab\n")
  cases.append((dict(path=str(root), caption_file=str(tmp_path / "bad.txt")),
                r"bad\.txt:2: expected 'name<TAB>caption', got 'img1\.png a caption.*'; put "
                r"exactly one tab"))
  (tmp_path / "typo.txt").write_text("img9.png\ta cat\n")
  cases.append((dict(path=str(root), caption_file=str(tmp_path / "typo.txt")),
                r"typo\.txt:1: no image 'img9\.png' in the folder; fix the name"))
  (tmp_path / "some.txt").write_text("img0.png\ta cat\n")
  cases.append((dict(path=str(root), caption_file=str(tmp_path / "some.txt")),
                r"has no caption for 'img1\.png' \(2 images uncaptioned\); add .* or pass prompt="))
  for kwargs, msg in cases:
    with pytest.raises(ValueError, match=msg):
      images.get_dataset("folder", 8, **kwargs)

  few = _write_folder(tmp_path / "few", colors=((1, 2, 3), (4, 5, 6)))
  with pytest.raises(ValueError, match=r"has 2 images, too few for holdout=0\.1 .* pass "
                                       r"holdout=0"):
    images.get_dataset("folder", 8, path=str(few))
  (few / "broken.jpg").write_bytes(b"not a jpeg")
  with pytest.raises(ValueError, match=r"cannot read image .*broken\.jpg' .*; re-save it"):
    images.get_dataset("folder", 8, path=str(few), holdout=0)
  os.remove(few / "broken.jpg")

  with pytest.raises(ValueError, match=r"unknown image dataset 'mnist'; use one of \['shapes', "
                                       r"'bundled', 'folder'\]"):
    images.get_dataset("mnist", 8)
  with pytest.raises(ValueError, match="the folder dataset needs path="):
    images.get_dataset("folder", 8)
  with pytest.raises(ValueError, match=r"path, prompt only apply to the folder dataset"):
    images.get_dataset("shapes", 8, path=str(root), prompt="a cat")
  with pytest.raises(ValueError, match="the shapes dataset is endless"):
    images.get_dataset("shapes", 8).fixed_set("test")
