"""Captioned image data for text-conditioned diffusion priors (LADiBI, PAPERS.md §10).

Images are float32 [B, H, W, 3] in [-1, 1], channel-last. Captions are word ids int32
[B, max_len] with the shared convention of `captions` (id = VOCAB index + 2, 0 pads, 1 is unknown),
and host strings alongside for evaluation sets.

Datasets (`get_dataset(name, ...)`):
  shapes   procedural scenes drawn and rendered inside jit: endless, no host pipeline.
  bundled  crops of the photographs inside the scikit-image wheel; right-edge bands held out.
  folder   the user's png/jpg folder with a `name<TAB>caption` file or one prompt.

Each returns a pytree with
  sample(key, batch) -> (images, ids)          inside jit, training data;
  fixed_set(split, n) -> (images, ids, texts)  on host, split in {'train', 'val', 'test'};
  name, size, max_len                          max_len leaves room for degradation words.
Pass the dataset as an argument of the jitted step rather than closing over it: bundled and
folder hold their training stack as device arrays, which jit would embed in the program as
constants. Degraded-image captions: `captions.degrade_ids` (jit) / `captions.degrade_caption`.

Modules: captions (VOCAB, encode, degradation captions), shapes, bundled, folder.
"""
from __future__ import annotations

from typing import Any

from jaxdiff.images import bundled, captions, folder, shapes
from jaxdiff.images.bundled import ArrayDataset
from jaxdiff.images.shapes import ShapesDataset

DATASETS = ("shapes", "bundled", "folder")
Dataset = ShapesDataset | ArrayDataset


def get_dataset(name: str, size: int, seed: int = 0, path: str | None = None,
                caption_file: str | None = None, prompt: str | None = None,
                **options: Any) -> Dataset:
  """The dataset `name` at resolution `size`, deterministic in `seed`.

  path, caption_file and prompt are the folder dataset's; giving them to another dataset is an
  error rather than silently ignored. `options` go to the builder: bundled.bundled_dataset
  (crops_per_image, photos, flip) or folder.folder_dataset (holdout, flip).
  """
  if name not in DATASETS:
    raise ValueError(f"unknown image dataset {name!r}; use one of {list(DATASETS)}")
  if name == "folder":
    if path is None:
      raise ValueError("the folder dataset needs path= a directory of .png/.jpg images")
    return folder.folder_dataset(path, size, seed, caption_file, prompt, **options)
  given = [k for k, v in (("path", path), ("caption_file", caption_file), ("prompt", prompt))
           if v is not None]
  if given:
    raise ValueError(f"{', '.join(given)} only apply to the folder dataset; drop them for "
                     f"{name!r} or use name='folder'")
  if name == "shapes":
    if options:
      raise ValueError(f"the shapes dataset takes no options, got {sorted(options)}")
    return ShapesDataset(size=size, seed=seed)
  return bundled.bundled_dataset(size, seed, **options)


__all__ = ["DATASETS", "ArrayDataset", "Dataset", "ShapesDataset", "bundled", "captions", "folder",
           "get_dataset", "shapes"]
