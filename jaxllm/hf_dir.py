"""A local Hugging Face model directory as a whole: check it, load model + tokenizer, export one.

    model, tokenizer = load_model_dir(path, dtype="bfloat16", mesh=mesh, rules=rules)
    export_model_dir(model, tokenizer, "/tmp/export", source_dir=path)

`jaxllm.hf_io` converts the tensors; this module adds what a trainer needs around them: the
directory checks and the tokenizer (with its chat template), and an export directory that is
self-contained (weights, config.json, tokenizer files, generation_config.json), so transformers,
vLLM or `jaxllm.serve` load it as they would the original.

Every user mistake (a wrong path, missing files, weights that do not fit config.json, a tokenizer
that does not load) raises `ModelDirError`: one line that starts with the directory path, so a
trainer can prefix its config field (`UserError(f"config.model_path={e}")`).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from jax.sharding import Mesh

from jaxllm.hf_io import load_hf_model, save_hf_model
from jaxllm.sharding import Rules
from jaxllm.tokenizers import load_tokenizer


class ModelDirError(ValueError):
  """A local HF model directory that cannot be used; the message is one line naming the path."""


def _one_line(err: Exception) -> str:
  text = str(err).strip().splitlines()
  return text[0] if text else type(err).__name__


def check_model_dir(path: str | os.PathLike) -> Path:
  """The directory as a Path, if it has config.json and *.safetensors; else ModelDirError."""
  p = Path(path).expanduser()
  if not p.is_dir():
    raise ModelDirError(f"{path} is not a directory; pass a local Hugging Face model directory")
  if not (p / "config.json").is_file() or not list(p.glob("*.safetensors")):
    raise ModelDirError(f"{path} is not a Hugging Face model directory: it needs config.json "
                        "and *.safetensors weights")
  return p


def load_model_dir(path: str | os.PathLike, *, dtype: str = "float32",
                   param_dtype: str | None = None, mesh: Mesh | None = None,
                   rules: Rules | None = None, require_chat_template: bool = True
                   ) -> tuple[Any, Any]:
  """(Transformer, HFTokenizer) from a local HF directory, parameters placed on `mesh` by
  `rules` (jaxllm.sharding); ModelDirError for every problem with the directory."""
  p = check_model_dir(path)
  try:
    tokenizer = load_tokenizer(p)
  except Exception as e:  # transformers raises many kinds; the user fixes the directory
    raise ModelDirError(f"{path}: cannot load its tokenizer: {_one_line(e)}") from e
  if require_chat_template and not getattr(tokenizer.hf, "chat_template", None):
    raise ModelDirError(f"{path}: the tokenizer has no chat_template; add one to "
                        "tokenizer_config.json or chat_template.jinja")
  try:
    model = load_hf_model(p, dtype=dtype, param_dtype=param_dtype, mesh=mesh, rules=rules)
  except (ValueError, FileNotFoundError, KeyError, OSError) as e:
    raise ModelDirError(f"{path}: {_one_line(e)}") from e
  from jaxllm.sampling import vocab_mismatch
  mismatch = vocab_mismatch(tokenizer, model.cfg.vocab_size)
  if mismatch:
    print(f"[jaxllm] warning: {path}: {mismatch}", file=sys.stderr, flush=True)
  return model, tokenizer


def export_model_dir(model: Any, tokenizer: Any, export_dir: str | os.PathLike,
                     source_dir: str | os.PathLike | None = None) -> Path:
  """HF safetensors + config.json, the tokenizer files (an HF tokenizer's) and the source
  directory's generation_config.json, so `export_dir` is a self-contained model directory.

  Single-process (every parameter gathered to this host, one tensor at a time).
  """
  out = save_hf_model(model, export_dir)
  if hasattr(tokenizer, "hf"):
    tokenizer.hf.save_pretrained(str(out))
  gen = Path(source_dir, "generation_config.json") if source_dir else None
  if gen is not None and gen.is_file():
    shutil.copyfile(gen, out / "generation_config.json")
  return out
