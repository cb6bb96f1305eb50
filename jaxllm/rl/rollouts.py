"""Rollouts: P prompts x n samples from the jitted sampler, laid out as one training batch.

    batch = collect(sampler, prompt_ids, SamplingParams(n=32, max_new_tokens=64, temperature=1.0))
    batch.tokens          [B, Lp + Lc] int32: prompt left-padded to Lp, completion right-padded
    batch.attention_mask  [B, T] bool, real tokens
    batch.loss_mask       [B, T] bool, completion tokens (the stop token that ended one included)
    batch.sampler_logprobs[B, T] float32, the sampler's log-probs aligned like
                          `jaxllm.train.token_logprobs` (entry t scores tokens[t])
    batch.texts, .prompt_index, .lengths, .finish_reasons

Rows are prompt-major: rows [i*n, (i+1)*n) are the n samples of prompt i (the group RLOO uses).
Lp is the prompt bucket (a power-of-two multiple of `prompt_bucket`) and Lc = max_new_tokens, so
shapes, and the update's compilation, stay fixed across steps. With `length_bucket=k` the layout is
tight instead: Lp and Lc are the longest prompt and completion rounded up to multiples of k (fewer
padded tokens for the reference and update passes, at the cost of one compilation per shape seen;
short answers under a long max_new_tokens are where it pays). The sampler prefills each prompt
once and shares it across its n samples, reading the trainer's device parameters directly
(`sampler.update(state["params"])`: no host copy).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from jaxllm.sampling import Sampler, SamplingParams


def bucket(n: int, minimum: int) -> int:
  size = minimum
  while size < n:
    size *= 2
  return size


@dataclasses.dataclass
class Rollouts:
  tokens: np.ndarray
  attention_mask: np.ndarray
  loss_mask: np.ndarray
  sampler_logprobs: np.ndarray
  prompt_index: np.ndarray
  lengths: np.ndarray
  texts: list[str]
  finish_reasons: list[str]
  group_size: int
  prompt_len: int

  @property
  def num_prompts(self) -> int:
    return len(self.texts) // self.group_size

  def groups(self) -> list[list[str]]:
    """The texts of each prompt's n samples."""
    n = self.group_size
    return [self.texts[i * n:(i + 1) * n] for i in range(self.num_prompts)]

  def arrays(self) -> dict[str, np.ndarray]:
    """The training-batch arrays (what the update jits over)."""
    return {"tokens": self.tokens, "attention_mask": self.attention_mask,
            "loss_mask": self.loss_mask, "sampler_logprobs": self.sampler_logprobs}


def collect(sampler: Sampler, prompt_ids: Sequence[Sequence[int]], params: SamplingParams,
            pad_id: int = 0, prompt_bucket: int = 16, length_bucket: int = 0) -> Rollouts:
  """Samples params.n completions per prompt and lays them out (module docstring)."""
  outs = sampler.generate([list(p) for p in prompt_ids], params)
  n, lc = params.n, params.max_new_tokens
  longest = max(len(p) for p in prompt_ids)
  if length_bucket > 0:
    up = lambda x: -(-max(x, 1) // length_bucket) * length_bucket
    lp, lc = up(longest), min(up(max(len(o.tokens) for o in outs)), lc)
  else:
    lp = bucket(longest, prompt_bucket)
  b = len(outs)
  tokens = np.full((b, lp + lc), pad_id, np.int32)
  attn = np.zeros((b, lp + lc), bool)
  loss = np.zeros((b, lp + lc), bool)
  slp = np.zeros((b, lp + lc), np.float32)
  lengths = np.zeros((b,), np.int32)
  for r, o in enumerate(outs):
    prompt = prompt_ids[o.prompt_index]
    tokens[r, lp - len(prompt):lp] = prompt
    attn[r, lp - len(prompt):lp] = True
    k = len(o.tokens)
    tokens[r, lp:lp + k] = o.tokens
    attn[r, lp:lp + k] = True
    loss[r, lp:lp + k] = True
    slp[r, lp:lp + k] = o.logprobs[:k]
    lengths[r] = k
  return Rollouts(tokens, attn, loss, slp, np.repeat(np.arange(len(prompt_ids)), n), lengths,
                  [o.text or "" for o in outs], [o.finish_reason for o in outs], n, lp)
