"""A safetensors reader that copies each tensor straight from the file into a caller's buffer.

The `safetensors` package's `safe_open` memory-maps the whole file: every tensor read leaves its
pages mapped, and file-backed resident pages count in the process RSS until the file is closed, so
loading a checkpoint that way peaks at about twice its size (the mapped file + the model). Here
each tensor is read with `readinto` (a plain `read` syscall into our own numpy buffer): the file
contents only ever sit in the kernel's page cache, which is not the process's memory.

File format (https://huggingface.co/docs/safetensors): 8-byte little-endian header length N, N
bytes of JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
then the raw little-endian tensor bytes, offsets relative to the end of the header.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np

_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8,
    "BOOL": np.bool_, "F8_E4M3": ml_dtypes.float8_e4m3fn, "F8_E5M2": ml_dtypes.float8_e5m2,
}
_MAX_HEADER = 100 << 20


class SafetensorsFile:
  """`with SafetensorsFile(path) as f: f.keys(); f.shape(name); f.read(name, out=buffer)`."""

  def __init__(self, path: str | os.PathLike):
    self.path = Path(path)
    self._file = open(self.path, "rb")
    try:
      head = self._file.read(8)
      if len(head) != 8:
        raise ValueError(f"{self.path}: not a safetensors file (shorter than 8 bytes).")
      (n,) = struct.unpack("<Q", head)
      if n > _MAX_HEADER:
        raise ValueError(f"{self.path}: header length {n} is implausible; is this a safetensors "
                         "file?")
      header: dict[str, Any] = json.loads(self._file.read(n))
    except Exception:
      self._file.close()
      raise
    self.metadata = header.pop("__metadata__", {}) or {}
    self._start = 8 + n
    self._entries = header
    size = os.fstat(self._file.fileno()).st_size
    for name, e in header.items():
      if e["dtype"] not in _DTYPES:
        self.close()
        raise ValueError(f"{self.path}: tensor {name!r} has dtype {e['dtype']}, which this "
                         f"reader does not know ({', '.join(_DTYPES)}).")
      begin, end = e["data_offsets"]
      want = int(np.prod(e["shape"], dtype=np.int64)) * np.dtype(_DTYPES[e["dtype"]]).itemsize
      if end - begin != want or self._start + end > size:
        self.close()
        raise ValueError(f"{self.path}: tensor {name!r} spans bytes {begin}..{end}, which does "
                         f"not fit its shape/dtype or the file ({size} bytes); the file is "
                         "truncated or corrupt.")

  def keys(self) -> list[str]:
    """Tensor names in file order (by offset), so reads walk the file forwards."""
    return sorted(self._entries, key=lambda k: self._entries[k]["data_offsets"][0])

  def shape(self, name: str) -> tuple[int, ...]:
    return tuple(self._entries[name]["shape"])

  def dtype(self, name: str) -> np.dtype:
    return np.dtype(_DTYPES[self._entries[name]["dtype"]])

  def read(self, name: str, out: np.ndarray | None = None,
           rows: tuple[int, int] | None = None) -> np.ndarray:
    """Tensor `name` (or its rows [start, stop) along axis 0), read into `out` (C-contiguous,
    matching shape and dtype) or into a new array."""
    if name not in self._entries:
      raise KeyError(f"{self.path}: no tensor {name!r}")
    shape, dtype = self.shape(name), self.dtype(name)
    begin, end = self._entries[name]["data_offsets"]
    if rows is not None:
      start, stop = rows
      if not shape or not 0 <= start <= stop <= shape[0]:
        raise ValueError(f"read({name!r}): rows {rows} outside {list(shape)}")
      row_bytes = (end - begin) // shape[0] if shape[0] else 0
      begin, end = begin + start * row_bytes, begin + stop * row_bytes
      shape = (stop - start,) + shape[1:]
    if out is None:
      out = np.empty(shape, dtype)
    elif out.shape != shape or out.dtype != dtype or not out.flags.c_contiguous:
      raise ValueError(f"read({name!r}): out must be C-contiguous {dtype}{list(shape)}, got "
                       f"{out.dtype}{list(out.shape)}")
    self._file.seek(self._start + begin)
    view = memoryview(out.reshape(-1).view(np.uint8))
    done = 0
    while done < end - begin:
      got = self._file.readinto(view[done:])
      if not got:
        raise ValueError(f"{self.path}: unexpected end of file while reading {name!r}.")
      done += got
    if not np.little_endian and dtype.itemsize > 1:   # the format is little-endian
      out.byteswap(inplace=True)
    return out

  def close(self) -> None:
    self._file.close()

  def __enter__(self) -> "SafetensorsFile":
    return self

  def __exit__(self, *exc) -> None:
    self.close()

