"""Experiment configs: one python file per method, `get_config(preset)` and a `PRESETS` tuple.

Each file's docstring gives the command that runs each preset. Every config has a `smoke` preset
(minutes on a 2-core CPU) and paper-scale presets, and names its trainer module in
`config.trainer` (a module under experiments.trainers with `train_and_evaluate(config, workdir)`).
"""
from __future__ import annotations

import importlib
import os

CONFIG_DIR = os.path.dirname(os.path.abspath(__file__))


def list_configs() -> dict[str, tuple[str, ...]]:
  """{config name: presets} for every config file in this directory."""
  out = {}
  for fname in sorted(os.listdir(CONFIG_DIR)):
    if fname.endswith(".py") and not fname.startswith("_"):
      name = fname[:-3]
      module = importlib.import_module(f"experiments.configs.{name}")
      out[name] = tuple(getattr(module, "PRESETS", ()))
  return out


def describe(name: str) -> str:
  module = importlib.import_module(f"experiments.configs.{name}")
  doc = (module.__doc__ or "").strip().splitlines()
  return doc[0] if doc else ""


def unknown_preset(name: str, preset: str, presets) -> ValueError:
  return ValueError(f"unknown preset '{preset}' for config {name}; valid: {', '.join(presets)}")
