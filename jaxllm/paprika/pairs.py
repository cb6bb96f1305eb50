"""Preference pairs from collected trajectories, and their token batches for RPO.

    pairs = select_pairs(trajs, np.random.default_rng(0), threshold=2)
    batch = pair_arrays(tokenizer, pairs, max_len=2048, pad_id=pad)   # chosen_/rejected_ arrays

The rule (authors' code): per scenario, drop invalid trajectories (dropped after too many
unparsable replies); sort by (failed, turns); chosen = the fewest-turn success; rejected = drawn at
random from the failures and from the successes at least `threshold` turns longer than the chosen;
one pair per scenario; with no rejected candidate, rejected = chosen, so only RPO's NLL term acts
(the DPO log-ratio difference is exactly zero). A scenario with no success gives no pair.
`threshold` is not in the facts we have: 2 by default (a config value). Context overflows count as
failures. Ties in (failed, turns) keep collection order.

Token layout: each chat is tokenized with `jaxllm.data.tokenize_chat` (loss on the agent's turns
only, the end-of-turn token included) up to the agent's last reply; chosen and rejected are
right-padded to one length (a multiple of `bucket`). A pair with a side longer than `max_len` is
skipped (a truncated multi-turn chat would train on a game that never ended) and counted.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

import numpy as np

from jaxllm.data.chat import tokenize_chat


def scenario_key(traj: dict[str, Any]) -> str:
  s = traj["scenario"]
  return f"{s['group']}/{s['split']}/{s['id']}"


def training_messages(traj: dict[str, Any]) -> list[dict[str, str]]:
  msgs = traj["messages"]
  idx = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
  return msgs[:idx[-1] + 1] if idx else []


def select_pair(trajs: Sequence[dict[str, Any]], rng: np.random.Generator, threshold: int = 2
                ) -> tuple[dict[str, Any], dict[str, Any]] | None:
  """(chosen, rejected) for one scenario's trajectories, or None (module docstring)."""
  valid = [t for t in trajs if not t["dropped"]]
  order = sorted(range(len(valid)), key=lambda i: (not valid[i]["success"], valid[i]["turns"], i))
  if not order or not valid[order[0]]["success"]:
    return None
  chosen = valid[order[0]]
  cands = [t for i, t in enumerate(valid) if i != order[0] and
           (not t["success"] or t["turns"] >= chosen["turns"] + threshold)]
  rejected = cands[int(rng.integers(len(cands)))] if cands else chosen
  return chosen, rejected


def group_by_scenario(trajs: Sequence[dict[str, Any]]) -> "OrderedDict[str, list[dict[str, Any]]]":
  groups: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
  for t in trajs:
    groups.setdefault(scenario_key(t), []).append(t)
  return groups


def select_pairs(trajs: Sequence[dict[str, Any]], rng: np.random.Generator, threshold: int = 2
                 ) -> list[dict[str, Any]]:
  """One {'scenario', 'chosen', 'rejected', 'chosen_turns', 'rejected_turns', ...} per scenario
  with a success, in first-seen scenario order."""
  out = []
  for key, group in group_by_scenario(trajs).items():
    pair = select_pair(group, rng, threshold)
    if pair is None:
      continue
    c, r = pair
    out.append({"scenario": c["scenario"], "key": key,
                "chosen": training_messages(c), "rejected": training_messages(r),
                "chosen_turns": c["turns"], "rejected_turns": r["turns"],
                "rejected_success": bool(r["success"]), "same": c is r})
  return out


def pair_arrays(tokenizer: Any, pairs: Sequence[dict[str, Any]], max_len: int, pad_id: int,
                bucket: int = 64) -> tuple[dict[str, np.ndarray], int]:
  """({chosen_,rejected_}{tokens,attention_mask,loss_mask} [N, T]), number of pairs skipped)."""
  rows = []
  skipped = 0
  for p in pairs:
    c = tokenize_chat(tokenizer, p["chosen"])
    r = tokenize_chat(tokenizer, p["rejected"])
    if max(len(c[0]), len(r[0])) > max_len:
      skipped += 1
      continue
    rows.append((c, r))
  longest = max([max(len(c[0]), len(r[0])) for c, r in rows], default=1)
  t = min(-(-longest // bucket) * bucket, max(max_len, 1))
  n = len(rows)
  out = {f"{side}_{k}": np.zeros((n, t), dt) for side in ("chosen", "rejected")
         for k, dt in (("tokens", np.int32), ("attention_mask", bool), ("loss_mask", bool))}
  for side in ("chosen", "rejected"):
    out[f"{side}_tokens"][:] = pad_id
  for i, (c, r) in enumerate(rows):
    for side, (ids, mask) in (("chosen", c), ("rejected", r)):
      out[f"{side}_tokens"][i, :len(ids)] = ids
      out[f"{side}_attention_mask"][i, :len(ids)] = True
      out[f"{side}_loss_mask"][i, :len(ids)] = mask
  return out, skipped
