"""A gymnasium environment over a headless browser, with BrowserGym's observation dict.

  env = jaxllm.web.make_env("shop.wishlist_add")
  obs, info = env.reset(seed=0)
  obs, reward, terminated, truncated, info = env.step("click('12')")
  print(obs["axtree_text"])

Observation keys (BrowserGym's, plus `axtree_text`): chat_messages, goal, goal_object,
open_pages_urls, open_pages_titles, active_page_index, url, screenshot (None unless
`screenshot=True`), dom_object, axtree_object, extra_element_properties, focused_element_bid,
last_action, last_action_error, elapsed_time, axtree_text.

Episodes: `reset` opens a fresh browser context (the Chromium process is reused across resets),
and the task restores its site's seeded state and signs its user in. `step` parses the action
safely (actions.py); a rejected or failing action does not end the episode: its error is shown in
`last_action_error`. The episode terminates when the task's validator says so or the agent calls
report_infeasible; it is truncated after `max_steps` steps.
"""
from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
import numpy as np

from jaxllm.web.actions import MAX_ACTION_CHARS, ActionError, parse_action
from jaxllm.web.axtree import axtree_to_text
from jaxllm.web.browser import DEFAULT_ALLOWED_HOSTS, BrowserSession
from jaxllm.web.executor import ActionExecutor
from jaxllm.web.observe import capture_snapshots, mark_frames, screenshot_array
from jaxllm.web.tasks.base import Task


class AnySpace(gym.Space):
  """A space that holds any value (structured browser observations have no fixed shape)."""

  def contains(self, x: Any) -> bool:
    return True

  def sample(self, mask: Any = None, probability: Any = None) -> Any:
    raise NotImplementedError("browser observations cannot be sampled")


class BrowserEnv(gym.Env):
  """One task in one headless Chromium (see the module docstring)."""
  metadata = {"render_modes": []}

  def __init__(self, task_cls: type[Task], base_urls: dict[str, str], *, headless: bool = True,
               screenshot: bool = False, viewport: tuple[int, int] = (1280, 720),
               allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS, timeout_ms: int = 5000,
               max_steps: int = 30, upload_dir: str | None = None,
               chromium_path: str | None = None, session: BrowserSession | None = None):
    self.task_cls = task_cls
    self.base_urls = dict(base_urls)
    self.options = dict(headless=headless, allowed_hosts=tuple(allowed_hosts),
                        viewport=viewport, timeout_ms=timeout_ms, chromium_path=chromium_path)
    self.screenshot = screenshot
    self.max_steps = max_steps
    self.upload_dir = upload_dir
    self.observation_space = AnySpace()
    self.action_space = gym.spaces.Text(max_length=MAX_ACTION_CHARS)
    # A session passed in (one Chromium shared by several envs, used one at a time) stays open on
    # close(); its allow-list and timeouts are the session's own.
    self.session: BrowserSession | None = session
    self._owns_session = session is None
    self.task: Task | None = None
    self.chat: list[dict[str, Any]] = []
    self.goal = ""
    self.last_action = ""
    self.last_action_error = ""
    self.steps = 0
    self.start_time = time.time()

  @property
  def blocked_requests(self) -> list[str]:
    """URLs the allow-list aborted during this episode."""
    return list(self.session.blocked) if self.session else []

  # ---------------------------------------------------------------- gym API
  def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    super().reset(seed=seed)
    del options
    if self.session is None:
      self.session = BrowserSession(**self.options)
    page = self.session.new_context()
    self.task = self.task_cls(self.base_urls, seed=seed)
    self.goal, task_info = self.task.setup(page)
    self.session.wait_for_load(page)
    self.chat.clear()
    self.chat.append({"role": "user", "timestamp": time.time(), "message": self.goal})
    self.last_action, self.last_action_error, self.steps = "", "", 0
    self.start_time = time.time()
    return self._observe(), {"task_id": self.task_cls.task_id, "task_info": task_info}

  def step(self, action: str) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
    assert self.session is not None and self.task is not None, "call reset() before step()"
    self.steps += 1
    self.last_action = action if isinstance(action, str) else repr(action)
    self.last_action_error = ""
    infeasible = False
    try:
      calls = parse_action(action)
      infeasible = any(c.name == "report_infeasible" for c in calls)
      ActionExecutor(self.session, self.chat, self.upload_dir).run(calls)
    except ActionError as e:
      self.last_action_error = f"ActionError: {e}"
    self._settle()
    reward, done, msg, task_info = self.task.validate(self.session.page, self.chat)
    if msg:
      self.chat.append({"role": "user", "timestamp": time.time(), "message": msg})
    obs = self._observe()
    terminated = bool(done or infeasible)
    truncated = not terminated and self.steps >= self.max_steps
    info = {"task_info": task_info, "blocked_requests": self.blocked_requests,
            "action_error": self.last_action_error}
    return obs, float(reward), terminated, truncated, info

  def close(self) -> None:
    if self.session is not None and self._owns_session:
      self.session.close()
    elif self.session is not None:
      self.session.close_context()
    self.session = None

  # ---------------------------------------------------------------- internals
  def _settle(self) -> None:
    """Lets navigations an action started begin and finish before observing."""
    assert self.session is not None
    page = self.session.page
    try:
      page.wait_for_timeout(100)
    except Exception:  # pylint: disable=broad-except
      return  # the page was closed by the action; the session picks another
    self.session.wait_for_load(page)

  def _observe(self, retries: int = 3) -> dict[str, Any]:
    assert self.session is not None
    for attempt in range(retries):
      page = self.session.page
      try:
        props, focused = mark_frames(page)
        dom, ax = capture_snapshots(page)
        shot = screenshot_array(page) if self.screenshot else None
        break
      except Exception:  # pylint: disable=broad-except
        if attempt == retries - 1:
          raise  # a page that cannot be observed three times in a row is an internal failure
        self.session.wait_for_load(page)
        time.sleep(0.2)
    pages = self.session.pages
    return {
      "chat_messages": tuple(dict(m) for m in self.chat),
      "goal": self.goal,
      "goal_object": ({"type": "text", "text": self.goal},),
      "open_pages_urls": tuple(p.url for p in pages),
      "open_pages_titles": tuple(_title(p) for p in pages),
      "active_page_index": np.asarray([self.session.active]),
      "url": page.url,
      "screenshot": shot,
      "dom_object": dom,
      "axtree_object": ax,
      "extra_element_properties": props,
      "focused_element_bid": focused,
      "last_action": self.last_action,
      "last_action_error": self.last_action_error,
      "elapsed_time": np.asarray([time.time() - self.start_time]),
      "axtree_text": axtree_to_text(ax, props),
    }


def _title(page: Any) -> str:
  try:
    return page.title()
  except Exception:  # pylint: disable=broad-except
    return ""  # mid-navigation
