"""The checkpoint reader: exact agreement with safetensors / transformers' tensors, dtype casts,
block-wise transposes, corrupt files, and the host memory a load costs."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from jaxllm import hf_io
from jaxllm.hf_io import load_hf_model, save_hf_model
from jaxllm.safetensors_read import SafetensorsFile

ROOT = Path(__file__).resolve().parents[2]


def test_reader_matches_safetensors(tmp_path):
  g = torch.Generator().manual_seed(0)
  tensors = {
      "f32": torch.randn(5, 7, generator=g),
      "bf16": torch.randn(6, 3, generator=g).bfloat16(),
      "f16": torch.randn(4, generator=g).half(),
      "i64": torch.arange(12).reshape(3, 4),
      "scalar": torch.tensor(3.5),
  }
  file = tmp_path / "t.safetensors"
  save_file(tensors, str(file), metadata={"format": "pt"})
  with SafetensorsFile(file) as ours, safe_open(str(file), framework="pt") as ref:
    assert sorted(ours.keys()) == sorted(tensors)
    assert ours.metadata == {"format": "pt"}
    for name in tensors:
      want = ref.get_tensor(name)
      got = ours.read(name)
      if want.dtype == torch.bfloat16:
        assert got.dtype == ml_dtypes.bfloat16
        want = want.float()
        got = got.astype(np.float32)
      np.testing.assert_array_equal(got, want.numpy())
    np.testing.assert_array_equal(ours.read("f32", rows=(2, 4)), tensors["f32"][2:4].numpy())
    with pytest.raises(ValueError, match="rows"):
      ours.read("f32", rows=(3, 9))


def test_truncated_file_is_one_clear_error(tmp_path):
  file = tmp_path / "t.safetensors"
  save_file({"w": torch.ones(64, 64)}, str(file))
  data = file.read_bytes()
  file.write_bytes(data[:-100])
  with pytest.raises(ValueError, match="truncated or corrupt"):
    SafetensorsFile(file)
  file.write_bytes(b"\xff" * 8 + b"{}")
  with pytest.raises(ValueError, match="header length"):
    SafetensorsFile(file)


@pytest.mark.parametrize("family", ["llama_gqa", "qwen2_bias_tied"])
def test_loaded_params_equal_the_torch_tensors(hf_checkpoints, family, monkeypatch):
  """Every tensor, converted exactly; tiny row blocks take the multi-block path."""
  directory, torch_model = hf_checkpoints[family]
  ref = {k: v.detach().numpy() for k, v in torch_model.state_dict().items()}
  monkeypatch.setattr(hf_io, "_BLOCK_BYTES", 200)   # several blocks per matrix
  model = load_hf_model(directory)
  for name, entry in hf_io.weight_map(model.cfg).items():
    ours = np.asarray(hf_io._variable(model, entry.path).value)
    np.testing.assert_array_equal(entry.to_hf(ours), ref[name], err_msg=name)
  # Cast on the way in: float32 file -> bfloat16 parameters, exactly numpy's rounding.
  model16 = load_hf_model(directory, param_dtype="bfloat16")
  q = np.asarray(model16.layers[0].attn.q_proj.value)
  assert q.dtype == ml_dtypes.bfloat16
  want = ref["model.layers.0.self_attn.q_proj.weight"].astype(ml_dtypes.bfloat16)
  np.testing.assert_array_equal(hf_io._LINEAR[1](q), want)


def test_bfloat16_checkpoint_loads_into_float32(hf_checkpoints, tmp_path):
  directory, torch_model = hf_checkpoints["llama_gqa"]
  out = tmp_path / "bf16"
  copy.deepcopy(torch_model).to(torch.bfloat16).save_pretrained(out)   # the fixture is shared
  model = load_hf_model(out)
  assert model.lm_head.value.dtype == np.float32
  want = torch_model.lm_head.weight.detach().bfloat16().float().numpy()
  np.testing.assert_array_equal(np.asarray(model.lm_head.value).T, want)


_CHILD = r"""
import json, sys
import jax
from flax import nnx
from jaxllm.hf_io import load_hf_model

def status(key):
  for line in open("/proc/self/status"):
    if line.startswith(key + ":"):
      return int(line.split()[1]) * 1024

jax.block_until_ready(jax.numpy.zeros(1))
with open("/proc/self/clear_refs", "w") as f:   # reset the peak (VmHWM) to the current RSS
  f.write("5")
before = status("VmRSS")
model = load_hf_model(sys.argv[1])
jax.block_until_ready(jax.tree.leaves(nnx.state(model)))
print(json.dumps({"growth": status("VmHWM") - before}))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_load_peak_host_memory_is_about_one_checkpoint(tmp_path):
  """Loading a ~70 MB checkpoint grows the peak RSS by at most 1.3x its size (the memory-mapped
  safe_open path needed ~2x: the mapped file pages count in RSS)."""
  from flax import nnx

  from jaxllm.models import ModelConfig, Transformer
  cfg = ModelConfig(vocab_size=8192, hidden_size=512, intermediate_size=1536, num_layers=4,
                    num_heads=8, num_kv_heads=4, head_dim=64, tie_word_embeddings=False)
  save_hf_model(Transformer(cfg, rngs=nnx.Rngs(0)), tmp_path)
  size = (tmp_path / "model.safetensors").stat().st_size
  assert size > 60e6
  res = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path)], capture_output=True,
                       text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin",
                                                 "JAX_PLATFORMS": "cpu"}, timeout=300)
  assert res.returncode == 0, res.stderr[-2000:]
  growth = json.loads(res.stdout.strip().splitlines()[-1])["growth"]
  assert growth <= 1.3 * size, f"peak RSS grew {growth / size:.2f}x the checkpoint"
