"""InSTA task proposer: ask a model for one feasible task on a website, with a safety filter.

    client = ChatClient("http://127.0.0.1:8000/v1", model="qwen")
    proposal = propose(client, "http://127.0.0.1:8080/", page_summary="A gardening forum.")
    proposal.usable      # valid, safe and judged feasible: hand proposal.proposed_task to the agent
    parse_proposal('```json\\n{"proposed_task": null, ...}\\n```')   # all null: safe=False

The model answers with an analysis and then a JSON object (the last ```json fenced block, or a bare
object) with exactly `proposed_task`, `task_is_feasible`, `estimated_difficulty` and
`estimated_steps`. All four null means the site is unsafe (harmful, illegal or mature content) and
is the safety filter. The JSON is read with `json.loads` only; anything malformed gives a proposal
with `valid=False` and a one-line `reason`.
"""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from jaxllm.insta.actions import ActionParseError, last_json_block

PROPOSAL_KEYS = ("proposed_task", "task_is_feasible", "estimated_difficulty", "estimated_steps")
MAX_REPLY_CHARS = 100_000
MAX_TASK_CHARS = 2000

PROPOSER_SYSTEM_PROMPT = """\
You are helping build a dataset of tasks for web navigation agents. You will be given the URL of a \
website (and sometimes a short summary of its front page). Propose ONE realistic task that a user \
could complete on this website with a web browser.

Requirements for the task:
- It must be completable without logging in, creating an account, making a purchase, or posting, \
submitting, sending or changing any content on the website.
- It should be a task for finding or looking up information on the site, so it ends with an \
answer that can be checked (for example a price, a date, a name, a count, or a page's title).
- It must be specific to this website and describe exactly what the user wants, in one or two \
sentences, without telling the agent which links or buttons to use.
- It should be feasible: the information it asks for is likely to be on the website.

Safety: if the website hosts harmful, illegal, hateful, violent or mature (adult) content, do not \
propose a task; set every field of the JSON object to null instead.

First write a short analysis of what the website offers and what a user might want there. Then \
end your reply with a JSON object in a fenced code block, with exactly these keys:

```json
{
  "proposed_task": "the task, as an instruction to the agent (a string), or null",
  "task_is_feasible": true,
  "estimated_difficulty": "easy, medium or hard",
  "estimated_steps": 5
}
```

`task_is_feasible` is true or false, `estimated_difficulty` is one of "easy", "medium" or \
"hard", and `estimated_steps` is the number of browser actions (clicks, typing, scrolling) you \
expect the task to need, as an integer. For an unsafe website all four values are null."""

USER_TEMPLATE = "## Propose a task for this website\n\n{site_url}"
SUMMARY_TEMPLATE = "\n\nA short summary of the website's front page:\n\n{page_summary}"


@dataclasses.dataclass(frozen=True)
class Proposal:
  """A parsed proposer reply; `safe` False for the all-null answer, `valid` False if malformed."""
  proposed_task: str | None
  task_is_feasible: bool | None
  estimated_difficulty: str | None
  estimated_steps: int | None
  safe: bool
  valid: bool
  reason: str = ""

  @property
  def usable(self) -> bool:
    """A task worth running: a valid, safe proposal the model judged feasible."""
    return self.valid and self.safe and bool(self.task_is_feasible) and bool(self.proposed_task)

  def to_json(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, obj: dict[str, Any]) -> Proposal:
    return cls(**{f.name: obj.get(f.name, "" if f.name == "reason" else None)
                  for f in dataclasses.fields(cls)})


def _invalid(reason: str) -> Proposal:
  return Proposal(None, None, None, None, safe=False, valid=False, reason=reason)


def last_json_object_text(text: str) -> Any:
  """The decoded last ```json block of text, else the last bare JSON object in it; ValueError."""
  try:
    return json.loads(last_json_block(text))
  except ActionParseError:
    pass  # no fenced block: look for a bare object
  decoder = json.JSONDecoder()
  found: Any = None
  i = text.find("{")
  while i >= 0:
    try:
      obj, end = decoder.raw_decode(text, i)
    except (ValueError, RecursionError):
      i = text.find("{", i + 1)
      continue
    if isinstance(obj, dict):
      found = obj
    i = text.find("{", end)
  if found is None:
    raise ValueError("no JSON object found in the reply")
  return found


def parse_proposal(text: str) -> Proposal:
  """The proposal in a proposer reply (the last ```json block or bare JSON object)."""
  if not isinstance(text, str):
    return _invalid(f"the reply must be a string, got {type(text).__name__}")
  if len(text) > MAX_REPLY_CHARS:
    return _invalid(f"the reply is longer than {MAX_REPLY_CHARS} characters")
  try:
    obj = last_json_object_text(text)
  except json.JSONDecodeError as e:
    return _invalid(f"the json block is not valid JSON: {e.msg} at line {e.lineno} "
                    f"column {e.colno}")
  except RecursionError:
    return _invalid("the json block is nested too deeply")
  except ValueError as e:
    return _invalid(str(e)[:200])
  if not isinstance(obj, dict):
    return _invalid(f"the proposal must be a JSON object, got {type(obj).__name__}")
  missing = [k for k in PROPOSAL_KEYS if k not in obj]
  if missing:
    return _invalid(f"missing key(s) {', '.join(missing)}")
  extra = sorted(k for k in obj if k not in PROPOSAL_KEYS)
  if extra:
    return _invalid(f"unknown key(s) {', '.join(repr(k[:40]) for k in extra[:5])}")
  if all(obj[k] is None for k in PROPOSAL_KEYS):
    return Proposal(None, None, None, None, safe=False, valid=True,
                    reason="the model marked the website unsafe (all fields null)")
  task, feasible = obj["proposed_task"], obj["task_is_feasible"]
  difficulty, steps = obj["estimated_difficulty"], obj["estimated_steps"]
  if not isinstance(task, str) or not task.strip():
    return _invalid("proposed_task must be a non-empty string (or every field null)")
  if len(task) > MAX_TASK_CHARS:
    return _invalid(f"proposed_task is longer than {MAX_TASK_CHARS} characters")
  if not isinstance(feasible, bool):
    return _invalid("task_is_feasible must be true or false")
  if isinstance(difficulty, (int, float)) and not isinstance(difficulty, bool):
    difficulty = str(difficulty)
  if not isinstance(difficulty, str) or len(difficulty) > 100:
    return _invalid("estimated_difficulty must be a short string")
  if isinstance(steps, float) and math.isfinite(steps) and steps == int(steps):
    steps = int(steps)
  if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps <= 10_000:
    return _invalid("estimated_steps must be a non-negative integer")
  return Proposal(task.strip(), feasible, difficulty.strip(), steps, safe=True, valid=True,
                  reason="" if feasible else "the model judged the task infeasible")


def proposer_messages(site_url: str, page_summary: str = "") -> list[dict[str, str]]:
  """The proposer's chat: its system prompt, then the site URL (and page summary when given)."""
  user = USER_TEMPLATE.format(site_url=site_url)
  if page_summary:
    user += SUMMARY_TEMPLATE.format(page_summary=page_summary)
  return [{"role": "system", "content": PROPOSER_SYSTEM_PROMPT},
          {"role": "user", "content": user}]


def reply_text(response: dict[str, Any]) -> str:
  """The first choice's message text of a chat.completion response ("" when absent)."""
  try:
    return response["choices"][0]["message"].get("content") or ""
  except (KeyError, IndexError, TypeError, AttributeError):
    return ""


def propose(client: Any, site_url: str, *, page_summary: str = "",
            temperature: float = 0.5, **sampling: Any) -> Proposal:
  """Asks `client` (a `jaxllm.client.ChatClient`) for a task on `site_url`."""
  response = client.chat_completion(proposer_messages(site_url, page_summary),
                                    temperature=temperature, **sampling)
  return parse_proposal(reply_text(response))
