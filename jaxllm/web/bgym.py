"""Our tasks inside BrowserGym's own environment (browsergym-core, part of the `web` extra).

  from jaxllm.web import bgym
  bgym.prepare_browsers_path()                   # before BrowserGym starts Playwright (see below)
  ids = bgym.register_tasks()                    # 'browsergym/jaxllm.shop.cart_add', ...
  env = gymnasium.make(ids[0], pw_chromium_kwargs={"executable_path": find_chromium()})
  obs, info = env.reset(seed=0)
  task = env.unwrapped.task.inner                # our Task, e.g. for its scripted oracle
  action = task.oracle(bgym.to_jaxllm_obs(obs))  # BrowserGym's bids work in our lookups
  obs, reward, terminated, truncated, info = env.step(action)

Tasks. `JaxllmTask` is a BrowserGym `AbstractBrowserTask` that wraps one of our task classes:
`setup(page)` and `validate(page, chat_messages)` are ours unchanged (BrowserGym's chat messages
have our format: role, timestamp, message). It keeps BrowserGym's defaults for everything else
(viewport 1280x720, `slow_mo` 1000 ms, timeout 5000 ms), so an env made with no options is
"BrowserGym with its default settings". The sandbox sites are this process's default sandbox
unless `base_urls` is given as a task keyword.

Browsers. BrowserGym launches two Chromiums per episode: the task's (which takes
`pw_chromium_kwargs={"executable_path": ...}`) and a chat window's, which is launched without
any executable path and so looks for a Playwright-downloaded build. Nothing is downloaded here:
`prepare_browsers_path()` asks this Playwright version where it would look (by launching it
against an empty folder in a subprocess and reading the path from the error), links that path to
the system Chromium, and points PLAYWRIGHT_BROWSERS_PATH at the folder. It must run before
BrowserGym's Playwright driver starts (the driver reads the variable once).

Observations. BrowserGym marks elements with its own `bid`s (stored as `browsergym_id` on AX
nodes, frames merged into one node list); `to_jaxllm_obs(obs)` returns a copy whose tree our
`axtree` helpers (and so the oracles and `axtree_to_text`) read.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from typing import Any, ClassVar

from browsergym.core.registration import register_task
from browsergym.core.task import AbstractBrowserTask

from jaxllm.web.axtree import axtree_to_text
from jaxllm.web.browser import find_chromium
from jaxllm.web.tasks.base import Task

PREFIX = "jaxllm."
_PROBE = """
from playwright.sync_api import sync_playwright
with sync_playwright() as p:
  for headless in (True, False):
    try:
      p.chromium.launch(headless=headless, timeout=5000).close()
    except Exception as e:
      print(str(e).splitlines()[0])
"""
_MISSING = re.compile(r"Executable doesn't exist at (\S+)")


class JaxllmTask(AbstractBrowserTask):
  """A BrowserGym task running one of our tasks (see the module docstring)."""
  task_cls: ClassVar[type[Task]]

  @classmethod
  def get_task_id(cls) -> str:
    return PREFIX + cls.task_cls.task_id

  def __init__(self, seed: int | None = None, base_urls: dict[str, str] | None = None):
    super().__init__(seed)
    if base_urls is None:
      from jaxllm.web.sites import default_sandbox  # pylint: disable=import-outside-toplevel
      base_urls = default_sandbox().urls
    self.inner = self.task_cls(base_urls, seed=seed)

  def setup(self, page: Any) -> tuple[str, dict]:
    return self.inner.setup(page)

  def validate(self, page: Any, chat_messages: list) -> tuple[float, bool, str, dict]:
    return self.inner.validate(page, chat_messages)


def task_class(task_id: str) -> type[JaxllmTask]:
  """The BrowserGym task class for one of our task ids."""
  from jaxllm.web.tasks import TASKS  # pylint: disable=import-outside-toplevel
  if task_id not in TASKS:
    raise ValueError(f"unknown web task {task_id!r}; choose from {', '.join(sorted(TASKS))}")
  name = "BrowserGym_" + re.sub(r"\W", "_", task_id)
  return type(name, (JaxllmTask,), {"task_cls": TASKS[task_id], "__module__": __name__})


_REGISTERED: dict[str, str] = {}


def register_tasks(task_ids: list[str] | None = None) -> list[str]:
  """Registers our tasks (default: the sandbox ones; AgentDAM and MiniWoB++ ones when named) with
  BrowserGym; returns their gym ids."""
  from jaxllm.web import list_tasks  # pylint: disable=import-outside-toplevel
  if task_ids is None:
    task_ids = [t for t in list_tasks() if not t.startswith(("miniwob.", "agentdam."))]
  out = []
  for task_id in task_ids:
    if task_id not in _REGISTERED:
      register_task(PREFIX + task_id, task_class(task_id))
      _REGISTERED[task_id] = f"browsergym/{PREFIX}{task_id}"
    out.append(_REGISTERED[task_id])
  return out


def prepare_browsers_path(folder: str | None = None, chromium: str | None = None) -> str:
  """Links the Chromium paths Playwright would use to the system Chromium; sets
  PLAYWRIGHT_BROWSERS_PATH to the folder (made under the temp dir by default) and returns it."""
  chromium = chromium or find_chromium()
  folder = os.path.abspath(folder or os.path.join(tempfile.gettempdir(), "jaxllm-pw-browsers"))
  os.makedirs(folder, exist_ok=True)
  env = dict(os.environ, PLAYWRIGHT_BROWSERS_PATH=folder)
  for _ in range(3):  # each round links what is still missing (headless shell, full browser)
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
                         timeout=120)
    missing = sorted(set(_MISSING.findall(out.stdout + out.stderr)))
    if not missing:
      break
    for path in missing:
      if not os.path.abspath(path).startswith(folder + os.sep):
        raise RuntimeError(f"Playwright looks for Chromium outside {folder}: {path}")
      os.makedirs(os.path.dirname(path), exist_ok=True)
      if os.path.lexists(path):
        os.remove(path)
      os.symlink(chromium, path)
  os.environ["PLAYWRIGHT_BROWSERS_PATH"] = folder
  return folder


def to_jaxllm_obs(obs: dict[str, Any]) -> dict[str, Any]:
  """A copy of a BrowserGym observation whose AX tree our helpers read (plus `axtree_text`)."""
  nodes = []
  for node in obs["axtree_object"].get("nodes", []):
    node = {k: v for k, v in node.items() if k != "frameId"}  # frames are merged by childIds
    if "browsergym_id" in node:
      node["bid"] = node["browsergym_id"]
    nodes.append(node)
  out = dict(obs, axtree_object={"nodes": nodes})
  out["axtree_text"] = axtree_to_text(out["axtree_object"])
  return out


__all__ = ["JaxllmTask", "prepare_browsers_path", "register_tasks", "task_class",
           "to_jaxllm_obs"]
