"""Procedural captioned scenes, drawn and rendered inside jit from a PRNG key.

A scene is a textured background with 1-3 coloured objects:

  background  plain | linear gradient | stripes | checker, in one or two of the named colours
              (muted towards grey so objects stand out), plus low-amplitude pixel noise;
  objects     circle | square | triangle | ring | cross, one of 8 named colours (jittered),
              small | large, each in a different cell of a 3x3 grid whose name (top left, ...,
              center, ..., bottom right) is the caption's position word.

Sampling, rendering and captioning are pure jnp functions, so a training step draws a fresh batch
in-graph: no host input pipeline and an endless supply of data. The caption lives in the scene's
discrete attributes (`Scene`'s int fields); `caption_words` turns them into word ids inside jit and
`caption_text` into the same words as a host string (the tests check the two agree through
`captions.encode`). Template, object phrases joined by "and":

  "a large red circle at the top left and a small blue ring in the center
   on a green and white striped background"

Rendering uses signed distance functions (distance to the shape's edge, negative inside) measured
in pixels: coverage = clip(0.5 - d, 0, 1) is a one-pixel box-filtered edge, sharp but not aliased
(restoration needs real edges to deblur). Object interiors are flat colour; only the background
carries noise. Geometry is in units of the image side, so one scene renders at any size.

Splits. Evaluation scene i of a split has the key `scene_key(seed, split, i)` =
fold_in(fold_in(key(seed), split_id), i), so `fixed_set(split, n)` is a prefix of
`fixed_set(split, m)` for n < m. Training draws (`ShapesDataset.sample(key, batch)`) use
split(fold_in(key, TRAIN_STREAM), batch). Since split(k, n)[i] == fold_in(k, i) for JAX's
partitionable threefry, a training scene could only equal an evaluation scene if
fold_in(key, TRAIN_STREAM) == fold_in(key(seed), split_id); TRAIN_STREAM is no split id, so that
takes a hash collision, whatever key the trainer passes (key(seed) itself included; the test-suite
checks that case). The 'train' fixed set is drawn like the others, for monitoring.
"""
from __future__ import annotations

import functools
import math

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxdiff.images import captions

Array = jax.Array

COLOR_NAMES = ("red", "orange", "yellow", "green", "blue", "purple", "white", "black")
PALETTE = np.array([
    [0.86, 0.12, 0.12], [0.96, 0.55, 0.10], [0.95, 0.88, 0.15], [0.15, 0.68, 0.22],
    [0.15, 0.32, 0.88], [0.58, 0.22, 0.72], [0.96, 0.96, 0.96], [0.07, 0.07, 0.07],
], np.float32)
SHAPE_NAMES = ("circle", "square", "triangle", "ring", "cross")
SIZE_NAMES = ("small", "large")
REGION_PHRASES = ("at the top left", "at the top", "at the top right",
                  "on the left", "in the center", "on the right",
                  "at the bottom left", "at the bottom", "at the bottom right")  # row-major 3x3
BACKGROUND_NAMES = ("plain", "gradient", "striped", "checkered")

MAX_OBJECTS = 3
RADIUS = ((0.075, 0.10), (0.135, 0.17))  # object "radius" range per size, in image sides
BACKGROUND_MUTE = 0.3  # background colour = (1 - m) * palette + m * grey
SPLIT_IDS = {"train": 0, "val": 1, "test": 2}  # evaluation streams
TRAIN_STREAM = 7  # folded into training keys; must differ from every SPLIT_IDS value


@flax.struct.dataclass
class Scene:
  """A batch of scenes. Int fields are what captions describe; float fields only render.

  Object slots past `num_objects` are ignored (their attributes are still drawn, to keep shapes
  static). All geometry is in units of the image side, y pointing down.
  """
  num_objects: Array  # [B] in 1..MAX_OBJECTS
  shape: Array  # [B, O] index into SHAPE_NAMES
  color: Array  # [B, O] index into COLOR_NAMES
  size: Array  # [B, O] index into SIZE_NAMES
  region: Array  # [B, O] index into REGION_PHRASES (row * 3 + col)
  bg_kind: Array  # [B] index into BACKGROUND_NAMES
  bg_colors: Array  # [B, 2] indices into COLOR_NAMES (the second unused by plain backgrounds)
  center: Array  # [B, O, 2] (x, y)
  radius: Array  # [B, O]
  angle: Array  # [B, O] rotation, radians
  rgb: Array  # [B, O, 3] jittered object colours in [0, 1]
  bg_rgb: Array  # [B, 2, 3] background colours in [0, 1]
  bg_angle: Array  # [B] gradient / stripe / checker direction
  bg_period: Array  # [B] stripe or checker period
  bg_phase: Array  # [B] stripe or checker offset, in periods
  noise_std: Array  # [B] std of the background's pixel noise, in [0, 1] units
  noise_key: Array  # [B] typed PRNG keys for the noise


# ---------------------------------------------------------------------------------------------
# Sampling


def _int(u: Array, n: int) -> Array:
  """Uniform integer in [0, n) from u ~ U[0, 1)."""
  return jnp.minimum(jnp.floor(u * n), n - 1).astype(jnp.int32)


def _pick(free: Array, u: Array) -> Array:
  """Index of a uniformly chosen True entry of the bool vector `free`, from u ~ U[0, 1)."""
  r = jnp.floor(u * jnp.sum(free)).astype(jnp.int32)
  return jnp.argmax(free & (jnp.cumsum(free) - 1 == r))


_NUM_UNIFORMS = 64


def _sample_one(key: Array) -> Scene:
  """One scene (unbatched fields); vmapped by `sample_scene`.

  Every attribute comes from one uniform draw: each jax.random call inlines its own threefry
  program, and a dozen of them (randint, categorical, permutation, ...) took XLA:CPU 13 s to
  compile on a 2-core machine, against about 2 s for this.
  """
  k_u, k_noise = jax.random.split(key)
  u = iter(jax.random.uniform(k_u, (_NUM_UNIFORMS,)))
  take = lambda n: jnp.stack([next(u) for _ in range(n)])
  n_colors = len(COLOR_NAMES)
  bg_kind = _int(next(u), len(BACKGROUND_NAMES))
  c1 = _int(next(u), n_colors)
  c2 = (c1 + 1 + _int(next(u), n_colors - 1)) % n_colors  # any colour but c1
  # Objects never take a background colour, so they are always visible.
  free = (jnp.arange(n_colors) != c1) & ((jnp.arange(n_colors) != c2) | (bg_kind == 0))
  color = jnp.stack([_pick(free, next(u)) for _ in range(MAX_OBJECTS)])
  num_objects = 1 + _int(next(u), MAX_OBJECTS)
  shape = _int(take(MAX_OBJECTS), len(SHAPE_NAMES))
  size = _int(take(MAX_OBJECTS), len(SIZE_NAMES))
  # Distinct 3x3 cells, so objects rarely overlap and position words never repeat.
  cells, region = jnp.ones((9,), bool), []
  for _ in range(MAX_OBJECTS):
    region.append(_pick(cells, next(u)))
    cells = cells.at[region[-1]].set(False)
  region = jnp.stack(region)
  lo, hi = jnp.array(RADIUS).T
  radius = lo[size] + (hi[size] - lo[size]) * take(MAX_OBJECTS)
  cell = jnp.stack([region % 3, region // 3], -1).astype(jnp.float32)  # (col, row)
  # +-0.15 of a cell keeps centres >= 0.23 apart, more than any shape's reach (1.13 * 0.17), so
  # no object ever hides another's centre: every captioned object stays visible.
  jitter = 0.3 * take(2 * MAX_OBJECTS).reshape(MAX_OBJECTS, 2) - 0.15
  # Keep every shape (its far corner is < 1.15 radius) inside the frame; the clamp never moves a
  # centre out of its cell because 1.15 * max radius + 0.01 < 1/3.
  margin = (1.15 * radius + 0.01)[:, None]
  center = jnp.clip((cell + 0.5 + jitter) / 3.0, margin, 1.0 - margin)
  angle = (take(MAX_OBJECTS) - 0.5) * (math.pi / 3)  # +-30 degrees
  palette = jnp.asarray(PALETTE)
  rgb = palette[color] + 0.12 * take(3 * MAX_OBJECTS).reshape(MAX_OBJECTS, 3) - 0.06
  bg_base = (1 - BACKGROUND_MUTE) * palette[jnp.stack([c1, c2])] + BACKGROUND_MUTE * 0.5
  bg_rgb = bg_base + 0.1 * take(6).reshape(2, 3) - 0.05
  return Scene(
      num_objects=num_objects, shape=shape, color=color, size=size, region=region,
      bg_kind=bg_kind, bg_colors=jnp.stack([c1, c2]), center=center, radius=radius,
      angle=angle, rgb=jnp.clip(rgb, 0.0, 1.0), bg_rgb=jnp.clip(bg_rgb, 0.0, 1.0),
      bg_angle=2 * math.pi * next(u), bg_period=0.14 + 0.14 * next(u), bg_phase=next(u),
      noise_std=0.025 * next(u), noise_key=k_noise)


def sample_scene_keys(keys: Array) -> Scene:
  """One scene per key, keys [B] -> Scene with batch B (scene i depends on keys[i] only)."""
  return jax.vmap(_sample_one)(keys)


def sample_scene(key: Array, batch: int) -> Scene:
  """A batch of random scenes."""
  return sample_scene_keys(jax.random.split(key, batch))


# ---------------------------------------------------------------------------------------------
# Rendering


def _length(x: Array, y: Array) -> Array:
  return jnp.sqrt(x * x + y * y)


def _sd_box(x: Array, y: Array, bx: Array, by: Array) -> Array:
  qx, qy = jnp.abs(x) - bx, jnp.abs(y) - by
  outside = _length(jnp.maximum(qx, 0.0), jnp.maximum(qy, 0.0))
  return outside + jnp.minimum(jnp.maximum(qx, qy), 0.0)


def _sd_triangle(x: Array, y: Array, r: Array) -> Array:
  """Equilateral triangle with vertices (+-r, -r/sqrt3), (0, 2r/sqrt3), y up (I. Quilez)."""
  k = math.sqrt(3.0)
  x = jnp.abs(x) - r
  y = y + r / k
  fold = x + k * y > 0.0
  x, y = jnp.where(fold, (x - k * y) / 2, x), jnp.where(fold, (-k * x - y) / 2, y)
  x = x - jnp.clip(x, -2.0 * r, 0.0)
  return -_length(x, y) * jnp.sign(y)


def _sd_shapes(x: Array, y: Array, r: Array) -> Array:
  """Signed distances [..., 5] to every SHAPE_NAMES shape of "radius" r, local coords, y up.

  Sizes are matched by eye: the square's half side is 0.8 r, the triangle's circumradius 1.04 r,
  the ring spans radii 0.45 r .. r, the cross has arms of half width 0.32 r.
  """
  circle = _length(x, y) - r
  square = _sd_box(x, y, 0.8 * r, 0.8 * r)
  triangle = _sd_triangle(x, y, 0.9 * r)
  ring = jnp.abs(_length(x, y) - 0.725 * r) - 0.275 * r
  cross = jnp.minimum(_sd_box(x, y, r, 0.32 * r), _sd_box(x, y, 0.32 * r, r))
  return jnp.stack([circle, square, triangle, ring, cross], -1)


def _coverage(sd_pixels: Array) -> Array:
  """Fraction of a pixel inside the shape, from the signed distance in pixels (1 px ramp)."""
  return jnp.clip(0.5 - sd_pixels, 0.0, 1.0)


def _band(t: Array, period: Array, size: int) -> Array:
  """Anti-aliased square wave of `t` (image sides) with the given period: 1 on half of it."""
  d = (jnp.abs(jnp.mod(t / period, 1.0) - 0.5) - 0.25) * period  # signed distance to the band
  return _coverage(d * size)


def _render_one(s: Scene, size: int) -> Array:
  """[size, size, 3] in [0, 1] for one (unbatched) scene."""
  coords = (jnp.arange(size, dtype=jnp.float32) + 0.5) / size  # pixel centres
  px, py = jnp.meshgrid(coords, coords)  # px varies along columns, py along rows (down)
  c1, c2 = s.bg_rgb[0], s.bg_rgb[1]
  dx, dy = jnp.cos(s.bg_angle), jnp.sin(s.bg_angle)
  along = (px - 0.5) * dx + (py - 0.5) * dy
  across = -(px - 0.5) * dy + (py - 0.5) * dx
  t_gradient = jnp.clip(0.5 + along / math.sqrt(2.0), 0.0, 1.0)
  phase = s.bg_phase * s.bg_period
  t_stripes = _band(along + phase, s.bg_period, size)
  b = _band(across + phase, s.bg_period, size)
  t_checker = t_stripes * (1 - b) + b * (1 - t_stripes)  # smooth xor, blended only on edges
  t = jnp.stack([jnp.zeros_like(px), t_gradient, t_stripes, t_checker])[s.bg_kind]
  img = (1 - t)[..., None] * c1 + t[..., None] * c2
  # Uniform rather than Gaussian noise of that std: cheaper to compile, and as low-amplitude.
  img = img + s.noise_std * math.sqrt(3.0) * jax.random.uniform(s.noise_key, img.shape,
                                                                 minval=-1.0, maxval=1.0)

  def draw(img, obj):  # a scan, not a Python loop: one copy of the SDF code to compile
    i, center, angle, radius, shape, rgb = obj
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    x, y = px - center[0], center[1] - py  # local coords, y up
    x, y = cos * x + sin * y, -sin * x + cos * y
    sd = _sd_shapes(x, y, radius)[..., shape]
    alpha = (_coverage(sd * size) * (i < s.num_objects))[..., None]
    return img * (1 - alpha) + rgb * alpha, None

  objects = (jnp.arange(MAX_OBJECTS), s.center, s.angle, s.radius, s.shape, s.rgb)
  img, _ = jax.lax.scan(draw, img, objects)  # in order: later objects are drawn on top
  return img


def render(scene: Scene, size: int) -> Array:
  """Images [B, size, size, 3] float32 in [-1, 1]."""
  img = jax.vmap(_render_one, in_axes=(0, None))(scene, size)
  return jnp.clip(2.0 * img - 1.0, -1.0, 1.0).astype(jnp.float32)


def sample_scenes(key: Array, batch: int, size: int) -> tuple[Array, Scene]:
  """A batch of random scenes and their images: (images [B, size, size, 3], scene)."""
  scene = sample_scene(key, batch)
  return render(scene, size), scene


# ---------------------------------------------------------------------------------------------
# Captions


def _phrase_table(phrases: tuple[str, ...]) -> np.ndarray:
  """Word ids [len(phrases), longest] of each phrase, PAD-padded (PAD = "no word here")."""
  toks = [[captions.word_id(w) for w in captions.words(p)] for p in phrases]
  width = max(len(t) for t in toks)
  return np.array([t + [captions.PAD] * (width - len(t)) for t in toks], np.int32)


_ID = captions.word_id
_COLOR_IDS = _phrase_table(COLOR_NAMES)[:, 0]
_SHAPE_IDS = _phrase_table(SHAPE_NAMES)[:, 0]
_SIZE_IDS = _phrase_table(SIZE_NAMES)[:, 0]
_REGION_IDS = _phrase_table(REGION_PHRASES)  # [9, 4]
# Background phrase "on a [pre] c1 [conj c2] [post] background", per kind: (pre, conj, post).
_BG_WORDS = (("plain", None, None), (None, "to", "gradient"), (None, "and", "striped"),
             (None, "and", "checkered"))
_COLOR_VOWEL = np.array([c[0] in "aeiou" for c in COLOR_NAMES])
_BG_IDS = np.array([[_ID(w) if w else captions.PAD for w in row] for row in _BG_WORDS], np.int32)

# Longest caption: 3 objects "(and) a large red circle at the top left" (the first without "and")
# and the background "on a red to blue gradient background".
CAPTION_LEN = MAX_OBJECTS * (4 + _REGION_IDS.shape[1]) + (MAX_OBJECTS - 1) + 7


def caption_words(scene: Scene, max_len: int = CAPTION_LEN) -> Array:
  """Caption ids int32 [B, max_len] (VOCAB index + captions.OFFSET, PAD-padded), inside jit.

  Each template slot gets a word id or PAD ("this slot has no word for this scene"); the valid
  words are then packed to the front in order, which is the whole template logic.
  """
  assert max_len >= CAPTION_LEN, (max_len, CAPTION_LEN)
  batch = scene.num_objects.shape[0]
  col = lambda v: jnp.asarray(v, jnp.int32).reshape(batch, -1)
  full = lambda w: jnp.full((batch, 1), _ID(w), jnp.int32)
  slots = []
  for i in range(MAX_OBJECTS):
    words_i = [full("and")] if i else []
    words_i += [full("a"), col(jnp.asarray(_SIZE_IDS)[scene.size[:, i]]),
                col(jnp.asarray(_COLOR_IDS)[scene.color[:, i]]),
                col(jnp.asarray(_SHAPE_IDS)[scene.shape[:, i]]),
                jnp.asarray(_REGION_IDS)[scene.region[:, i]]]
    present = (i < scene.num_objects)[:, None]
    slots.append(jnp.where(present, jnp.concatenate(words_i, -1), captions.PAD))
  bg = jnp.asarray(_BG_IDS)[scene.bg_kind]  # [B, 3]: pre, conj, post
  two_colors = (scene.bg_kind > 0)[:, None]
  c1 = col(jnp.asarray(_COLOR_IDS)[scene.bg_colors[:, 0]])
  c2 = jnp.where(two_colors, col(jnp.asarray(_COLOR_IDS)[scene.bg_colors[:, 1]]), captions.PAD)
  # "an orange ..." but "a plain orange ...": the article agrees with the word after it.
  vowel = jnp.asarray(_COLOR_VOWEL)[scene.bg_colors[:, 0]] & (scene.bg_kind > 0)
  article = jnp.where(vowel, _ID("an"), _ID("a"))[:, None]
  slots.append(jnp.concatenate([full("on"), article, bg[:, :1], c1, bg[:, 1:2], c2, bg[:, 2:],
                                full("background")], -1))
  toks = jnp.concatenate(slots, -1)  # [B, S]
  valid = toks != captions.PAD
  pos = jnp.where(valid, jnp.cumsum(valid, -1) - 1, max_len)  # max_len is out of range: dropped
  rows = jnp.broadcast_to(jnp.arange(batch)[:, None], toks.shape)
  return jnp.zeros((batch, max_len), jnp.int32).at[rows, pos].set(toks, mode="drop")


def caption_text(scene: Scene) -> list[str]:
  """The captions of `caption_words` as host strings, one per scene."""
  get = lambda a: np.asarray(jax.device_get(a))
  num, shape, color, size, region = map(get, (scene.num_objects, scene.shape, scene.color,
                                              scene.size, scene.region))
  kind, bg_colors = get(scene.bg_kind), get(scene.bg_colors)
  texts = []
  for b in range(num.shape[0]):
    objects = [f"a {SIZE_NAMES[size[b, i]]} {COLOR_NAMES[color[b, i]]} "
               f"{SHAPE_NAMES[shape[b, i]]} {REGION_PHRASES[region[b, i]]}"
               for i in range(int(num[b]))]
    c1, c2 = COLOR_NAMES[bg_colors[b, 0]], COLOR_NAMES[bg_colors[b, 1]]
    bg = {0: f"plain {c1}", 1: f"{c1} to {c2} gradient", 2: f"{c1} and {c2} striped",
          3: f"{c1} and {c2} checkered"}[int(kind[b])]
    article = "an" if bg[0] in "aeiou" else "a"
    texts.append(" and ".join(objects) + f" on {article} {bg} background")
  return texts


def caption_vocabulary() -> set[str]:
  """Every word a shapes caption can contain (the tests check they are all in VOCAB)."""
  phrases = (COLOR_NAMES + SHAPE_NAMES + SIZE_NAMES + REGION_PHRASES + BACKGROUND_NAMES
             + ("a an and on to background",))
  return {w for p in phrases for w in captions.words(p)}


# ---------------------------------------------------------------------------------------------
# Splits


def split_id(split: str) -> int:
  if split not in SPLIT_IDS:
    raise ValueError(f"unknown split {split!r}; use one of {list(SPLIT_IDS)}")
  return SPLIT_IDS[split]


def scene_key(seed: int | Array, split: str, index: int | Array) -> Array:
  """The key of evaluation scene `index` of `split`: fold_in(fold_in(key(seed), split), index)."""
  return jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), split_id(split)), index)


FIXED_SET_CHUNK = 64  # scenes per compiled call of `fixed_set`, whatever n is


@functools.partial(jax.jit, static_argnums=3)
def _fixed_chunk(seed: Array, split: Array, start: Array, size: int):
  """Scenes start .. start + FIXED_SET_CHUNK - 1 of a split; one program for every split and n."""
  keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), split),
                                               i))(start + jnp.arange(FIXED_SET_CHUNK))
  scene = sample_scene_keys(keys)
  return render(scene, size), caption_words(scene), scene


def fixed_set(split: str, n: int, size: int, seed: int = 0
              ) -> tuple[np.ndarray, np.ndarray, list[str]]:
  """Held-out scenes i = 0..n-1 of `split` on host: (images [n, size, size, 3], ids, texts)."""
  sid = split_id(split)
  images, ids, texts = [], [], []
  for start in range(0, n, FIXED_SET_CHUNK):
    x, w, scene = _fixed_chunk(np.uint32(seed), np.int32(sid), np.int32(start), size)
    images.append(np.asarray(x))
    ids.append(np.asarray(w))
    texts += caption_text(scene)
  if not images:
    return (np.zeros((0, size, size, 3), np.float32), np.zeros((0, CAPTION_LEN), np.int32), [])
  return np.concatenate(images)[:n], np.concatenate(ids)[:n], texts[:n]


# ---------------------------------------------------------------------------------------------
# Dataset interface (see jaxdiff.images.get_dataset)


@flax.struct.dataclass
class ShapesDataset:
  """Endless shapes scenes at `size`; a pytree without leaves, so it passes through jit freely."""
  size: int = flax.struct.field(pytree_node=False)
  seed: int = flax.struct.field(pytree_node=False, default=0)
  name: str = flax.struct.field(pytree_node=False, default="shapes")
  max_len: int = flax.struct.field(pytree_node=False,
                                   default=CAPTION_LEN + captions.MAX_DEGRADATION_LEN)
  unknown_words: tuple[str, ...] = flax.struct.field(pytree_node=False, default=())

  def sample(self, key: Array, batch: int) -> tuple[Array, Array]:
    """Fresh training scenes inside jit: (images [batch, size, size, 3], ids [batch, max_len]).

    TRAIN_STREAM is folded into `key`, so these draws never repeat a `fixed_set` scene (module
    docstring).
    """
    scene = sample_scene(jax.random.fold_in(key, TRAIN_STREAM), batch)
    return render(scene, self.size), caption_words(scene, self.max_len)

  def fixed_set(self, split: str, n: int | None = None
                ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Scenes 0..n-1 of `split` on host: (images, ids [n, max_len], texts)."""
    if n is None:
      raise ValueError("the shapes dataset is endless; pass fixed_set(split, n) a number n")
    images, ids, texts = fixed_set(split, n, self.size, self.seed)
    return images, np.pad(ids, ((0, 0), (0, self.max_len - ids.shape[1]))), texts
