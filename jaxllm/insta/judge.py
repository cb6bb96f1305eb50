"""InSTA judge: score a trajectory's success, efficiency and self-correction as probabilities.

    judgment = judge_trajectory(client, trajectory)   # {"success": 0.9, "efficiency": 0.7,
                                                       #  "self_correction": 0.0, "valid": True}
    keep(judgment)                                     # success > 0.5 (and a secondary score)

The judge reads the task, the last `MAX_BLOCKS` webpage/action blocks of the trajectory and the
agent's final answer, writes an analysis that first sets success criteria, and ends with a JSON
object (the last ```json block, or a bare object) of the three probabilities. Values are clamped
to [0, 1]; a missing or non-numeric value counts as 0 and marks the judgment `valid: False`.
"""
from __future__ import annotations

import json
import math
from typing import Any

from jaxllm.insta.proposer import last_json_object_text, reply_text

JUDGE_KEYS = ("success", "efficiency", "self_correction")
MAX_BLOCKS = 5
MAX_REPLY_CHARS = 100_000

JUDGE_SYSTEM_PROMPT = """\
You are an expert evaluator of web navigation agents. You will be shown a task given to an agent, \
the last webpages the agent observed (one line per element: [id: N] title role) with the action \
it took on each, and the agent's final answer.

First write an analysis. Begin it by stating the success criteria: what must be true of the \
agent's actions and final answer for the task to be completed. Then check the trajectory against \
those criteria: did the agent reach the right pages, is its final answer correct and supported by \
what it observed, did it take unnecessary steps, and did it notice and recover from its mistakes?

Then end your reply with a JSON object in a fenced code block with exactly these keys, each a \
probability between 0 and 1:

```json
{"success": 0.0, "efficiency": 0.0, "self_correction": 0.0}
```

- success: the probability that the agent completed the task and its answer is correct.
- efficiency: the probability that the agent completed the task without unnecessary actions.
- self_correction: the probability that the agent made a mistake and then corrected it.

Judge only from what is shown; an agent that stopped without reaching the goal, or whose answer \
is not supported by the webpages, did not succeed."""


def _action_text(step: dict[str, Any]) -> str:
  action = step.get("action")
  if action is None:
    return "(no valid action)"
  return json.dumps(action, ensure_ascii=False)


def judge_messages(trajectory: dict[str, Any], max_blocks: int = MAX_BLOCKS
                   ) -> list[dict[str, str]]:
  """The judge's chat: its system prompt, then the task, last blocks and final answer."""
  steps = trajectory.get("steps") or []
  first = max(0, len(steps) - max_blocks)
  parts = [f"## Task\n\n{trajectory.get('instruction', '')}"]
  if first:
    parts.append(f"({first} earlier step(s) are not shown.)")
  for i, step in enumerate(steps[first:], start=first + 1):
    parts.append(f"## Webpage {i}\n\nURL: {step.get('url', '')}\n\n{step.get('observation', '')}")
    parts.append(f"## Action {i}\n\n{_action_text(step)}")
    if step.get("action_error"):
      parts.append(f"(The action before this webpage failed: {step['action_error']})")
  answer = trajectory.get("answer")
  parts.append("## Final Answer\n\n" + (answer if answer else "(the agent gave no answer)"))
  parts.append(f"## Episode status\n\n{trajectory.get('status', '')}")
  return [{"role": "system", "content": JUDGE_SYSTEM_PROMPT},
          {"role": "user", "content": "\n\n".join(parts)}]


def parse_judgment(text: str) -> dict[str, Any]:
  """{"success", "efficiency", "self_correction", "valid", "reason"} from a judge reply."""
  out: dict[str, Any] = {k: 0.0 for k in JUDGE_KEYS}
  problems: list[str] = []
  obj: Any = None
  if not isinstance(text, str):
    problems.append(f"the reply must be a string, got {type(text).__name__}")
  elif len(text) > MAX_REPLY_CHARS:
    problems.append(f"the reply is longer than {MAX_REPLY_CHARS} characters")
  else:
    try:
      obj = last_json_object_text(text)
    except json.JSONDecodeError as e:
      problems.append(f"the json block is not valid JSON: {e.msg}")
    except (ValueError, RecursionError) as e:
      problems.append(str(e)[:200] or "the json block could not be decoded")
  if obj is not None and not isinstance(obj, dict):
    problems.append(f"the judgment must be a JSON object, got {type(obj).__name__}")
  elif isinstance(obj, dict):
    for key in JUDGE_KEYS:
      value = obj.get(key)
      if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        problems.append(f"{key} is missing or not a number")
        continue
      out[key] = float(min(1.0, max(0.0, value)))
  out["valid"] = not problems
  out["reason"] = "; ".join(problems)
  return out


def judge_trajectory(client: Any, trajectory: dict[str, Any], *, temperature: float = 0.0,
                     **sampling: Any) -> dict[str, Any]:
  """Asks `client` to judge `trajectory`; parse_judgment's dict plus the judge's reply."""
  response = client.chat_completion(judge_messages(trajectory), temperature=temperature,
                                    **sampling)
  text = reply_text(response)
  return {**parse_judgment(text), "reply": text}


def keep(judgment: dict[str, Any], success_threshold: float = 0.5,
         secondary_threshold: float = 0.0) -> bool:
  """Kept for training: success > success_threshold and, when secondary_threshold > 0, efficiency
  or self-correction > secondary_threshold (the default 0 disables that test). Invalid judgments
  are never kept."""
  if not judgment.get("valid", False):
    return False
  if not judgment.get("success", 0.0) > success_threshold:
    return False
  secondary = max(judgment.get("efficiency", 0.0), judgment.get("self_correction", 0.0))
  return secondary_threshold <= 0 or secondary > secondary_threshold
