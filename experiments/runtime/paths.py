"""Workdir paths that may be local or remote (gs://...), so pod runs can share one workdir.

Local paths are made absolute; URLs pass through untouched. Remote reads and writes go through
etils.epath (installed with orbax; gs:// needs the `cloud` extra: gcsfs, google-cloud-storage).
"""
from __future__ import annotations

import os

from etils import epath


def is_remote(path: str) -> bool:
  return "://" in str(path)


def absolute(path: str) -> str:
  return str(path) if is_remote(path) else os.path.abspath(path)


def join(path: str, *parts: str) -> str:
  return "/".join([str(path).rstrip("/"), *parts]) if is_remote(path) else os.path.join(path, *parts)


def makedirs(path: str) -> None:
  epath.Path(path).mkdir(parents=True, exist_ok=True)


def write_text(path: str, text: str) -> None:
  epath.Path(path).write_text(text)


def read_text(path: str) -> str:
  return epath.Path(path).read_text()


def exists(path: str) -> bool:
  return epath.Path(path).exists()
