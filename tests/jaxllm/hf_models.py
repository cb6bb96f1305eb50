"""Tiny random Hugging Face checkpoints, built locally with transformers (PyTorch CPU, float32).

Each family exercises one feature set of our Transformer: GQA + untied embeddings (Llama), Llama-3
rope scaling with a single KV head, Qwen2 q/k/v bias + tied embeddings, Qwen3 per-head q/k norm with
head_dim != hidden/heads, and YaRN rope on a Mistral config. Biases and norm scales are perturbed
away from HF's zeros/ones init so the parity tests actually see them.
"""

from __future__ import annotations

from pathlib import Path

import torch
import transformers

_COMMON = dict(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
               num_attention_heads=4, max_position_embeddings=128, rms_norm_eps=1e-6,
               bos_token_id=1, eos_token_id=2, pad_token_id=0)

FAMILIES = {
    "llama_gqa": (transformers.LlamaConfig, transformers.LlamaForCausalLM,
                  dict(num_key_value_heads=2, tie_word_embeddings=False)),
    "llama3_rope": (transformers.LlamaConfig, transformers.LlamaForCausalLM,
                    dict(num_key_value_heads=1, tie_word_embeddings=False,
                         rope_parameters={"rope_type": "llama3", "rope_theta": 10000.0,
                                          "factor": 8.0, "low_freq_factor": 1.0,
                                          "high_freq_factor": 4.0,
                                          "original_max_position_embeddings": 16})),
    "qwen2_bias_tied": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM,
                        dict(num_key_value_heads=2, tie_word_embeddings=True)),
    "qwen3_qknorm": (transformers.Qwen3Config, transformers.Qwen3ForCausalLM,
                     dict(num_key_value_heads=2, head_dim=16, tie_word_embeddings=False)),
    # Byte-level vocabulary (jaxllm.tokenizers.ByteTokenizer: EOS 257, PAD 258) for sampler tests.
    "llama_bytes": (transformers.LlamaConfig, transformers.LlamaForCausalLM,
                    dict(num_key_value_heads=2, tie_word_embeddings=True, vocab_size=259,
                         bos_token_id=256, eos_token_id=257, pad_token_id=258)),
    "mistral_yarn": (transformers.MistralConfig, transformers.MistralForCausalLM,
                     dict(num_key_value_heads=2, sliding_window=None, tie_word_embeddings=False,
                          rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0,
                                           "factor": 4.0,
                                           "original_max_position_embeddings": 32})),
}

PARITY_FAMILIES = [name for name in FAMILIES if name != "llama_bytes"]


def make_hf_model(name: str, directory: Path, seed: int = 0) -> torch.nn.Module:
  """Creates, perturbs and saves one tiny model; returns it in eval mode."""
  config_cls, model_cls, extra = FAMILIES[name]
  torch.manual_seed(seed)
  config = config_cls(**{**_COMMON, **extra})
  model = model_cls(config).float().eval()
  with torch.no_grad():
    for pname, p in model.named_parameters():
      if "norm" in pname or pname.endswith("bias"):
        p.add_(0.1 * torch.randn_like(p))
  model.save_pretrained(directory)
  return model
