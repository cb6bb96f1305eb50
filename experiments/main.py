"""The experiment runner: one command for every method.

  python -m experiments.main --config experiments/configs/NAME.py:PRESET --workdir DIR \
      [--config.key=value ...]
  python -m experiments.main --list

Rerunning the same command on the same workdir resumes from the latest checkpoint. Mistakes in the
command (unknown config, preset or key; a value of the wrong type; a missing workdir) exit non-zero
with one line naming the valid choices.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import re
import sys
from typing import Sequence

from absl import app, flags, logging
from ml_collections import config_flags

from experiments import configs as configs_lib
from experiments.errors import Preempted, UserError

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file and preset: experiments/configs/NAME.py:PRESET.",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and results.")
_LIST = flags.DEFINE_bool("list", False, "List every config and its presets, then exit.")


def _fail(message: str, code: int = 2):
  print(f"error: {message}", file=sys.stderr, flush=True)
  sys.exit(code)


# ---------------------------------------------------------------------------- preflight checks
def _config_arg(argv: Sequence[str]) -> tuple[int, str] | None:
  for i, a in enumerate(argv):
    if a.startswith("--config="):
      return i, a.split("=", 1)[1]
    if a == "--config" and i + 1 < len(argv):
      return i + 1, argv[i + 1]
  return None


def _resolve_config_path(value: str) -> tuple[str, str, str]:
  """'experiments/configs/x.py:p' or 'x:p' -> (absolute path, name, preset)."""
  path, _, preset = value.partition(":")
  if not path.endswith(".py"):
    path = os.path.join(configs_lib.CONFIG_DIR, path + ".py")
  name = os.path.basename(path)[:-3]
  known = configs_lib.list_configs()
  if not os.path.isfile(path):
    raise UserError(f"unknown config '{value.partition(':')[0]}'; valid: "
                    f"{', '.join(sorted(known))} (experiments/configs/NAME.py:PRESET)")
  presets = known.get(name)
  if presets is None:  # a config file outside experiments/configs
    spec = importlib.util.spec_from_file_location(f"_user_config_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    presets = tuple(getattr(module, "PRESETS", ()))
  preset = preset or "smoke"
  if presets and preset not in presets:
    raise UserError(f"unknown preset '{preset}' for config {name}; valid: {', '.join(presets)}")
  return os.path.abspath(path), name, preset


def _load(path: str, preset: str):
  spec = importlib.util.spec_from_file_location("_preflight_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(preset)


_OVERRIDE = re.compile(r"^--config\.([A-Za-z0-9_.]+)(=.*)?$")


def _check_overrides(argv: Sequence[str], cfg, name: str):
  """Every --config.a.b must name an existing key; unknown keys name the valid ones."""
  import ml_collections
  for a in argv:
    m = _OVERRIDE.match(a)
    if not m:
      continue
    node, walked = cfg, []
    for part in m.group(1).split("."):
      keys = list(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
      if part not in keys:
        where = f"config.{'.'.join(walked)}" if walked else f"config {name}"
        close = difflib.get_close_matches(part, keys, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise UserError(f"unknown key '{part}' in {where}{hint}; valid keys: "
                        f"{', '.join(sorted(keys)) or '(none: not a dict)'}")
      walked.append(part)
      node = node[part]


def _type_error_line(err: str, cfg) -> str:
  m = re.search(r"flag --config\.([A-Za-z0-9_.]+)=(.*?): (.*)", err)
  if not m:
    return err.strip().splitlines()[0]
  key, value = m.group(1), m.group(2)
  node = cfg
  for part in key.split("."):
    node = node[part] if part in node else None
    if node is None:
      break
  expected = type(node).__name__ if node is not None else "a different type"
  return f"bad value for --config.{key}: expected {expected}, got '{value}'"


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing with one-line errors instead of usage dumps and tracebacks."""
  try:
    if "--list" not in argv and not any(a.startswith("--help") for a in argv):
      found = _config_arg(argv)
      if found is None:
        raise UserError("missing --config; run `python -m experiments.main --list` for choices")
      i, value = found
      path, name, preset = _resolve_config_path(value)
      argv = list(argv)
      argv[i] = f"--config={path}:{preset}" if argv[i].startswith("--config=") else f"{path}:{preset}"
      cfg = _load(path, preset)
      _check_overrides(argv, cfg, name)
    else:
      cfg = None
    try:
      return flags.FLAGS(argv)
    except flags.Error as e:
      raise UserError(_type_error_line(str(e), cfg) if cfg is not None else str(e)) from e
  except UserError as e:
    _fail(str(e))


# ---------------------------------------------------------------------------- main
def _print_list():
  rows = configs_lib.list_configs()
  width = max([len(n) for n in rows] + [6])
  print(f"{'config':<{width}}  presets")
  for name, presets in rows.items():
    print(f"{name:<{width}}  {', '.join(presets)}")
  print("\nrun: python -m experiments.main --config experiments/configs/NAME.py:PRESET "
        "--workdir DIR [--config.key=value ...]")


_EXTRAS = {"transformers": "llm", "tokenizers": "llm", "safetensors": "llm", "jinja2": "llm",
           "playwright": "web", "browsergym": "web", "miniwob": "web", "minari": "data",
           "torch": "test", "gcsfs": "cloud", "ray": "ray"}


def _import_trainer(name: str):
  try:
    return importlib.import_module(f"experiments.trainers.{name}")
  except ModuleNotFoundError as e:
    top = (e.name or "").split(".")[0]
    if top in _EXTRAS:
      raise UserError(f"trainer '{name}' needs the package '{top}': "
                      f"pip install -e '.[{_EXTRAS[top]}]'") from e
    raise


def main(argv: Sequence[str]):
  del argv
  if not flags.FLAGS["verbosity"].present:  # orbax/absl INFO lines drown the progress output
    logging.set_verbosity(logging.WARNING)
  if _LIST.value:
    _print_list()
    return
  if not _WORKDIR.value:
    _fail("missing --workdir; pass a directory for checkpoints, metrics and results")
  from experiments import runtime  # imports jax: after flag parsing, so bad flags fail fast
  from experiments.runtime import paths
  import jax
  config, workdir = _CONFIG.value, paths.absolute(_WORKDIR.value)
  try:
    runtime.maybe_initialize_distributed()
    runtime.enable_compilation_cache(config.get("compilation_cache_dir"))
    if jax.process_index() == 0:
      paths.makedirs(workdir)
      paths.write_text(paths.join(workdir, "config.json"),
                       config.to_json_best_effort(indent=2, sort_keys=True))
    trainer = _import_trainer(config.trainer)
    logging.info("config:\n%s", config)
    trainer.train_and_evaluate(config, workdir)
  except UserError as e:
    _fail(str(e), getattr(e, "exit_code", 2))
  except Preempted as e:
    print(str(e), file=sys.stderr, flush=True)
    sys.exit(Preempted.exit_code)


def run():
  app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
  run()
