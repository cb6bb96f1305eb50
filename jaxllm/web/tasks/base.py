"""Task interface (BrowserGym's): `setup(page) -> (goal, info)` and
`validate(page, chat_messages) -> (reward, done, msg, info)`, plus a scripted `oracle`.

A task belongs to one sandbox site. `setup` restores the site's seeded state through its reset
endpoint, signs the task's user in and opens the start page; `validate` reads the site's state over
HTTP (`/__state`) or the chat. `oracle(obs)` is a scripted policy: it reads the observation (URL
and accessibility tree) and returns the next action string, proving the task solvable through the
same action interface an agent uses.
"""
from __future__ import annotations

import http.client
import http.cookies
import urllib.parse
from typing import Any, ClassVar

from playwright.sync_api import Page

from jaxllm.web.sites import fetch_state, reset_site

TASKS: dict[str, type["Task"]] = {}


def register(cls: type["Task"]) -> type["Task"]:
  """Class decorator adding a task to the registry under `cls.task_id`."""
  assert cls.task_id and cls.task_id not in TASKS, f"duplicate or empty task id {cls.task_id!r}"
  TASKS[cls.task_id] = cls
  return cls


class Task:
  """Base class. Subclasses set `task_id`, `site`, `user`, `password`, `start_path`, `goal`."""
  task_id: ClassVar[str] = ""
  site: ClassVar[str] = ""
  user: ClassVar[str | None] = None
  password: ClassVar[str] = ""
  start_path: ClassVar[str] = "/"
  goal: ClassVar[str] = ""

  def __init__(self, base_urls: dict[str, str], seed: int | None = None):
    if self.site not in base_urls:
      raise ValueError(f"task {self.task_id} needs a base URL for site {self.site!r}")
    self.base_urls = base_urls
    self.base = base_urls[self.site].rstrip("/")
    self.seed = seed

  # ---------------------------------------------------------------- BrowserGym interface
  def setup(self, page: Page) -> tuple[str, dict[str, Any]]:
    reset_site(self.base)
    if self.user is not None:
      self.login(page, self.user, self.password)
    page.goto(self.base + self.start_path)
    return self.goal, {"site": self.site, "start_url": self.base + self.start_path}

  def validate(self, page: Page, chat_messages: list[dict[str, Any]]
               ) -> tuple[float, bool, str, dict[str, Any]]:
    """Default: success when `check(state)` holds; the episode ends on success."""
    del page, chat_messages
    ok = bool(self.check(self.state()))
    return float(ok), ok, "", {}

  def check(self, state: dict[str, Any]) -> bool:
    raise NotImplementedError

  def oracle(self, obs: dict[str, Any]) -> str:
    """Next action of the scripted solution, computed from the observation."""
    raise NotImplementedError

  # ---------------------------------------------------------------- helpers
  def state(self) -> dict[str, Any]:
    return fetch_state(self.base)

  def login(self, page: Page, user: str, password: str) -> None:
    """Signs in (setup only; not an agent action): posts the site's login form over HTTP and
    hands the session cookie to the page's browser context, which saves the two page loads of
    filling the form in the browser."""
    parts = urllib.parse.urlsplit(self.base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
      conn.request("POST", "/login", urllib.parse.urlencode({"username": user,
                                                              "password": password}),
                   {"Content-Type": "application/x-www-form-urlencoded"})
      resp = conn.getresponse()
      resp.read()
      jar = http.cookies.SimpleCookie(resp.getheader("Set-Cookie") or "")
    finally:
      conn.close()
    if resp.status != 303 or "session" not in jar or not jar["session"].value:
      raise RuntimeError(f"task {self.task_id}: could not sign in as {user} at {self.base}")
    page.context.add_cookies([{"name": "session", "value": jar["session"].value,
                               "url": self.base + "/", "httpOnly": True, "sameSite": "Lax"}])

  def path(self, obs: dict[str, Any]) -> str:
    """Path (with query) of the observation's URL if it is on this task's site, else ''."""
    url = obs.get("url", "")
    if not url.startswith(self.base + "/") and url != self.base:
      return ""
    return url[len(self.base):] or "/"


def last_assistant_message(chat_messages: list[dict[str, Any]]) -> str | None:
  for msg in reversed(chat_messages):
    if msg.get("role") == "assistant":
      return str(msg.get("message", ""))
  return None
