"""Browser environments for web agents: a BrowserGym-compatible gymnasium env on host processes.

  import jaxllm.web as web
  web.list_tasks()                         # ['forum.comment', 'forum.upvote', ...]
  env = web.make_env("shop.wishlist_add")  # starts the sandbox sites on loopback if needed
  obs, info = env.reset(seed=0)
  obs, reward, terminated, truncated, info = env.step("click('12')")
  env.close()

Pieces: `actions` (safe action-string parser), `executor` (runs parsed actions with Playwright),
`browser` (system Chromium session with a host allow-list), `observe` and `axtree` (bids, CDP
snapshots, prompt text), `env` (the gymnasium env), `sites` (sandbox shop, forum, issue tracker,
webmail) and `tasks` (tasks on those sites with validators and scripted oracles).

Agents and studies: `agents` (the scripted oracle and an AgentLab-style LLM agent over any
OpenAI-compatible endpoint, one interface), `episode` (`BrowserRunner`: one recorded episode in
a long-lived browser worker), `study` (agent x task x seed studies, success-rate table; run it
with `experiments/configs/webagents.py`), and `bgym` (our tasks registered in BrowserGym's own
env). The worker pools, timeouts, relaunches and resume are `jaxllm.episodes`, shared with
browser-free episodes (text games).

The browser is the system Chromium (`bash scripts/setup_system.sh` installs Debian's; the
JAXLLM_CHROMIUM environment variable overrides the path). Playwright never downloads one.
"""
from __future__ import annotations

from typing import Any

from jaxllm.web.actions import ActionCall, ActionError, action_help, parse_action
from jaxllm.web.axtree import axtree_to_text, find_bid
from jaxllm.web.browser import BrowserNotFoundError, find_chromium


def list_tasks() -> list[str]:
  """Ids of all registered tasks, sorted."""
  from jaxllm.web.tasks import TASKS  # pylint: disable=import-outside-toplevel
  return sorted(TASKS)


def make_env(task_id: str, *, base_urls: dict[str, str] | None = None, **options: Any):
  """A gymnasium env for one task.

  Args:
    task_id: one of `list_tasks()`.
    base_urls: site name -> base URL of running sandbox sites (e.g. from
      `python -m jaxllm.web.sites`); by default the sites are started in this process on
      ephemeral loopback ports (once per process).
    **options: passed to `BrowserEnv`: headless, screenshot, viewport, allowed_hosts, timeout_ms,
      max_steps, upload_dir, chromium_path, session (a `browser.BrowserSession` to share one
      Chromium between envs that run one at a time).
  """
  # Imported here so that parsing actions needs neither Playwright's driver nor the sites.
  from jaxllm.web.env import BrowserEnv  # pylint: disable=import-outside-toplevel
  from jaxllm.web.sites import default_sandbox  # pylint: disable=import-outside-toplevel
  from jaxllm.web.tasks import TASKS  # pylint: disable=import-outside-toplevel
  if task_id not in TASKS:
    raise ValueError(f"unknown web task {task_id!r}; choose from {', '.join(sorted(TASKS))}")
  if options.get("chromium_path") is None and options.get("session") is None:
    options["chromium_path"] = find_chromium()  # fail early with the setup hint
  urls = base_urls if base_urls is not None else default_sandbox().urls
  return BrowserEnv(TASKS[task_id], urls, **options)


__all__ = ["ActionCall", "ActionError", "BrowserNotFoundError", "action_help", "axtree_to_text",
           "find_bid", "find_chromium", "list_tasks", "make_env", "parse_action"]
