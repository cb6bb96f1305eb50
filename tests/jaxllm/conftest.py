"""Fixtures for jaxllm tests: tiny random HF checkpoints, built once per session."""

from __future__ import annotations

import pytest

from tests.jaxllm.hf_models import FAMILIES, make_hf_model


@pytest.fixture(scope="session")
def hf_checkpoints(tmp_path_factory):
  """name -> (directory, torch model) for every family in FAMILIES."""
  out = {}
  for name in FAMILIES:
    directory = tmp_path_factory.mktemp(name)
    out[name] = (directory, make_hf_model(name, directory))
  return out
