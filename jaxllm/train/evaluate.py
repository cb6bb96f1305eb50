"""Evaluation pieces every LLM trainer shares: held-out loss over packed rows, greedy samples.

    eval_fn = make_eval_fn(loss_fn, eval_rows, batch_size=8, max_rows=64,
                           sharding=batch_sharding(mesh))
    eval_fn(state["params"])      # {'loss', 'perplexity', 'accuracy'}, token-weighted
    sample_prompts(model, tokenizer, ["What is 7 plus 5?"], max_new_tokens=48)

The held-out batches are built and placed once (every process holds the same rows, so each
batch is a global array placed with `sharding`); each call runs one jitted forward per batch and
fetches three sums, so the numbers do not depend on the batch size or the mesh: rows repeated to
fill the last batch carry no target tokens.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import jax
import numpy as np
from jax.sharding import Sharding

from jaxllm.sampling import Sampler, SamplingParams


def _place(batch: dict[str, np.ndarray], sharding: Sharding | None) -> dict[str, jax.Array]:
  if sharding is None:
    return jax.device_put(batch)
  return {k: jax.make_array_from_callback(v.shape, sharding, lambda idx, v=v: v[idx])
          for k, v in batch.items()}


def make_eval_fn(loss_fn: Callable[[Any, Any], tuple[jax.Array, dict]], rows: Any,
                 batch_size: int, max_rows: int = 0, sharding: Sharding | None = None
                 ) -> Callable[[Any], dict[str, float]]:
  """params -> {'loss', 'perplexity', 'accuracy'} over the first `max_rows` (0: all) of `rows`.

  `rows`: `jaxllm.data.chat.PackedRows` (len, `take(index)` -> batch dict with a `loss_mask`).
  `loss_fn(params, batch) -> (loss, metrics)` with token-mean `loss`, `accuracy` and the target
  count `tokens` in metrics (`jaxllm.train.sft_loss`). Scores are weighted by target tokens.
  """
  n = len(rows) if not max_rows else min(max_rows, len(rows))
  n_batches = max(1, math.ceil(n / batch_size))
  index = np.arange(n_batches * batch_size) % max(n, 1)
  batches = []
  for b in range(n_batches):
    batch = rows.take(index[b * batch_size:(b + 1) * batch_size])
    dup = np.arange(b * batch_size, (b + 1) * batch_size) >= n  # wrap-around rows: not scored
    batch["loss_mask"] = batch["loss_mask"] & ~dup[:, None]
    batches.append(_place(batch, sharding))

  @jax.jit
  def score(params, batch):
    _, m = loss_fn(params, batch)
    return m["loss"] * m["tokens"], m["accuracy"] * m["tokens"], m["tokens"]

  def eval_fn(params) -> dict[str, float]:
    totals = np.zeros(3)
    for batch in batches:
      totals += np.asarray(jax.device_get(score(params, batch)), np.float64)
    loss = totals[0] / max(totals[2], 1.0)
    return {"loss": float(loss), "perplexity": float(math.exp(min(loss, 50.0))),
            "accuracy": float(totals[1] / max(totals[2], 1.0))}

  return eval_fn


def sample_prompts(model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int
                   ) -> list[dict[str, str]]:
  """Greedy completions of `prompts`, each sent as a one-turn user chat with the generation
  prompt of the tokenizer's chat template: [{'prompt', 'completion'}]."""
  prompts = [p for p in prompts if p]
  if not prompts:
    return []
  ids = [tokenizer.apply_chat_template([{"role": "user", "content": p}],
                                       add_generation_prompt=True, tokenize=True) for p in prompts]
  outs = Sampler(model, tokenizer).generate(
      ids, SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0))
  return [{"prompt": p, "completion": o.text} for p, o in zip(prompts, outs)]
