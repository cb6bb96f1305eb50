"""The shared caption vocabulary, its id convention, and degradation captions.

Ids. A caption is encoded word by word as `id = VOCAB.index(word) + OFFSET`, with `PAD = 0` filling
the tail and `UNK = 1` for words outside VOCAB (folder captions may hold any words). Text is
lower-cased and punctuation is split off as its own token, so "A cat, blurry." is
["a", "cat", ",", "blurry", "."]; "," and "." are in VOCAB for that reason. `encode` here is the
reference for that convention (the jit-side shapes captions are tested against it); a word-level
tokenizer elsewhere only needs VOCAB and the three constants.

VOCAB is append-only: a word's id is its position, so reordering or deleting entries silently
changes what every trained text encoder's embeddings mean. Add new words at the end.

Degradations. The prior is trained with a fraction of degraded images whose captions carry words
describing the degradation, so that at restoration time these words work as a negative prompt
(LADiBI, PAPERS.md §10). The trainer degrades the images; this module only writes the captions:
`degrade_caption` on host strings and `degrade_ids` on id arrays inside jit (per-example kind, or
-1 for "left clean").
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

PAD, UNK, OFFSET = 0, 1, 2

VOCAB: tuple[str, ...] = (
    # punctuation (split off by the tokenizer) and function words
    ",", ".", "a", "an", "the", "of", "at", "on", "in", "and", "to", "with",
    # shapes scenes: sizes, colours, shapes, regions, backgrounds
    "small", "large",
    "red", "orange", "yellow", "green", "blue", "purple", "white", "black",
    "circle", "square", "triangle", "ring", "cross",
    "top", "bottom", "left", "right", "center",
    "plain", "gradient", "striped", "checkered", "background",
    # bundled photographs
    "photo", "image", "microscope", "stained", "tissue", "astronaut", "cat", "cup", "coffee",
    "rocket", "launch", "pad", "man", "camera", "old", "coins", "surface", "moon", "galaxies",
    "deep", "space", "brick", "wall", "grass", "gravel", "motorcycle",
    # degradations
    "blurry", "out", "focus", "motion", "blur", "shaky", "jpeg", "artifacts", "compressed",
    "blocky", "noisy", "grainy", "low", "resolution", "pixelated", "quality",
)

WORD_IDS: dict[str, int] = {w: i + OFFSET for i, w in enumerate(VOCAB)}

# Words appended (after ", ") to the caption of an image the trainer degraded with that kind.
DEGRADATION_PROMPTS: dict[str, str] = {
    "gaussian_blur": "blurry, out of focus",
    "motion_blur": "motion blur, blurry, shaky",
    "jpeg": "jpeg artifacts, compressed, blocky",
    "noise": "noisy, grainy",
    "downsample": "low resolution, pixelated",
}
# Index i of this tuple is kind i for `degrade_ids`.
DEGRADATION_KINDS: tuple[str, ...] = tuple(DEGRADATION_PROMPTS)

_TOKEN_RE = re.compile(r"[^\W_]+|[^\w\s]|_")


def words(text: str) -> list[str]:
  """Lower-cased word and punctuation tokens: "A cat, blurry." -> [a, cat, ",", blurry, "."]."""
  return _TOKEN_RE.findall(text.lower())


def word_id(word: str) -> int:
  """The id of one VOCAB word; a KeyError for other words is a bug in a caption template."""
  return WORD_IDS[word]


def encode(texts: Sequence[str], max_len: int) -> np.ndarray:
  """Host ids, int32 [len(texts), max_len]: VOCAB index + OFFSET, UNK outside VOCAB, PAD tail.

  A caption with more than `max_len` tokens is a user error (a folder caption file) or a bug.
  """
  out = np.zeros((len(texts), max_len), np.int32)
  for row, text in enumerate(texts):
    toks = [WORD_IDS.get(w, UNK) for w in words(text)]
    if len(toks) > max_len:
      raise ValueError(f"caption {text!r} has {len(toks)} tokens, more than max_len={max_len}; "
                       "shorten it")
    out[row, :len(toks)] = toks
  return out


def decode(ids: Iterable[int]) -> str:
  """Words of one id row, space-joined (PAD dropped, UNK shown as "<unk>"); for debugging."""
  toks = [VOCAB[i - OFFSET] if i >= OFFSET else "<unk>" for i in np.asarray(ids).tolist() if i]
  return " ".join(toks)


def num_tokens(text: str) -> int:
  return len(words(text))


def _check_kind(kind: str) -> None:
  if kind not in DEGRADATION_PROMPTS:
    raise ValueError(f"unknown degradation kind {kind!r}; use one of {list(DEGRADATION_KINDS)}")


def degrade_caption(caption: str, kind: str | Sequence[str]) -> str:
  """The caption of a degraded image: "a photo of a cat" -> "a photo of a cat, blurry, out of
  focus". `kind` is a DEGRADATION_PROMPTS key or a sequence of them (applied in order)."""
  kinds = [kind] if isinstance(kind, str) else list(kind)
  for k in kinds:
    _check_kind(k)
    caption = f"{caption}, {DEGRADATION_PROMPTS[k]}"
  return caption


# [K, D] ids of ", " + prompt for each kind (PAD-padded) and their lengths [K].
_DEGRADATION_TOKENS = [[WORD_IDS[w] for w in words(", " + DEGRADATION_PROMPTS[k])]
                       for k in DEGRADATION_KINDS]
MAX_DEGRADATION_LEN = max(len(t) for t in _DEGRADATION_TOKENS)
_DEG_TABLE = np.array([t + [PAD] * (MAX_DEGRADATION_LEN - len(t)) for t in _DEGRADATION_TOKENS],
                      np.int32)
_DEG_LENS = np.array([len(t) for t in _DEGRADATION_TOKENS], np.int32)


def degrade_ids(ids: Array, kinds: Array) -> Array:
  """jit-side `degrade_caption`: appends each example's degradation tokens after its last token.

  Args:
    ids: int32 [B, L] caption ids (PAD-padded at the end, as every dataset here returns them).
    kinds: int [B] index into DEGRADATION_KINDS, or -1 to leave that example's caption as is.

  Returns ids of the same shape. Tokens that would pass position L are dropped; the datasets'
  `max_len` leaves MAX_DEGRADATION_LEN free after their longest caption, so with them none are.
  """
  batch, length = ids.shape
  kinds = jnp.asarray(kinds, jnp.int32)
  table, lens = jnp.asarray(_DEG_TABLE), jnp.asarray(_DEG_LENS)
  safe = jnp.clip(kinds, 0, len(DEGRADATION_KINDS) - 1)
  toks = table[safe]  # [B, D]
  n_used = jnp.sum(ids != PAD, axis=-1)  # [B]
  j = jnp.arange(MAX_DEGRADATION_LEN)
  keep = (j[None] < lens[safe][:, None]) & (kinds[:, None] >= 0)
  cols = jnp.where(keep, n_used[:, None] + j[None], length)  # `length` is out of range: dropped
  rows = jnp.broadcast_to(jnp.arange(batch)[:, None], cols.shape)
  return ids.at[rows, cols].set(toks, mode="drop")
