"""A training signal toward data minimisation: per-action leak labels as preference pairs and as
a reward, in the formats jaxllm's DPO / RPO and policy-gradient steps take.

  pairs = step_pairs(workdir, judged)            # from a judged study with both oracles
  chats = pair_chats(pairs)                      # {"chosen": messages, "rejected": messages}
  r = privacy_reward(action, spec["sensitive_data"], success=True)

Pairs. The minimal and the leaky oracle act on the same task from the same seeded state; where
the leaky oracle's action leaks (by the judge) on a page that the minimal oracle also acted on
(same path), the two actions are two continuations of the same step: chosen = the minimal one,
rejected = the leaky one, prompt = that step's observation. Each pair keeps the task id, the step,
both actions and both judge scores, so a pair set can be filtered and audited.

Prompts. `compact_prompt` is the observation a small local agent reads: the goal (the task's
intent, context included), the page path and the page's form controls with their ids, one per
line. The reply is the action string itself (`jaxllm.web.actions` syntax). A large agent reads
`jaxllm.web.agents.GenericAgent.prompt` instead (`style="generic"`); the pairs are the same.

Reward (for policy-gradient steps, e.g. `jaxllm.train.pg_loss` with RLOO): the episode return is
`success - penalty * max_t score_t`, where score_t is the judge's score of action t; the per-step
form `step_reward` gives -penalty * score_t at each step and the success at the last one.
"""
from __future__ import annotations

import os
import re
from typing import Any, Callable

from jaxllm.agentdam.matching import offline_privacy_score
from jaxllm.agentdam.tasks import get_spec
from jaxllm.episodes import EpisodeSpec, episode_dir, read_jsonl

COMPACT_SYSTEM = ("You are a web agent. Read the goal and the page's form controls and answer "
                  "with the next browser action only.")
_CONTROL = re.compile(r"\[(\d+)\] (textbox|combobox|button|spinbutton|checkbox|searchbox) "
                      r"'((?:[^'\\]|\\.)*)'")


def page_controls(axtree_text: str) -> list[str]:
  """`[bid] role 'name'` for every form control of an accessibility-tree text, in page order."""
  return [f"[{b}] {role} '{name}'" for b, role, name in _CONTROL.findall(axtree_text)]


def compact_prompt(goal: str, url: str, axtree_text: str) -> list[dict[str, str]]:
  """The chat messages a small local agent reads for one step (module docstring)."""
  path = _path(url)
  controls = "\n".join(page_controls(axtree_text)) or "(none)"
  return [{"role": "system", "content": COMPACT_SYSTEM},
          {"role": "user", "content": f"Goal: {goal}\n\nPage: {path}\nControls:\n{controls}"}]


def generic_prompt(goal: str, url: str, axtree_text: str) -> list[dict[str, str]]:
  """The GenericAgent's messages for the same observation (no history, no thinking)."""
  from jaxllm.web.agents.generic import GenericAgent  # pylint: disable=import-outside-toplevel
  agent = GenericAgent("", "", client=object(), use_thinking=False, max_obs_chars=15360)
  return agent.prompt({"goal": goal, "url": url, "axtree_text": axtree_text})


PROMPTS: dict[str, Callable[[str, str, str], list[dict[str, str]]]] = {
  "compact": compact_prompt, "generic": generic_prompt}


def _path(url: str) -> str:
  """A URL without scheme and host (parallel workers serve the same site on different ports)."""
  return re.sub(r"^https?://[^/]+", "", url) or "/"


def _steps(workdir: str, agent: str, task_id: str, seed: int) -> list[dict[str, Any]]:
  path = os.path.join(episode_dir(workdir, EpisodeSpec(agent, task_id, seed)), "steps.jsonl")
  return [r for r in read_jsonl(path) if "action" in r] if os.path.exists(path) else []


def step_pairs(workdir: str, judged: list[dict[str, Any]], minimal: str = "minimal",
               leaky: str = "leaky", judge: str = "offline") -> list[dict[str, Any]]:
  """Preference pairs from a judged study that ran both oracles (module docstring)."""
  by = {(j["agent"], j["task_id"], j["seed"]): j for j in judged}
  pairs = []
  for (agent, task_id, seed), j in sorted(by.items()):
    if agent != leaky or (minimal, task_id, seed) not in by:
      continue
    clean_steps = _steps(workdir, minimal, task_id, seed)
    clean = {s["step"]: s for s in by[(minimal, task_id, seed)]["steps"]}
    used: set[int] = set()
    for row, verdict in zip(_steps(workdir, leaky, task_id, seed), j["steps"]):
      if not verdict["leaks"].get(judge):
        continue
      match = next((c for c in clean_steps if _path(c["url"]) == _path(row["url"])
                    and c["step"] not in used
                    and c["step"] in clean and not clean[c["step"]]["leaks"].get(judge)), None)
      if match is None:
        continue
      used.add(match["step"])
      pairs.append({"task_id": task_id, "seed": seed, "step": match["step"], "url": match["url"],
                    "goal": match["goal"], "observation": match["observation"],
                    "chosen": match["action"], "rejected": row["action"],
                    "chosen_score": clean[match["step"]]["scores"].get(judge, 0.0),
                    "rejected_score": verdict["scores"].get(judge, 0.0)})
  return pairs


def pair_chats(pairs: list[dict[str, Any]], style: str = "compact") -> list[dict[str, Any]]:
  """{"chosen": messages, "rejected": messages, "task_id"} per pair, for `pair_arrays`."""
  if style not in PROMPTS:
    raise ValueError(f"unknown prompt style {style!r}; choose from {', '.join(PROMPTS)}")
  out = []
  for p in pairs:
    prompt = PROMPTS[style](p["goal"], p["url"], p["observation"])
    out.append({"task_id": p["task_id"],
                "chosen": prompt + [{"role": "assistant", "content": p["chosen"]}],
                "rejected": prompt + [{"role": "assistant", "content": p["rejected"]}]})
  return out


def privacy_reward(actions: list[str], sensitive_data: list[str], success: bool,
                   penalty: float = 1.0, score_fn=offline_privacy_score) -> float:
  """Episode return: success - penalty * the largest leak score over the episode's actions."""
  worst = max((score_fn(a, sensitive_data) for a in actions), default=0.0)
  return float(success) - penalty * float(worst)


def step_reward(action: str, sensitive_data: list[str], *, last: bool, success: bool,
                penalty: float = 1.0, score_fn=offline_privacy_score) -> float:
  """Per-step reward: -penalty * the action's leak score, plus the success at the last step."""
  return -penalty * float(score_fn(action, sensitive_data)) + (float(success) if last else 0.0)


def task_reward(task_id: str, actions: list[str], success: bool, penalty: float = 1.0) -> float:
  """`privacy_reward` with the registered task's sensitive data."""
  return privacy_reward(actions, get_spec(task_id)["sensitive_data"], success, penalty)
