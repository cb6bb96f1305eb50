"""A folder of the user's images (png / jpg), center-cropped and resized, with captions.

Captions come from a text file of `name<TAB>caption` lines (name: the file name, with or without
its extension; blank lines and lines starting with '#' are skipped) or from one fixed `prompt`;
with both, the prompt captions the images the file does not name. With neither, every image is
"a photo". Caption words outside the shared VOCAB encode as captions.UNK; `unknown_words` lists
them so a run can say so.

Splits, by a seeded shuffle of the sorted file names: `holdout` (default 0.1) of the images, at
least one, go to each of val and test and the rest to train. `holdout=0` puts every image in every
split: the setting for restoring a folder rather than training on it.

Every user mistake (missing folder, no images, an unreadable image, a caption line that does not
parse, a caption for a file that is not there) is one ValueError line naming the fix.
"""
from __future__ import annotations

import math
import os

import numpy as np
from PIL import Image, ImageOps

from jaxdiff.images import bundled

EXTENSIONS = (".png", ".jpg", ".jpeg")
DEFAULT_PROMPT = "a photo"


def list_images(path: str) -> list[str]:
  """Sorted image file names in `path` (not recursive)."""
  if not os.path.isdir(path):
    raise ValueError(f"image folder {path!r} does not exist or is not a directory; pass path= a "
                     "directory of .png/.jpg images")
  names = sorted(n for n in os.listdir(path) if n.lower().endswith(EXTENSIONS)
                 and os.path.isfile(os.path.join(path, n)))
  if not names:
    raise ValueError(f"no .png/.jpg/.jpeg images in {path!r}; put images there or pass path= "
                     "the folder that holds them")
  return names


def load_image(file: str, size: int) -> np.ndarray:
  """float32 [size, size, 3] in [-1, 1]: EXIF-rotated, alpha over white, center square, Lanczos."""
  try:
    with Image.open(file) as im:
      im = ImageOps.exif_transpose(im)
      if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        im = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im.alpha_composite(rgba)
      im = im.convert("RGB")
      w, h = im.size
      side = min(w, h)
      left, top = (w - side) // 2, (h - side) // 2
      im = im.crop((left, top, left + side, top + side))
      im = im.resize((size, size), Image.Resampling.LANCZOS)
      return np.asarray(im, np.float32) / 127.5 - 1.0
  except (OSError, ValueError, SyntaxError) as e:  # PIL raises all three for broken files
    raise ValueError(f"cannot read image {file!r} ({type(e).__name__}: {e}); re-save it as "
                     "PNG/JPEG or remove it from the folder") from e


def read_captions(caption_file: str, names: list[str]) -> dict[str, str]:
  """{image file name: caption} from `name<TAB>caption` lines."""
  if not os.path.isfile(caption_file):
    raise ValueError(f"caption file {caption_file!r} does not exist; pass caption_file= a text "
                     "file of 'name<TAB>caption' lines")
  by_stem = {os.path.splitext(n)[0]: n for n in names}
  out = {}
  with open(caption_file, encoding="utf-8") as f:
    for lineno, line in enumerate(f, 1):
      line = line.rstrip("\r\n")
      if not line.strip() or line.lstrip().startswith("#"):
        continue
      parts = line.split("\t")
      if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
        raise ValueError(f"{caption_file}:{lineno}: expected 'name<TAB>caption', got {line!r}; "
                         "put exactly one tab between the file name and its caption")
      key, text = parts[0].strip(), parts[1].strip()
      name = key if key in names else by_stem.get(key)
      if name is None:
        raise ValueError(f"{caption_file}:{lineno}: no image {key!r} in the folder; fix the name "
                         "or delete the line")
      out[name] = text
  return out


def folder_dataset(path: str, size: int, seed: int = 0, caption_file: str | None = None,
                   prompt: str | None = None, holdout: float = 0.1,
                   flip: bool = False) -> bundled.ArrayDataset:
  """The folder as an ArrayDataset (its `unknown_words` lists caption words outside VOCAB).

  `flip` (off by default: a user's images may hold text) mirrors training samples left-right.
  """
  if not 0.0 <= holdout < 0.5:
    raise ValueError(f"holdout={holdout} must be in [0, 0.5); it is the fraction of images kept "
                     "out of training for each of val and test")
  names = list_images(path)
  given = read_captions(caption_file, names) if caption_file is not None else {}
  default = prompt if prompt is not None else (None if caption_file else DEFAULT_PROMPT)
  missing = [n for n in names if n not in given]
  if missing and default is None:
    raise ValueError(f"{caption_file} has no caption for {missing[0]!r} ({len(missing)} images "
                     "uncaptioned); add 'name<TAB>caption' lines or pass prompt= for the rest")
  texts = [given.get(n, default) for n in names]
  images = np.stack([load_image(os.path.join(path, n), size) for n in names])

  n = len(names)
  if holdout == 0:
    splits = {s: np.arange(n) for s in bundled.SPLITS}
  else:
    k = max(1, math.ceil(holdout * n))
    if n < 2 * k + 1:
      raise ValueError(f"{path!r} has {n} images, too few for holdout={holdout} ({k} each for val "
                       "and test, one for training); add images or pass holdout=0 to use every "
                       "image in every split")
    order = np.random.default_rng(seed).permutation(n)
    splits = {"val": order[:k], "test": order[k:2 * k], "train": np.sort(order[2 * k:])}
  return bundled.make_array_dataset(
      "folder", size, {s: (images[idx], [texts[i] for i in idx]) for s, idx in splits.items()},
      bundled.caption_max_len(texts), flip)
